//! A byte budget on what requests hold in memory at once: originals read for a transform,
//! the transforms' estimated peaks (`refract_core::cost`), uploads being read.
//!
//! A semaphore whose permits are [`UNIT`]-byte units. A reservation waits while the budget is
//! used by others (admission bounds how many can wait), and is refused at once when it is
//! larger than the whole budget, since no amount of waiting would make it fit. Reservations
//! are owned, so work that outlives its request (see `flights`) keeps its bytes until it ends.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes per permit.
pub const UNIT: u64 = 64 * 1024;

/// The budget.
#[derive(Debug)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total: u32,
}

/// Bytes held until dropped.
#[derive(Debug)]
pub struct Reserved {
    permit: Option<OwnedSemaphorePermit>,
}

impl Reserved {
    /// Adds `more` to this reservation.
    pub fn merge(&mut self, mut more: Reserved) {
        match (&mut self.permit, more.permit.take()) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    /// Bytes held (in whole units).
    pub fn bytes(&self) -> u64 {
        self.permit
            .as_ref()
            .map_or(0, |p| p.num_permits() as u64 * UNIT)
    }
}

/// A reservation larger than the whole budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    pub bytes: u64,
    pub budget: u64,
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> MemoryBudget {
        let total = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// The whole budget in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.total) * UNIT
    }

    /// Bytes free now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    /// Waits until `bytes` are free and holds them; refuses at once what can never fit.
    pub async fn reserve(&self, bytes: u64) -> Result<Reserved, OverBudget> {
        let units = self.units(bytes)?;
        if units == 0 {
            return Ok(Reserved { permit: None });
        }
        let permit = Arc::clone(&self.permits)
            .acquire_many_owned(units)
            .await
            .map_err(|_| OverBudget {
                bytes,
                budget: self.total(),
            })?;
        Ok(Reserved {
            permit: Some(permit),
        })
    }

    /// Holds `bytes` if they are free now.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reserved> {
        let units = self.units(bytes).ok()?;
        if units == 0 {
            return Some(Reserved { permit: None });
        }
        let permit = Arc::clone(&self.permits)
            .try_acquire_many_owned(units)
            .ok()?;
        Some(Reserved {
            permit: Some(permit),
        })
    }

    fn units(&self, bytes: u64) -> Result<u32, OverBudget> {
        let units = bytes.div_ceil(UNIT);
        if units > u64::from(self.total) {
            return Err(OverBudget {
                bytes,
                budget: self.total(),
            });
        }
        Ok(units as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_each_other_and_release_on_drop() {
        let budget = MemoryBudget::new(10 * UNIT);
        let a = budget.reserve(6 * UNIT).await.unwrap();
        assert_eq!(budget.available(), 4 * UNIT);
        // 6 more units do not fit while `a` is held.
        assert!(budget.try_reserve(6 * UNIT).is_none());
        let waiting = budget.reserve(6 * UNIT);
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        drop(a);
        let b = waiting.await.unwrap();
        assert_eq!(b.bytes(), 6 * UNIT);
        assert_eq!(budget.available(), 4 * UNIT);
    }

    #[tokio::test]
    async fn more_than_the_whole_budget_is_refused_at_once() {
        let budget = MemoryBudget::new(10 * UNIT);
        let e = budget.reserve(10 * UNIT + 1).await.unwrap_err();
        assert_eq!(e.budget, 10 * UNIT);
        assert!(budget.try_reserve(11 * UNIT).is_none());
        // Bytes round up to whole units.
        assert_eq!(budget.reserve(1).await.unwrap().bytes(), UNIT);
    }

    #[tokio::test]
    async fn merged_reservations_release_together() {
        let budget = MemoryBudget::new(10 * UNIT);
        let mut a = budget.reserve(2 * UNIT).await.unwrap();
        a.merge(budget.reserve(3 * UNIT).await.unwrap());
        assert_eq!(a.bytes(), 5 * UNIT);
        let mut none = budget.reserve(0).await.unwrap();
        none.merge(a);
        assert_eq!(budget.available(), 5 * UNIT);
        drop(none);
        assert_eq!(budget.available(), 10 * UNIT);
    }
}
