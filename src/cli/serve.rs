//! `refsync serve`: the review UI and API on their own, without running any job.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::info;

use super::UsageError;
use crate::config::Config;
use crate::store::Store;
use crate::web::{self, WebState};

/// Where `serve` listens without `--listen` or `[http] listen`: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; default `[http] listen`, else 127.0.0.1:8080. Port 0 picks one.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub async fn run(config: Config, store: Store, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let addr = match args.listen.or(config.http.listen) {
        Some(addr) => addr,
        None => DEFAULT_LISTEN.parse()?,
    };
    if !config.http.secure_cookie && !addr.ip().is_loopback() {
        return Err(UsageError(format!(
            "http.secure_cookie = false is only allowed on loopback, not on {addr}; \
             keep it true and put a TLS proxy in front"
        ))
        .into());
    }
    let limits = web::Limits::of(&config.http);
    // No passes run here: the check indexes are built once, before the first request.
    let checks = Arc::new(crate::sync::check::Warm::default());
    checks.build_all(&config, &store).await;
    let (_config_tx, config_rx) = watch::channel(Arc::new(config));
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = web::router(WebState::new(store, config_rx, checks));
    let (local, task) = web::serve(addr, app, limits, stop_rx).await?;
    info!(address = %local, "review UI and API listening");
    // Tests and people read the address here (port 0 picks a free one).
    println!("listening on http://{local}/");
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = stop_tx.send(true);
    let _ = task.await;
    Ok(ExitCode::SUCCESS)
}
