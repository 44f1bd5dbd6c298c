//! How a variant is written to the warm and cold tiers: a small self-describing header, then
//! the image bytes. The header carries what a response needs (content type, ETag, the
//! original's ETag) and the cache key, so a tier can be read, and the metadata store rebuilt,
//! without any other record: local directories keep no object attributes.
//!
//! Layout: `RFV1`, then four length-prefixed (u32 big-endian) UTF-8 fields: cache key, content
//! type, ETag, original ETag; then the body to the end.

use bytes::Bytes;

const MAGIC: &[u8; 4] = b"RFV1";
/// No header field is longer than this (keys are at most 1 KiB, specs a few hundred bytes).
const MAX_FIELD: usize = 64 * 1024;

/// A variant as stored in a lower tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub cache_key: String,
    pub content_type: String,
    pub etag: String,
    pub original_etag: String,
    pub body: Bytes,
}

impl Blob {
    pub fn encode(&self) -> Vec<u8> {
        let fields = [
            &self.cache_key,
            &self.content_type,
            &self.etag,
            &self.original_etag,
        ];
        let header: usize = fields.iter().map(|f| 4 + f.len()).sum();
        let mut out = Vec::with_capacity(4 + header + self.body.len());
        out.extend_from_slice(MAGIC);
        for f in fields {
            let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// Bytes the header takes before the body.
    pub fn header_len(&self) -> usize {
        4 + 16
            + self.cache_key.len()
            + self.content_type.len()
            + self.etag.len()
            + self.original_etag.len()
    }

    /// Parses a stored blob; `None` for anything that is not one (a torn or foreign file).
    pub fn decode(bytes: Bytes) -> Option<Blob> {
        if bytes.get(..4)? != MAGIC {
            return None;
        }
        let mut at = 4;
        let mut field = || -> Option<String> {
            let len = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
            if len > MAX_FIELD {
                return None;
            }
            let s = std::str::from_utf8(bytes.get(at + 4..at + 4 + len)?).ok()?;
            at += 4 + len;
            Some(s.to_owned())
        };
        let (cache_key, content_type, etag, original_etag) =
            (field()?, field()?, field()?, field()?);
        Some(Blob {
            cache_key,
            content_type,
            etag,
            original_etag,
            body: bytes.slice(at..),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let b = Blob {
            cache_key: "photos/cat.jpg\nwidth=10\n-".into(),
            content_type: "image/webp".into(),
            etag: "\"abc\"".into(),
            original_etag: "o1".into(),
            body: Bytes::from_static(b"RIFF....WEBP"),
        };
        let enc = b.encode();
        assert_eq!(enc.len(), b.header_len() + b.body.len());
        assert_eq!(Blob::decode(Bytes::from(enc.clone())), Some(b));
        for cut in [0, 3, 4, 7, 12] {
            assert_eq!(
                Blob::decode(Bytes::from(enc[..cut].to_vec())),
                None,
                "cut at {cut}"
            );
        }
        assert_eq!(
            Blob::decode(Bytes::from_static(b"\xff\xd8\xff\xe0 jpeg")),
            None
        );
        let mut huge = b"RFV1".to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Blob::decode(Bytes::from(huge)), None);
    }
}
