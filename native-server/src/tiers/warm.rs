//! The warm tier: variants as files in a local directory, within a byte budget, least recently
//! used evicted first. Files are written to a temporary name and renamed, so a crash leaves
//! either the whole file or none (stray temporaries are removed at start-up). The in-memory
//! index is rebuilt from the directory at start-up, oldest modification first.
//!
//! Eviction takes a variant out of the index at once (the budget holds) but leaves its file
//! until the chain has copied it to cold ([`Warm::read`], then [`Warm::discard`]), so a crash
//! in between loses nothing: the file is indexed again at the next start.
//!
//! All calls are blocking file I/O: callers run them on the blocking pool.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use lru::LruCache;

use super::blob::Blob;

#[derive(Debug)]
pub struct Warm {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
}

#[derive(Debug)]
struct Index {
    /// Variant id → file size.
    lru: LruCache<String, u64>,
    bytes: u64,
}

impl Warm {
    /// Opens (creating) the directory and indexes what is in it. The ids of entries past the
    /// budget are returned for the caller to demote or drop.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(Warm, Vec<String>)> {
        fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for shard in fs::read_dir(dir)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".tmp") {
                    // A torn write of a crashed process; a young one may be a live server's
                    // write in progress (a CLI sweep opens the same directory).
                    let age = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a > std::time::Duration::from_secs(600)) {
                        let _ = fs::remove_file(&path);
                    }
                    continue;
                }
                let meta = entry.metadata()?;
                let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                found.push((mtime, name, meta.len()));
            }
        }
        found.sort();
        let mut index = Index {
            lru: LruCache::unbounded(),
            bytes: 0,
        };
        for (_, id, size) in found {
            index.bytes += size;
            index.lru.put(id, size);
        }
        let warm = Warm {
            dir: dir.to_owned(),
            max_bytes,
            index: Mutex::new(index),
        };
        let evicted = warm.evict_over_budget();
        Ok((warm, evicted))
    }

    fn path(&self, id: &str) -> PathBuf {
        let shard = id.get(..2).unwrap_or("00");
        self.dir.join(shard).join(id)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads an indexed variant, marking it recently used. A missing or unreadable file is
    /// dropped from the index.
    pub fn get(&self, id: &str) -> Option<Blob> {
        self.index().lru.get(id)?;
        let blob = self.read(id);
        if blob.is_none() {
            self.remove(id);
        }
        blob
    }

    /// Reads a variant's file whether it is indexed or not (an evicted one awaiting demotion).
    pub fn read(&self, id: &str) -> Option<Blob> {
        fs::read(self.path(id))
            .ok()
            .and_then(|b| Blob::decode(Bytes::from(b)))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index().lru.contains(id)
    }

    /// Writes a variant and evicts least recently used ones past the budget, returning their
    /// ids. A variant larger than an eighth of the budget is not kept (one image must not flush
    /// the tier): then the result is `None`.
    pub fn put(&self, id: &str, blob: &Blob) -> io::Result<Option<Vec<String>>> {
        let data = blob.encode();
        let size = data.len() as u64;
        if size > self.max_bytes / 8 {
            return Ok(None);
        }
        let path = self.path(id);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        // Unique per writer, so two processes on one directory never share a temporary.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("{}-{seq}.tmp", std::process::id()));
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&data)?;
        }
        fs::rename(&tmp, &path)?;
        {
            let mut index = self.index();
            if let Some(old) = index.lru.put(id.to_owned(), size) {
                index.bytes -= old;
            }
            index.bytes += size;
        }
        Ok(Some(self.evict_over_budget()))
    }

    /// Removes the file of an evicted variant, unless the variant was written again since
    /// (then it is indexed, and the file is the new one).
    pub fn discard(&self, id: &str) {
        let index = self.index();
        if !index.lru.contains(id) {
            let _ = fs::remove_file(self.path(id));
        }
    }

    /// Removes a variant; returns whether it was there.
    pub fn remove(&self, id: &str) -> bool {
        let had = {
            let mut index = self.index();
            match index.lru.pop(id) {
                Some(size) => {
                    index.bytes -= size;
                    true
                }
                None => false,
            }
        };
        let _ = fs::remove_file(self.path(id));
        had
    }

    /// Takes least recently used variants out of the index until it is within budget; their
    /// files stay until [`Warm::discard`].
    fn evict_over_budget(&self) -> Vec<String> {
        let mut index = self.index();
        let mut out = Vec::new();
        while index.bytes > self.max_bytes {
            let Some((id, size)) = index.lru.pop_lru() else {
                break;
            };
            index.bytes -= size;
            out.push(id);
        }
        out
    }

    /// Ids of every variant held, least recently used first.
    pub fn ids(&self) -> Vec<String> {
        self.index()
            .lru
            .iter()
            .rev()
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn bytes(&self) -> u64 {
        self.index().bytes
    }

    pub fn len(&self) -> usize {
        self.index().lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: usize) -> Blob {
        let spec = refract_core::Spec::parse(&format!("width={n}")).expect("spec");
        let policy = refract_core::Policy::default();
        Blob {
            key: refract_core::VariantKey::new("k.jpg", &spec, "", &policy),
            version: "o".into(),
            content_type: "image/webp".into(),
            body: Bytes::from(vec![7u8; n]),
        }
    }

    #[test]
    fn keeps_within_budget_and_evicts_least_recently_used() {
        let dir = tempfile::tempdir().expect("dir");
        let (warm, evicted) = Warm::open(dir.path(), 10_000).expect("open");
        assert!(evicted.is_empty());
        for i in 0..8 {
            let ev = warm
                .put(&format!("{i:02}aa"), &blob(1000))
                .expect("put")
                .expect("kept");
            assert!(warm.bytes() <= 10_000);
            if i == 0 {
                assert!(ev.is_empty());
            }
        }
        // Touch the oldest so it survives; the next put evicts the second oldest.
        assert!(warm.get("00aa").is_some());
        let mut evicted = Vec::new();
        for i in 8..12 {
            evicted.extend(
                warm.put(&format!("{i:02}aa"), &blob(1000))
                    .expect("put")
                    .expect("kept"),
            );
        }
        assert!(warm.bytes() <= 10_000, "{}", warm.bytes());
        assert!(warm.contains("00aa"));
        assert_eq!(evicted.first().map(String::as_str), Some("01aa"));
        // Out of the index, but its file stays until it is demoted and discarded.
        assert!(!warm.contains("01aa"));
        assert!(warm.get("01aa").is_none());
        assert_eq!(warm.read("01aa").expect("readable").body.len(), 1000);
        warm.discard("01aa");
        assert!(!dir.path().join("01").join("01aa").exists());
        // A discard never removes a variant written again since its eviction.
        let again = evicted.get(1).expect("a second eviction");
        warm.put(again, &blob(1000)).expect("put").expect("kept");
        warm.discard(again);
        assert!(warm.get(again).is_some());
        // Too big for the tier: not kept.
        assert!(warm.put("big", &blob(5000)).expect("put").is_none());
        assert!(!warm.contains("big"));
    }

    #[test]
    fn reopening_rebuilds_the_index_and_drops_temporaries() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let (warm, _) = Warm::open(dir.path(), 100_000).expect("open");
            warm.put("abc1", &blob(100)).expect("put");
            warm.put("abc2", &blob(200)).expect("put");
        }
        // A torn write from an hour ago is removed; a fresh one may be a live writer's.
        let old = dir.path().join("ab").join("abc3.1-0.tmp");
        std::fs::write(&old, b"torn").expect("tmp");
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(hour_ago))
            .expect("age the file");
        let young = dir.path().join("ab").join("abc4.2-0.tmp");
        std::fs::write(&young, b"in progress").expect("tmp");
        let (warm, evicted) = Warm::open(dir.path(), 100_000).expect("reopen");
        assert!(evicted.is_empty());
        assert_eq!(warm.len(), 2);
        assert_eq!(warm.get("abc2").expect("abc2").body.len(), 200);
        assert!(!old.exists());
        assert!(young.exists());
        // A smaller budget on reopen evicts down to it.
        drop(warm);
        let (warm, evicted) = Warm::open(dir.path(), 300).expect("reopen small");
        assert_eq!(evicted.len(), 1);
        assert!(warm.bytes() <= 300);
    }
}
