//! End-to-end behaviour of `transform` on real samples: formats, negotiation, metadata,
//! orientation, shrink-on-load, colour, effects and determinism.

mod common;

use common::{run_ok, sample};
use refract_core::{decode, similarity, transform, Context, Icc, OutputFormat, Spec};

fn decoded(bytes: &[u8]) -> image::DynamicImage {
    refract_core::decode_upright(bytes).expect("output decodes")
}

#[test]
fn encoders_round_trip() {
    let photo = sample("baseline.jpg");
    let reference = decoded(&run_ok(&photo, "width=200,format=png").bytes);
    for (spec, format, min_ssim) in [
        (
            "width=200,format=jpeg",
            OutputFormat::Jpeg { progressive: true },
            0.95,
        ),
        (
            "width=200,format=baseline-jpeg",
            OutputFormat::Jpeg { progressive: false },
            0.95,
        ),
        (
            "width=200,format=webp",
            OutputFormat::Webp { lossless: false },
            0.95,
        ),
        (
            "width=200,format=webp,quality=100",
            OutputFormat::Webp { lossless: true },
            1.0,
        ),
        ("width=200,format=png", OutputFormat::Png, 1.0),
    ] {
        if !common::can_encode(format.name()) {
            continue;
        }
        let out = run_ok(&photo, spec);
        assert_eq!(out.format, format, "{spec}");
        let img = decoded(&out.bytes);
        assert_eq!((img.width(), img.height()), (200, 150), "{spec}");
        let s = similarity::compare(&img, &reference).expect("same size");
        assert!(s.ssim >= min_ssim - 1e-9, "{spec}: {s:?}");
    }
    // Alpha survives lossless WebP and PNG exactly.
    let logo = sample("logo-alpha.png");
    let png = decoded(&run_ok(&logo, "format=png").bytes).into_rgba8();
    assert!(png.pixels().any(|p| p.0[3] == 0) && png.pixels().any(|p| p.0[3] > 0 && p.0[3] < 255));
    if common::can_encode("webp") {
        let webp = decoded(&run_ok(&logo, "format=webp,quality=100").bytes).into_rgba8();
        assert_eq!(png.as_raw(), webp.as_raw());
    }
}

#[test]
fn avif_output_is_a_valid_container_of_the_right_size() {
    let mut ctx = Context::default();
    ctx.policy.avif_speed = 10;
    let spec = Spec::parse("width=120,format=avif").expect("spec");
    let out = transform(&sample("cat-small.jpg"), &spec, &ctx).expect("avif");
    assert_eq!(out.format.content_type(), "image/avif");
    assert_eq!(&out.bytes[4..12], b"ftypavif");
    // The `ispe` property carries the image size.
    let at = out
        .bytes
        .windows(4)
        .position(|w| w == b"ispe")
        .expect("ispe box");
    let be = |i: usize| u32::from_be_bytes(out.bytes[i..i + 4].try_into().expect("4 bytes"));
    assert_eq!((be(at + 8), be(at + 12)), (120, 80));
}

#[test]
fn format_auto_negotiates_from_accept() {
    let photo = sample("cat-small.jpg");
    let logo = sample("logo-alpha.png");
    let spec = Spec::parse("width=64,format=auto").expect("spec");
    let mut ctx = Context::default();
    ctx.policy.avif_speed = 10;
    // Builds without a WebP encoder fall back to JPEG or PNG.
    let webp_or = |fallback| {
        if common::can_encode("webp") {
            "webp"
        } else {
            fallback
        }
    };
    let cases = [
        (&photo, Some("image/avif,image/webp,*/*"), "avif"),
        (&photo, Some("image/webp,*/*;q=0.8"), webp_or("jpeg")),
        (&photo, Some("image/avif;q=0,image/webp"), webp_or("jpeg")),
        (&photo, Some("*/*"), "jpeg"),
        (&photo, None, "jpeg"),
        (&logo, Some("image/*"), "png"),
        (&logo, Some("image/webp"), webp_or("png")),
    ];
    for (input, accept, want) in cases {
        ctx.accept = accept;
        let out = transform(input, &spec, &ctx).expect("transform");
        assert_eq!(out.format.name(), want, "accept {accept:?}");
    }
    // Without `format`, the output is JPEG, or PNG when there is real transparency.
    assert_eq!(run_ok(&photo, "width=64").format.name(), "jpeg");
    assert_eq!(run_ok(&logo, "width=64").format.name(), "png");
    assert_eq!(
        run_ok(&sample("photo.webp"), "width=64").format.name(),
        "jpeg"
    );
}

#[test]
fn exif_orientation_is_applied_and_metadata_handled() {
    let input = sample("orientation-6.jpg");
    let header = decode::probe(&input, &Default::default()).expect("probe");
    assert_eq!((header.width, header.height), (1065, 1600));
    assert_eq!(header.orientation.to_exif(), 6);

    let out = run_ok(&input, "width=400");
    assert_eq!((out.width, out.height), (400, 266));
    let stripped = decode::probe(&out.bytes, &Default::default()).expect("probe output");
    assert!(stripped.exif.is_none(), "metadata=none strips EXIF");

    let kept = run_ok(&input, "width=400,metadata=keep");
    let h = decode::probe(&kept.bytes, &Default::default()).expect("probe kept");
    assert!(h.exif.is_some(), "metadata=keep keeps EXIF");
    assert_eq!(
        h.orientation.to_exif(),
        1,
        "orientation is reset after being applied"
    );
    let again = run_ok(&kept.bytes, "");
    assert_eq!((again.width, again.height), (400, 266), "not rotated twice");
}

#[test]
fn shrink_on_load_is_used_for_large_jpegs() {
    let bird = sample("bird-20mp.jpg");
    assert_eq!(run_ok(&bird, "width=600").shrink, 8);
    assert_eq!(run_ok(&bird, "width=1000").shrink, 4);
    assert_eq!(run_ok(&bird, "width=2000").shrink, 2);
    assert_eq!(run_ok(&bird, "width=800").shrink, 4);
    let small = sample("cat-small.jpg");
    assert_eq!(run_ok(&small, "width=400").shrink, 1);
    // Shrunk and full decodes agree.
    let a = decoded(&run_ok(&bird, "width=300,format=png").bytes);
    let b = decoded(&run_ok(&bird, "width=300,height=169,fit=squeeze,format=png").bytes);
    let s = similarity::compare(&a, &b).expect("same size");
    assert!(s.ssim > 0.99, "{s:?}");
}

#[test]
fn icc_profiles_are_converted_to_srgb() {
    assert_eq!(
        run_ok(&sample("icc-p3.jpg"), "width=100").icc,
        Icc::ConvertedToSrgb
    );
    assert_eq!(
        run_ok(&sample("icc-adobergb.jpg"), "width=100").icc,
        Icc::ConvertedToSrgb
    );
    assert_eq!(
        run_ok(&sample("cmyk.jpg"), "width=100").icc,
        Icc::ConvertedToSrgb
    );
    assert_eq!(run_ok(&sample("baseline.jpg"), "width=100").icc, Icc::None);
}

#[test]
fn background_fills_transparency_for_jpeg() {
    let logo = sample("logo-alpha.png");
    let out = run_ok(&logo, "format=jpeg,background=%230000ff");
    let img = decoded(&out.bytes).into_rgb8();
    let corner = img.get_pixel(0, 0).0;
    assert!(
        corner[2] > 200 && corner[0] < 40 && corner[1] < 40,
        "corner {corner:?}"
    );
    let white = decoded(&run_ok(&logo, "format=jpeg").bytes).into_rgb8();
    assert!(
        white.get_pixel(0, 0).0.iter().all(|&c| c > 240),
        "default is white"
    );
}

#[test]
fn pad_and_cover_produce_the_requested_box() {
    let photo = sample("baseline.jpg");
    for fit in ["pad", "cover", "squeeze"] {
        let out = run_ok(&photo, &format!("width=200,height=200,fit={fit}"));
        assert_eq!((out.width, out.height), (200, 200), "{fit}");
    }
    let auto = run_ok(&photo, "width=100,height=300,fit=cover,gravity=auto");
    assert_eq!((auto.width, auto.height), (100, 300));
    let dpr = run_ok(&photo, "width=100,dpr=2");
    assert_eq!(dpr.width, 200);
}

#[test]
fn blur_and_sharpen_change_detail() {
    let photo = sample("cat-small.jpg");
    let plain = decoded(&run_ok(&photo, "format=png").bytes);
    let blurred = decoded(&run_ok(&photo, "format=png,blur=20").bytes);
    let sharpened = decoded(&run_ok(&photo, "format=png,sharpen=5").bytes);
    let energy = |img: &image::DynamicImage| {
        let g = img.to_luma8();
        g.as_raw()
            .windows(2)
            .map(|w| u64::from(w[0].abs_diff(w[1])))
            .sum::<u64>()
    };
    assert!(energy(&blurred) * 2 < energy(&plain));
    assert!(energy(&sharpened) > energy(&plain));
}

#[test]
fn json_describes_without_decoding() {
    let out = run_ok(&sample("orientation-6.jpg"), "width=400,format=json");
    assert_eq!(out.format, OutputFormat::Json);
    let v: serde_json::Value = serde_json::from_slice(&out.bytes).expect("json");
    assert_eq!(v["width"], 400);
    assert_eq!(v["height"], 266);
    assert_eq!(v["original"]["width"], 1065);
    assert_eq!(v["original"]["format"], "image/jpeg");
    assert_eq!(v["original"]["orientation"], 6);
}

#[test]
fn output_is_deterministic() {
    let mut ctx = Context::default();
    ctx.policy.avif_speed = 10;
    let photo = sample("cat-small.jpg");
    for f in ["jpeg", "png", "webp", "avif"]
        .into_iter()
        .filter(|f| common::can_encode(f))
    {
        let spec = Spec::parse(&format!("width=80,format={f}")).expect("spec");
        let a = transform(&photo, &spec, &ctx).expect("first");
        let b = transform(&photo, &spec, &ctx).expect("second");
        assert_eq!(a.bytes, b.bytes, "{f}");
    }
}

#[test]
fn gif_first_frame_and_grayscale() {
    let gif = run_ok(&sample("animated.gif"), "format=png");
    assert_eq!((gif.width, gif.height), (14, 25));
    let gray = decoded(&run_ok(&sample("grayscale.jpg"), "width=64,format=png").bytes).into_rgb8();
    assert!(gray.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
}
