//! Golden tests: every sample through the full pipeline, compared with reference images made
//! by ImageMagick (`golden/make-references.sh`), an independent implementation. Dimensions
//! must match exactly; pixels must be similar within a tolerance (SSIM on luma). On failure
//! the actual output is written to `target/golden-failures/` for a person to look at.

mod common;

use std::path::{Path, PathBuf};

use refract_core::{similarity, transform, Context, OutputFormat, Spec};

struct Case {
    sample: &'static str,
    spec: &'static str,
    reference: &'static str,
    format: &'static str,
    min_ssim: f64,
    /// PSNR over RGB, for what luma SSIM cannot see (colour); 0 when SSIM says enough.
    min_psnr: f64,
}

const CASES: &[Case] = &[
    Case {
        sample: "baseline.jpg",
        spec: "width=300,border=10;red,format=png",
        reference: "baseline-border-red-w300.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 35.0,
    },
    Case {
        sample: "logo-alpha.png",
        spec: "trim=border,width=100",
        reference: "logo-trim-border-w100.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 0.0,
    },
    Case {
        sample: "bird-20mp.jpg",
        spec: "width=400",
        reference: "bird-w400.png",
        format: "jpeg",
        min_ssim: 0.97,
        min_psnr: 0.0,
    },
    Case {
        sample: "bridge-10mp.jpg",
        spec: "width=306,height=306,fit=cover,format=png",
        reference: "bridge-cover-306.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 0.0,
    },
    Case {
        sample: "orientation-6.jpg",
        spec: "width=300,format=png",
        reference: "orientation-w300.png",
        format: "png",
        min_ssim: 0.99,
        min_psnr: 0.0,
    },
    Case {
        sample: "icc-p3.jpg",
        spec: "width=300&format=png",
        reference: "icc-p3-w300.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 0.0,
    },
    Case {
        sample: "cmyk.jpg",
        spec: "width=300,format=png",
        reference: "cmyk-w300.png",
        format: "png",
        min_ssim: 0.96,
        min_psnr: 0.0,
    },
    Case {
        sample: "grayscale.jpg",
        spec: "width=300",
        reference: "grayscale-w300.png",
        format: "jpeg",
        min_ssim: 0.97,
        min_psnr: 0.0,
    },
    Case {
        sample: "logo-alpha.png",
        spec: "width=128",
        reference: "logo-w128.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 0.0,
    },
    Case {
        sample: "photo-16bit.png",
        spec: "width=300,format=webp",
        reference: "photo16-w300.png",
        format: "webp",
        min_ssim: 0.95,
        min_psnr: 0.0,
    },
    Case {
        sample: "photo.webp",
        spec: "width=300,format=jpeg",
        reference: "photo-webp-w300.png",
        format: "jpeg",
        min_ssim: 0.96,
        min_psnr: 0.0,
    },
    Case {
        sample: "animated.gif",
        spec: "anim=false,format=png",
        reference: "animated-frame0.png",
        format: "png",
        min_ssim: 0.99,
        min_psnr: 0.0,
    },
    Case {
        sample: "baseline.jpg",
        spec: "flip=h,rotate=90,width=200,format=png",
        reference: "baseline-fliph-rot90-w200.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 0.0,
    },
    Case {
        sample: "baseline.jpg",
        spec: "trim=100;200;300;400,width=200,format=png",
        reference: "baseline-trim-w200.png",
        format: "png",
        min_ssim: 0.97,
        min_psnr: 0.0,
    },
    Case {
        sample: "baseline.jpg",
        spec: "width=300,height=325,fit=pad,background=red,format=png",
        reference: "baseline-pad-red-300x325.png",
        format: "png",
        min_ssim: 0.97,
        min_psnr: 0.0,
    },
    Case {
        sample: "palette.png",
        spec: "width=400,format=png",
        reference: "palette-w400.png",
        format: "png",
        min_ssim: 0.97,
        min_psnr: 0.0,
    },
    Case {
        sample: "alpha-lossless.webp",
        spec: "width=200,format=webp,quality=100",
        reference: "alpha-webp-w200.png",
        format: "webp",
        min_ssim: 0.97,
        min_psnr: 0.0,
    },
    // Brightness, contrast and gamma in Refract's order, then saturation through BT.709's
    // luma weights (ImageMagick: -evaluate multiply, -function polynomial, -gamma,
    // -color-matrix).
    Case {
        sample: "baseline.jpg",
        spec: "width=300,brightness=0.7,contrast=1.3,gamma=1.4,format=png",
        reference: "baseline-tone-w300.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 35.0,
    },
    Case {
        sample: "baseline.jpg",
        spec: "width=300,saturation=1.6,format=png",
        reference: "baseline-saturation-w300.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 35.0,
    },
    Case {
        sample: "baseline.jpg",
        spec: "width=300,saturation=0,format=png",
        reference: "baseline-grey-w300.png",
        format: "png",
        min_ssim: 0.98,
        min_psnr: 35.0,
    },
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn golden_images_match_imagemagick_references() {
    let failures_dir = root().join("target/golden-failures");
    let mut failures = Vec::new();
    for case in CASES {
        if !common::can_encode(case.format) {
            println!(
                "{:<22} {:<58} skipped: no {} encoder in this build",
                case.sample, case.spec, case.format
            );
            continue;
        }
        let input = read(&root().join("samples").join(case.sample));
        let spec = Spec::parse(case.spec).expect("valid spec");
        let out = transform(&input, &spec, &Context::default())
            .unwrap_or_else(|e| panic!("{} {}: {e}", case.sample, case.spec));
        assert_eq!(
            out.format.name(),
            case.format,
            "{} {}",
            case.sample,
            case.spec
        );
        let actual = refract_core::decode_upright(&out.bytes).expect("output decodes");
        let expected = refract_core::decode_upright(&read(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden")
                .join(case.reference),
        ))
        .expect("reference decodes");
        assert_eq!(
            (actual.width(), actual.height()),
            (out.width, out.height),
            "reported size"
        );
        let same_size = (actual.width(), actual.height()) == (expected.width(), expected.height());
        let sim = similarity::compare(&actual, &expected);
        let ok =
            same_size && sim.is_some_and(|s| s.ssim >= case.min_ssim && s.psnr >= case.min_psnr);
        println!(
            "{:<22} {:<58} {}x{} ssim {:.4} psnr {:.1}",
            case.sample,
            case.spec,
            actual.width(),
            actual.height(),
            sim.map_or(0.0, |s| s.ssim),
            sim.map_or(0.0, |s| s.psnr)
        );
        if !ok {
            std::fs::create_dir_all(&failures_dir).expect("create failures dir");
            let path = failures_dir.join(format!("{}.{}", case.reference, out.format.extension()));
            std::fs::write(&path, &out.bytes).expect("write failure image");
            failures.push(format!(
                "{} {}: got {}x{}, reference {}x{}, similarity {:?}; actual written to {}",
                case.sample,
                case.spec,
                actual.width(),
                actual.height(),
                expected.width(),
                expected.height(),
                sim,
                path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_sample_in_every_output_format() {
    let formats = ["jpeg", "baseline-jpeg", "png", "webp", "avif"];
    let mut ctx = Context::default();
    ctx.policy.avif_speed = 10;
    for entry in std::fs::read_dir(root().join("samples")).expect("samples dir") {
        let path = entry.expect("entry").path();
        // Images only: samples/ also holds documentation and example configuration.
        let image = ["jpg", "png", "gif", "webp"];
        if !path
            .extension()
            .is_some_and(|e| image.iter().any(|i| e == *i))
        {
            continue;
        }
        let input = read(&path);
        for f in formats.into_iter().filter(|f| common::can_encode(f)) {
            let spec = Spec::parse(&format!("width=160,format={f}")).expect("spec");
            let out = transform(&input, &spec, &ctx)
                .unwrap_or_else(|e| panic!("{} {f}: {e}", path.display()));
            assert!(out.width <= 160 && out.width > 0 && out.height > 0);
            match out.format {
                OutputFormat::Avif => {
                    assert_eq!(&out.bytes[4..12], b"ftypavif", "{}", path.display());
                }
                _ => {
                    let img = refract_core::decode_upright(&out.bytes).expect("decodes");
                    assert_eq!((img.width(), img.height()), (out.width, out.height));
                }
            }
        }
    }
}
