//! The CPU time booked by the transforms admitted and not yet finished, in the cost model's
//! reference milliseconds (`refract_core::cost`).
//!
//! Admission by count (workers + queue) alone lets a queue of expensive transforms wait longer
//! than any request's deadline. The book holds at most half of `workers × deadline` of
//! estimated work (half: a busy machine is slower than the reference the estimates are in):
//! a transform that would push it past is refused at once (503), so every one admitted can
//! finish within the deadline on an idle-enough machine, and overload is shed in microseconds
//! rather than after the deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Booked work, shared by the transforms that hold [`Booked`] entries.
#[derive(Debug)]
pub struct CpuBook {
    booked: Arc<AtomicU64>,
    limit_ms: u64,
}

/// An entry of the book, released when dropped.
#[derive(Debug)]
pub struct Booked {
    booked: Arc<AtomicU64>,
    ms: u64,
}

impl Drop for Booked {
    fn drop(&mut self) {
        self.booked.fetch_sub(self.ms, Ordering::AcqRel);
    }
}

impl CpuBook {
    pub fn new(limit_ms: u64) -> CpuBook {
        CpuBook {
            booked: Arc::new(AtomicU64::new(0)),
            limit_ms,
        }
    }

    /// Books `ms` if the total stays within the limit. One transform alone is always booked
    /// (its own cost is capped elsewhere), so a cap above the limit cannot starve it.
    pub fn book(&self, ms: u64) -> Option<Booked> {
        self.booked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now == 0 || now.saturating_add(ms) <= self.limit_ms)
                    .then(|| now.saturating_add(ms))
            })
            .ok()?;
        Some(Booked {
            booked: Arc::clone(&self.booked),
            ms,
        })
    }

    /// Reference milliseconds booked now.
    pub fn booked_ms(&self) -> u64 {
        self.booked.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_refuses_past_its_limit_and_frees_on_drop() {
        let book = CpuBook::new(1000);
        let a = book.book(600).expect("room");
        assert!(book.book(500).is_none(), "600 + 500 > 1000");
        let b = book.book(400).expect("exactly full");
        assert_eq!(book.booked_ms(), 1000);
        drop(a);
        assert_eq!(book.booked_ms(), 400);
        drop(b);
        // Alone, even a transform over the limit is booked.
        let big = book.book(5000).expect("alone");
        assert!(book.book(1).is_none());
        drop(big);
        assert_eq!(book.booked_ms(), 0);
    }
}
