//! `refract-bench-ssim2 REFERENCE.png DISTORTED.png...` prints, per distorted image, its
//! SSIMULACRA2 score against the reference (100 = identical, ~90 visually lossless, 70 high,
//! 50 medium, 30 low). Both are read as 8-bit sRGB; alpha is composited over white.
use image::{DynamicImage, RgbImage};
use ssimulacra2::{compute_frame_ssimulacra2, ColorPrimaries, Rgb, TransferCharacteristic};
use std::process::ExitCode;

fn load(path: &str) -> Result<RgbImage, String> {
    let img = image::open(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => {
            let rgba = other.to_rgba8();
            RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
                let p = rgba.get_pixel(x, y).0;
                let a = u32::from(p[3]);
                image::Rgb(
                    [0, 1, 2].map(|i| ((u32::from(p[i]) * a + 255 * (255 - a) + 127) / 255) as u8),
                )
            })
        }
    })
}

fn frame(img: &RgbImage) -> Result<Rgb, String> {
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
    .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: refract-bench-ssim2 REFERENCE.png DISTORTED.png...");
        return ExitCode::from(2);
    }
    let reference = match load(&args[0]) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut status = ExitCode::SUCCESS;
    for path in &args[1..] {
        let result = load(path).and_then(|d| {
            if d.dimensions() != reference.dimensions() {
                return Err(format!(
                    "{path}: {:?} against the reference's {:?}",
                    d.dimensions(),
                    reference.dimensions()
                ));
            }
            compute_frame_ssimulacra2(frame(&reference)?, frame(&d)?).map_err(|e| e.to_string())
        });
        match result {
            Ok(score) => println!("{score:.3}\t{path}"),
            Err(e) => {
                eprintln!("{e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
