//! How the quality mapping is measured (core/src/quality.rs), shared by its tool
//! (examples/quality_curves.rs) and its test (tests/quality.rs), so both measure the same way:
//!
//! 1. the reference is the sample resized by the core's own pipeline (`width=800,format=png`,
//!    lossless), as 8-bit RGB or RGBA. Samples 800 px wide or narrower are resized to 3/4 of
//!    their width instead: re-encoding a JPEG's own pixels on its own 8×8 grid favours JPEG;
//! 2. the core's encoders encode it (JPEG gets it flattened onto white, as the core does);
//! 3. the result is decoded as a browser would: jpeg-decoder for JPEG, the image crate's
//!    image-webp for WebP, libavif's `avifdec` (Debian's libavif-bin, installed by
//!    tests/install-tools.sh) for AVIF;
//! 4. both images are flattened onto white and scored with SSIMULACRA2 (the `ssimulacra2`
//!    crate): 100 is identical, about 90 visually lossless, 70 high quality, 50 medium, 30 low.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, RgbImage};
use refract_core::{OutputFormat, Spec};
use ssimulacra2::{compute_frame_ssimulacra2, ColorPrimaries, Rgb, TransferCharacteristic};

/// Width of the reference images (of samples wider than this).
pub const WIDTH: u32 = 800;

/// A sample resized by the core's pipeline to `width`, with whether the core treats it as a
/// graphic (a lossless source: AVIF keeps full-resolution chroma for it).
#[derive(Debug)]
pub struct Reference {
    pub name: String,
    pub width: u32,
    pub image: DynamicImage,
    pub graphic: bool,
}

pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(samples_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn run(input: &[u8], spec: &str) -> refract_core::Output {
    let spec = Spec::parse(spec).expect("spec");
    refract_core::transform(input, &spec, &refract_core::Context::default())
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// Loads `samples/<name>` and resizes it through `refract_core::transform` to a lossless PNG,
/// decoded back to 8-bit RGB (or RGBA when it has transparency).
pub fn reference(name: &str) -> Reference {
    let input = sample(name);
    let shown = run(&input, "format=json").width;
    let width = if shown > WIDTH { WIDTH } else { shown * 3 / 4 };
    let out = run(&input, &format!("width={width},format=png"));
    let png = image::load_from_memory(&out.bytes).expect("the core's PNG decodes");
    let image = if png.color().has_alpha() {
        DynamicImage::ImageRgba8(png.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(png.to_rgb8())
    };
    let graphic = matches!(
        out.input_format,
        refract_core::InputFormat::Png | refract_core::InputFormat::Gif
    );
    Reference {
        name: name.to_owned(),
        width,
        image,
        graphic,
    }
}

/// What a lossy format gets from the pipeline: JPEG has no alpha, so the core flattens onto
/// white first.
pub fn encoder_input(reference: &Reference, format: OutputFormat) -> DynamicImage {
    if format.supports_alpha() {
        reference.image.clone()
    } else {
        refract_core::ops::flatten(reference.image.clone(), [255; 4])
    }
}

/// Decodes an encoded JPEG, WebP or AVIF with a decoder that is not Refract's, as RGB over
/// white. Panics when the bytes do not decode or `avifdec` is missing.
pub fn decode(format: OutputFormat, bytes: &[u8]) -> RgbImage {
    let img = match format {
        OutputFormat::Avif => avifdec(bytes),
        OutputFormat::Jpeg { .. } => jpeg(bytes),
        _ => image::load_from_memory(bytes).expect("the image crate decodes the output"),
    };
    over_white(img)
}

/// The SSIMULACRA2 score of `distorted` against the reference, both over white.
pub fn score(reference: &Reference, distorted: &RgbImage) -> f64 {
    let a = linear_input(&over_white(reference.image.clone()));
    let b = linear_input(distorted);
    compute_frame_ssimulacra2(a, b).expect("same size, at least 8×8")
}

fn over_white(img: DynamicImage) -> RgbImage {
    let img = if img.color().has_alpha() {
        DynamicImage::ImageRgba8(img.to_rgba8())
    } else {
        img
    };
    refract_core::ops::flatten(img, [255; 4]).to_rgb8()
}

fn linear_input(img: &RgbImage) -> Rgb {
    let data = img
        .pixels()
        .map(|p| p.0.map(|c| f32::from(c) / 255.0))
        .collect();
    Rgb::new(
        data,
        img.width() as usize,
        img.height() as usize,
        TransferCharacteristic::SRGB,
        ColorPrimaries::BT709,
    )
    .expect("sRGB input")
}

/// Decodes a colour JPEG with jpeg-decoder (the image crate is built without its JPEG codec).
fn jpeg(bytes: &[u8]) -> DynamicImage {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder.decode().expect("jpeg-decoder decodes the output");
    let info = decoder.info().expect("a frame header");
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    let img = RgbImage::from_raw(u32::from(info.width), u32::from(info.height), pixels)
        .expect("RGB24 fills the frame");
    DynamicImage::ImageRgb8(img)
}

/// Decodes AVIF bytes with libavif's `avifdec` to an 8-bit PNG in a temporary directory.
fn avifdec(bytes: &[u8]) -> DynamicImage {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "refract-quality-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let (avif, png) = (dir.join("in.avif"), dir.join("out.png"));
    std::fs::write(&avif, bytes).expect("write the AVIF");
    let status = Command::new("avifdec")
        .args(["--jobs", "1", "--depth", "8"])
        .arg(&avif)
        .arg(&png)
        .output()
        .unwrap_or_else(|e| {
            panic!("avifdec (Debian's libavif-bin; run tests/install-tools.sh): {e}")
        });
    assert!(
        status.status.success(),
        "avifdec failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let img = image::open(&png).expect("avifdec wrote a PNG");
    std::fs::remove_dir_all(&dir).ok();
    img
}
