//! The memory tier: a byte-bounded in-memory LRU in front of the warm and cold tiers, keyed by
//! variant id.
//!
//! Capacity is measured in bytes, not entries, because variants range from a few hundred bytes
//! (tiny thumbnails) to megabytes. Each entry is charged `value.weight() + key.len()`; the
//! weight is computed once on insert and stored with the entry so that accounting stays exact
//! even if a value's reported weight could change later.
//!
//! Design:
//! - An unbounded `lru::LruCache` behind a `std::sync::Mutex` does the recency bookkeeping;
//!   this module tracks the byte total and evicts least-recently-used entries until it fits.
//! - Values are stored as `Arc<V>` so a hit is a pointer copy and the lock is held only for
//!   the map operation.
//! - An entry heavier than `max_bytes / 8` is refused, so one huge image cannot flush the
//!   whole tier. `max_bytes == 0` disables the cache entirely.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lru::LruCache;

/// Reports how many bytes a cached value holds.
pub trait Weigh {
    /// Approximate heap + inline size of the value, in bytes.
    fn weight(&self) -> usize;
}

/// A stored value together with the charge it was admitted with.
struct Entry<V> {
    value: Arc<V>,
    charge: usize,
}

struct Inner<V> {
    entries: LruCache<String, Entry<V>>,
    bytes: usize,
}

impl<V> Inner<V> {
    fn take(&mut self, key: &str) -> Option<Arc<V>> {
        let entry = self.entries.pop(key)?;
        self.bytes -= entry.charge;
        Some(entry.value)
    }
}

/// Thread-safe, byte-bounded LRU cache of `Arc<V>` values keyed by strings.
pub struct HotCache<V: Weigh> {
    inner: Mutex<Inner<V>>,
    max_bytes: usize,
}

impl<V: Weigh> fmt::Debug for HotCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("HotCache")
            .field("len", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl<V: Weigh> HotCache<V> {
    /// Creates a cache holding at most `max_bytes`; `0` disables caching.
    pub fn new(max_bytes: usize) -> Self {
        HotCache {
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // Every critical section keeps `bytes` in step with `entries` before anything that
        // could panic, so a poisoned lock still guards consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns the value for `key` and marks it as most recently used.
    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        self.lock()
            .entries
            .get(key)
            .map(|entry| Arc::clone(&entry.value))
    }

    /// Stores `value` under `key`, evicting least-recently-used entries as needed.
    ///
    /// Returns `false` without storing when the cache is disabled or the entry (value weight
    /// plus key length) exceeds `max_bytes / 8`. In that case any older value under the same
    /// key is removed as well, since it is superseded.
    pub fn insert(&self, key: String, value: Arc<V>) -> bool {
        // Computed before locking: `weight()` is foreign code.
        let charge = value.weight().saturating_add(key.len());
        let admit = self.max_bytes > 0 && charge <= self.max_bytes / 8;

        let mut inner = self.lock();
        let mut evicted = Vec::new();
        if let Some(old) = inner.take(&key) {
            evicted.push(old);
        }
        if admit {
            inner.entries.put(key, Entry { value, charge });
            inner.bytes += charge;
            while inner.bytes > self.max_bytes {
                let Some((_, entry)) = inner.entries.pop_lru() else {
                    break;
                };
                inner.bytes -= entry.charge;
                evicted.push(entry.value);
            }
        }
        drop(inner);
        // Evicted values (possibly the last reference to large buffers) are freed here,
        // outside the lock.
        drop(evicted);
        admit
    }

    /// Removes and returns the value for `key`.
    pub fn remove(&self, key: &str) -> Option<Arc<V>> {
        self.lock().take(key)
    }

    /// Removes every entry whose value matches `doomed`; returns how many were removed.
    pub fn remove_where(&self, doomed: impl Fn(&V) -> bool) -> usize {
        let mut inner = self.lock();
        let keys: Vec<String> = inner
            .entries
            .iter()
            .filter(|(_, entry)| doomed(&entry.value))
            .map(|(key, _)| key.clone())
            .collect();
        let removed: Vec<Arc<V>> = keys.iter().filter_map(|key| inner.take(key)).collect();
        drop(inner);
        removed.len()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache holds no entries.
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    /// Current total charge of all entries, in bytes.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Configured byte budget.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Blob(usize);

    impl Weigh for Blob {
        fn weight(&self) -> usize {
            self.0
        }
    }

    fn blob(n: usize) -> Arc<Blob> {
        Arc::new(Blob(n))
    }

    /// Recomputes the byte total from scratch.
    fn recount(cache: &HotCache<Blob>) -> usize {
        let inner = cache.lock();
        inner
            .entries
            .iter()
            .map(|(key, entry)| entry.value.0 + key.len())
            .sum()
    }

    #[test]
    fn cache_is_send_sync_debug() {
        fn check<T: Send + Sync + fmt::Debug>() {}
        check::<HotCache<Blob>>();
        let cache = HotCache::<Blob>::new(100);
        assert!(format!("{cache:?}").contains("max_bytes: 100"));
    }

    #[test]
    fn budget_never_exceeded() {
        let cache = HotCache::new(10_000);
        for i in 0..2_000usize {
            let size = (i * 7919) % 1_300;
            let key = format!("k{}", i % 300);
            let stored = cache.insert(key.clone(), blob(size));
            assert_eq!(stored, size + key.len() <= 1_250, "i={i}");
            assert!(cache.bytes() <= cache.max_bytes(), "i={i}");
            assert_eq!(cache.bytes(), recount(&cache), "i={i}");
            if i % 5 == 0 {
                cache.get(&format!("k{}", (i * 13) % 300));
            }
            if i % 17 == 0 {
                cache.remove(&format!("k{}", (i * 3) % 300));
                assert_eq!(cache.bytes(), recount(&cache), "i={i}");
            }
        }
        assert!(!cache.is_empty());
    }

    #[test]
    fn least_recently_used_is_evicted_first() {
        // Each entry charges 98 + 2 = 100 bytes; eight fit exactly.
        let cache = HotCache::new(800);
        for i in 0..8 {
            assert!(cache.insert(format!("k{i}"), blob(98)));
        }
        assert_eq!((cache.len(), cache.bytes()), (8, 800));

        // Refresh k0, so k1 becomes the oldest.
        assert_eq!(cache.get("k0").map(|b| b.0), Some(98));
        assert!(cache.insert("k8".to_owned(), blob(98)));
        assert_eq!((cache.len(), cache.bytes()), (8, 800));
        assert!(cache.get("k1").is_none());
        assert!(cache.get("k0").is_some());

        // Next eviction takes k2; a 198-byte entry (200 with key) needs two slots.
        assert!(!cache.insert("k9".to_owned(), blob(198)));
        assert!(cache.insert("k9".to_owned(), blob(98)));
        assert!(cache.get("k2").is_none());
        assert!(cache.get("k3").is_some());
    }

    #[test]
    fn oversize_entry_is_refused() {
        let cache = HotCache::new(800);
        // Limit is 800 / 8 = 100 bytes including the 2-byte key.
        assert!(!cache.insert("kk".to_owned(), blob(99)));
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
        assert!(cache.insert("kk".to_owned(), blob(98)));
        assert_eq!(cache.bytes(), 100);

        // A refused replacement drops the stale value too.
        assert!(!cache.insert("kk".to_owned(), blob(5_000)));
        assert!(cache.get("kk").is_none());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn replacing_a_key_adjusts_bytes() {
        let cache = HotCache::new(1_000);
        assert!(cache.insert("key".to_owned(), blob(50)));
        assert_eq!(cache.bytes(), 53);
        assert!(cache.insert("key".to_owned(), blob(20)));
        assert_eq!((cache.len(), cache.bytes()), (1, 23));
        assert_eq!(cache.get("key").map(|b| b.0), Some(20));
        assert!(cache.insert("key".to_owned(), blob(100)));
        assert_eq!((cache.len(), cache.bytes()), (1, 103));
        assert_eq!(cache.remove("key").map(|b| b.0), Some(100));
        assert!(cache.remove("key").is_none());
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
    }

    #[test]
    fn remove_where_removes_matching_values() {
        let cache = HotCache::new(10_000);
        for (key, size) in [("a", 10), ("b", 11), ("c", 10), ("d", 12)] {
            assert!(cache.insert(key.to_owned(), blob(size)));
        }
        assert_eq!(cache.remove_where(|b| b.0 == 10), 2);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.bytes(), 12 + 13);
        assert!(cache.get("b").is_some());
        assert!(cache.get("a").is_none());
        assert_eq!(cache.remove_where(|b| b.0 > 100), 0);
        assert_eq!(cache.remove_where(|_| true), 2);
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn zero_budget_disables_cache() {
        let cache = HotCache::new(0);
        assert!(!cache.insert(String::new(), blob(0)));
        assert!(!cache.insert("k".to_owned(), blob(1)));
        assert!(cache.is_empty());
        assert_eq!((cache.bytes(), cache.max_bytes()), (0, 0));
    }
}
