//! What every handler shares, built once from the configuration: the originals, the tier
//! chain, the CPU pool, single-flight work, admission, the memory budget, and the background
//! runner.
//!
//! `refract serve` calls [`State::from_config`]; tests build the same state around their own
//! stores with [`State::with_originals`] or [`State::with_chain`].

use std::sync::Arc;
use std::time::Duration;

use refract_core::url::Access;

use crate::config::Config;
use crate::originals::Originals;
use crate::runtime::background::Background;
use crate::runtime::clock::Clock;
use crate::runtime::flights::Flights;
use crate::runtime::memory::MemoryBudget;
use crate::runtime::pool::Pool;
use crate::tiers::{Chain, Variant};

/// What one transform request resolves to, shared by every request for the same variant.
pub type Shared = Result<Arc<Variant>, crate::error::ApiError>;

/// Everything handlers share.
#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub access: Access,
    pub originals: Originals,
    pub pool: Pool,
    /// Where results are kept: memory, and the warm and cold tiers when configured.
    pub tiers: Arc<Chain>,
    /// Transforms in flight, by variant id. They run to the end even when every request
    /// for them has given up, and keep their result.
    pub flights: Arc<Flights<String, Shared>>,
    /// Admission to a fetch + transform: one permit per worker and queue slot. Taken before the
    /// original is read and held by the work until it ends (not until its request gives up),
    /// so a request that would be refused never holds an original in memory.
    pub admission: Arc<tokio::sync::Semaphore>,
    /// Bytes that originals being read, transforms and uploads hold at once.
    pub memory: MemoryBudget,
    /// Estimated CPU time of the transforms admitted and not finished: at most half of
    /// workers × the request deadline.
    pub cpu: crate::runtime::cpu::CpuBook,
    pub limits: refract_core::Limits,
    pub policy: refract_core::Policy,
    /// The sweeper, the access-time flusher and the tiers' writes.
    pub background: Arc<Background>,
    /// Token buckets per client and per upload token (`[rate_limit]`, `http::limit`).
    pub rate_limits: Arc<crate::runtime::limit::RateLimits>,
}

pub type AppState = Arc<State>;

/// Why the state could not be built.
#[derive(Debug)]
pub enum StartError {
    Originals(crate::objects::OpenError),
    Tiers(crate::tiers::OpenError),
    Access(String),
    RateLimit(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Originals(e) => write!(f, "originals {e}"),
            StartError::Tiers(e) => write!(f, "{e}"),
            StartError::Access(e) => write!(f, "{e}"),
            StartError::RateLimit(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl State {
    /// Builds the state: opens the originals' store, the tiers and the index.
    pub async fn from_config(config: Config) -> Result<AppState, StartError> {
        State::open(config, Clock::System).await
    }

    /// As [`State::from_config`], with the tiers' clock given (tests of time-based rules).
    pub async fn open(config: Config, clock: Clock) -> Result<AppState, StartError> {
        let originals = Originals::from_config(&config).map_err(StartError::Originals)?;
        let background = Background::new();
        let chain = Chain::open(&config, clock, Arc::clone(&background))
            .await
            .map_err(StartError::Tiers)?;
        State::with_chain(config, originals, chain, background)
    }

    /// Builds the state around an already opened store, with results kept in memory only
    /// (tests use this).
    pub fn with_originals(config: Config, originals: Originals) -> Result<AppState, StartError> {
        let memory = usize::try_from(config.cache.memory_bytes).unwrap_or(usize::MAX);
        let background = Background::new();
        let chain = Chain::memory_only(memory, Arc::clone(&background));
        State::with_chain(config, originals, chain, background)
    }

    /// Builds the state from opened parts; `background` is the one `chain` writes on.
    pub fn with_chain(
        config: Config,
        originals: Originals,
        chain: Chain,
        background: Arc<Background>,
    ) -> Result<AppState, StartError> {
        let access = config
            .signing
            .access(&config.presets)
            .map_err(StartError::Access)?;
        let rate_limits = config.rate_limit.limits().map_err(StartError::RateLimit)?;
        let pool = Pool::new(config.transform.worker_threads(), config.transform.queue);
        // Half of workers × deadline: estimates are reference milliseconds, and a busy machine
        // runs slower than the reference.
        let cpu_limit = (pool.threads() as u64).saturating_mul(config.http.request_timeout_ms) / 2;
        let admission = Arc::new(tokio::sync::Semaphore::new(
            pool.threads() + config.transform.queue,
        ));
        Ok(Arc::new(State {
            access,
            originals,
            pool,
            tiers: Arc::new(chain),
            flights: Flights::new(|| Err(crate::error::ApiError::internal("the transform failed"))),
            admission,
            memory: MemoryBudget::new(config.transform.memory_bytes),
            cpu: crate::runtime::cpu::CpuBook::new(cpu_limit),
            limits: config.limits.to_core(),
            policy: refract_core::Policy {
                max_cpu_ms: config.limits.max_cpu_ms(),
                ..config.transform.policy()
            },
            background,
            rate_limits: Arc::new(rate_limits),
            config,
        }))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.config.http.request_timeout_ms.max(1))
    }
}
