//! Measures SVG inputs for the cost model (`core/src/cost.rs`, docs/cost.md): the time to
//! parse a document per MB of markup, to render the samples per rendered megapixel, and to draw
//! one canvas-sized fill (the unit of the guard's overdraw bound). Run with
//! `cargo run --release -p refract-core --example svg_render`.

use std::time::Instant;

use refract_core::decode::{self, Header};
use refract_core::exif::Orientation;
use refract_core::{Limits, Plan, Spec};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

fn plan(h: &Header, spec: &str) -> Plan {
    let spec = Spec::parse(spec).expect("spec");
    Plan::new(h.width, h.height, Orientation::Normal, &spec).expect("plan")
}

fn render_ms_per_mp(bytes: &[u8], spec: &str, limits: &Limits) -> (f64, f64, f64) {
    let h = decode::probe(bytes, limits).expect("probe");
    let p = plan(&h, spec);
    let (w, hh) = decode::svg::render_size(&h, &p);
    let mp = f64::from(w) * f64::from(hh) / 1e6;
    let probe = best_of(5, || decode::probe(bytes, limits).expect("probe"));
    let total = best_of(5, || {
        decode::decode_planned(bytes, &h, &p, limits).expect("render")
    });
    // decode_planned parses again: the render alone is its time less a probe's.
    (mp, probe, (total - probe).max(0.0) / mp)
}

fn main() {
    let limits = Limits::default();
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    println!("| document | bytes | rendered MP | parse ms | render ms per MP |");
    println!("|---|---:|---:|---:|---:|");
    for name in ["logo.svg", "badge-alpha.svg", "icon-viewbox.svg"] {
        let bytes = std::fs::read(samples.join(name)).expect("sample");
        for spec in ["width=1000,fit=contain", "width=3000,fit=contain"] {
            let (mp, parse, per_mp) = render_ms_per_mp(&bytes, spec, &limits);
            println!(
                "| {name} {spec} | {} | {mp:.2} | {parse:.3} | {per_mp:.1} |",
                bytes.len()
            );
        }
    }
    // Parsing: 1 MB of paths (the default document limit).
    let mut doc =
        String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="1000">"#);
    let mut i = 0u32;
    while doc.len() < (1 << 20) - 200 {
        let (x, y) = (i % 97 * 10, i % 89 * 11);
        doc.push_str(&format!(
            r##"<path d="M{x} {y} L{} {y} Q{} {} {x} {} Z" fill="#{:06x}"/>"##,
            x + 9,
            x + 12,
            y + 5,
            y + 9,
            i * 2654435761 % 0xFFFFFF
        ));
        i += 1;
    }
    doc.push_str("</svg>");
    let big = Limits {
        max_svg_bytes: 2 << 20,
        ..limits
    };
    let (mp, parse, per_mp) = render_ms_per_mp(doc.as_bytes(), "width=1000", &big);
    println!(
        "| {i} small paths, 1 MiB | {} | {mp:.2} | {parse:.1} (per MB: {:.1}) | {per_mp:.1} |",
        doc.len(),
        parse / (doc.len() as f64 / 1e6)
    );
    // Overdraw: full-canvas fills, 1000x1000.
    for n in [1, 100, 300] {
        let body = r##"<rect width="1000" height="1000" fill="#336699" fill-opacity="0.5"/>"##;
        let doc = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="1000">{}</svg>"#,
            body.repeat(n)
        );
        let (mp, _, per_mp) = render_ms_per_mp(doc.as_bytes(), "width=1000", &limits);
        println!(
            "| {n} full-canvas fills | {} | {mp:.2} | | {per_mp:.1} ({:.2} ms per canvas-MP) |",
            doc.len(),
            per_mp / n as f64
        );
    }
}
