//! How a variant is written to the warm and cold tiers: a small self-describing header, then
//! the image bytes. The header holds the variant's identity (its [`VariantKey`] and the
//! original's version) and its content type: everything a response needs (the ETag comes from
//! the identity), and everything `refract storage reindex` needs to rebuild the index, since
//! local directories keep no object attributes.
//!
//! Layout: `RFV2`, then three length-prefixed (u32 big-endian) UTF-8 fields: the variant key's
//! spelling, the original's version, the content type; then the body to the end. Blobs of the
//! first layout (`RFV1`, whose key lacked the encoder settings) do not decode: they are misses.

use bytes::Bytes;
use refract_core::VariantKey;

const MAGIC: &[u8; 4] = b"RFV2";
/// No header field is longer than this (keys are at most 1 KiB, specs a few hundred bytes).
const MAX_FIELD: usize = 64 * 1024;

/// A variant as stored in a lower tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub key: VariantKey,
    /// The original's ETag (unquoted) the variant was made from.
    pub version: String,
    pub content_type: String,
    pub body: Bytes,
}

impl Blob {
    pub fn encode(&self) -> Vec<u8> {
        let spelled = self.key.to_string();
        let fields = [&spelled, &self.version, &self.content_type];
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
        4 + 12 + self.key.to_string().len() + self.version.len() + self.content_type.len()
    }

    /// Parses a stored blob; `None` for anything that is not one (a torn or foreign file, or
    /// the first layout).
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
        let (key, version, content_type) = (field()?, field()?, field()?);
        Some(Blob {
            key: key.parse().ok()?,
            version,
            content_type,
            body: bytes.slice(at..),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn key() -> VariantKey {
        let spec = refract_core::Spec::parse("width=10,format=webp").expect("spec");
        VariantKey::new(
            "photos/cat.jpg",
            &spec,
            "",
            &refract_core::Policy::default(),
        )
    }

    #[test]
    fn round_trips_and_refuses_garbage() {
        let b = Blob {
            key: key(),
            version: "o1".into(),
            content_type: "image/webp".into(),
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
        let mut huge = b"RFV2".to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Blob::decode(Bytes::from(huge)), None);
        // A header whose key is not a variant key.
        let mut bad = b"RFV2".to_vec();
        for f in ["photos/cat.jpg\nwidth=10\n-", "o1", "image/webp"] {
            bad.extend_from_slice(&(f.len() as u32).to_be_bytes());
            bad.extend_from_slice(f.as_bytes());
        }
        assert_eq!(Blob::decode(Bytes::from(bad)), None);
    }

    #[test]
    fn blobs_of_the_first_layout_are_not_read() {
        let mut old = b"RFV1".to_vec();
        for f in ["cat.jpg\nwidth=10\n-", "image/webp", "\"e\"", "o1"] {
            old.extend_from_slice(&(f.len() as u32).to_be_bytes());
            old.extend_from_slice(f.as_bytes());
        }
        old.extend_from_slice(b"RIFF");
        assert_eq!(Blob::decode(Bytes::from(old)), None);
    }
}
