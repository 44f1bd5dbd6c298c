//! Hostile SVG documents: each one is a clean 4xx error or a bounded render, never a panic,
//! an abort or unbounded memory; nothing outside the document is read. The time each case
//! takes is printed (`--nocapture`), not asserted.
#![cfg(feature = "svg")]

mod common;

use std::time::Instant;

use common::{run, sample};
use refract_core::decode::{self, servable_type, InputFormat};
use refract_core::{decode_upright, Error, ErrorKind, Limits};

/// Runs `spec` on `svg`, printing the time it took.
fn timed(name: &str, svg: &[u8], spec: &str) -> Result<refract_core::Output, Error> {
    let t = Instant::now();
    let r = run(svg, spec);
    let outcome = match &r {
        Ok(o) => format!("rendered {}x{}", o.width, o.height),
        Err(e) => format!("{} ({}): {e}", e.code(), e.kind().http_status()),
    };
    eprintln!(
        "svg hostile {name}: {outcome} in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    r
}

fn client_error(name: &str, r: Result<refract_core::Output, Error>) -> Error {
    let e = r.expect_err(name);
    let status = e.kind().http_status();
    assert!((400..500).contains(&status), "{name}: {e} ({status})");
    e
}

fn svg(body: &str) -> Vec<u8> {
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"64\" height=\"64\">{body}</svg>").into_bytes()
}

#[test]
fn billion_laughs_is_refused() {
    let mut doc = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE svg [\n<!ENTITY a0 \"lol\">\n");
    for i in 1..10 {
        let prev = format!("&a{};", i - 1).repeat(10);
        doc.push_str(&format!("<!ENTITY a{i} \"{prev}\">\n"));
    }
    doc.push_str("]>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><title>&a9;</title><rect width=\"10\" height=\"10\"/></svg>");
    let e = client_error(
        "billion laughs",
        timed("billion laughs", doc.as_bytes(), "width=10"),
    );
    assert_eq!(e.kind(), ErrorKind::Undecodable, "{e}");
}

#[test]
fn deep_nesting_is_refused_or_bounded() {
    let n = 100_000;
    let doc = svg(&format!(
        "{}<rect width=\"10\" height=\"10\"/>{}",
        "<g>".repeat(n),
        "</g>".repeat(n)
    ));
    // Over the document size limit by default (1 MiB is 7 bytes of `<g></g>` × 150,000).
    let _ = timed("100k nested <g>", &doc, "width=64");
    let big = Limits {
        max_svg_bytes: 4 << 20,
        ..Limits::default()
    };
    let t = Instant::now();
    let r = decode::probe(&doc, &big);
    eprintln!(
        "svg hostile 100k nested <g> (4 MiB limit): {:?} in {:.1} ms",
        r.as_ref().map(|h| (h.width, h.height)).map_err(Error::code),
        t.elapsed().as_secs_f64() * 1e3
    );
}

#[test]
fn huge_declared_sizes_are_refused_before_rendering() {
    for (name, attrs) in [
        ("1e9 x 1e9", "width=\"1e9\" height=\"1e9\""),
        ("100000 x 100000", "width=\"100000\" height=\"100000\""),
    ] {
        let doc = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" {attrs}><rect width=\"10\" height=\"10\"/></svg>");
        let e = client_error(name, timed(name, doc.as_bytes(), "width=64"));
        assert_eq!(e.code(), "too_many_pixels", "{name}: {e}");
        // Probing alone refuses it: the canvas is never allocated.
        assert!(decode::probe(doc.as_bytes(), &Limits::default()).is_err());
    }
}

#[test]
fn a_huge_view_box_with_a_tiny_width_renders_small() {
    let doc = br#"<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8" viewBox="0 0 1e9 1e9"><rect width="1e9" height="5e8" fill="red"/></svg>"#;
    let out = timed("huge viewBox", doc, "format=png").expect("renders");
    assert_eq!((out.width, out.height), (8, 8));
}

#[test]
fn zero_and_negative_sizes_are_undecodable_or_ignored() {
    for attrs in [
        "width=\"0\" height=\"10\"",
        "width=\"-10\" height=\"10\"",
        "width=\"10\" height=\"-0.5\"",
    ] {
        let doc = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" {attrs}><rect width=\"10\" height=\"10\"/></svg>");
        let e = client_error(attrs, timed(attrs, doc.as_bytes(), "width=10"));
        assert_eq!(e.kind(), ErrorKind::Undecodable, "{attrs}: {e}");
    }
    // An empty or negative viewBox is ignored (as browsers do), leaving usvg's defaults: a
    // small, bounded canvas; with no size at all the document has none and is refused.
    for attrs in ["viewBox=\"0 0 0 0\"", "viewBox=\"0 0 -5 10\"", ""] {
        let doc = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" {attrs}><rect width=\"10\" height=\"10\"/></svg>");
        match timed(attrs, doc.as_bytes(), "format=png") {
            Ok(out) => assert!(out.width <= 100 && out.height <= 100, "{attrs}"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Undecodable, "{attrs}: {e}"),
        }
    }
}

#[test]
fn expensive_filters_and_patterns_are_bounded() {
    let cases = [
        (
            "blur 1e9",
            svg(
                r#"<filter id="f"><feGaussianBlur stdDeviation="1e9"/></filter><rect width="64" height="64" fill="red" filter="url(#f)"/>"#,
            ),
        ),
        (
            "turbulence 1e6 octaves",
            svg(
                r#"<filter id="f"><feTurbulence baseFrequency="0.05" numOctaves="1000000"/></filter><rect width="64" height="64" filter="url(#f)"/>"#,
            ),
        ),
        (
            "pattern 1e-6 px tiles",
            svg(
                r#"<pattern id="p" width="0.000001" height="0.000001" patternUnits="userSpaceOnUse"><rect width="0.0000005" height="0.0000005" fill="red"/></pattern><rect width="64" height="64" fill="url(#p)"/>"#,
            ),
        ),
        (
            "recursive use",
            svg(
                r##"<g id="a"><use xlink:href="#b"/></g><g id="b"><use xlink:href="#a"/></g><use xlink:href="#a"/><rect width="8" height="8"/>"##,
            ),
        ),
        (
            "self use",
            svg(r##"<g id="a"><rect width="8" height="8"/><use xlink:href="#a" x="1"/></g>"##),
        ),
        (
            "tiny dashes",
            svg(
                r#"<path d="M0 0 L64 64 L0 64 L64 0 Z" stroke="red" stroke-dasharray="0.00001" fill="none"/>"#,
            ),
        ),
        (
            "huge coordinates",
            svg(
                r#"<path d="M-1e30 -1e30 L1e30 1e30 L1e30 -1e30 Z" fill="red" stroke="blue"/><rect x="1e38" width="1e38" height="10"/>"#,
            ),
        ),
        (
            "scale(1e6) layer",
            svg(r#"<g transform="scale(1e6)" opacity="0.5"><rect width="64" height="64"/></g>"#),
        ),
    ];
    for (name, doc) in cases {
        for spec in ["format=png", "width=2000,fit=contain,format=png"] {
            match timed(&format!("{name} ({spec})"), &doc, spec) {
                Ok(out) => assert!(out.width >= 64 && !out.bytes.is_empty(), "{name}"),
                Err(e) => {
                    let _ = client_error(name, Err(e));
                }
            }
        }
    }
}

#[test]
fn not_xml_and_truncated_documents_are_undecodable() {
    let logo = sample("logo.svg");
    for cut in [10, 60, 200, logo.len() / 2, logo.len() - 8] {
        let e = client_error("truncated", timed("truncated", &logo[..cut], "width=10"));
        assert!(
            matches!(e.kind(), ErrorKind::Undecodable | ErrorKind::Unsupported),
            "cut at {cut}: {e}"
        );
    }
    for doc in [
        &b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><rect></svg>"[..],
        b"<svg width='10' height='10' <<<>>>",
        b"<svg\xff\xfe width='10'/>",
    ] {
        let e = client_error("not XML", timed("not XML", doc, "width=10"));
        assert_eq!(e.kind(), ErrorKind::Undecodable, "{e}");
    }
}

#[test]
fn external_images_are_never_loaded() {
    let plain = svg(r##"<rect width="64" height="64" fill="#00ff00"/>"##);
    let expected = decode_upright(&plain).expect("plain").to_rgba8();
    for href in [
        "file:///etc/passwd",
        "/etc/passwd",
        "http://127.0.0.1:9/x.png",
        "https://example.com/x.png",
        // A real 1x1 PNG as a data: URL: embedded bitmaps are not decoded either.
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
    ] {
        let doc = svg(&format!(
            r##"<rect width="64" height="64" fill="#00ff00"/><image x="0" y="0" width="64" height="64" href="{href}"/><image width="64" height="64" xlink:href="{href}"/>"##
        ));
        let got = decode_upright(&doc).expect(href).to_rgba8();
        assert_eq!(got.dimensions(), (64, 64));
        assert!(got.as_raw() == expected.as_raw(), "{href} drew something");
    }
}

#[test]
fn svg_originals_are_never_servable_untouched() {
    for name in ["logo.svg", "badge-alpha.svg", "icon-viewbox.svg"] {
        let bytes = sample(name);
        assert_eq!(decode::sniff(&bytes).expect(name), InputFormat::Svg);
        assert_eq!(servable_type(&bytes), None, "{name}");
        assert_eq!(servable_type(&bytes[..decode::SNIFF_BYTES]), None, "{name}");
    }
}

#[test]
fn an_svg_over_the_document_limit_is_413() {
    let mut doc =
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\"><!--".to_vec();
    doc.extend(std::iter::repeat_n(b'x', (1 << 20) + 1));
    doc.extend_from_slice(b"--></svg>");
    let e = client_error("over 1 MiB", timed("over 1 MiB", &doc, "width=8"));
    assert_eq!(e.code(), "input_too_large");
    assert_eq!(e.kind().http_status(), 413);
}

/// The refusal's message, for cases the guard in `decode/svg/guard.rs` must catch.
fn refused(name: &str, doc: &[u8], spec: &str, why: &str) {
    let e = client_error(name, timed(name, doc, spec));
    assert_eq!(e.kind(), ErrorKind::Undecodable, "{name}: {e}");
    assert!(e.to_string().contains(why), "{name}: {e}");
}

#[test]
fn the_guard_refuses_what_resvg_would_spend_without_bound_on() {
    refused(
        "blur 1e9",
        &svg(
            r#"<filter id="f"><feGaussianBlur stdDeviation="1e9"/></filter><rect width="64" height="64" fill="red" filter="url(#f)"/>"#,
        ),
        "width=2000,fit=contain",
        "stdDeviation",
    );
    refused(
        "turbulence 1e6 octaves",
        &svg(
            r#"<filter id="f"><feTurbulence baseFrequency="0.05" numOctaves="1000000"/></filter><rect width="64" height="64" filter="url(#f)"/>"#,
        ),
        "format=png",
        "octaves",
    );
    refused(
        "morphology radius 500",
        &svg(
            r#"<filter id="f"><feMorphology operator="dilate" radius="500"/></filter><rect width="64" height="64" filter="url(#f)"/>"#,
        ),
        "format=png",
        "feMorphology",
    );
    // A radius that is fine at 64 px becomes 31 times larger rendered at 2000 px.
    let small = svg(
        r#"<filter id="f"><feMorphology operator="dilate" radius="2"/></filter><rect width="32" height="32" filter="url(#f)"/>"#,
    );
    assert!(run(&small, "format=png").is_ok());
    refused(
        "morphology enlarged",
        &small,
        "width=2000,fit=contain",
        "feMorphology",
    );
    refused(
        "stroke 1e5 wide at 31x",
        &svg(r#"<path d="M0 0 L64 64" stroke="red" stroke-width="1e5"/>"#),
        "width=2000,fit=contain",
        "stroke",
    );
    refused(
        "coordinates of 1e30",
        &svg(r#"<path d="M-1e30 -1e30 L1e30 1e30 L1e30 -1e30 Z" fill="red"/>"#),
        "format=png",
        "too far outside",
    );
    refused(
        "huge pattern tile",
        &svg(
            r#"<pattern id="p" width="100000" height="100000" patternUnits="userSpaceOnUse"><rect width="10" height="10" fill="red"/></pattern><rect width="64" height="64" fill="url(#p)"/>"#,
        ),
        "format=png",
        "pattern tile",
    );
    let rects = r#"<rect width="64" height="64" fill="red"/>"#.repeat(5000);
    refused(
        "5000 full-canvas rects",
        &svg(&rects),
        "format=png",
        "times its canvas",
    );
    let layers = format!(
        "{}<rect width=\"64\" height=\"64\"/>{}",
        "<g opacity=\"0.5\">".repeat(40),
        "</g>".repeat(40)
    );
    refused(
        "40 nested opacity layers",
        &svg(&layers),
        "format=png",
        "layers at once",
    );
    let deep = format!(
        "{}<rect width=\"64\" height=\"64\"/>{}",
        "<g opacity=\"1\" transform=\"translate(0.01)\">".repeat(300),
        "</g>".repeat(300)
    );
    let _ = timed("300 nested groups", &svg(&deep), "format=png").map(|_| ());
    // <use> of <use>: ten references per level, eight levels: 10^8 rectangles once expanded.
    let mut uses = String::from(r#"<defs><rect id="u0" width="1" height="1"/>"#);
    for i in 1..=8 {
        uses.push_str(&format!("<g id=\"u{i}\">"));
        for _ in 0..10 {
            uses.push_str(&format!("<use xlink:href=\"#u{}\"/>", i - 1));
        }
        uses.push_str("</g>");
    }
    uses.push_str(r##"</defs><use xlink:href="#u8"/>"##);
    let e = client_error("use bomb", timed("use bomb", &svg(&uses), "format=png"));
    assert_eq!(e.kind(), ErrorKind::Undecodable, "{e}");
}

#[test]
fn the_worst_accepted_drawing_renders() {
    // 390 full-canvas fills rendered at 1600×1600: just under both bounds (400 canvases, a
    // billion pixels). The time it takes is the worst an accepted document costs (printed).
    let doc = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"100\">{}</svg>",
        r##"<rect width="100" height="100" fill="#369" fill-opacity="0.5"/>"##.repeat(390)
    );
    let out = timed(
        "390 fills at 1600 px",
        doc.as_bytes(),
        "width=1600,fit=contain,format=png",
    )
    .expect("renders");
    assert_eq!((out.width, out.height), (1600, 1600));
    refused(
        "390 fills at 1700 px",
        doc.as_bytes(),
        "width=1700,fit=contain",
        "billion",
    );
}

#[test]
fn marker_bombs_are_refused_before_usvg_instantiates_them() {
    let rects = r#"<rect width="1" height="1"/>"#.repeat(1000);
    let pts = "L1 1 ".repeat(10_000);
    let bomb = format!(
        r##"<marker id="m" markerWidth="10" markerHeight="10">{rects}</marker><path d="M0 0 {pts}" stroke="black" marker-mid="url(#m)"/>"##
    );
    refused("marker-mid bomb", &svg(&bomb), "format=png", "markers");
    // Inherited from a group, set by a stylesheet, multiplied by <use>: all counted.
    let inherited = format!(
        r##"<marker id="m">{rects}</marker><g marker-mid="url(#m)"><path d="M0 0 {pts}"/></g>"##
    );
    refused(
        "inherited marker",
        &svg(&inherited),
        "format=png",
        "markers",
    );
    let styled = format!(
        r##"<style>path {{ marker: url(#m) }}</style><marker id="m">{rects}</marker><path d="M0 0 {pts}"/>"##
    );
    refused(
        "marker from a stylesheet",
        &svg(&styled),
        "format=png",
        "markers",
    );
    let used = format!(
        r##"<marker id="m">{}</marker><g id="p"><path d="M0 0 L5 5" marker-end="url(#m)"/></g>{}"##,
        r#"<rect width="1" height="1"/>"#.repeat(200),
        r##"<use xlink:href="#p"/>"##.repeat(3000)
    );
    refused("marker on used paths", &svg(&used), "format=png", "markers");
    // Arrowheads on a diagram's lines are fine.
    let arrows = format!(
        r##"<marker id="a" markerWidth="4" markerHeight="4" refX="2" refY="2"><path d="M0 0 L4 2 L0 4 Z"/></marker>{}"##,
        r##"<path d="M2 2 L60 60" stroke="black" marker-end="url(#a)"/>"##.repeat(500)
    );
    assert!(timed("500 arrows", &svg(&arrows), "format=png").is_ok());
}
