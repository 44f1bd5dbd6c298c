//! Single-flight request coalescing.
//!
//! When many clients ask for the same not-yet-cached variant at once, only one of them should
//! fetch and transform the source; the others wait and receive a clone of the same value
//! (typically `Result<Arc<..>, Error>`, so failures are shared as well).
//!
//! Design: a `Mutex<HashMap<K, Arc<OnceCell<V>>>>` maps each in-flight key to a
//! `tokio::sync::OnceCell`. Every caller clones the cell for its key and calls
//! `get_or_init(make)`. The cell guarantees that only one initializer runs at a time, and if
//! the running initializer's future is dropped (the client disconnected), the next waiting
//! caller runs *its own* `make` instead — nobody can hang on an abandoned computation.
//!
//! Each call holds a [`Flight`] guard. When a guard is dropped (normal completion or
//! cancellation) it removes the map entry if the value is ready or if no other caller is left
//! waiting on that cell, so completed keys are recomputed by later calls (caching is done
//! elsewhere) and cancelled keys never linger. All reference-count changes that matter for
//! that decision happen under the map lock, which makes the "last one out" check race-free.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OnceCell;

type Cells<K, V> = HashMap<K, Arc<OnceCell<V>>>;

/// Deduplicates concurrent computations that share a key.
pub struct Coalescer<K, V> {
    cells: Mutex<Cells<K, V>>,
}

impl<K, V> fmt::Debug for Coalescer<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let in_flight = self.lock().len();
        f.debug_struct("Coalescer")
            .field("in_flight", &in_flight)
            .finish()
    }
}

impl<K, V> Default for Coalescer<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Coalescer<K, V> {
    fn lock(&self) -> MutexGuard<'_, Cells<K, V>> {
        // The map is left consistent by every critical section, so poisoning is harmless.
        self.cells.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// Creates an empty coalescer.
    pub fn new() -> Self {
        Coalescer {
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `make()` once per key among concurrent callers and gives every caller a clone of
    /// the value.
    ///
    /// The returned flag is `false` for the caller whose own `make` produced the value and
    /// `true` for callers that received a value computed by someone else.
    pub async fn run<F, Fut>(&self, key: K, make: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = Arc::clone(self.lock().entry(key.clone()).or_default());
        let flight = Flight {
            owner: self,
            key,
            cell: Some(cell),
        };
        let mut computed = false;
        let value = flight
            .cell()
            .get_or_init(|| {
                computed = true;
                make()
            })
            .await
            .clone();
        drop(flight);
        (value, !computed)
    }

    /// Number of keys currently being computed (or waited on).
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    fn holders(&self, key: &K) -> usize {
        self.lock()
            .get(key)
            .map_or(0, |cell| Arc::strong_count(cell) - 1)
    }
}

/// One caller's participation in a flight; cleans up the map entry on drop.
struct Flight<'a, K: Eq + Hash, V> {
    owner: &'a Coalescer<K, V>,
    key: K,
    /// Always `Some` until dropped.
    cell: Option<Arc<OnceCell<V>>>,
}

impl<K: Eq + Hash, V> Flight<'_, K, V> {
    fn cell(&self) -> &OnceCell<V> {
        match &self.cell {
            Some(cell) => cell,
            None => unreachable!("cell is only taken in Drop"),
        }
    }
}

impl<K: Eq + Hash, V> Drop for Flight<'_, K, V> {
    fn drop(&mut self) {
        let Some(ours) = self.cell.take() else {
            return;
        };
        let mut cells = self.owner.lock();
        let removed = match cells.get(&self.key) {
            // The map and `ours` account for two references: nobody else is waiting.
            Some(current)
                if Arc::ptr_eq(current, &ours)
                    && (ours.initialized() || Arc::strong_count(&ours) == 2) =>
            {
                cells.remove(&self.key)
            }
            _ => None,
        };
        if removed.is_none() {
            // Release our reference while still holding the lock so that concurrent guards
            // see an exact count. The map still holds the cell, so no value is freed here.
            drop(ours);
            drop(cells);
        } else {
            // Free the cell (and possibly a large value) outside the lock.
            drop(cells);
            drop(ours);
            drop(removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::wait_until;
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Notify;

    #[test]
    fn coalescer_is_send_sync_debug() {
        fn check<T: Send + Sync + fmt::Debug + Default>() {}
        check::<Coalescer<String, Result<Arc<Vec<u8>>, String>>>();

        fn check_send<T: Send>(_: &T) {}
        let coalescer = Coalescer::<String, u8>::new();
        let fut = coalescer.run("k".to_owned(), || async { 1 });
        check_send(&fut);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_computation() {
        let coalescer = Arc::new(Coalescer::<String, u64>::new());
        let makes = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());

        let mut handles = Vec::new();
        for _ in 0..50 {
            let coalescer = Arc::clone(&coalescer);
            let makes = Arc::clone(&makes);
            let release = Arc::clone(&release);
            handles.push(tokio::spawn(async move {
                coalescer
                    .run("img/a.jpg".to_owned(), || async move {
                        makes.fetch_add(1, Ordering::SeqCst);
                        release.notified().await;
                        99
                    })
                    .await
            }));
        }
        let key = "img/a.jpg".to_owned();
        wait_until(|| makes.load(Ordering::SeqCst) == 1 && coalescer.holders(&key) == 50).await;
        assert_eq!(coalescer.in_flight(), 1);
        release.notify_one();

        let mut shared = 0;
        for handle in handles {
            let (value, was_shared) = handle.await.unwrap();
            assert_eq!(value, 99);
            shared += usize::from(was_shared);
        }
        assert_eq!(makes.load(Ordering::SeqCst), 1);
        assert_eq!(shared, 49);
        assert_eq!(coalescer.in_flight(), 0);
    }

    #[tokio::test]
    async fn different_keys_run_independently() {
        let coalescer = Arc::new(Coalescer::<&'static str, u32>::new());
        let release_a = Arc::new(Notify::new());

        let c = Arc::clone(&coalescer);
        let gate = Arc::clone(&release_a);
        let a = tokio::spawn(async move {
            c.run("a", || async move {
                gate.notified().await;
                1
            })
            .await
        });
        wait_until(|| coalescer.holders(&"a") == 1).await;

        // "b" completes while "a" is still pending.
        assert_eq!(coalescer.run("b", || async { 2 }).await, (2, false));
        assert_eq!(coalescer.in_flight(), 1);

        release_a.notify_one();
        assert_eq!(a.await.unwrap(), (1, false));
        assert_eq!(coalescer.in_flight(), 0);
    }

    #[tokio::test]
    async fn cancelled_leader_hands_over_to_waiter() {
        let coalescer = Arc::new(Coalescer::<u32, &'static str>::new());
        let entered = Arc::new(AtomicUsize::new(0));

        let c = Arc::clone(&coalescer);
        let e = Arc::clone(&entered);
        let leader = tokio::spawn(async move {
            c.run(7, || async move {
                e.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<&'static str>().await
            })
            .await
        });
        wait_until(|| entered.load(Ordering::SeqCst) == 1).await;

        let follower_makes = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&coalescer);
        let m = Arc::clone(&follower_makes);
        let follower = tokio::spawn(async move {
            c.run(7, || async move {
                m.fetch_add(1, Ordering::SeqCst);
                "from follower"
            })
            .await
        });
        wait_until(|| coalescer.holders(&7) == 2).await;
        assert_eq!(follower_makes.load(Ordering::SeqCst), 0);

        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        assert_eq!(follower.await.unwrap(), ("from follower", false));
        assert_eq!(follower_makes.load(Ordering::SeqCst), 1);
        assert_eq!(coalescer.in_flight(), 0);
    }

    #[tokio::test]
    async fn abandoned_key_is_removed() {
        let coalescer = Arc::new(Coalescer::<u32, u32>::new());
        let entered = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&coalescer);
        let e = Arc::clone(&entered);
        let only = tokio::spawn(async move {
            c.run(1, || async move {
                e.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<u32>().await
            })
            .await
        });
        wait_until(|| entered.load(Ordering::SeqCst) == 1).await;
        assert_eq!(coalescer.in_flight(), 1);
        only.abort();
        assert!(only.await.unwrap_err().is_cancelled());
        assert_eq!(coalescer.in_flight(), 0);
    }

    #[tokio::test]
    async fn completed_key_is_computed_again() {
        let coalescer = Coalescer::<String, usize>::default();
        let counter = AtomicUsize::new(0);
        let makes = &counter;
        let make = || async move { makes.fetch_add(1, Ordering::SeqCst) + 1 };
        assert_eq!(coalescer.run("k".to_owned(), make).await, (1, false));
        assert_eq!(coalescer.in_flight(), 0);
        assert_eq!(coalescer.run("k".to_owned(), make).await, (2, false));
        assert_eq!(makes.load(Ordering::SeqCst), 2);
        assert_eq!(coalescer.in_flight(), 0);
    }

    #[tokio::test]
    async fn shared_errors_reach_every_caller() {
        let coalescer = Arc::new(Coalescer::<u8, Result<Arc<Vec<u8>>, String>>::new());
        let release = Arc::new(Notify::new());
        let mut handles = Vec::new();
        for _ in 0..3 {
            let c = Arc::clone(&coalescer);
            let r = Arc::clone(&release);
            handles.push(tokio::spawn(async move {
                c.run(0, || async move {
                    r.notified().await;
                    Err::<Arc<Vec<u8>>, _>("decode failed".to_owned())
                })
                .await
            }));
        }
        wait_until(|| coalescer.holders(&0) == 3).await;
        release.notify_one();
        let mut shared = 0;
        for handle in handles {
            let (value, was_shared) = handle.await.unwrap();
            assert_eq!(value, Err("decode failed".to_owned()));
            shared += usize::from(was_shared);
        }
        assert_eq!(shared, 2);
    }
}
