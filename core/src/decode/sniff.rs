//! What a file is, from its first bytes: the format to decode it as, and the type it may be
//! served with untouched.

use super::InputFormat;
use crate::Error;

/// Recognises the format from its magic bytes. Known but unsupported formats get a named error.
pub fn sniff(bytes: &[u8]) -> Result<InputFormat, Error> {
    let unsupported = |d| Err(Error::UnsupportedInput { detected: Some(d) });
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Ok(InputFormat::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Ok(InputFormat::Png),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Ok(InputFormat::Gif),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Ok(InputFormat::Webp),
        [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', b'f' | b's', ..] => {
            Ok(InputFormat::Avif)
        }
        [_, _, _, _, b'f', b't', b'y', b'p', b'h', b'e', b'i' | b'v', ..] => unsupported("HEIF"),
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => unsupported("TIFF"),
        [b'B', b'M', ..] => unsupported("BMP"),
        _ if looks_like_svg(bytes) && cfg!(feature = "svg") => Ok(InputFormat::Svg),
        _ if looks_like_svg(bytes) => unsupported("SVG"),
        _ => Err(Error::UnsupportedInput { detected: None }),
    }
}

/// How many leading bytes [`servable_type`] needs.
pub const SNIFF_BYTES: usize = 64;

/// The content type an original may be served untouched with, from its first bytes: the
/// formats browsers show as images (JPEG, PNG, GIF, WebP, AVIF). Anything else (SVG, which can
/// carry scripts; HTML or text uploaded under an image name; formats browsers do not show) is
/// `None`, and hosts refuse to serve it as an original.
pub fn servable_type(first: &[u8]) -> Option<&'static str> {
    match sniff(first) {
        Ok(InputFormat::Svg) => None,
        Ok(format) => Some(format.mime_type()),
        Err(_)
            if matches!(
                first,
                [
                    _,
                    _,
                    _,
                    _,
                    b'f',
                    b't',
                    b'y',
                    b'p',
                    b'a',
                    b'v',
                    b'i',
                    b'f' | b's',
                    ..
                ]
            ) =>
        {
            Some("image/avif")
        }
        Err(_) => None,
    }
}

/// An XML document (optionally after a byte-order mark, an XML declaration, comments or a
/// doctype) whose root element, within the first KiB, is `<svg`.
fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    t.starts_with("<svg")
        || ((t.starts_with("<?xml") || t.starts_with("<!")) && text.contains("<svg"))
}
