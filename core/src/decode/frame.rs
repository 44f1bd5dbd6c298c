//! A JPEG's frame header, read without a decoder: what its coefficients will take and how its
//! components are sampled.

/// The frame header's size and each component's sampling factors (horizontal, vertical).
struct Sof {
    width: u64,
    height: u64,
    factors: Vec<(u64, u64)>,
}

/// The SOF segment, or `None` when no frame header comes before the first scan.
fn sof(bytes: &[u8]) -> Option<Sof> {
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
            let n = usize::from(*seg.get(5)?);
            return Some(Sof {
                height: u64::from(u16::from_be_bytes([*seg.get(1)?, *seg.get(2)?])),
                width: u64::from(u16::from_be_bytes([*seg.get(3)?, *seg.get(4)?])),
                factors: seg
                    .get(6..6 + 3 * n)?
                    .chunks_exact(3)
                    .map(|c| (u64::from(c[1] >> 4).max(1), u64::from(c[1] & 15).max(1)))
                    .collect(),
            });
        }
        if marker == 0xDA {
            return None;
        }
        i += 2 + len;
    }
}

/// The DCT blocks of a JPEG's frame: per component, whole MCUs across and down times the
/// component's sampling factors.
pub(super) fn dct_blocks(bytes: &[u8]) -> Option<u64> {
    let sof = sof(bytes)?;
    let hmax = sof.factors.iter().map(|f| f.0).max()?;
    let vmax = sof.factors.iter().map(|f| f.1).max()?;
    let (mcus_x, mcus_y) = (sof.width.div_ceil(8 * hmax), sof.height.div_ceil(8 * vmax));
    Some(
        sof.factors
            .iter()
            .map(|(h, v)| mcus_x * h * mcus_y * v)
            .sum(),
    )
}

/// Whether a three-component frame stores its second and third components (chroma) at a
/// lower resolution than its first (4:2:0, 4:2:2, 4:4:0, ...).
pub(super) fn chroma_subsampled(bytes: &[u8]) -> bool {
    match sof(bytes) {
        Some(Sof { factors, .. }) if factors.len() == 3 => factors[1..]
            .iter()
            .any(|f| f.0 < factors[0].0 || f.1 < factors[0].1),
        _ => false,
    }
}
