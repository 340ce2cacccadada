use std::process::ExitCode;

use clap::Args;

use super::output::clip;
use super::{Format, UsageError};
use crate::config::Config;
use crate::store::Store;
use crate::sync::explain::explain;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The job whose CRM, register and model to use.
    #[arg(long)]
    pub job: String,
    /// The CRM record's id.
    #[arg(long)]
    pub record: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(
    config: &Config,
    store: Option<&Store>,
    args: ExplainArgs,
) -> anyhow::Result<ExitCode> {
    if !config.job.contains_key(&args.job) {
        let known = config.job.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(UsageError(format!(
            "no job `{}` in the config; known jobs: {known}",
            args.job
        ))
        .into());
    }
    let Some(explanation) = explain(store, config, &args.job, &args.record).await? else {
        eprintln!(
            "refsync: the CRM of job `{}` has no record `{}`; check the id (the CRM's own id column)",
            args.job, args.record
        );
        return Ok(ExitCode::from(1));
    };
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "record {} (job {}): {}, {} candidate(s); prior {:+.2} bits; {}",
        explanation.record.id,
        explanation.job,
        explanation.decision,
        explanation.candidates.len(),
        explanation.model.prior_weight(),
        explanation
            .model_pass
            .map_or("model fitted now (no pass stored one)".to_string(), |p| {
                format!("the model of pass {p}")
            })
    );
    for c in &explanation.candidates {
        println!(
            "\ncandidate {}  probability {:.4}  weight {:+.2} bits  {:?}\n  {}",
            c.register_id,
            c.score,
            c.weight,
            c.method,
            c.grade()
        );
        println!(
            "  {:<17} {:<32} {:<32} {:<8} {:>6} {:>8}",
            "field", "crm", "register", "level", "sim", "bits"
        );
        for cmp in &c.comparisons {
            println!(
                "  {:<17} {:<32} {:<32} {:<8} {:>6} {:>+8.2}",
                cmp.field.as_str(),
                clip(cmp.crm.as_deref(), 32),
                clip(cmp.register.as_deref(), 32),
                format!("{:?}", cmp.level).to_lowercase(),
                cmp.similarity.map_or(String::new(), |s| format!("{s:.3}")),
                cmp.contribution
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
