//! A finished variant as the tiers keep it and the handlers send it.

use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use refract_core::VariantKey;

use super::blob::Blob;
use super::memory::Weigh;

#[derive(Debug)]
pub struct Variant {
    pub key: VariantKey,
    /// The original's ETag (unquoted) it was made from, for revalidation.
    pub version: String,
    pub bytes: Bytes,
    pub content_type: String,
    /// Strong ETag, quoted: [`VariantKey::etag`] of the key and version.
    pub etag: String,
    /// `Server-Timing` value of the transform that made it (empty when read back).
    pub server_timing: String,
    /// When the original's version was last confirmed; `None` when never (read back from a
    /// lower tier), which forces a check before the first use.
    pub checked: Mutex<Option<Instant>>,
}

impl Variant {
    /// A variant just made from the original at `version`, read at `read_at` (the version is
    /// confirmed as of then, not as of when the transform ended: a change heard of while it
    /// ran makes it checked before its first reuse).
    pub fn made(
        key: VariantKey,
        version: String,
        read_at: Instant,
        bytes: Bytes,
        content_type: &str,
        server_timing: String,
    ) -> Variant {
        Variant {
            etag: key.etag(&version),
            key,
            version,
            bytes,
            content_type: content_type.to_owned(),
            server_timing,
            checked: Mutex::new(Some(read_at)),
        }
    }

    /// A variant read back from a lower tier: to be revalidated against its original before use.
    pub fn read_back(blob: Blob) -> Variant {
        Variant {
            etag: blob.key.etag(&blob.version),
            key: blob.key,
            version: blob.version,
            bytes: blob.body,
            content_type: blob.content_type,
            server_timing: String::new(),
            checked: Mutex::new(None),
        }
    }

    /// The stored form.
    pub fn blob(&self) -> Blob {
        Blob {
            key: self.key.clone(),
            version: self.version.clone(),
            content_type: self.content_type.clone(),
            body: Bytes::clone(&self.bytes),
        }
    }

    /// When the original's version was last confirmed.
    pub fn checked(&self) -> Option<Instant> {
        *self.checked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the original's version was confirmed now.
    pub fn confirm(&self) {
        *self.checked.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }
}

impl Weigh for Variant {
    fn weight(&self) -> usize {
        self.bytes.len()
            + self.etag.len()
            + self.server_timing.len()
            + self.version.len()
            + self.key.key().len()
            + self.key.spec().len()
            + 128
    }
}
