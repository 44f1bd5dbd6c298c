use super::*;
use crate::exif::Orientation;
use crate::Spec;

fn header(format: InputFormat, (width, height): (u32, u32), progressive: bool) -> Header {
    Header {
        animation: None,
        format,
        width,
        height,
        orientation: Orientation::Normal,
        icc: None,
        exif: None,
        progressive,
        progressive_scaled: progressive,
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
fn a_progressive_jpeg_costs_its_full_size_coefficients_only_where_they_are_kept() {
    let p = Policy::default();
    let jpeg = OutputFormat::Jpeg { progressive: false };
    let baseline = header(InputFormat::Jpeg, (6000, 4000), false);
    let progressive = header(InputFormat::Jpeg, (6000, 4000), true);
    // jpeg-decoder reads this one (say, CMYK): it keeps every coefficient whatever the scale.
    let elsewhere = Header {
        animation: None,
        progressive_scaled: false,
        ..progressive.clone()
    };
    let small = cost(&baseline, "width=400", jpeg, &p);
    let small_progressive = cost(&progressive, "width=400", jpeg, &p);
    let small_elsewhere = cost(&elsewhere, "width=400", jpeg, &p);
    // 1/8 decode: 750×500 pixels either way.
    assert_eq!(small.decoded_pixels, 375_000);
    assert_eq!(small_progressive.decoded_pixels, 375_000);
    // Baseline at 1/8 needs a few MiB (jpeg-decoder decodes 1500×1000 at 1/4, 6 bytes a
    // pixel, then halves it); so does progressive through decode/progressive (planes at 1/8,
    // and DC and its plane: 3 bytes for each of the 1,125,000 blocks).
    assert!(small.memory_bytes < 16 << 20, "{small:?}");
    assert_eq!(
        small.memory_bytes - small_progressive.memory_bytes,
        (1_500_000 * 6 + 375_000 * 3) - (375_000 * 6 + 1_125_000 * 3)
    );
    // Elsewhere it keeps 24 MP × 3 components × 2 bytes.
    assert!(
        small_elsewhere.memory_bytes > 24_000_000 * 6,
        "{small_elsewhere:?}"
    );
    // At 1/2, 16 coefficients, their plane and the history bits: 54 bytes a block, not 128.
    let half = cost(&progressive, "width=2000", jpeg, &p);
    let half_elsewhere = cost(&elsewhere, "width=2000", jpeg, &p);
    assert_eq!(
        half_elsewhere.memory_bytes - half.memory_bytes,
        1_125_000 * (128 - 54)
    );
    // Whole, every coefficient.
    let whole = cost(&progressive, "width=6000", jpeg, &p);
    assert!(whole.memory_bytes > 24_000_000 * 6, "{whole:?}");
    // Entropy decoding: at 1/8 only the DC scans (no dearer than a baseline file); at other
    // scales, or through jpeg-decoder, every scan.
    assert!(small_progressive.cpu_ms <= small.cpu_ms);
    assert!(small_elsewhere.cpu_ms > small.cpu_ms);
    assert!(half.cpu_ms > cost(&baseline, "width=2000", jpeg, &p).cpu_ms);
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
    // libaom's fastest all-intra speed is cheaper than WebP's method 4; its slower ones are not.
    let avif6 = Policy { avif_speed: 6, ..p };
    assert!(by("width=400", webp).cpu_ms < cost(&h, "width=400", avif, &avif6).cpu_ms);
    assert!(by("width=400", avif).cpu_ms < by("width=1600", avif).cpu_ms);
    assert!(by("width=400", avif).memory_bytes < by("width=1600", avif).memory_bytes);
    let slow = Policy { avif_speed: 2, ..p };
    assert!(cost(&h, "width=400", avif, &p).cpu_ms < cost(&h, "width=400", avif, &slow).cpu_ms);
}

#[test]
fn fifty_megapixels_of_avif_cost_more_than_a_minute() {
    // The request the review found: w=7000,h=7000,fit=squeeze,format=avif on any original.
    // With rav1e it cost minutes at every speed. libaom's fastest all-intra speed (the edge's
    // default) does it in seconds, under the CPU cap, and its memory estimate (about 2 GB) is
    // what the server's memory budget admits few of at once; the native default (speed 6)
    // needs the whole cap, and slow speeds are far over it.
    let h = header(InputFormat::Jpeg, (800, 600), false);
    let spec = "width=7000,height=7000,fit=squeeze";
    let at = |avif_speed| {
        let p = Policy {
            avif_speed,
            ..Policy::default()
        };
        cost(&h, spec, OutputFormat::Avif, &p)
    };
    let fast = at(9);
    assert_eq!(fast.output_pixels, 49_000_000);
    assert!(fast.cpu_ms < Policy::DEFAULT_MAX_CPU_MS / 4, "{fast:?}");
    assert!(fast.memory_bytes > 1 << 30, "{fast:?}");
    let default = at(Policy::DEFAULT_AVIF_SPEED);
    assert!(default.cpu_ms > 15_000, "{default:?}");
    let slow = at(4);
    assert!(slow.cpu_ms > 60_000, "{slow:?}");
    assert!(slow.cpu_ms > Policy::DEFAULT_MAX_CPU_MS);
}

#[test]
fn json_costs_nothing_but_the_input() {
    let h = header(InputFormat::Jpeg, (8000, 8000), true);
    let c = cost(&h, "width=100", OutputFormat::Json, &Policy::default());
    assert_eq!(c.memory_bytes, 1_000_000);
    assert_eq!(c.decoded_pixels, 0);
}
