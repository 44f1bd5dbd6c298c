//! Progressive JPEGs shrunk on load by Refract's own decoder (`core/src/decode/progressive`):
//! its pixels match jpeg-decoder's scaled decode (PSNR over 40 dB, RGB) for the samples'
//! progressive photos, the committed fixtures (core/tests/fixtures/progressive/make.sh: scan
//! scripts, samplings, restart intervals, odd sizes) and, when the tools are installed
//! (tests/install-tools.sh), larger files made at test time; what it does not read goes to
//! jpeg-decoder; and its memory is what the headers allow.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::sample;
use refract_core::decode::{self, probe};
use refract_core::Limits;

type Rgb = (u32, u32, Vec<u8>);

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/progressive")
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture_dir())
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect();
    out.sort();
    out
}

/// jpeg-decoder's own scaled decode, as RGB.
fn reference(bytes: &[u8], shrink: u32) -> Rgb {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().expect("read_info");
    let info = d.info().expect("info");
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let (sw, sh) = d
        .scale(w.div_ceil(shrink) as u16, h.div_ceil(shrink) as u16)
        .expect("scale");
    let pixels = d.decode().expect("jpeg-decoder decodes it");
    let rgb = match d.info().expect("info").pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => pixels,
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        other => panic!("unexpected {other:?}"),
    };
    (u32::from(sw), u32::from(sh), rgb)
}

/// The core's decode, which sends progressive files shrunk on load to its own decoder.
fn ours(bytes: &[u8], shrink: u32) -> Rgb {
    let limits = Limits::default();
    let header = probe(bytes, &limits).expect("probe");
    assert!(
        header.progressive && header.progressive_scaled,
        "{header:?}"
    );
    let d = decode::decode(bytes, &header, shrink, &limits).expect("decode");
    assert_eq!(d.shrink, shrink);
    let rgb = d.image.to_rgb8();
    (rgb.width(), rgb.height(), rgb.into_raw())
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    refract_core::similarity::psnr(a, b)
}

/// Decodes at 1/2, 1/4 and 1/8 both ways; returns the lowest PSNR.
fn compare(name: &str, bytes: &[u8]) -> f64 {
    let mut worst = f64::INFINITY;
    for shrink in [2, 4, 8] {
        let (w, h, mine) = ours(bytes, shrink);
        let (rw, rh, theirs) = reference(bytes, shrink);
        assert_eq!((w, h), (rw, rh), "{name} at 1/{shrink}");
        let p = psnr(&mine, &theirs);
        eprintln!("{name} 1/{shrink} {w}x{h}: {p:.1} dB");
        assert!(p >= 40.0, "{name} at 1/{shrink}: {p:.1} dB");
        worst = worst.min(p);
    }
    worst
}

#[test]
fn every_fixture_matches_jpeg_decoder_at_every_scale() {
    let all = fixtures();
    assert!(all.len() >= 14, "{}", all.len());
    for (name, bytes) in all.iter().filter(|(n, _)| !n.starts_with("not-")) {
        compare(name, bytes);
    }
}

#[test]
fn the_samples_progressive_photos_match_jpeg_decoder() {
    for name in ["progressive.jpg", "bridge-10mp.jpg"] {
        compare(name, &sample(name));
    }
}

#[test]
fn files_it_does_not_read_go_to_jpeg_decoder() {
    let limits = Limits::default();
    for (name, bytes) in fixtures().iter().filter(|(n, _)| n.starts_with("not-")) {
        match probe(bytes, &limits) {
            // CMYK: jpeg-decoder reads it, scaled, as before.
            Ok(header) => {
                assert!(header.progressive && !header.progressive_scaled, "{name}");
                let d = decode::decode(bytes, &header, 2, &limits).expect("decoded");
                assert_eq!((d.image.width(), d.image.height()), (17, 16), "{name}");
            }
            // Arithmetic coding: jpeg-decoder refuses it, as before.
            Err(e) => assert_eq!(e.code(), "undecodable_image", "{name}"),
        }
    }
    // Baseline files are not progressive at all.
    let header = probe(&sample("baseline.jpg"), &limits).expect("probe");
    assert!(!header.progressive && !header.progressive_scaled);
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stderr.is_empty())
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("run the tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Larger files, made at test time with ImageMagick and libjpeg-turbo's tools when they are
/// installed (tests/install-tools.sh installs them): a 2.4 MP crop of the 20 MP photo in
/// several samplings and scan scripts, and the whole 20 MP photo made progressive losslessly.
#[test]
fn larger_files_made_with_the_tools_match_jpeg_decoder() {
    if !(have("/usr/bin/convert") && have("cjpeg") && have("jpegtran")) {
        eprintln!("skipped: ImageMagick, cjpeg or jpegtran is missing");
        return;
    }
    let dir = std::env::temp_dir().join(format!("refract-progressive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bird = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/bird-20mp.jpg");
    let ppm = dir.join("crop.ppm");
    run(Command::new("/usr/bin/convert")
        .arg(&bird)
        .args(["-crop", "1901x1263+2001+1001", "+repage"])
        .arg(&ppm));
    let cjpeg = |args: &[&str]| run(Command::new("cjpeg").args(args).arg(&ppm));
    let cases = [
        ("cjpeg 4:2:0", cjpeg(&["-progressive", "-quality", "90"])),
        (
            "cjpeg 4:4:4 restart",
            cjpeg(&["-progressive", "-sample", "1x1", "-restart", "7B"]),
        ),
        ("cjpeg 4:2:2", cjpeg(&["-progressive", "-sample", "2x1"])),
        ("cjpeg grey", cjpeg(&["-progressive", "-grayscale"])),
        (
            "jpegtran 20 MP",
            run(Command::new("jpegtran").arg("-progressive").arg(&bird)),
        ),
    ];
    std::fs::remove_dir_all(&dir).ok();
    for (name, bytes) in &cases {
        compare(name, bytes);
    }
}

#[test]
fn a_shrunk_progressive_photo_keeps_a_fraction_of_its_coefficients() {
    // bridge-10mp.jpg: 4352×2448 at 2x1, 272×306 MCUs of 4 blocks: 333,000 blocks, which
    // jpeg-decoder keeps at 128 bytes each (42.6 MB) whatever the scale.
    let bytes = sample("bridge-10mp.jpg");
    let blocks = 272 * 306 * 4;
    for (shrink, kept) in [(2, 16), (4, 4), (8, 1)] {
        let a = decode::progressive::allocation(&bytes, shrink)
            .expect("headers read")
            .expect("this decoder reads it");
        assert_eq!(a.coefficients, blocks * kept * 2, "1/{shrink}");
        assert_eq!(a.planes, blocks * kept, "1/{shrink}");
        assert!(a.history <= blocks * 8, "1/{shrink}: {a:?}");
        assert!(a.peak() < blocks * 128 / 2, "1/{shrink}: {a:?}");
    }
    // At 1/8 no AC scan is decoded, so nothing needs history bits.
    let eighth = decode::progressive::allocation(&bytes, 8).unwrap().unwrap();
    assert_eq!(eighth.history, 0);
    assert_eq!(decode::progressive::allocation(&bytes, 1).unwrap(), None);
}
