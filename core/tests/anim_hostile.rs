//! Hostile animations: thousands of frames, frames far larger than their screen, frames
//! outside the canvas. Each is refused from the container scan, before a frame is decoded,
//! or decodes within its bounds.

use refract_core::{estimate, transform, Context, Limits, Spec};

/// A GIF of `frames` frames of `fw` × `fh` pixels (only the first pixel's worth of LZW data:
/// enough for a scan, not for a decoder) on a `sw` × `sh` screen.
fn gif(sw: u16, sh: u16, frames: usize, fw: u16, fh: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&sw.to_le_bytes());
    out.extend_from_slice(&sh.to_le_bytes());
    // A global colour table of two entries: black and white.
    out.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    out.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00");
    for _ in 0..frames {
        out.extend_from_slice(&[0x21, 0xF9, 4, 0, 10, 0, 0, 0]);
        out.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
        out.extend_from_slice(&fw.to_le_bytes());
        out.extend_from_slice(&fh.to_le_bytes());
        // No local table; LZW minimum code size 2; clear, index 0, end of information.
        out.extend_from_slice(&[0, 2, 2, 0x44, 0x01, 0]);
    }
    out.push(0x3B);
    out
}

/// An animated WebP of `frames` frames, 1×1 lossless images alternating between two colours,
/// placed at the origin but declaring `fw` × `fh`, on a `cw` × `ch` canvas.
fn webp(cw: u32, ch: u32, frames: usize, fw: u32, fh: u32) -> Vec<u8> {
    let le24 = |v: u32| [v as u8, (v >> 8) as u8, (v >> 16) as u8];
    // Real 1×1 VP8L bitstreams, from the image crate's lossless encoder.
    let dot = |rgba: [u8; 4]| {
        let mut one = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut one)
            .encode(&rgba, 1, 1, image::ExtendedColorType::Rgba8)
            .expect("a 1x1 WebP");
        one[12..].to_vec()
    };
    let dots = [dot([10, 20, 30, 255]), dot([200, 100, 0, 255])];
    let mut body = b"WEBP".to_vec();
    body.extend_from_slice(b"VP8X");
    body.extend_from_slice(&10u32.to_le_bytes());
    body.extend_from_slice(&[0x12, 0, 0, 0]);
    body.extend_from_slice(&le24(cw - 1));
    body.extend_from_slice(&le24(ch - 1));
    body.extend_from_slice(b"ANIM");
    body.extend_from_slice(&6u32.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    for i in 0..frames {
        let vp8l = &dots[i % 2];
        body.extend_from_slice(b"ANMF");
        body.extend_from_slice(&(16 + vp8l.len() as u32).to_le_bytes());
        body.extend_from_slice(&le24(0));
        body.extend_from_slice(&le24(0));
        body.extend_from_slice(&le24(fw - 1));
        body.extend_from_slice(&le24(fh - 1));
        body.extend_from_slice(&le24(100));
        body.push(0);
        body.extend_from_slice(vp8l);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn refuse(input: &[u8], spec: &str) -> refract_core::Error {
    let spec = Spec::parse(spec).expect("a valid spec");
    let err = estimate(input, &spec, &Context::default()).expect_err("refused");
    // transform checks the same before it decodes.
    let again = transform(input, &spec, &Context::default()).expect_err("refused");
    assert_eq!(err.code(), again.code());
    err
}

#[test]
fn thousands_of_frames_are_refused_from_the_scan() {
    let many = gif(10, 10, 5_000, 1, 1);
    let e = refuse(&many, "width=5,format=gif");
    assert_eq!(e.code(), "animation_too_large");
    assert_eq!(e.kind().http_status(), 413);
    assert!(e.to_string().contains("5000 frames"), "{e}");
    // Asked for a still, the first frame is all that is read.
    let still = transform(
        &many,
        &Spec::parse("anim=false,format=png").unwrap(),
        &Context::default(),
    )
    .expect("the first frame");
    assert_eq!((still.width, still.height), (10, 10));

    let e = refuse(&webp(10, 10, 5_000, 10, 10), "format=gif");
    assert_eq!(e.code(), "animation_too_large");
}

#[test]
fn small_frames_on_a_large_screen_count_the_screen() {
    // 900 frames of 1×1 on a 1000×1000 screen: each one is composited on the whole canvas.
    let e = refuse(&gif(1000, 1000, 900, 1, 1), "width=100,format=gif");
    assert_eq!(e.code(), "animation_too_large");
    assert!(e.to_string().contains("900000000 pixels"), "{e}");
}

#[test]
fn a_huge_frame_on_a_tiny_screen_is_refused_from_its_descriptor() {
    for input in [gif(1, 1, 1, 65_535, 65_535), gif(1, 1, 3, 20_000, 20_000)] {
        for spec in ["width=1", "anim=false", "format=json"] {
            let e = refuse(&input, spec);
            assert_eq!(e.code(), "too_many_pixels", "{spec}");
            assert_eq!(e.kind().http_status(), 413);
        }
    }
}

#[test]
fn webp_frames_that_do_not_match_their_data_or_canvas_are_undecodable() {
    // Frames declaring 20×20 on a 10×10 canvas, and 10×10 frames holding a 1×1 image.
    for input in [webp(10, 10, 3, 20, 20), webp(10, 10, 3, 10, 10)] {
        let spec = Spec::parse("format=gif").unwrap();
        let e = transform(&input, &spec, &Context::default()).expect_err("broken");
        assert_eq!(e.kind().http_status(), 422, "{e}");
    }
}

#[test]
fn an_animation_at_the_caps_is_transformed() {
    // At the frame cap exactly: 1,000 frames of one pixel, kept animated, every one written.
    assert_eq!(Limits::default().max_frames, 1_000);
    let out = transform(
        &webp(1, 1, 1_000, 1, 1),
        &Spec::parse("format=gif").unwrap(),
        &Context::default(),
    )
    .expect("within the caps");
    let info = refract_core::anim::scan(refract_core::InputFormat::Gif, &out.bytes).expect("a GIF");
    assert_eq!(info.frames, 1_000);
    let frames = image::AnimationDecoder::into_frames(
        image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&out.bytes)).unwrap(),
    );
    let total: u32 = frames
        .map(|f| {
            let (n, d) = f.unwrap().delay().numer_denom_ms();
            n / d
        })
        .sum();
    assert_eq!(total, 100_000);
}
