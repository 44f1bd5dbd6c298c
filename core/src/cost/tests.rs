use super::*;
use crate::exif::Orientation;
use crate::Spec;

fn header(format: InputFormat, (width, height): (u32, u32), progressive: bool) -> Header {
    Header {
        format,
        width,
        height,
        orientation: Orientation::Normal,
        icc: None,
        exif: None,
        progressive,
        // 4:4:4: three full-size components.
        dct_blocks: u64::from(width.div_ceil(8)) * u64::from(height.div_ceil(8)) * 3,
        bytes_per_pixel: 3,
        alpha: false,
    }
}

fn cost(h: &Header, spec: &str, format: OutputFormat, policy: &Policy) -> Cost {
    let plan = Plan::new(
        h.width,
        h.height,
        h.orientation,
        &Spec::parse(spec).unwrap(),
    )
    .unwrap();
    estimate(1_000_000, h, &plan, format, policy)
}

#[test]
fn a_progressive_jpeg_costs_its_full_size_coefficients_whatever_the_shrink() {
    let p = Policy::default();
    let jpeg = OutputFormat::Jpeg { progressive: false };
    let baseline = header(InputFormat::Jpeg, (6000, 4000), false);
    let progressive = header(InputFormat::Jpeg, (6000, 4000), true);
    let small = cost(&baseline, "width=400", jpeg, &p);
    let small_progressive = cost(&progressive, "width=400", jpeg, &p);
    // 1/8 decode: 750×500 pixels either way.
    assert_eq!(small.decoded_pixels, 375_000);
    assert_eq!(small_progressive.decoded_pixels, 375_000);
    // Baseline at 1/8 needs a few MiB; progressive keeps 24 MP × 3 components × 2 bytes.
    assert!(small.memory_bytes < 16 << 20, "{small:?}");
    assert!(
        small_progressive.memory_bytes > 24_000_000 * 6,
        "{small_progressive:?}"
    );
    assert!(small_progressive.cpu_ms > small.cpu_ms);
}

#[test]
fn cost_grows_with_output_size_and_effort() {
    let p = Policy::default();
    let h = header(InputFormat::Png, (2000, 2000), false);
    let by = |spec: &str, format| cost(&h, spec, format, &p);
    let jpeg = OutputFormat::Jpeg { progressive: false };
    let webp = OutputFormat::Webp { lossless: false };
    let avif = OutputFormat::Avif;
    assert!(by("width=400", jpeg).cpu_ms < by("width=400", webp).cpu_ms);
    assert!(by("width=400", webp).cpu_ms < by("width=400", avif).cpu_ms);
    assert!(by("width=400", avif).cpu_ms < by("width=1600", avif).cpu_ms);
    assert!(by("width=400", avif).memory_bytes < by("width=1600", avif).memory_bytes);
    let slow = Policy { avif_speed: 2, ..p };
    assert!(cost(&h, "width=400", avif, &p).cpu_ms < cost(&h, "width=400", avif, &slow).cpu_ms);
}

#[test]
fn fifty_megapixels_of_avif_cost_more_than_a_minute() {
    // The request the review found: w=7000,h=7000,fit=squeeze,format=avif on any original.
    let h = header(InputFormat::Jpeg, (800, 600), false);
    let c = cost(
        &h,
        "width=7000,height=7000,fit=squeeze",
        OutputFormat::Avif,
        &Policy::default(),
    );
    assert_eq!(c.output_pixels, 49_000_000);
    assert!(c.cpu_ms > 60_000, "{c:?}");
    assert!(c.cpu_ms > Policy::DEFAULT_MAX_CPU_MS);
}

#[test]
fn json_costs_nothing_but_the_input() {
    let h = header(InputFormat::Jpeg, (8000, 8000), true);
    let c = cost(&h, "width=100", OutputFormat::Json, &Policy::default());
    assert_eq!(c.memory_bytes, 1_000_000);
    assert_eq!(c.decoded_pixels, 0);
}
