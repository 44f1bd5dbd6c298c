//! A JPEG's frame header, read without a decoder: what its coefficients will take.

/// The DCT blocks of a JPEG's frame, from its SOF segment: per component, whole MCUs across
/// and down times the component's sampling factors. `None` when no frame header comes before
/// the first scan.
pub(super) fn dct_blocks(bytes: &[u8]) -> Option<u64> {
    let mut i = 2;
    loop {
        let (&ff, &marker) = (bytes.get(i)?, bytes.get(i + 1)?);
        if ff != 0xFF {
            return None;
        }
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]));
        let is_frame = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            let seg = bytes.get(i + 4..i + 2 + len)?;
            let height = u64::from(u16::from_be_bytes([*seg.get(1)?, *seg.get(2)?]));
            let width = u64::from(u16::from_be_bytes([*seg.get(3)?, *seg.get(4)?]));
            let n = usize::from(*seg.get(5)?);
            let factors: Vec<(u64, u64)> = seg
                .get(6..6 + 3 * n)?
                .chunks_exact(3)
                .map(|c| (u64::from(c[1] >> 4).max(1), u64::from(c[1] & 15).max(1)))
                .collect();
            let hmax = factors.iter().map(|f| f.0).max()?;
            let vmax = factors.iter().map(|f| f.1).max()?;
            let (mcus_x, mcus_y) = (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax));
            return Some(factors.iter().map(|(h, v)| mcus_x * h * mcus_y * v).sum());
        }
        if marker == 0xDA {
            return None;
        }
        i += 2 + len;
    }
}
