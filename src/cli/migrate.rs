use std::process::ExitCode;

use crate::store::Store;

/// `Store::open` already migrated; this reports the schema state.
pub async fn run(store: &Store) -> anyhow::Result<ExitCode> {
    let pending = store.migrate().await?;
    if pending.is_empty() {
        println!("state store schema is up to date");
    } else {
        println!("applied migrations: {}", pending.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
