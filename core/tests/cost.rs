//! The cost cap and the memory cap, through `transform` and `estimate`: refused before any
//! decode with `too_costly`, or for `format=auto` stepped down to a cheaper format.

mod common;

use common::{can_encode, sample};
use refract_core::{
    estimate, transform, Context, Error, Limits, OutputFormat, Policy, Resource, Spec,
};

fn ctx<'a>(accept: &'a str, policy: Policy, limits: Limits) -> Context<'a> {
    Context {
        limits,
        accept: Some(accept),
        policy,
        clock: None,
    }
}

fn spec(s: &str) -> Spec {
    Spec::parse(s).expect("valid spec")
}

const AVIF_WEBP: &str = "image/avif,image/webp,*/*";

#[test]
fn an_explicit_format_over_the_cpu_cap_is_refused_before_decoding() {
    // A truncated JPEG: only the header is there, so the request can only fail this way if the
    // cost is checked before any decode (a decode would say undecodable_image).
    let full = sample("cat-small.jpg");
    let header_only = &full[..full.len() / 4];
    let s = spec("width=7000,height=7000,fit=squeeze,format=avif");
    // At libaom's default speed (9) this is seconds, under the cap; at speed 4 it is minutes.
    let slow = Policy {
        avif_speed: 4,
        ..Policy::default()
    };
    let c = ctx("", slow, Limits::default());
    let e = transform(header_only, &s, &c).expect_err("over the cap");
    assert_eq!(e.code(), "too_costly");
    assert_eq!(e.kind().http_status(), 400);
    assert!(matches!(
        e,
        Error::TooCostly {
            resource: Resource::Cpu,
            limit: Policy::DEFAULT_MAX_CPU_MS,
            ..
        }
    ));
    let msg = e.to_string();
    assert!(msg.contains("avif of 49.0 MP"), "{msg}");
    // The same through estimate, which hosts call before handing work to a thread.
    assert_eq!(estimate(&full, &s, &c).unwrap_err().code(), "too_costly");
}

#[test]
fn format_auto_steps_down_to_fit_the_cpu_cap() {
    let input = sample("baseline.jpg"); // 1600×1200
    let s = spec("width=1600,format=auto");
    // At speed 9 libaom's AVIF is cheaper than WebP; at speed 6 it is dearer, and the cap
    // makes auto step down to WebP.
    let cheap = Policy {
        max_cpu_ms: 300,
        avif_speed: 6,
        ..Policy::default()
    };
    let at = |accept, policy| estimate(&input, &s, &ctx(accept, policy, Limits::default()));
    // Without a cap this is AVIF; with it, the next format the client accepts.
    assert_eq!(
        at(AVIF_WEBP, Policy::default()).unwrap().format,
        OutputFormat::Avif
    );
    let expected = if can_encode("webp") {
        OutputFormat::Webp { lossless: false }
    } else {
        OutputFormat::Jpeg { progressive: true }
    };
    let e = at(AVIF_WEBP, cheap).unwrap();
    assert_eq!(e.format, expected);
    assert!(e.cost.cpu_ms <= 300, "{:?}", e.cost);
    // A client that lists AVIF but not WebP gets the JPEG fallback.
    assert_eq!(
        at("image/avif,*/*", cheap).unwrap().format,
        OutputFormat::Jpeg { progressive: true }
    );
    // The transform encodes what the estimate chose.
    let out = transform(&input, &s, &ctx(AVIF_WEBP, cheap, Limits::default())).unwrap();
    assert_eq!(out.format, expected);
    // Past even the fallback, auto is refused too.
    let tiny = Policy {
        max_cpu_ms: 5,
        ..Policy::default()
    };
    assert_eq!(at(AVIF_WEBP, tiny).unwrap_err().code(), "too_costly");
}

#[test]
fn the_memory_cap_counts_a_progressive_jpegs_coefficients_as_they_are_kept() {
    // bridge-10mp.jpg is progressive (4352×2448, 333,000 blocks). Shrunk on load, Refract's
    // own decoder keeps only what the scale reads (DC alone at 1/8), so a 200 px thumbnail
    // fits as a baseline file's does; decoded whole, every coefficient of its 10.7 MP counts
    // (128 bytes a block) on top of the pixels.
    let progressive = sample("bridge-10mp.jpg");
    let baseline = sample("bird-20mp.jpg"); // twice the pixels, baseline
    let limits = Limits {
        max_memory_bytes: 40 << 20,
        ..Limits::default()
    };
    let c = ctx("", Policy::default(), limits);
    let small = spec("width=200,format=jpeg");
    let ok = transform(&baseline, &small, &c).expect("a baseline JPEG shrinks on load");
    assert_eq!(ok.shrink, 8);
    let ok = transform(&progressive, &small, &c).expect("so does a progressive one");
    assert_eq!(ok.shrink, 8);
    let thumb = estimate(&progressive, &small, &c).expect("fits").cost;
    assert!(thumb.memory_bytes < 16 << 20, "{thumb:?}");
    let whole = spec("width=4352,format=jpeg");
    let e = transform(&progressive, &whole, &c).expect_err("over the memory cap");
    assert_eq!(e.code(), "too_costly");
    assert!(matches!(
        e,
        Error::TooCostly {
            resource: Resource::Memory,
            ..
        }
    ));
    assert!(e.to_string().contains("MiB of memory"), "{e}");
    let open = ctx("", Policy::default(), Limits::default());
    let whole = estimate(&progressive, &whole, &open).expect("fits").cost;
    assert!(
        whole.memory_bytes > 272 * 306 * 4 * 128 + 4352 * 2448 * 6,
        "{whole:?}"
    );
}

#[test]
fn no_cap_means_no_refusal() {
    let input = sample("cat-small.jpg");
    let s = spec("width=900,format=avif");
    let open = Policy {
        max_cpu_ms: u64::MAX,
        ..Policy::default()
    };
    let tight = Policy {
        max_cpu_ms: 10,
        ..Policy::default()
    };
    assert!(estimate(&input, &s, &ctx("", open, Limits::default())).is_ok());
    assert_eq!(
        estimate(&input, &s, &ctx("", tight, Limits::default()))
            .unwrap_err()
            .code(),
        "too_costly"
    );
}

#[test]
fn jpeg_blocks_are_counted_from_the_frame_header() {
    let blocks = |name: &str| {
        refract_core::decode::probe(&sample(name), &Limits::default())
            .expect("probe")
            .dct_blocks
    };
    // 4352×2448 at 2x1: 272×306 MCUs of two luma blocks and one block per chroma component.
    assert_eq!(blocks("bridge-10mp.jpg"), 272 * 306 * 4);
    // 1600×1200 at 2x2: 100×75 MCUs of four luma blocks and two chroma blocks.
    assert_eq!(blocks("baseline.jpg"), 100 * 75 * 6);
    // Grey, 2560×1600: one component.
    assert_eq!(blocks("grayscale.jpg"), 320 * 200);
    assert_eq!(blocks("logo-alpha.png"), 0);
}
