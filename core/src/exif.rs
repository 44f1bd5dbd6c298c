//! The little of EXIF the core needs: read the orientation and the copyright/artist tags,
//! reset the orientation after applying it, and write a minimal block with copyright only.
//!
//! EXIF is a TIFF structure: a byte-order mark (`II` or `MM`), the number 42, the offset of the
//! first IFD; an IFD is a count of 12-byte entries (tag, type, count, value-or-offset).

/// EXIF orientation: how the stored pixels must be transformed to display upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Orientation {
    /// 1: as stored.
    #[default]
    Normal,
    /// 2: mirror left-right.
    FlipH,
    /// 3: rotate 180°.
    Rotate180,
    /// 4: mirror top-bottom.
    FlipV,
    /// 5: transpose (mirror along the top-left to bottom-right diagonal).
    Transpose,
    /// 6: rotate 90° clockwise.
    Rotate90,
    /// 7: transverse (mirror along the other diagonal).
    Transverse,
    /// 8: rotate 270° clockwise.
    Rotate270,
}

impl Orientation {
    /// From the EXIF tag value; anything outside 1–8 is treated as 1.
    pub fn from_exif(v: u16) -> Orientation {
        match v {
            2 => Orientation::FlipH,
            3 => Orientation::Rotate180,
            4 => Orientation::FlipV,
            5 => Orientation::Transpose,
            6 => Orientation::Rotate90,
            7 => Orientation::Transverse,
            8 => Orientation::Rotate270,
            _ => Orientation::Normal,
        }
    }

    /// The EXIF tag value.
    pub fn to_exif(self) -> u16 {
        self as u16 + 1
    }

    /// Whether width and height swap.
    pub fn swaps_axes(self) -> bool {
        matches!(
            self,
            Orientation::Transpose
                | Orientation::Rotate90
                | Orientation::Transverse
                | Orientation::Rotate270
        )
    }
}

const TAG_ORIENTATION: u16 = 0x0112;
const TAG_ARTIST: u16 = 0x013B;
const TAG_COPYRIGHT: u16 = 0x8298;
const TYPE_ASCII: u16 = 2;
const TYPE_SHORT: u16 = 3;

/// Strips the `Exif\0\0` prefix that JPEG APP1 and some containers keep.
fn tiff(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"Exif\0\0").unwrap_or(data)
}

struct Reader<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let big_endian = match data.get(0..2)? {
            b"II" => false,
            b"MM" => true,
            _ => return None,
        };
        let r = Reader { data, big_endian };
        (r.u16(2)? == 42).then_some(r)
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.data.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// Offsets of the entries of IFD0, bounded by the data. Offsets come from the file, so
    /// all arithmetic is checked (usize is 32 bits on wasm).
    fn ifd0_entries(&self) -> impl Iterator<Item = usize> + '_ {
        let start = self.u32(4).and_then(|o| usize::try_from(o).ok());
        let count = start.and_then(|s| self.u16(s)).unwrap_or(0) as usize;
        let first = start.and_then(|s| s.checked_add(2));
        (0..count)
            .map_while(move |i| first?.checked_add(i * 12))
            .take_while(|&e| e.checked_add(12).is_some_and(|end| end <= self.data.len()))
    }

    fn find(&self, tag: u16) -> Option<usize> {
        self.ifd0_entries().find(|&e| self.u16(e) == Some(tag))
    }

    fn ascii(&self, tag: u16) -> Option<Vec<u8>> {
        let e = self.find(tag)?;
        if self.u16(e + 2)? != TYPE_ASCII {
            return None;
        }
        let count = self.u32(e + 4)? as usize;
        let bytes = if count <= 4 {
            self.data.get(e + 8..e + 8 + count)?
        } else {
            let off = usize::try_from(self.u32(e + 8)?).ok()?;
            self.data.get(off..off.checked_add(count)?)?
        };
        let text: Vec<u8> = bytes.iter().copied().take_while(|b| *b != 0).collect();
        (!text.is_empty()).then_some(text)
    }
}

/// The orientation recorded in an EXIF block (with or without the `Exif\0\0` prefix).
pub fn orientation(exif: &[u8]) -> Orientation {
    let Some(r) = Reader::new(tiff(exif)) else {
        return Orientation::Normal;
    };
    r.find(TAG_ORIENTATION)
        .filter(|&e| r.u16(e + 2) == Some(TYPE_SHORT))
        .and_then(|e| r.u16(e + 8))
        .map(Orientation::from_exif)
        .unwrap_or_default()
}

/// A copy of the EXIF block (TIFF data, no prefix) with the orientation set to 1, because the
/// output pixels are already upright.
pub fn with_normal_orientation(exif: &[u8]) -> Option<Vec<u8>> {
    let data = tiff(exif);
    let r = Reader::new(data)?;
    let mut out = data.to_vec();
    if let Some(e) = r.find(TAG_ORIENTATION) {
        let one = if r.big_endian { [0, 1] } else { [1, 0] };
        out.get_mut(e + 8..e + 10)?.copy_from_slice(&one);
    }
    Some(out)
}

/// A minimal EXIF block (TIFF data, no prefix) holding only the copyright and artist tags of
/// `exif`, or `None` when it has neither.
pub fn copyright_only(exif: &[u8]) -> Option<Vec<u8>> {
    let r = Reader::new(tiff(exif))?;
    let tags: Vec<(u16, Vec<u8>)> = [TAG_ARTIST, TAG_COPYRIGHT]
        .into_iter()
        .filter_map(|t| {
            r.ascii(t).map(|mut v| {
                v.push(0);
                (t, v)
            })
        })
        .collect();
    if tags.is_empty() {
        return None;
    }
    // Little-endian TIFF: header (8) + IFD count (2) + entries (12 each) + next IFD (4) + values.
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    let mut value_offset = 8 + 2 + 12 * tags.len() + 4;
    let mut values = Vec::new();
    for (tag, v) in &tags {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&TYPE_ASCII.to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        if v.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..v.len()].copy_from_slice(v);
            out.extend_from_slice(&inline);
        } else {
            out.extend_from_slice(&(value_offset as u32).to_le_bytes());
            values.extend_from_slice(v);
            value_offset += v.len();
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&values);
    Some(out)
}

/// The copyright tag's text, if any (used by tests and the JSON output).
pub fn copyright(exif: &[u8]) -> Option<String> {
    let r = Reader::new(tiff(exif))?;
    r.ascii(TAG_COPYRIGHT)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(orientation: u16, copyright: Option<&str>) -> Vec<u8> {
        // Big-endian to exercise the other byte order.
        let mut entries: Vec<(u16, u16, u32, [u8; 4])> = vec![(
            TAG_ORIENTATION,
            TYPE_SHORT,
            1,
            [(orientation >> 8) as u8, orientation as u8, 0, 0],
        )];
        let mut tail = Vec::new();
        if let Some(c) = copyright {
            let n = entries.len() + 1;
            let off = 8 + 2 + 12 * n + 4;
            entries.push((
                TAG_COPYRIGHT,
                TYPE_ASCII,
                c.len() as u32 + 1,
                (off as u32).to_be_bytes(),
            ));
            tail.extend_from_slice(c.as_bytes());
            tail.push(0);
        }
        let mut out = b"MM\0*".to_vec();
        out.extend_from_slice(&8u32.to_be_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
        for (t, ty, n, v) in entries {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&ty.to_be_bytes());
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&v);
        }
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&tail);
        out
    }

    #[test]
    fn reads_every_orientation() {
        for v in 1..=8u16 {
            let o = orientation(&block(v, None));
            assert_eq!(o.to_exif(), v);
        }
        assert_eq!(orientation(&block(9, None)), Orientation::Normal);
    }

    #[test]
    fn prefix_and_garbage() {
        let mut prefixed = b"Exif\0\0".to_vec();
        prefixed.extend(block(6, None));
        assert_eq!(orientation(&prefixed), Orientation::Rotate90);
        assert_eq!(orientation(b"garbage"), Orientation::Normal);
        assert_eq!(orientation(b"MM\0*\xff\xff\xff\xff"), Orientation::Normal);
        assert_eq!(orientation(&[]), Orientation::Normal);
    }

    #[test]
    fn reset_orientation_keeps_the_rest() {
        let b = block(6, Some("Jane Doe"));
        let reset = with_normal_orientation(&b).expect("valid block");
        assert_eq!(orientation(&reset), Orientation::Normal);
        assert_eq!(copyright(&reset).as_deref(), Some("Jane Doe"));
    }

    #[test]
    fn copyright_only_block_round_trips() {
        let b = block(3, Some("(c) 2024 Someone"));
        let minimal = copyright_only(&b).expect("has copyright");
        assert_eq!(copyright(&minimal).as_deref(), Some("(c) 2024 Someone"));
        assert_eq!(orientation(&minimal), Orientation::Normal);
        assert!(copyright_only(&block(1, None)).is_none());
    }
}
