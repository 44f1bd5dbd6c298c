//! `compression=fast`, `format=placeholder` and the ThumbHash of `format=json`, `trim=border`
//! on lossy borders, `border` with transparency and `dpr`.

mod common;

use common::{can_encode, run_ok, sample};
use refract_core::{estimate, transform, Context, OutputFormat, Spec};

const CHROMIUM: &str = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8";

fn with_accept(input: &[u8], spec: &str, accept: &str) -> refract_core::Output {
    let ctx = Context {
        accept: Some(accept),
        ..Context::default()
    };
    transform(input, &Spec::parse(spec).expect("a valid spec"), &ctx)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn mean_rgb(img: &image::RgbaImage) -> [f64; 3] {
    let n = f64::from(img.width() * img.height());
    let mut sum = [0.0; 3];
    for p in img.pixels() {
        for (s, v) in sum.iter_mut().zip(p.0) {
            *s += f64::from(v);
        }
    }
    sum.map(|s| s / n)
}

#[test]
fn compression_fast_takes_the_quickest_encoders() {
    if !can_encode("webp") || !can_encode("avif") {
        return; // builds without the WebP encoder (wasm32-wasip1 tests)
    }
    let photo = sample("baseline.jpg");
    // format=auto: baseline JPEG even for a client that takes AVIF and WebP.
    let out = with_accept(&photo, "width=400,format=auto,compression=fast", CHROMIUM);
    assert_eq!(out.format, OutputFormat::Jpeg { progressive: false });
    let normal = with_accept(&photo, "width=400,format=auto", CHROMIUM);
    assert_eq!(normal.format, OutputFormat::Avif);
    // An explicit format keeps its format, encoded with the quickest effort: estimated
    // cheaper, and other bytes than the default effort.
    let ctx = Context::default();
    for format in ["webp", "avif"] {
        let spec = |s: &str| Spec::parse(&format!("width=800,format={format}{s}")).unwrap();
        let fast = estimate(&photo, &spec(",compression=fast"), &ctx)
            .unwrap()
            .cost;
        let default = estimate(&photo, &spec(""), &ctx).unwrap().cost;
        assert!(
            fast.cpu_ms < default.cpu_ms,
            "{format}: {fast:?} vs {default:?}"
        );
        let a = transform(&photo, &spec(",compression=fast"), &ctx).unwrap();
        let b = transform(&photo, &spec(""), &ctx).unwrap();
        assert_eq!(a.format.name(), format);
        assert_ne!(a.bytes, b.bytes, "{format}");
    }
}

#[test]
fn placeholder_is_a_tiny_blur_of_the_result() {
    for (name, spec) in [
        ("baseline.jpg", "width=800,format=placeholder"),
        ("logo-alpha.png", "format=placeholder"),
        (
            "bridge-10mp.jpg",
            "width=300,height=300,fit=cover,format=placeholder",
        ),
    ] {
        let input = sample(name);
        let out = run_ok(&input, spec);
        // A few hundred bytes of WebP; PNG (builds without WebP) is larger.
        let most = if can_encode("webp") { 1_500 } else { 6_000 };
        assert!(out.bytes.len() < most, "{name}: {} bytes", out.bytes.len());
        assert!(
            out.width <= 32 && out.height <= 32,
            "{name}: {}x{}",
            out.width,
            out.height
        );
        let thumb = image::load_from_memory(&out.bytes).unwrap().into_rgba8();
        // Its shape and colour are the result's.
        let full =
            image::load_from_memory(&run_ok(&input, &spec.replace("placeholder", "png")).bytes)
                .unwrap()
                .into_rgba8();
        let (ar, at) = (
            f64::from(full.width()) / f64::from(full.height()),
            f64::from(thumb.width()) / f64::from(thumb.height()),
        );
        assert!((ar / at - 1.0).abs() < 0.2, "{name}: aspect {ar} vs {at}");
        if !name.ends_with(".png") {
            let (a, b) = (mean_rgb(&full), mean_rgb(&thumb));
            for c in 0..3 {
                assert!((a[c] - b[c]).abs() < 12.0, "{name}: mean {a:?} vs {b:?}");
            }
        }
    }
}

#[test]
fn json_carries_frames_alpha_and_a_thumbhash() {
    let json = |name: &str, spec: &str| -> serde_json::Value {
        serde_json::from_slice(&run_ok(&sample(name), spec).bytes).unwrap()
    };
    let photo = json("baseline.jpg", "width=400,format=json");
    assert_eq!(photo["original"]["alpha"], false);
    assert_eq!(photo["original"]["frames"], 1);
    let logo = json("logo-alpha.png", "format=json");
    assert_eq!(logo["original"]["alpha"], true);
    // A photo's own ThumbHash decodes to its average colour.
    let b64 = photo["placeholder"].as_str().unwrap();
    let hash = base64_decode(b64);
    let (r, g, b, _) = thumbhash::thumb_hash_to_average_rgba(&hash).unwrap();
    let full =
        image::load_from_memory(&run_ok(&sample("baseline.jpg"), "width=400,format=png").bytes)
            .unwrap()
            .into_rgba8();
    let mean = mean_rgb(&full);
    for (got, want) in [r, g, b].iter().zip(mean) {
        assert!(
            (f64::from(*got) * 255.0 - want).abs() < 12.0,
            "{r} {g} {b} vs {mean:?}"
        );
    }
    let anim = json("animated-bounce.gif", "format=json");
    assert_eq!(anim["original"]["frames"], 12);
    assert_eq!(anim["original"]["animated"], true);
    // The planned size counts the border.
    let bordered = json("baseline.jpg", "width=400,border=5;black,format=json");
    assert_eq!(
        (bordered["width"].as_u64(), bordered["height"].as_u64()),
        (Some(410), Some(310))
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().fold(0u32, |n, v| n << 6 | u32::from(*v)) << (6 * (4 - chunk.len()));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn trim_border_finds_a_border_through_jpeg_noise() {
    // A 300x225 photo padded to 300x300 on white, saved as JPEG: its border is white only
    // to within the JPEG's error, which the default tolerance covers.
    let padded = run_ok(
        &sample("baseline.jpg"),
        "width=300,height=300,fit=pad,background=white,format=baseline-jpeg,quality=80",
    );
    let trimmed = run_ok(&padded.bytes, "trim=border,format=png");
    assert_eq!(trimmed.width, 300);
    assert!(
        (224..=227).contains(&trimmed.height),
        "{}x{}",
        trimmed.width,
        trimmed.height
    );
    // With no tolerance, the noise near the photo counts as content: less is cut.
    let strict = run_ok(
        &padded.bytes,
        "trim=border,trim.border.tolerance=0,format=png",
    );
    assert!(strict.height > trimmed.height + 5, "{}", strict.height);
    // keep leaves some of the border.
    let kept = run_ok(&padded.bytes, "trim=border,trim.border.keep=5,format=png");
    assert_eq!(kept.height, trimmed.height + 10);
    // A flat image has no content to keep: it is left whole.
    let mut png = Vec::new();
    image::RgbImage::from_pixel(20, 10, image::Rgb([9, 99, 199]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let flat = run_ok(&png, "trim=border,format=png");
    assert_eq!((flat.width, flat.height), (20, 10));
}

#[test]
fn border_sides_colour_alpha_and_dpr() {
    let out = run_ok(
        &sample("cat-small.jpg"),
        "width=200,border=1;2;3;4;%2300ff0080,format=png",
    );
    let img = image::load_from_memory(&out.bytes).unwrap().into_rgba8();
    // 200x133 inside, 2+4 wider and 1+3 taller.
    assert_eq!(img.dimensions(), (206, 137));
    assert_eq!(img.get_pixel(0, 0).0, [0, 255, 0, 0x80]);
    assert_eq!(img.get_pixel(205, 136).0, [0, 255, 0, 0x80]);
    assert_eq!(
        img.get_pixel(4, 1).0[3],
        255,
        "the photo starts inside the border"
    );
    // dpr multiplies the widths; a translucent border on JPEG is flattened on white.
    let out = run_ok(
        &sample("cat-small.jpg"),
        "width=100,dpr=2,border=3;%2300ff0080,format=jpeg",
    );
    assert_eq!((out.width, out.height), (200 + 12, 133 + 12));
    let img = refract_core::decode_upright(&out.bytes)
        .unwrap()
        .into_rgb8();
    let p = img.get_pixel(1, 1).0;
    assert!(p[0] > 100 && p[1] > 240 && p[2] > 100, "{p:?}");
}
