//! Single-flight work that outlives its callers.
//!
//! When many clients ask for the same not-yet-cached variant at once, one task fetches and
//! transforms it and every caller gets a clone of the result (typically
//! `Result<Arc<..>, Error>`, so failures are shared too).
//!
//! The work runs in its own tokio task, not in any caller: a caller that gives up (its request
//! deadline passed, the client went away) stops waiting, but the work goes on to the end, keeps
//! whatever it holds (admission, memory) until then, and stores its result, so the retry is a
//! cache hit instead of a second transform of the same variant. A caller arriving while the
//! work runs joins it. The key leaves the map when the work ends (normally or by a panic), so
//! a later call starts afresh; caching is done elsewhere.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::{BoxFuture, FutureExt, Shared};

type Running<K, V> = HashMap<K, Shared<BoxFuture<'static, V>>>;

/// Deduplicates concurrent work that shares a key, and lets it outlive its callers.
pub struct Flights<K, V> {
    running: Mutex<Running<K, V>>,
    /// What a caller gets when the work panicked.
    on_panic: fn() -> V,
}

impl<K, V> fmt::Debug for Flights<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flights")
            .field("in_flight", &self.lock().len())
            .finish()
    }
}

impl<K, V> Flights<K, V> {
    fn lock(&self) -> MutexGuard<'_, Running<K, V>> {
        // Every critical section leaves the map consistent, so poisoning is harmless.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of keys whose work is running.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

/// Removes a key from the map when its work ends, however it ends.
struct Landing<K: Eq + Hash, V> {
    flights: Arc<Flights<K, V>>,
    key: K,
}

impl<K: Eq + Hash, V> Drop for Landing<K, V> {
    fn drop(&mut self) {
        let removed = self.flights.lock().remove(&self.key);
        // The shared future (and its value) is freed outside the lock.
        drop(removed);
    }
}

impl<K, V> Flights<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// An empty set of flights; `on_panic` makes the value callers get if the work panics.
    pub fn new(on_panic: fn() -> V) -> Arc<Self> {
        Arc::new(Flights {
            running: Mutex::new(HashMap::new()),
            on_panic,
        })
    }

    /// Runs `make()`'s future once per key among concurrent callers, in a task of its own, and
    /// gives every caller a clone of the value. The flag is `true` for callers that joined work
    /// started by another call. Must be called inside a tokio runtime.
    pub async fn run<F, Fut>(self: &Arc<Self>, key: K, make: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (flight, joined) = {
            let mut running = self.lock();
            match running.get(&key) {
                Some(flight) => (flight.clone(), true),
                None => {
                    let work = make();
                    let landing = Landing {
                        flights: Arc::clone(self),
                        key: key.clone(),
                    };
                    // The task takes the lock to land only after this section inserts the key.
                    let task = tokio::spawn(async move {
                        let _landing = landing;
                        work.await
                    });
                    let on_panic = self.on_panic;
                    let flight = async move { task.await.unwrap_or_else(|_| on_panic()) }
                        .boxed()
                        .shared();
                    running.insert(key, flight.clone());
                    (flight, false)
                }
            }
        };
        (flight.await, joined)
    }
}

#[cfg(test)]
mod tests;
