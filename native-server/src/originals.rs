//! Originals in object storage, through the `object_store` crate: S3-compatible stores, GCS,
//! Azure and a local directory (opened by [`crate::objects`]) behave the same way behind
//! [`Originals`].
//!
//! Every call is bounded by the configured storage timeout, and the clients' own retries are
//! kept inside that bound, so an unreachable or stuck store turns into
//! [`StorageError::Unavailable`] (503) instead of a hanging request. Reads refuse objects larger
//! than the input limit from their metadata, before downloading them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};

use crate::config::Config;
use crate::objects::OpenError;

/// Why a storage call failed, as far as a client is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    NotFound(String),
    TooLarge {
        limit: u64,
    },
    Unavailable(String),
    /// The store cannot hold a name like this key (too long once the store encodes it).
    BadName(String),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::NotFound(key) => write!(f, "no original at key {key:?}"),
            StorageError::TooLarge { limit } => {
                write!(
                    f,
                    "the original is larger than the {limit}-byte input limit"
                )
            }
            StorageError::Unavailable(m) => write!(f, "storage is unavailable: {m}"),
            StorageError::BadName(key) => write!(f, "the store cannot hold the key {key:?}"),
        }
    }
}

impl std::error::Error for StorageError {}

/// What the store says about an original without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The store's ETag (or a stand-in from size and modification time), without quotes.
    pub etag: String,
    pub size: u64,
    /// When the store last modified the object (Unix ms), when it says.
    pub modified_ms: Option<i64>,
}

/// An original, read whole.
#[derive(Debug, Clone)]
pub struct Original {
    pub bytes: Bytes,
    pub meta: Head,
}

/// An original whose metadata is read and whose body is not (see [`Originals::open`]).
#[derive(Debug)]
pub struct Opened {
    pub meta: Head,
    result: object_store::GetResult,
}

/// The originals' store: an `object_store` backend and a key prefix inside it.
#[derive(Debug, Clone)]
pub struct Originals {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    timeout: Duration,
    max_bytes: u64,
    /// Local directories keep no object attributes (content type).
    local: bool,
    describe: String,
}

impl Originals {
    /// Opens the store named by `config.originals`.
    pub fn from_config(config: &Config) -> Result<Originals, OpenError> {
        let opened = crate::objects::open(&config.originals, config, false)?;
        let timeout = Duration::from_millis(config.storage.timeout_ms.max(1));
        let max_bytes = config.limits.max_input_bytes;
        Ok(Originals::new(
            opened.store,
            &opened.prefix,
            timeout,
            max_bytes,
            opened.local,
        )
        .described(opened.describe))
    }

    /// Wraps any store; `prefix` is prepended to every key.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        timeout: Duration,
        max_bytes: u64,
        local: bool,
    ) -> Originals {
        Originals {
            store,
            prefix: Path::from(prefix.trim_matches('/')),
            timeout,
            max_bytes,
            local,
            describe: String::new(),
        }
    }

    fn described(mut self, describe: String) -> Self {
        self.describe = describe;
        self
    }

    /// Where the originals are, for logs.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    fn path(&self, key: &str) -> Path {
        // Keys are checked by `refract_core::url::decode_key`; `Path::from_iter` escapes
        // anything a backend cannot store literally.
        let parts = self.prefix.parts().chain(key.split('/').map(Into::into));
        Path::from_iter(parts)
    }

    async fn bounded<T>(
        &self,
        key: &str,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T, StorageError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(StorageError::Unavailable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
            Ok(Err(object_store::Error::NotFound { .. })) => {
                Err(StorageError::NotFound(key.to_owned()))
            }
            Ok(Err(e)) if name_too_long(&e) => Err(StorageError::BadName(key.to_owned())),
            Ok(Err(e)) => Err(StorageError::Unavailable(e.to_string())),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// The original's metadata.
    pub async fn head(&self, key: &str) -> Result<Head, StorageError> {
        let meta = self.bounded(key, self.store.head(&self.path(key))).await?;
        Ok(meta_of(&meta))
    }

    /// Opens an original: its metadata, checked against the input limit, and a body not read
    /// yet, so the caller can budget the bytes before they are in memory.
    pub async fn open(&self, key: &str) -> Result<Opened, StorageError> {
        let result = self.bounded(key, self.store.get(&self.path(key))).await?;
        let meta = meta_of(&result.meta);
        if meta.size > self.max_bytes {
            return Err(StorageError::TooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(Opened { meta, result })
    }

    /// Reads the body of an opened original.
    pub async fn read(&self, key: &str, opened: Opened) -> Result<Original, StorageError> {
        let bytes = self.bounded(key, opened.result.bytes()).await?;
        Ok(Original {
            bytes,
            meta: opened.meta,
        })
    }

    /// Stores an original (atomically: readers see the old or the new object, never a part).
    pub async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &'static str,
    ) -> Result<Head, StorageError> {
        let mut attributes = Attributes::new();
        if !self.local {
            attributes.insert(Attribute::ContentType, content_type.into());
        }
        let opts = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let path = self.path(key);
        let size = bytes.len() as u64;
        let put = self.store.put_opts(&path, PutPayload::from(bytes), opts);
        let result = self.bounded(key, put).await?;
        let etag = match result.e_tag {
            Some(e) => e.trim_matches('"').to_owned(),
            None => self.head(key).await?.etag,
        };
        Ok(Head {
            etag,
            size,
            modified_ms: None,
        })
    }

    /// Opens an original for streaming: its metadata, its first chunk (enough to sniff the
    /// format) and the rest as a stream. Each chunk must arrive within the storage timeout,
    /// so a stalled read ends the stream with an error instead of hanging; memory holds one
    /// chunk at a time, whatever the original's size.
    pub async fn stream(&self, key: &str) -> Result<Streamed, StorageError> {
        let result = self.bounded(key, self.store.get(&self.path(key))).await?;
        let meta = meta_of(&result.meta);
        let mut chunks = result.into_stream();
        let timeout = self.timeout;
        // The first chunk holds at least SNIFF_BYTES (or the whole object): enough to tell the
        // format, however the store happens to split its body.
        let mut first = bytes::BytesMut::new();
        while first.len() < SNIFF_BYTES {
            match tokio::time::timeout(timeout, chunks.next()).await {
                Err(_) => {
                    return Err(StorageError::Unavailable(
                        "no data within the timeout".into(),
                    ))
                }
                Ok(None) => break,
                Ok(Some(chunk)) => first.extend_from_slice(
                    &chunk.map_err(|e| StorageError::Unavailable(e.to_string()))?,
                ),
            }
        }
        let first = first.freeze();
        let rest = futures::stream::unfold(chunks, move |mut chunks| async move {
            match tokio::time::timeout(timeout, chunks.next()).await {
                Err(_) => Some((Err(std::io::Error::other("storage read stalled")), chunks)),
                Ok(None) => None,
                Ok(Some(chunk)) => Some((chunk.map_err(std::io::Error::other), chunks)),
            }
        });
        Ok(Streamed {
            meta,
            first,
            rest: Box::pin(rest),
        })
    }

    /// Rewrites an original in place with another storage class (`x-amz-storage-class` on
    /// S3), then checks the stored size. The write is atomic, so readers see the object in the
    /// old class or the new one, never a part of it. It is also conditional on the ETag that
    /// was read (`If-Match`), so an upload that lands in between is never overwritten: the
    /// rewrite fails instead, and the next sweep plans again.
    pub async fn set_storage_class(&self, key: &str, class: &str) -> Result<Head, StorageError> {
        if self.local {
            return Err(StorageError::Unavailable(
                "a local directory has no storage classes".into(),
            ));
        }
        let path = self.path(key);
        let result = self.bounded(key, self.store.get(&path)).await?;
        // The rewrite holds the object in memory: objects over the input limit are refused,
        // unread, rather than read whole.
        if result.meta.size > self.max_bytes {
            return Err(StorageError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let version = object_store::UpdateVersion {
            e_tag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        };
        let bytes = self.bounded(key, result.bytes()).await?;
        let original = Original {
            meta: Head {
                etag: String::new(),
                size: bytes.len() as u64,
                modified_ms: None,
            },
            bytes,
        };
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::StorageClass, class.to_owned().into());
        if let Some(ct) = refract_core::decode::sniff(&original.bytes)
            .ok()
            .map(|f| f.mime_type())
        {
            attributes.insert(Attribute::ContentType, ct.into());
        }
        let opts = PutOptions {
            attributes,
            mode: object_store::PutMode::Update(version),
            ..PutOptions::default()
        };
        let size = original.bytes.len() as u64;
        let put = self
            .store
            .put_opts(&path, PutPayload::from(original.bytes), opts);
        self.bounded(key, put).await?;
        let meta = self.head(key).await?;
        if meta.size != size {
            return Err(StorageError::Unavailable(format!(
                "{key}: {} bytes stored, {size} expected",
                meta.size
            )));
        }
        Ok(meta)
    }

    /// Deletes an original; a missing one is [`StorageError::NotFound`] on every backend.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.head(key).await?;
        self.bounded(key, self.store.delete(&self.path(key))).await
    }

    /// The first `n` bytes of an original (for sniffing its format).
    pub async fn head_bytes(&self, key: &str, n: u64) -> Result<Bytes, StorageError> {
        let size = self.head(key).await?.size;
        let path = self.path(key);
        let range = 0..n.min(size);
        self.bounded(key, self.store.get_range(&path, range)).await
    }

    /// Whether the store answers: lists at most one key under the prefix.
    pub async fn ready(&self) -> Result<(), StorageError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut list = self.store.list(prefix);
        let first = async move { list.next().await.transpose() };
        self.bounded("", first).await.map(drop)
    }
}

/// Bytes read before an original is served, to tell its type.
pub use refract_core::decode::SNIFF_BYTES;

/// An original being streamed (see [`Originals::stream`]).
pub struct Streamed {
    pub meta: Head,
    pub first: Bytes,
    pub rest: futures::stream::BoxStream<'static, std::io::Result<Bytes>>,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// Whether a store refused a name as too long (a local directory: `ENAMETOOLONG`, as the key's
/// segments grow when the store percent-encodes them).
fn name_too_long(e: &object_store::Error) -> bool {
    const ENAMETOOLONG: i32 = 36; // Linux
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(ENAMETOOLONG))
        {
            return true;
        }
        source = err.source();
    }
    false
}

fn meta_of(meta: &object_store::ObjectMeta) -> Head {
    let etag = match &meta.e_tag {
        Some(e) => e.trim_start_matches("W/").trim_matches('"').to_owned(),
        None => format!(
            "{:x}-{:x}",
            meta.size,
            meta.last_modified.timestamp_micros()
        ),
    };
    Head {
        etag,
        size: meta.size,
        modified_ms: Some(meta.last_modified.timestamp_millis()),
    }
}

mod list;
pub mod page;
