//! libjpeg-turbo against jpeg-decoder on the samples: the same sizes, shrink and colour
//! handling, close pixels; damaged and unsupported files handed back; memory refused from the
//! header.

use super::*;
use crate::decode::probe;
use crate::decode::pure_jpeg::decode as decode_jpeg_decoder;
use crate::similarity::compare;

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/../samples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn both(bytes: &[u8], shrink: u32) -> (Option<Pixels>, Pixels) {
    let limits = Limits::default();
    let header = probe(bytes, &limits).expect("probe");
    let turbo = decode(bytes, &header, shrink, &limits).expect("turbo");
    let reference = decode_jpeg_decoder(bytes, &header, shrink, &limits).expect("jpeg-decoder");
    (turbo, reference)
}

#[test]
fn samples_decode_like_jpeg_decoder_at_every_scale() {
    let mut report = Vec::new();
    for name in [
        "baseline.jpg",
        "cat-small.jpg",
        "cmyk.jpg",
        "grayscale.jpg",
        "icc-adobergb.jpg",
        "icc-p3.jpg",
        "orientation-6.jpg",
        "progressive.jpg",
    ] {
        let bytes = sample(name);
        for shrink in [1, 2, 4, 8] {
            let (turbo, (want, want_icc, want_shrink)) = both(&bytes, shrink);
            let (got, got_icc, got_shrink) =
                turbo.unwrap_or_else(|| panic!("{name} 1/{shrink}: handed back"));
            assert_eq!(
                (got.width(), got.height(), got_shrink, got_icc),
                (want.width(), want.height(), want_shrink, want_icc),
                "{name} 1/{shrink}"
            );
            assert!(matches!(got, DynamicImage::ImageRgb8(_)), "{name}");
            let s = compare(&got, &want).expect("same size");
            report.push(format!(
                "{name} 1/{shrink}: ssim {:.4} psnr {:.1}",
                s.ssim, s.psnr
            ));
            // Two exact decoders of the same coefficients: they differ by rounding, and at
            // reduced scales by how chroma is scaled (libjpeg-turbo scales the chroma IDCT
            // instead of upsampling) — a few levels at edges, no more.
            assert!(s.psnr >= 30.0 && s.ssim >= 0.97, "{}", report.join("\n"));
        }
    }
    println!("{}", report.join("\n"));
}

#[test]
fn full_size_baseline_is_within_rounding_of_jpeg_decoder() {
    // At full size both run the accurate integer IDCT and fancy upsampling.
    let (turbo, (want, _, _)) = both(&sample("baseline.jpg"), 1);
    let (got, _, _) = turbo.expect("decoded");
    let s = compare(&got, &want).expect("same size");
    assert!(s.psnr >= 40.0 && s.ssim >= 0.995, "{s:?}");
}

#[test]
fn cmyk_uses_the_jpeg_decoder_convention_and_the_icc_profile() {
    let bytes = sample("cmyk.jpg");
    let (turbo, (want, want_icc, _)) = both(&bytes, 1);
    let (got, got_icc, _) = turbo.expect("decoded");
    assert_eq!(got_icc, want_icc);
    assert!(want_icc.is_some());
    // Without the inversion every channel would be about 255 minus the reference.
    let s = compare(&got, &want).expect("same size");
    assert!(s.psnr >= 40.0, "{s:?}");
}

#[test]
fn damaged_files_are_handed_to_jpeg_decoder() {
    let limits = Limits::default();
    for name in ["baseline.jpg", "progressive.jpg"] {
        let full = sample(name);
        let header = probe(&full, &limits).expect("probe");
        // Cut inside the entropy-coded data: libjpeg-turbo would fill the rest with grey and
        // warn, jpeg-decoder decides instead.
        for cut in [full.len() / 3, full.len() / 2, full.len() - 10] {
            let got = decode(&full[..cut], &header, 1, &limits).expect("no error of its own");
            assert!(
                got.is_none(),
                "{name} cut at {cut}: decoded by libjpeg-turbo"
            );
        }
        // Garbage in the middle of the entropy-coded data.
        let mut broken = full.clone();
        for i in (full.len() / 2..full.len() - 2).step_by(97) {
            broken[i] ^= 0x5A;
        }
        let got = decode(&broken, &header, 1, &limits).expect("no error of its own");
        assert!(got.is_none(), "{name} corrupted: decoded by libjpeg-turbo");
    }
}

#[test]
fn twelve_bit_and_lossless_frames_are_handed_to_jpeg_decoder() {
    let original = sample("cat-small.jpg");
    let limits = Limits::default();
    // jpeg-decoder's probe refuses 12-bit frames; the header of the 8-bit original stands in.
    let header = probe(&original, &limits).expect("probe");
    let sof = original
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    // SOF1 (extended sequential) with a precision of 12, and SOF3 (lossless) with 8.
    for (marker, precision) in [(0xC1, 12), (0xC3, 8)] {
        let mut bytes = original.clone();
        bytes[sof + 1] = marker;
        bytes[sof + 4] = precision;
        let got = decode(&bytes, &header, 1, &limits).expect("no error of its own");
        assert!(got.is_none(), "SOF {marker:#x}, {precision} bits: decoded");
    }
}

#[test]
fn memory_is_refused_from_the_header() {
    let bytes = sample("baseline.jpg");
    let mut header = probe(&bytes, &Limits::default()).expect("probe");
    let pixels = u64::from(header.width) * u64::from(header.height);
    // The output alone: 3 bytes per pixel (RGB), 4 + 3 for CMYK.
    assert!(check_memory(&header, pixels, 3, 3 * pixels).is_ok());
    assert!(check_memory(&header, pixels, 3, 3 * pixels - 1).is_err());
    assert!(check_memory(&header, pixels, 4, 7 * pixels - 1).is_err());
    // A progressive file also keeps 128 bytes per block of the full-size image.
    header.progressive = true;
    let coefficients = header.dct_blocks * 128;
    assert!(check_memory(&header, pixels, 3, 3 * pixels + coefficients).is_ok());
    let err = check_memory(&header, pixels, 3, 3 * pixels + coefficients - 1).expect_err("over");
    assert_eq!(err.code(), "undecodable_image");
}

/// A progressive CMYK JPEG of `w`×`h` (one component per block, 1×1 sampling) with its
/// tables and first scan header but no scan data.
fn progressive_cmyk_header(w: u16, h: u16) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8];
    b.extend([0xFF, 0xDB, 0, 67, 0]);
    b.extend([1u8; 64]);
    b.extend([0xFF, 0xC2, 0, 20, 8]);
    b.extend(h.to_be_bytes());
    b.extend(w.to_be_bytes());
    b.push(4);
    for id in 1..=4 {
        b.extend([id, 0x11, 0]);
    }
    b.extend([0xFF, 0xC4, 0, 20, 0x00, 0, 1]);
    b.extend([0u8; 14]);
    b.push(0);
    b.extend([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 0, 0]);
    b.extend([0u8; 16]);
    b.extend([0xFF, 0xD9]);
    b
}

#[test]
fn a_decode_over_the_memory_limit_is_refused_before_decoding() {
    // 10.24 MP of progressive CMYK: 4 bytes per pixel of output, 3 of RGB, 8 of coefficients
    // (154 MB); the limit for 10.24 MP is 8 bytes per pixel + 64 MiB (149 MB).
    let bytes = progressive_cmyk_header(3200, 3200);
    let limits = Limits {
        max_input_pixels: 3200 * 3200,
        ..Limits::default()
    };
    let header = probe(&bytes, &limits).expect("probe");
    assert!(header.progressive);
    let err = decode(&bytes, &header, 1, &limits).expect_err("over the limit");
    assert_eq!(err.code(), "undecodable_image");
    assert!(err.to_string().contains("over the limit"), "{err}");
    // With room for it, libjpeg-turbo reads the header and then finds no scan data: handed
    // back to jpeg-decoder.
    let roomy = Limits::default();
    assert!(decode(&bytes, &header, 1, &roomy)
        .expect("handed back")
        .is_none());
}

#[test]
fn scale_denominators_are_those_of_jpeg_decoder() {
    let want = [
        (0, 1),
        (1, 1),
        (2, 2),
        (3, 2),
        (4, 4),
        (7, 4),
        (8, 8),
        (16, 8),
    ];
    for (shrink, denom) in want {
        assert_eq!(scale_denominator(shrink), denom, "shrink {shrink}");
    }
}
