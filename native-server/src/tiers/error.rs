//! Why the chain could not be opened, or a move between tiers did not happen.

use crate::index::IndexError;

/// Why a move between tiers did not happen.
#[derive(Debug)]
pub enum TierError {
    /// The cold store failed or did not answer in time.
    Cold(String),
    /// A warm-tier file operation failed.
    Warm(String),
    Index(IndexError),
    /// A demotion needs a cold tier, and none is configured.
    NoCold,
    /// The variant is neither in this instance's warm tier nor in cold: another instance's
    /// warm tier holds it (warm tiers are per instance).
    Elsewhere,
    /// The lifecycle's claim on the row was taken over.
    ClaimLost,
}

impl std::fmt::Display for TierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TierError::Cold(m) => write!(f, "cold tier: {m}"),
            TierError::Warm(m) => write!(f, "warm tier: {m}"),
            TierError::Index(e) => write!(f, "{e}"),
            TierError::NoCold => f.write_str("no cold tier is configured"),
            TierError::Elsewhere => f.write_str("the warm copy is on another instance"),
            TierError::ClaimLost => f.write_str("the claim was lost"),
        }
    }
}

impl std::error::Error for TierError {}

impl From<IndexError> for TierError {
    fn from(e: IndexError) -> Self {
        TierError::Index(e)
    }
}

/// Why the chain could not be opened.
#[derive(Debug)]
pub enum OpenError {
    Index(IndexError),
    Cold(crate::objects::OpenError),
    Warm(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Index(e) => write!(f, "{e}"),
            OpenError::Cold(e) => write!(f, "cold tier: {e}"),
            OpenError::Warm(m) => write!(f, "warm tier: {m}"),
        }
    }
}

impl std::error::Error for OpenError {}
