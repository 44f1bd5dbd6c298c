//! `refract serve`, `refract config` and `refract sign`. Serving binds the two listeners,
//! starts the background loops (the access-time flusher; the lifecycle sweeper, which also
//! reconciles the index and keeps the cold budget without a policy) and runs until SIGTERM (or Ctrl-C), then shuts down gracefully: stop accepting, let
//! in-flight requests finish, stop the background work (the sweep in progress ends at a batch
//! boundary, writes to the lower tiers finish, access times are flushed), exit.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{init_logging, runtime, ConfigArgs, Failure};
use crate::config::Config;
use crate::http::listen::{self, ConnLimits};
use crate::http::{admin_router, router};
use crate::runtime::background::AtStop;
use crate::state::{AppState, State};

pub(super) fn serve(args: &ConfigArgs) -> Result<(), Failure> {
    let config = args.load()?;
    init_logging(&config)?;
    for warning in config.deprecations() {
        tracing::warn!("{warning}");
    }
    runtime()?.block_on(run(config)).map_err(|e| Failure {
        code: "serve_failed",
        message: e.to_string(),
    })
}

/// Why the server could not start, or stopped with an error.
#[derive(Debug)]
pub enum ServeError {
    Start(crate::state::StartError),
    Listen(std::net::SocketAddr, std::io::Error),
    Lifecycle(crate::lifecycle::SweepError),
    Serve(std::io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Start(e) => write!(f, "{e}"),
            ServeError::Listen(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            ServeError::Lifecycle(e) => write!(f, "lifecycle: {e}"),
            ServeError::Serve(e) => write!(f, "server error: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

pub(super) fn sign(args: &ConfigArgs, url: &str, expires_in: Option<u64>) -> Result<(), Failure> {
    let config = args.load()?;
    let expires = expires_in.map(|s| crate::runtime::clock::unix_secs().saturating_add(s));
    let signed = super::sign::sign_url(&config, url, expires).map_err(|e| Failure {
        code: "cannot_sign",
        message: e.0,
    })?;
    println!("{signed}");
    Ok(())
}

/// Runs the server until a shutdown signal.
pub async fn run(config: Config) -> Result<(), ServeError> {
    let state = State::from_config(config.clone())
        .await
        .map_err(ServeError::Start)?;
    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Listen(addr, e))
    };
    let images = bind(config.listen).await?;
    let admin = bind(config.admin_listen).await?;
    let local = |l: &TcpListener| l.local_addr().map_err(ServeError::Serve);
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
    start_background(&config, &state).map_err(ServeError::Lifecycle)?;

    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let limits = ConnLimits::from_config(&config.http);
    let images = listen::serve(images, router(state.clone()), limits, stopped(rx.clone()));
    let admin = listen::serve(admin, admin_router(state.clone()), limits, stopped(rx));
    tokio::join!(images, admin);
    state.background.stop().await;
    Ok(())
}

/// The access-time flusher, and the lifecycle sweeper every `lifecycle.interval_secs`,
/// sharing the server's tiers and index. A sweep stopped with the server
/// resumes from its cursor next time.
fn start_background(config: &Config, state: &AppState) -> Result<(), crate::lifecycle::SweepError> {
    crate::http::limit::start_upkeep(state);
    let chain = Arc::clone(&state.tiers);
    let every = Duration::from_millis(config.meta.flush_ms.max(100));
    state
        .background
        .every("access-flush", every, AtStop::RunOnce, move |_| {
            let chain = Arc::clone(&chain);
            async move { chain.flush_access().await }
        });
    if let Some(url) = config.meta_url().filter(|u| u.starts_with("postgres")) {
        // Hears the other instances' changes; after a break, reconnects a second later.
        let (chain, window) = (
            Arc::clone(&state.tiers),
            Duration::from_millis(config.cache.notify_window_ms),
        );
        state
            .background
            .every("fleet", Duration::from_secs(1), AtStop::Exit, move |stop| {
                crate::tiers::fleet::listen(Arc::clone(&chain), url.clone(), window, stop)
            });
    }
    // The sweeps: the policy's rules if one is set, the reconcile and the cold budget always
    // (docs/lifecycle.md).
    crate::lifecycle::background::start(
        config,
        state.originals.clone(),
        Arc::clone(&state.tiers),
        &state.background,
    )?;
    Ok(())
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
