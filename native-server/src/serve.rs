//! Binding the two listeners and running until SIGTERM (or Ctrl-C), then shutting down
//! gracefully: stop accepting, let in-flight requests finish, exit.

use std::future::IntoFuture;
use std::io::Write;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{admin_router, router, State};
use crate::config::Config;

/// Runs the server until a shutdown signal.
pub async fn run(config: Config) -> Result<(), String> {
    let state = State::from_config(config.clone()).await?;
    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
    };
    let images = bind(config.listen).await?;
    let admin = bind(config.admin_listen).await?;
    let (http_addr, admin_addr) = (local(&images)?, local(&admin)?);
    // One machine-readable line, so scripts and tests can find ports chosen with `:0`.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "refract listening http={http_addr} admin={admin_addr}");
    let _ = out.flush();
    tracing::info!(
        %http_addr,
        %admin_addr,
        originals = state.originals.describe(),
        workers = state.pool.threads(),
        "serving"
    );

    // Access times go to the metadata store in batches.
    let flusher = {
        let tiers = std::sync::Arc::clone(&state.tiers);
        let every = std::time::Duration::from_millis(config.meta.flush_ms.max(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                tiers.flush_access().await;
            }
        })
    };
    let sweeper = start_sweeper(&config, &state)?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let images =
        axum::serve(images, router(state.clone())).with_graceful_shutdown(stopped(rx.clone()));
    let admin = axum::serve(admin, admin_router(state.clone())).with_graceful_shutdown(stopped(rx));
    let tiers = std::sync::Arc::clone(&state.tiers);
    let (a, b) = tokio::join!(images.into_future(), admin.into_future());
    flusher.abort();
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    // Results being written to the lower tiers are finished before exit, then access times.
    tiers.settle().await;
    tiers.flush_access().await;
    a.and(b).map_err(|e| format!("server error: {e}"))
}

/// Runs the lifecycle policy every `lifecycle.interval_secs`, sharing the server's tiers and
/// metadata store. A sweep killed with the server resumes from its cursor next time.
fn start_sweeper(
    config: &Config,
    state: &crate::app::AppState,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    if config.lifecycle.policy.is_empty() || config.lifecycle.interval_secs == 0 {
        return Ok(None);
    }
    let lc = crate::lifecycle::with_parts(
        config,
        std::path::Path::new(&config.lifecycle.policy),
        state.originals.clone(),
        std::sync::Arc::clone(&state.tiers),
    )?;
    let every = std::time::Duration::from_secs(config.lifecycle.interval_secs);
    let totals = lc.meta.clone();
    tokio::spawn(async move { crate::lifecycle::apply::publish_totals(&totals).await });
    Ok(Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        // A sweep longer than the interval is followed by one interval of rest, not by a
        // burst of catch-up sweeps.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match lc.run_once().await {
                Ok(report) => tracing::info!(?report, "lifecycle sweep"),
                Err(e) => tracing::warn!("lifecycle sweep failed: {e}"),
            }
        }
    })))
}

fn local(listener: &TcpListener) -> Result<std::net::SocketAddr, String> {
    listener.local_addr().map_err(|e| e.to_string())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM ({e}); only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
