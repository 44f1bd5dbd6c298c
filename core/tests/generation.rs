//! Output bytes are part of a variant's identity: hosts cache variants by a fingerprint that
//! includes `OUTPUT_GENERATION` (core/src/variant.rs). If a change to the core changes what it
//! outputs for the same input, spec and settings, this test fails until the generation is bumped
//! and the pins below are updated, so caches never serve old bytes under a new build's name.
//!
//! Pinned: PNG and WebP output. From PNG inputs they are the same bytes on every target; from
//! JPEG inputs they depend on the JPEG decoder's code path (its SSSE3, wasm SIMD and portable
//! IDCTs round differently), so those pins name the path they were taken on and are checked
//! only where it is this build's (`refract_core::variant::pixel_paths`). JPEG and AVIF output
//! take target-specific encoder paths; their fingerprints name the path instead.

mod common;

use common::{can_encode, run_ok, sample};
use refract_core::variant::OUTPUT_GENERATION;
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The pixel paths of the machines the JPEG-input pins were taken on (native x86-64).
const X86: &str = "jpeg-decoder:ssse3,qcms:avx";
/// The same machines with libjpeg-turbo decoding JPEG (the `turbojpeg` feature, native).
const X86_TURBO: &str = "jpeg-decoder:ssse3,libjpeg-turbo,qcms:avx";

/// `(generation, pixel paths or "" for every target, input, spec, first 12 bytes of the
/// output's SHA-256)`.
const PINS: &[(u32, &str, &str, &str, &str)] = &[
    (
        3,
        "",
        "logo-alpha.png",
        "width=50,fit=pad,height=40,format=png",
        "07a32e7f64312b918c1370bf",
    ),
    (
        3,
        "",
        "logo-alpha.png",
        "width=50,quality=100,format=webp",
        "85dd847cddafeb79bd88dc56",
    ),
    (
        3,
        "",
        "palette-trns.png",
        "width=150,format=png",
        "5cef6a7f742bf2dc8d0ff601",
    ),
    (
        3,
        "",
        "palette-trns.png",
        "width=150,format=webp",
        "df56e302bfc9952c654bbe2d",
    ),
    (
        3,
        X86,
        "cat-small.jpg",
        "width=64,format=png",
        "1a2d51a7b7af4490593fa36b",
    ),
    (
        3,
        X86,
        "orientation-6.jpg",
        "width=60,blur=2,format=png",
        "4049776545ce46bbf6831338",
    ),
    (
        3,
        X86,
        "cat-small.jpg",
        "width=64,format=webp",
        "29311b9dfc160526f910400d",
    ),
    (
        3,
        X86_TURBO,
        "cat-small.jpg",
        "width=64,format=png",
        "5ab4aaa653385f259ab069ce",
    ),
    (
        3,
        X86_TURBO,
        "orientation-6.jpg",
        "width=60,blur=2,format=png",
        "6e5e17404b3221f56147e4da",
    ),
    (
        3,
        X86_TURBO,
        "cat-small.jpg",
        "width=64,format=webp",
        "b73c23d519ef553dd25230d2",
    ),
];

#[test]
fn outputs_are_pinned_to_the_output_generation() {
    let mut changed = Vec::new();
    let here = refract_core::variant::pixel_paths();
    let mut checked = 0;
    for (generation, paths, input, spec, pin) in PINS {
        assert_eq!(
            *generation, OUTPUT_GENERATION,
            "OUTPUT_GENERATION changed: update every pin to the new outputs"
        );
        if (spec.contains("format=webp") && !can_encode("webp"))
            || !(paths.is_empty() || *paths == here)
        {
            continue;
        }
        checked += 1;
        let got = sha(&run_ok(&sample(input), spec).bytes);
        if got != *pin {
            changed.push(format!("{input} {spec}: {got} (pinned {pin})"));
        }
    }
    assert!(checked >= 2, "no pin applies to this build ({here})");
    assert!(
        changed.is_empty(),
        "outputs changed: bump OUTPUT_GENERATION in core/src/variant.rs and update the pins:\n{}",
        changed.join("\n")
    );
}
