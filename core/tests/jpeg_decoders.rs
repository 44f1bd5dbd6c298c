//! Damaged JPEGs get the verdict they got before libjpeg-turbo decoded JPEG natively: whatever
//! `refract_core::decode::decode` runs (libjpeg-turbo natively with the `turbojpeg` feature,
//! jpeg-decoder otherwise), a truncated, bit-flipped, padded or oddly marked file decodes when
//! jpeg-decoder decodes it, to the same size, and is refused (`undecodable_image`) when
//! jpeg-decoder refuses it. libjpeg-turbo alone would return grey-filled or garbage pixels for
//! most of them, with a warning.

mod common;

use std::io::Cursor;

use common::sample;
use refract_core::decode::{decode, probe};
use refract_core::Limits;

/// jpeg-decoder's own verdict at 1/`shrink`: the decoded size, or its error.
fn jpeg_decoder(bytes: &[u8], shrink: u32) -> Result<(u32, u32), String> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().map_err(|e| e.to_string())?;
    let info = d.info().ok_or("no frame")?;
    if shrink > 1 {
        let (w, h) = (
            u32::from(info.width).div_ceil(shrink),
            u32::from(info.height).div_ceil(shrink),
        );
        d.scale(w as u16, h as u16).map_err(|e| e.to_string())?;
    }
    d.decode().map_err(|e| e.to_string())?;
    let info = d.info().ok_or("no frame")?;
    Ok((u32::from(info.width), u32::from(info.height)))
}

/// Damaged variants of `full`: cuts inside the entropy-coded data, bytes flipped at spread
/// positions, garbage inserted before the end, the end marker removed.
fn damaged(full: &[u8]) -> Vec<(String, Vec<u8>)> {
    let n = full.len();
    let mut out = Vec::new();
    for k in 1..=6 {
        let cut = n * k / 7;
        out.push((format!("cut at {cut}"), full[..cut].to_vec()));
    }
    out.push(("no EOI".into(), full[..n - 2].to_vec()));
    for (start, step, mask) in [(n / 2, 97, 0x5A), (n / 3, 1009, 0xFF), (n - 400, 7, 0x10)] {
        let mut b = full.to_vec();
        for i in (start..n - 2).step_by(step) {
            b[i] ^= mask;
        }
        out.push((format!("flipped from {start} every {step} by {mask:#x}"), b));
    }
    let mut b = full.to_vec();
    b[n * 2 / 3] ^= 0x01;
    out.push(("one bit flipped".into(), b));
    let mut b = full[..n - 2].to_vec();
    b.extend([0x12, 0x34, 0x56, 0xFF, 0xD9]);
    out.push(("garbage before EOI".into(), b));
    out
}

fn check(name: &str, what: &str, bytes: &[u8], shrink: u32, report: &mut Vec<String>) {
    let limits = Limits::default();
    // The probe (jpeg-decoder's header parser) is the same in every build: what it refuses
    // never reaches a decoder.
    let Ok(header) = probe(bytes, &limits) else {
        return;
    };
    let want = jpeg_decoder(bytes, shrink);
    let got = decode(bytes, &header, shrink, &limits);
    let line = format!(
        "{name} 1/{shrink} {what}: jpeg-decoder {want:?}, decode {:?}",
        got.as_ref().map(|d| (d.image.width(), d.image.height()))
    );
    match (&want, &got) {
        (Ok(size), Ok(d)) => assert_eq!(*size, (d.image.width(), d.image.height()), "{line}"),
        (Err(_), Err(e)) => assert_eq!(e.code(), "undecodable_image", "{line}"),
        _ => panic!("verdicts differ: {line}"),
    }
    report.push(line);
}

#[test]
fn damaged_files_get_jpeg_decoders_verdict() {
    let mut report = Vec::new();
    // Baseline files at every scale, a progressive one at full size: libjpeg-turbo's share.
    for (name, shrinks) in [
        ("cat-small.jpg", &[1u32, 2, 4, 8][..]),
        ("orientation-6.jpg", &[1, 4][..]),
        ("grayscale.jpg", &[2][..]),
        ("cmyk.jpg", &[1, 2][..]),
        ("progressive.jpg", &[1][..]),
    ] {
        let full = sample(name);
        for (what, bytes) in damaged(&full) {
            for &shrink in shrinks {
                check(name, &what, &bytes, shrink, &mut report);
            }
        }
    }
    println!("{}", report.join("\n"));
}

#[test]
fn cmyk_with_odd_adobe_markers_gets_jpeg_decoders_verdict() {
    let full = sample("cmyk.jpg");
    // cmyk.jpg starts with an Adobe APP14 segment whose last byte is the colour transform
    // (2: YCCK). 0 says CMYK, 1 says YCbCr (wrong for 4 components), 7 is undefined; renaming
    // the segment drops the marker altogether.
    assert_eq!(&full[6..11], b"Adobe");
    let mut report = Vec::new();
    for transform in [0u8, 1, 2, 7] {
        let mut b = full.clone();
        b[17] = transform;
        check(
            "cmyk.jpg",
            &format!("Adobe transform {transform}"),
            &b,
            1,
            &mut report,
        );
    }
    let mut b = full.clone();
    b[6] = b'X';
    check("cmyk.jpg", "no Adobe marker", &b, 1, &mut report);
    println!("{}", report.join("\n"));
}
