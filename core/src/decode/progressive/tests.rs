use std::io::Cursor;

use super::markers::{segment, Scan};
use super::store::{plan, History, Layout};
use super::*;

fn file(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/progressive/");
    std::fs::read(format!("{dir}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sample(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/");
    std::fs::read(format!("{dir}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn the_kept_corner_is_the_top_left_k_by_k_coefficients() {
    let zigzags = |k| {
        let l = Layout::new(k);
        (0..64)
            .filter(|&z| l.needed >> z & 1 == 1)
            .collect::<Vec<_>>()
    };
    assert_eq!(zigzags(1), [0]);
    assert_eq!(zigzags(2), [0, 1, 2, 4]);
    let four = zigzags(4);
    assert_eq!(four.len(), 16);
    assert_eq!(four.last(), Some(&24), "(3,3) is zigzag 24");
    assert_eq!(zigzags(8).len(), 64);
    // Slots are row-major within the corner: zigzag 2 is row 1, column 0.
    assert_eq!(Layout::new(4).slot[2], 4);
    assert_eq!(Layout::new(2).slot[4], 3);
}

fn scan(comps: &[usize], ss: usize, se: usize, ah: u32, al: u32) -> Scan {
    let mut c = [0; 4];
    c[..comps.len()].copy_from_slice(comps);
    Scan {
        comps: c,
        count: comps.len(),
        tables: [0; 4],
        ss,
        se,
        ah,
        al,
        data: (0, 0),
    }
}

/// libjpeg's default script for YCbCr (jcparam.c's `jpeg_simple_progression`, as scan
/// parameters: a fact about the files it writes).
fn libjpeg_script() -> Vec<Scan> {
    vec![
        scan(&[0, 1, 2], 0, 0, 0, 1),
        scan(&[0], 1, 5, 0, 2),
        scan(&[2], 1, 63, 0, 1),
        scan(&[1], 1, 63, 0, 1),
        scan(&[0], 6, 63, 0, 2),
        scan(&[0], 1, 63, 2, 1),
        scan(&[0, 1, 2], 0, 0, 1, 0),
        scan(&[2], 1, 63, 1, 0),
        scan(&[1], 1, 63, 1, 0),
        scan(&[0], 1, 63, 1, 0),
    ]
}

#[test]
fn scans_outside_the_corner_are_skipped_unless_a_refinement_needs_their_history() {
    let script = libjpeg_script();
    // 1/8: DC only; every AC scan is skipped and nothing needs history.
    let (decode, history) = plan(&script, 3, &Layout::new(1));
    let dc_only: Vec<bool> = script.iter().map(Scan::is_dc).collect();
    assert_eq!(decode, dc_only);
    assert_eq!(history, [0, 0, 0]);
    // 1/4: luma 6-63 lies outside {0, 1, 2, 4}, but the 1-63 refinement after it needs to
    // know which of its coefficients are nonzero, so it is decoded; history covers 1-63 but
    // the corner, for every component (each has a 1-63 refinement).
    let (decode, history) = plan(&script, 3, &Layout::new(2));
    assert!(decode.iter().all(|&d| d));
    let outside = !Layout::new(2).needed & !1;
    assert_eq!(history, [outside, outside, outside]);
    // A refinement of a band wholly outside the corner that nothing refines later: skipped.
    let b = vec![
        scan(&[0, 1, 2], 0, 0, 0, 0),
        scan(&[0], 1, 63, 0, 1),
        scan(&[0], 30, 63, 1, 0),
        scan(&[0], 1, 29, 1, 0),
    ];
    let (decode, history) = plan(&b, 3, &Layout::new(4));
    assert_eq!(decode, [true, true, false, true]);
    let band_1_29 = ((1u64 << 30) - 1) & !1;
    assert_eq!(history[0], band_1_29 & !Layout::new(4).needed);
}

#[test]
fn history_bits_are_packed_across_words() {
    for width in [1u32, 7, 48, 60, 63] {
        let tracked = ((1u64 << width) - 1) << 1;
        let blocks = 301;
        let mut h = History::new(blocks, tracked);
        assert_eq!(h.bytes(), History::words_for(blocks as u64, tracked) * 8);
        let pattern =
            |b: usize| (b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) & ((1 << width) - 1);
        for b in 0..blocks {
            h.set(b, pattern(b));
        }
        for b in 0..blocks {
            assert_eq!(h.get(b), pattern(b), "width {width}, block {b}");
        }
    }
}

fn jpeg_decoder_full(bytes: &[u8]) -> Vec<u8> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    let pixels = d.decode().expect("jpeg-decoder");
    match d.info().expect("info").pixel_format {
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        _ => pixels,
    }
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    crate::similarity::psnr(a, b)
}

/// At full size every coefficient of every scan is decoded: the pixels then match
/// jpeg-decoder's full decode, which checks the entropy decoding of every scan type.
#[test]
fn at_full_size_every_coefficient_matches_jpeg_decoder() {
    for name in [
        "im-420.jpg",
        "im-444.jpg",
        "im-grey.jpg",
        "cj-rgb.jpg",
        "cj-420-restart-rows.jpg",
        "cj-440-restart.jpg",
        "jt-script-a.jpg",
        "jt-script-b-restart.jpg",
        "cj-17x9.jpg",
    ] {
        let bytes = file(name);
        let d = decode_at(&bytes, 8, &limits())
            .expect("decodes")
            .expect("handled");
        let p = psnr(&d.rgb, &jpeg_decoder_full(&bytes));
        assert!(p > 45.0, "{name}: {p:.1} dB");
    }
}

/// A progressive JPEG of `width` × `height` mid-grey pixels in `n` components (1 or 3, no
/// subsampling): one interleaved DC scan (every difference 0, a one-bit code each) and per
/// component one AC scan of end-of-band runs, each `run` blocks long (more than the image has,
/// to end past the band).
fn synthetic(width: u16, height: u16, n: u8, run: u32) -> Vec<u8> {
    let mut f = vec![0xFF, 0xD8];
    f.extend([0xFF, 0xDB, 0, 67, 0]);
    f.extend([1u8; 64]);
    f.extend([0xFF, 0xC2, 0, 8 + 3 * n, 8]);
    f.extend(height.to_be_bytes());
    f.extend(width.to_be_bytes());
    f.push(n);
    for id in 1..=n {
        f.extend([id, 0x11, 0]);
    }
    // DC table 0: one code "0" for category 0. AC table 0: one code "0" for EOB14.
    f.extend([0xFF, 0xC4, 0, 20, 0x00, 1]);
    f.extend([0u8; 15]);
    f.push(0);
    f.extend([0xFF, 0xC4, 0, 20, 0x10, 1]);
    f.extend([0u8; 15]);
    f.push(0xE0);
    let blocks = u64::from(width.div_ceil(8)) * u64::from(height.div_ceil(8));
    f.extend([0xFF, 0xDA, 0, 6 + 2 * n, n]);
    for id in 1..=n {
        f.extend([id, 0x00]);
    }
    f.extend([0, 0, 0]);
    f.extend(pack(&vec![false; (blocks * u64::from(n)) as usize]));
    for id in 1..=n {
        f.extend([0xFF, 0xDA, 0, 8, 1, id, 0x00, 1, 63, 0]);
        let mut bits = Vec::new();
        let mut left = blocks;
        let extra = run - (1 << 14);
        while left > 0 {
            bits.push(false); // EOB14
            bits.extend((0..14).rev().map(|i| extra >> i & 1 == 1));
            left = left.saturating_sub(u64::from(run));
        }
        f.extend(pack(&bits));
    }
    f.extend([0xFF, 0xD9]);
    f
}

/// Bits to bytes, padded with ones, with a zero stuffed after each 0xFF.
fn pack(bits: &[bool]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in bits.chunks(8) {
        let mut byte = 0xFFu8;
        for (i, &b) in chunk.iter().enumerate() {
            if !b {
                byte &= !(0x80 >> i);
            }
        }
        out.push(byte);
        if byte == 0xFF {
            out.push(0);
        }
    }
    out
}

#[test]
fn a_10000_by_10000_progressive_jpeg_at_one_eighth_takes_a_few_mib() {
    let bytes = synthetic(10_000, 10_000, 3, 32_767);
    assert!(bytes.len() < 1 << 20, "{}", bytes.len());
    let planned = allocation(&bytes, 8).expect("reads").expect("handled");
    // 3 × 1,562,500 blocks: 2 bytes of DC each, 1 byte of plane; the 1250×1250 RGB output.
    let blocks = 3 * 1_562_500;
    assert_eq!(planned.coefficients, blocks * 2);
    assert_eq!(planned.history, 0);
    assert_eq!(planned.planes, blocks);
    assert!(planned.peak() < 14 << 20, "{planned:?}");
    // jpeg-decoder holds 128 bytes per block whatever the scale: 600 MB.
    assert!(planned.peak() * 40 < blocks * 128, "{planned:?}");
    let d = decode(&bytes, 8, &limits())
        .expect("decodes")
        .expect("handled");
    assert_eq!((d.width, d.height), (1250, 1250));
    assert!(d.rgb.iter().all(|&v| v == 128));
    // What was allocated is what the headers promised.
    assert_eq!(d.allocated, planned);
    // 1/2 keeps 16 coefficients per block, a quarter of jpeg-decoder's 64.
    let half = allocation(&bytes, 2).unwrap().unwrap();
    assert_eq!(half.coefficients, blocks * 32);
    assert!(half.peak() < blocks * 128 / 2, "{half:?}");
}

#[test]
fn end_of_band_runs_past_the_last_block_are_harmless() {
    for n in [1, 3] {
        let bytes = synthetic(40, 24, n, 20_000);
        for shrink in [2, 4, 8] {
            let d = decode(&bytes, shrink, &limits())
                .expect("decodes")
                .expect("handled");
            assert!(d.rgb.iter().all(|&v| v == 128));
            assert_eq!(d.allocated, allocation(&bytes, shrink).unwrap().unwrap());
        }
    }
}

/// The offsets of every SOS marker of a file.
fn scans_at(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = 2;
    while let Ok(Some(seg)) = segment(bytes, pos) {
        if seg.marker == markers::SOS {
            out.push(seg.body.0 - 4);
            pos = markers::entropy_end(bytes, seg.next);
            continue;
        }
        if seg.marker == markers::EOI {
            break;
        }
        pos = seg.next;
    }
    out
}

fn undecodable(bytes: &[u8], shrink: u32) -> String {
    match decode(bytes, shrink, &limits()) {
        Err(e) => {
            assert_eq!(e.code(), "undecodable_image", "{e}");
            e.to_string()
        }
        Ok(d) => panic!("decoded: {:?}", d.map(|d| (d.width, d.height))),
    }
}

#[test]
fn a_file_cut_at_any_scan_boundary_or_byte_is_an_error() {
    let bytes = file("jt-script-a.jpg");
    let scans = scans_at(&bytes);
    assert_eq!(scans.len(), 17);
    for &at in &scans {
        for cut in [at, at + 1, at + 5] {
            let msg = undecodable(&bytes[..cut], 4);
            assert!(msg.contains("EOI") || msg.contains("end"), "{cut}: {msg}");
        }
    }
    for cut in (0..bytes.len()).step_by(7) {
        assert!(decode(&bytes[..cut], 2, &limits()).is_err(), "{cut}");
    }
}

#[test]
fn corrupt_data_decodes_or_fails_cleanly() {
    // Every byte of a small file, changed three ways: no panic, whatever the result.
    for name in [
        "jt-script-a.jpg",
        "cj-420-restart-rows.jpg",
        "cj-grey-restart.jpg",
    ] {
        let bytes = file(name);
        for i in 2..bytes.len() {
            for v in [0x00, 0xFF, bytes[i] ^ 0x5A] {
                let mut b = bytes.clone();
                b[i] = v;
                for shrink in [2, 8] {
                    let _ = decode(&b, shrink, &limits());
                }
            }
        }
    }
}

fn patched(name: &str, scan_index: usize, offset: usize, value: u8) -> Vec<u8> {
    let mut bytes = file(name);
    let at = scans_at(&bytes)[scan_index];
    bytes[at + offset] = value;
    bytes
}

#[test]
fn bad_scan_headers_are_errors() {
    // jt-script-a.jpg's first scan is "0: 0-0, 0, 2" and its fourth "0: 1-2, 0, 3": FF DA,
    // length, Ns = 1, component id (offset 5), tables (6), Ss (7), Se (8), Ah|Al (9).
    let everywhere = [2, 4, 8].as_slice();
    let cases = [
        (patched("jt-script-a.jpg", 0, 5, 9), "component", everywhere),
        (
            patched("jt-script-a.jpg", 0, 9, 0x0E),
            "successive approximation",
            everywhere,
        ),
        (
            patched("jt-script-a.jpg", 0, 9, 0x51),
            "successive approximation",
            everywhere,
        ),
        (patched("jt-script-a.jpg", 3, 8, 64), "spectral", everywhere),
        (patched("jt-script-a.jpg", 3, 7, 9), "spectral", everywhere),
        // An undefined table in a scan that is decoded (at 1/8 this AC scan is skipped).
        (
            patched("jt-script-a.jpg", 3, 6, 0x03),
            "Huffman table",
            &[2, 4],
        ),
    ];
    for (bytes, expected, shrinks) in cases {
        for &shrink in shrinks {
            let msg = undecodable(&bytes, shrink);
            assert!(msg.contains(expected), "{expected}: {msg}");
        }
    }
}

#[test]
fn a_missing_restart_marker_is_an_error() {
    let mut bytes = file("cj-grey-restart.jpg");
    let rst = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xD1])
        .expect("an RST1");
    bytes[rst + 1] = 0xD5;
    assert!(undecodable(&bytes, 8).contains("restart"));
}

#[test]
fn huge_declared_sizes_are_refused_before_allocating() {
    let mut bytes = file("im-420.jpg");
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC2])
        .expect("SOF2");
    bytes[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let e = decode(&bytes, 8, &limits()).expect_err("too many pixels");
    assert_eq!(e.code(), "too_many_pixels");
    // What it would have needed, from the headers alone: far over any limit at 1/2.
    let a = allocation(&bytes, 2).unwrap().unwrap();
    assert!(a.peak() > 4 << 30, "{a:?}");
}

#[test]
fn too_many_scans_are_refused() {
    let bytes = file("cj-grey-restart.jpg");
    let scans = scans_at(&bytes);
    let (first, eoi) = (scans[0], bytes.len() - 2);
    // The first scan (DC) repeated 1001 times.
    let dc = &bytes[first..scans[1]];
    let mut b = bytes[..first].to_vec();
    for _ in 0..1001 {
        b.extend_from_slice(dc);
    }
    b.extend_from_slice(&bytes[eoi..]);
    assert!(undecodable(&b, 8).contains("too many scans"));
}

#[test]
fn what_it_does_not_read_is_not_handled() {
    for name in ["not-arithmetic.jpg", "not-cmyk.jpg"] {
        let bytes = file(name);
        assert!(!handles(&bytes), "{name}");
        assert!(decode(&bytes, 2, &limits()).expect(name).is_none());
    }
    assert!(!handles(&sample("baseline.jpg")));
    assert!(handles(&sample("progressive.jpg")));
    assert_eq!(bytes_per_block(1), None);
    assert_eq!(bytes_per_block(8), Some(3));
    assert_eq!(bytes_per_block(4), Some(12 + 8));
    assert_eq!(bytes_per_block(2), Some(48 + 6));
}
