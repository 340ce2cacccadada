//! `refsync erase`: Art. 17 erasure of one contact.

use std::process::ExitCode;

use clap::Args;

use super::{sync_error, Format};
use crate::config::Config;
use crate::store::Store;
use crate::sync::erase::erase;

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The contact's id in the CRM.
    contact: String,
    /// The contact job whose CRM holds the contact.
    #[arg(long)]
    job: String,
    /// Who erases, for the audit log.
    #[arg(long, env = "USER", default_value = "cli")]
    by: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn run(config: &Config, store: &Store, args: EraseArgs) -> anyhow::Result<ExitCode> {
    let r = erase(config, store, &args.job, &args.contact, &args.by)
        .await
        .map_err(sync_error)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        Format::Table => {
            let p = &r.purged;
            println!(
                "contact {} erased from refsync's store (job {})",
                r.record_id, r.job
            );
            println!(
                "  removed: {} changes, {} statuses, {} matches, {} provenance, {} value suppressions, {} cached register answers, {} merges, {} cluster places and splits",
                p.changes, p.record_status, p.matches, p.provenance, p.value_suppressions, p.register_cache, p.merges, p.duplicates
            );
            println!("  audit entries tombstoned: {}", r.audit_entries_tombstoned);
            if r.audit_entries_kept > 0 {
                println!(
                    "  audit entries kept with their values (written before tombstones existed): {}",
                    r.audit_entries_kept
                );
            }
            println!(
                "  consents removed: {}; telephone proofs kept for 5 years (UWG §7a): {}",
                r.consents_removed, r.phone_proofs_kept
            );
            println!(
                "  suppression list: {} keyed hash(es)",
                r.suppression_hashes
            );
            println!("  CRM: {}", r.crm_outcome);
        }
    }
    Ok(ExitCode::SUCCESS)
}
