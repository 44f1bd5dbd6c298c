//! Reading an animation's shape from its container without decoding a pixel: the number of
//! frames, the loop count, and the pixels each frame stores. GIF blocks and WebP RIFF chunks
//! both carry their lengths, so a scan is a walk over lengths, linear in the file and
//! allocation-free; a GIF with a million frames or a frame of 65535×65535 on a 1×1 screen is
//! refused from this walk ([`crate::preflight`]), before any decoder runs.

use super::Info;
use crate::decode::InputFormat;

/// The frames of a GIF or an animated WebP (`None` for other formats and still WebPs).
/// Damage is not an error here: the scan stops where the file stops making sense and reports
/// what it saw; the decoder gives the error.
pub fn scan(format: InputFormat, bytes: &[u8]) -> Option<Info> {
    match format {
        InputFormat::Gif => gif(bytes),
        InputFormat::Webp => webp(bytes),
        _ => None,
    }
}

fn le16(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        b.get(i..i + 2)?.try_into().ok()?,
    )))
}

fn le24(b: &[u8], i: usize) -> Option<u32> {
    let v = b.get(i..i + 3)?;
    Some(u32::from(v[0]) | u32::from(v[1]) << 8 | u32::from(v[2]) << 16)
}

/// Skips GIF data sub-blocks (a length byte, that many bytes, until a zero length) from `i`;
/// the index after the terminator.
fn skip_sub_blocks(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = usize::from(*b.get(i)?);
        i += 1;
        if len == 0 {
            return Some(i);
        }
        i += len;
    }
}

fn color_table_len(packed: u8) -> usize {
    if packed & 0x80 == 0 {
        0
    } else {
        3 << ((packed & 7) + 1)
    }
}

fn gif(b: &[u8]) -> Option<Info> {
    let mut info = Info {
        frames: 0,
        loop_count: 1,
        frame_pixels: 0,
        largest_frame: 0,
    };
    let mut i = 13 + color_table_len(*b.get(10)?);
    loop {
        match b.get(i) {
            Some(0x21) => {
                let label = *b.get(i + 1)?;
                // NETSCAPE2.0 (or ANIMEXTS1.0): sub-block 1 is the loop count.
                // GIF counts repeats after the first play; Info counts plays (0 = forever).
                if label == 0xFF
                    && b.get(i + 2) == Some(&11)
                    && matches!(b.get(i + 3..i + 14), Some(b"NETSCAPE2.0" | b"ANIMEXTS1.0"))
                    && b.get(i + 14) == Some(&3)
                    && b.get(i + 15) == Some(&1)
                {
                    info.loop_count = match le16(b, i + 16)? {
                        0 => 0,
                        repeats => (repeats + 1).min(u32::from(u16::MAX)) as u16,
                    };
                }
                i = skip_sub_blocks(b, i + 2)?;
            }
            Some(0x2C) => {
                let (w, h) = (le16(b, i + 5)?, le16(b, i + 7)?);
                let area = u64::from(w) * u64::from(h);
                info.frames += 1;
                info.frame_pixels += area;
                info.largest_frame = info.largest_frame.max(area);
                // Descriptor, local colour table, LZW minimum code size, image data.
                let data = i + 10 + color_table_len(*b.get(i + 9)?) + 1;
                i = match skip_sub_blocks(b, data) {
                    Some(next) => next,
                    None => break,
                };
            }
            _ => break,
        }
    }
    Some(info)
}

fn webp(b: &[u8]) -> Option<Info> {
    if b.get(12..16)? != b"VP8X" || b.get(20)? & 0x02 == 0 {
        return None;
    }
    let mut info = Info {
        frames: 0,
        loop_count: 0,
        frame_pixels: 0,
        largest_frame: 0,
    };
    let mut i = 12;
    while let (Some(fourcc), Some(size)) = (b.get(i..i + 4), b.get(i + 4..i + 8)) {
        let size = u32::from_le_bytes(size.try_into().ok()?) as usize;
        let body = i + 8;
        match fourcc {
            b"ANIM" => info.loop_count = le16(b, body + 4)? as u16,
            b"ANMF" => {
                let (w, h) = (le24(b, body + 6)? + 1, le24(b, body + 9)? + 1);
                let area = u64::from(w) * u64::from(h);
                info.frames += 1;
                info.frame_pixels += area;
                info.largest_frame = info.largest_frame.max(area);
            }
            _ => {}
        }
        i = body.checked_add(size)?.checked_add(size & 1)?;
    }
    Some(info)
}
