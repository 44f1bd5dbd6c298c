//! Animations kept animated: every frame through the pipeline, compared with ImageMagick's
//! composited frames (`golden/make-references.sh`, `-coalesce`), with durations, loop count
//! and transparency kept; the caps that refuse an animation before decoding it; animated
//! inputs asked for a still format.

mod common;

use std::io::Cursor;
use std::path::Path;

use common::{can_encode, sample};
use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, RgbaImage};
use refract_core::{
    estimate, similarity, transform, Context, InputFormat, Limits, OutputFormat, Spec,
};

/// Decoded frames of an animated GIF or WebP output: each full canvas and its duration (ms).
fn frames(bytes: &[u8]) -> Vec<(RgbaImage, u32)> {
    let frames = if bytes.starts_with(b"GIF") {
        GifDecoder::new(Cursor::new(bytes))
            .expect("a GIF")
            .into_frames()
    } else {
        let mut d = WebPDecoder::new(Cursor::new(bytes)).expect("a WebP");
        // Disposal to the background clears to transparent (image-webp skips it otherwise).
        d.set_background_color(image::Rgba([0, 0, 0, 0]))
            .expect("an animation");
        d.into_frames()
    };
    frames
        .map(|f| {
            let f = f.expect("frame decodes");
            let (n, d) = f.delay().numer_denom_ms();
            (f.into_buffer(), n / d)
        })
        .collect()
}

fn reference(name: &str) -> RgbaImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/anim")
        .join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_rgba8()
}

fn run(input: &[u8], spec: &str, accept: Option<&str>) -> refract_core::Output {
    let ctx = Context {
        accept,
        ..Context::default()
    };
    transform(input, &Spec::parse(spec).expect("a valid spec"), &ctx)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// PSNR over premultiplied RGBA: what a pixel adds to the page (the colour of a nearly
/// transparent pixel is not shown, and resamplers and encoders keep it loosely).
fn psnr(a: &RgbaImage, b: &RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let norm = |img: &RgbaImage| -> Vec<u8> {
        img.pixels()
            .flat_map(|p| {
                let [r, g, b, a] = p.0;
                let m = |c: u8| ((u32::from(c) * u32::from(a) + 127) / 255) as u8;
                [m(r), m(g), m(b), a]
            })
            .collect()
    };
    similarity::psnr(&norm(a), &norm(b))
}

/// Checks every frame against the numbered references `prefix-NN.png`.
fn check_frames(out: &[u8], prefix: &str, count: usize, min_psnr: f64) -> Vec<u32> {
    let got = frames(out);
    assert_eq!(got.len(), count, "{prefix}: frame count");
    for (i, (frame, _)) in got.iter().enumerate() {
        let want = reference(&format!("{prefix}-{i:02}.png"));
        let p = psnr(frame, &want);
        assert!(
            p >= min_psnr,
            "{prefix} frame {i}: PSNR {p:.1} dB < {min_psnr}"
        );
    }
    got.iter().map(|(_, ms)| *ms).collect()
}

fn loop_count(bytes: &[u8], format: InputFormat) -> u16 {
    refract_core::anim::scan(format, bytes)
        .expect("an animation")
        .loop_count
}

const BOUNCE_DELAYS: [u32; 12] = [500, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80];

#[test]
fn gif_to_animated_webp_keeps_frames_timing_and_loops() {
    if !can_encode("webp") {
        return; // builds without the WebP encoder (wasm32-wasip1 tests)
    }
    let out = run(&sample("animated-bounce.gif"), "width=80,format=webp", None);
    assert_eq!(out.format, OutputFormat::Webp { lossless: false });
    assert_eq!((out.width, out.height), (80, 60));
    let delays = check_frames(&out.bytes, "bounce-w80", 12, 30.0);
    assert_eq!(delays, BOUNCE_DELAYS);
    assert_eq!(loop_count(&out.bytes, InputFormat::Webp), 3);
}

#[test]
fn gif_stays_gif_without_a_format() {
    let out = run(&sample("animated-bounce.gif"), "width=80", None);
    assert_eq!(out.format, OutputFormat::Gif);
    assert!(out.bytes.starts_with(b"GIF89a"));
    // 256 colours a frame: a lower bound than WebP's.
    let delays = check_frames(&out.bytes, "bounce-w80", 12, 27.0);
    assert_eq!(delays, BOUNCE_DELAYS);
    assert_eq!(loop_count(&out.bytes, InputFormat::Gif), 3);
}

#[test]
fn animated_webp_input_keeps_its_animation() {
    let input = sample("animated-bounce.webp");
    for (spec, format) in [
        ("width=80,format=webp", InputFormat::Webp),
        ("width=80,format=gif", InputFormat::Gif),
    ] {
        if format == InputFormat::Webp && !can_encode("webp") {
            continue;
        }
        let out = run(&input, spec, None);
        // The input is libwebp's lossy encoding of the frames ImageMagick's GIF was made of.
        let delays = check_frames(&out.bytes, "bounce-w80", 12, 26.0);
        assert_eq!(delays, BOUNCE_DELAYS, "{spec}");
        assert_eq!(loop_count(&out.bytes, format), 3, "{spec}");
    }
}

#[test]
fn transparency_and_disposal_survive() {
    let input = sample("animated-alpha.gif");
    // GIF cuts soft edges at half coverage (all-or-nothing transparency).
    for (spec, min_psnr) in [
        ("width=70,format=webp", 45.0),
        ("width=70,format=gif", 28.0),
    ] {
        if spec.contains("webp") && !can_encode("webp") {
            continue;
        }
        let out = run(&input, spec, None);
        let got = frames(&out.bytes);
        assert_eq!(got.len(), 10, "{spec}");
        for (i, (frame, ms)) in got.iter().enumerate() {
            assert_eq!(*ms, 100);
            // A corner never drawn on stays transparent; the disc is drawn where it is now,
            // not where it was (disposal to the background).
            assert_eq!(frame.get_pixel(0, 0).0[3], 0, "{spec} frame {i}");
            let want = reference(&format!("alpha-w70-{i:02}.png"));
            let p = psnr(frame, &want);
            assert!(p >= min_psnr, "{spec} frame {i}: PSNR {p:.1}");
        }
        let format = if out.format == OutputFormat::Gif {
            InputFormat::Gif
        } else {
            InputFormat::Webp
        };
        assert_eq!(loop_count(&out.bytes, format), 0, "{spec}: forever");
    }
}

#[test]
fn every_geometry_option_applies_to_every_frame() {
    if !can_encode("webp") {
        return; // builds without the WebP encoder (wasm32-wasip1 tests)
    }
    let out = run(
        &sample("animated-bounce.gif"),
        "width=40,height=40,fit=cover,flip=h,rotate=90,format=webp",
        None,
    );
    assert_eq!((out.width, out.height), (40, 40));
    check_frames(&out.bytes, "bounce-geom", 12, 28.0);
}

#[test]
fn format_choice_for_animations() {
    if !can_encode("webp") || !can_encode("avif") {
        return;
    }
    let gif = sample("animated-bounce.gif");
    let webp = Some("image/avif,image/webp,*/*");
    assert_eq!(
        run(&gif, "format=auto", webp).format,
        OutputFormat::Webp { lossless: false }
    );
    assert_eq!(
        run(&gif, "format=auto", Some("image/*")).format,
        OutputFormat::Gif
    );
    // Formats that do not animate here get the first frame, as does anim=false.
    for (spec, format) in [
        ("format=avif", OutputFormat::Avif),
        ("format=png", OutputFormat::Png),
        (
            "anim=false,format=webp",
            OutputFormat::Webp { lossless: false },
        ),
        ("anim=false", OutputFormat::Jpeg { progressive: false }),
    ] {
        let out = run(&gif, &format!("{spec},width=80"), webp);
        assert_eq!(out.format, format, "{spec}");
        if format == OutputFormat::Png {
            let still = image::load_from_memory(&out.bytes).unwrap().into_rgba8();
            let p = psnr(&still, &reference("bounce-w80-00.png"));
            assert!(p > 35.0, "{spec}: first frame PSNR {p:.1}");
        }
        if let OutputFormat::Webp { .. } = format {
            assert_eq!(
                refract_core::anim::scan(InputFormat::Webp, &out.bytes),
                None,
                "{spec}"
            );
        }
    }
}

#[test]
fn caps_refuse_an_animation_before_decoding_it() {
    let gif = sample("animated-bounce.gif");
    for limits in [
        Limits {
            max_frames: 11,
            ..Limits::default()
        },
        Limits {
            max_animation_pixels: 12 * 160 * 120 - 1,
            ..Limits::default()
        },
    ] {
        let ctx = Context {
            limits,
            ..Context::default()
        };
        let spec = Spec::parse("width=80,format=gif").unwrap();
        let e = estimate(&gif, &spec, &ctx).expect_err("over the cap");
        assert_eq!(e.code(), "animation_too_large");
        assert_eq!(e.kind().http_status(), 413);
        assert!(e.to_string().contains("anim=false"), "{e}");
        // The first frame is still there for the asking.
        let still = Spec::parse("width=80,format=gif,anim=false").unwrap();
        assert!(transform(&gif, &still, &ctx).is_ok());
    }
}

#[test]
fn an_animation_costs_its_frames() {
    let gif = sample("animated-bounce.gif");
    let ctx = Context::default();
    let cost = |s: &str| estimate(&gif, &Spec::parse(s).unwrap(), &ctx).unwrap().cost;
    // Large frames, so that what grows with the pixels dominates each frame's cost.
    let animated = cost("width=1600,fit=contain,format=gif");
    let still = cost("width=1600,fit=contain,format=gif,anim=false");
    assert!(
        animated.cpu_ms >= 11 * still.cpu_ms,
        "{animated:?} vs {still:?}"
    );
    assert_eq!(animated.output_pixels, 12 * still.output_pixels);
    // What every transform pays once is paid once.
    let small = cost("width=80,format=gif");
    let small_still = cost("width=80,format=gif,anim=false");
    assert!(
        small.cpu_ms < 2 * small_still.cpu_ms,
        "{small:?} vs {small_still:?}"
    );
}

#[test]
fn webp_frames_disposed_to_the_background_are_cleared() {
    if !can_encode("webp") {
        return; // builds without the WebP encoder (wasm32-wasip1 tests)
    }
    // Every frame of this WebP is disposed to the background (which browsers clear to
    // transparent): without it, the translucent disc would leave a trail across the canvas.
    let out = run(&sample("animated-alpha.webp"), "width=70,format=webp", None);
    let got = frames(&out.bytes);
    assert_eq!(got.len(), 10);
    for (i, (frame, ms)) in got.iter().enumerate() {
        assert_eq!(*ms, 100);
        let p = psnr(frame, &reference(&format!("alpha-webp-w70-{i:02}.png")));
        assert!(p >= 45.0, "frame {i}: PSNR {p:.1}");
    }
    // Where the disc was in the first frame, the last frame is empty; the disc keeps its alpha.
    assert_eq!(got[9].0.get_pixel(5, 25).0[3], 0);
    let a = got[9].0.get_pixel(59, 25).0[3];
    assert!((185..=200).contains(&a), "alpha {a}");
}
