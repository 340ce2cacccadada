//! `refsync consent`: verdicts per channel, recording a consent or revocation, CSV import
//! and export.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{sync_error, Format};
use crate::config::Config;
use crate::domain::consent::{Channel, ConsentStatus, DoubleOptIn};
use crate::store::Store;
use crate::sync::consent::{self, parse_time, NewConsent};

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// A contact's verdict per channel (UWG §7), why, and the records behind it.
    Show {
        /// The contact's id in the CRM.
        contact: String,
        /// The contact job (default: the only one).
        #[arg(long)]
        job: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Record a consent or a revocation: a new record; nothing recorded is ever changed.
    Record {
        contact: String,
        #[arg(long)]
        job: Option<String>,
        /// letter, phone, email, fax or sms.
        #[arg(long, value_parser = |s: &str| s.parse::<Channel>())]
        channel: Channel,
        /// opt_in, opt_out (a revocation), presumed (business phone only) or none.
        #[arg(long, value_parser = |s: &str| s.parse::<ConsentStatus>())]
        status: ConsentStatus,
        /// Where it comes from: "phone call 2026-03-02", "web form", "letter of 2026-01-05".
        #[arg(long)]
        source: String,
        /// When the person gave or revoked it (UTC; default: now).
        #[arg(long, value_parser = parse_time)]
        at: Option<chrono::NaiveDateTime>,
        /// E-mail double opt-in: when confirmation was requested.
        #[arg(long, value_parser = parse_time, requires_all = ["confirmed_at", "confirmed_text"])]
        requested_at: Option<chrono::NaiveDateTime>,
        #[arg(long, value_parser = parse_time, requires = "requested_at")]
        confirmed_at: Option<chrono::NaiveDateTime>,
        /// The text the person confirmed.
        #[arg(long, requires = "requested_at")]
        confirmed_text: Option<String>,
        /// Who records it, for the audit log.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Import consents from a CSV file (columns contact_id, channel, status, source,
    /// given_at; for e-mail opt-ins requested_at, confirmed_at, confirmed_text), or with
    /// --from-crm from the CRM columns in the job's consent_columns. Broken rows are
    /// reported with their line; the others are recorded.
    Import {
        #[arg(required_unless_present = "from_crm", conflicts_with = "from_crm")]
        file: Option<PathBuf>,
        #[arg(long)]
        from_crm: bool,
        #[arg(long)]
        job: Option<String>,
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Every consent record as CSV, in the columns `consent import` reads.
    Export {
        #[arg(long)]
        job: Option<String>,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(config: &Config, store: &Store, cmd: ConsentCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConsentCommand::Show {
            contact,
            job,
            format,
        } => {
            let c = consent::verdicts(config, store, job.as_deref(), &contact)
                .await
                .map_err(sync_error)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&c)?),
                Format::Table => {
                    println!(
                        "contact {} in {} ({}): {} contact, {}",
                        c.contact_id, c.crm, c.job, c.audience, c.audience_reason
                    );
                    for v in &c.verdicts {
                        let answer = if v.allowed { "allowed" } else { "not allowed" };
                        println!("  {:<7} {answer:<11}  {}", v.channel.as_str(), v.reason);
                    }
                    println!("{} consent record(s)", c.records.len());
                }
            }
        }
        ConsentCommand::Record {
            contact,
            job,
            channel,
            status,
            source,
            at,
            requested_at,
            confirmed_at,
            confirmed_text,
            by,
        } => {
            let evidence = match (requested_at, confirmed_at, confirmed_text) {
                (Some(requested_at), Some(confirmed_at), Some(confirmed_text)) => {
                    Some(DoubleOptIn {
                        requested_at,
                        confirmed_at,
                        confirmed_text,
                    })
                }
                _ => None,
            };
            let new = NewConsent {
                contact_id: contact.clone(),
                channel,
                status,
                source,
                at,
                evidence,
            };
            let id = consent::record(config, store, job.as_deref(), new, &by)
                .await
                .map_err(sync_error)?;
            println!("recorded consent {id}: {channel} {status} for contact {contact}");
        }
        ConsentCommand::Import {
            file,
            from_crm,
            job,
            by,
            format,
        } => {
            let report = match (file, from_crm) {
                (Some(file), false) => {
                    consent::import_csv(config, store, job.as_deref(), &file, &by).await
                }
                _ => consent::import_from_crm(config, store, job.as_deref(), &by).await,
            }
            .map_err(sync_error)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                Format::Table => {
                    println!(
                        "{} row(s) read, {} consent(s) recorded, {} broken",
                        report.rows,
                        report.recorded,
                        report.errors.len()
                    );
                    for e in &report.errors {
                        match e.line {
                            0 => println!("  {}", e.problem),
                            line => println!("  line {line}: {}", e.problem),
                        }
                    }
                }
            }
        }
        ConsentCommand::Export { job, out } => {
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
                ),
                None => Box::new(std::io::stdout()),
            };
            let n = consent::export_csv(config, store, job.as_deref(), &mut sink)
                .await
                .map_err(sync_error)?;
            if let Some(path) = out {
                eprintln!("{n} consent record(s) written to {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
