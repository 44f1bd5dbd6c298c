use refract_core::decode::{probe, Header};
use refract_core::{Context, Error, Limits, Plan, Policy, Spec};

use super::*;

const BUDGET: Budget = Budget {
    max_input_bytes: 1_000_000,
    max_decode_pixels: 2_000_000,
    max_avif_pixels: 500_000,
    max_memory_bytes: 96 << 20,
    max_cpu_ms: 5_000,
};

fn header(name: &str) -> Header {
    let bytes = std::fs::read(format!("{}/../samples/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("sample exists");
    probe(&bytes, &Limits::default()).expect("probes")
}

fn check_with(name: &str, options: &str, budget: &Budget) -> Result<(), Error> {
    let bytes = std::fs::read(format!("{}/../samples/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("sample exists");
    let spec = Spec::parse_options(options).expect("valid spec");
    let ctx = Context {
        policy: Policy {
            max_cpu_ms: budget.max_cpu_ms,
            ..Policy::default()
        },
        ..Context::default()
    };
    let e = refract_core::estimate(&bytes, &spec, &ctx)?;
    check_plan(&e.header, &e.plan, &e.cost, &spec, budget)
}

fn check(name: &str, options: &str) -> Result<(), Error> {
    check_with(name, options, &BUDGET)
}

#[test]
fn a_progressive_jpeg_shrunk_on_load_fits_the_memory_budget_as_a_baseline_one_does() {
    // bridge-10mp.jpg is progressive: shrunk on load, the core's own decoder keeps only the
    // coefficients the scale reads (DC alone at 1/8), as bird-20mp.jpg (20 MP, baseline) does;
    // decoded whole it keeps all 10.7 MP of them, and that is over a tight budget.
    let tight = Budget {
        max_decode_pixels: 100_000_000,
        max_memory_bytes: 32 << 20,
        ..BUDGET
    };
    assert!(check_with("bird-20mp.jpg", "width=320", &tight).is_ok());
    assert!(check_with("bridge-10mp.jpg", "width=320", &tight).is_ok());
    let e = check_with("bridge-10mp.jpg", "width=4352", &tight).expect_err("over");
    assert_eq!(e.code(), "too_costly");
    // The default budget keeps the sample at the edge.
    let default = Budget {
        max_memory_bytes: crate::config::defaults::MAX_MEMORY_BYTES,
        ..tight
    };
    assert!(check_with("bridge-10mp.jpg", "width=800", &default).is_ok());
}

#[test]
fn the_cpu_cap_is_the_cores() {
    // libaom's AVIF at speed 9 is cheap (55 reference ms per MP), so a tight cap shows it: a
    // 0.24 MP AVIF within the AVIF pixel limit, over 20 ms.
    let tight = Budget {
        max_cpu_ms: 20,
        ..BUDGET
    };
    let e = check_with("cat-small.jpg", "width=600,format=avif", &tight).expect_err("over");
    assert_eq!(e.code(), "too_costly");
    assert!(check("cat-small.jpg", "width=600,format=avif").is_ok());
}

#[test]
fn size_is_checked_before_download() {
    assert!(check_size(1_000_000, &BUDGET).is_ok());
    let err = check_size(1_000_001, &BUDGET).expect_err("over");
    assert_eq!(err.code(), "input_too_large");
}

#[test]
fn jpeg_shrink_on_load_brings_a_big_photo_within_budget() {
    // 10.6 MP: whole, it is over the 2 MP budget; for an 800 px output it decodes at 1/4.
    assert_eq!(
        check("bridge-10mp.jpg", "width=3000").map_err(|e| e.code()),
        Err("too_many_pixels")
    );
    assert!(check("bridge-10mp.jpg", "width=800").is_ok());
    let h = header("bridge-10mp.jpg");
    let spec = Spec::parse_options("width=800").expect("valid");
    let plan = Plan::new(h.width, h.height, h.orientation, &spec).expect("plans");
    assert_eq!(decoded_size(&h, &plan), (1088, 612));
}

#[test]
fn other_formats_decode_whole() {
    // A PNG decodes at its stored size whatever the output size.
    let h = header("photo-16bit.png");
    let spec = Spec::parse_options("width=100").expect("valid");
    let plan = Plan::new(h.width, h.height, h.orientation, &spec).expect("plans");
    assert_eq!(decoded_size(&h, &plan), (h.width, h.height));
}

#[test]
fn explicit_avif_is_capped_by_output_area_and_json_decodes_nothing() {
    assert!(check("baseline.jpg", "width=800,format=avif").is_ok()); // 800x600 = 480k
    assert_eq!(
        check("baseline.jpg", "width=1000,format=avif").map_err(|e| e.code()),
        Err("output_too_large")
    );
    assert!(check("baseline.jpg", "width=1000,format=webp").is_ok());
    assert!(check("bridge-10mp.jpg", "width=3000,format=json").is_ok());
}

#[test]
fn output_area_is_bounded_like_a_decode() {
    // A 451x300 thumbnail decodes small, but squeezed to 2000x1500 it would be 3 MP.
    assert!(check("cat-small.jpg", "width=1600,fit=scale-down").is_ok());
    assert_eq!(
        check("cat-small.jpg", "width=2000,height=1500,fit=squeeze").map_err(|e| e.code()),
        Err("output_too_large")
    );
}
