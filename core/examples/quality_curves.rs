//! Measures what `quality=` means in JPEG, WebP and AVIF, and derives the mapping in
//! `refract_core::quality` (issue 13).
//!
//!     cargo run --release -p refract-core --example quality_curves -- [--scale S] [--csv FILE]
//!         [--images a.jpg,b.png] [--formats jpeg,webp,avif,avif444] [--qualities 80,85,90]
//!         [--step 5] [--avif-speed 6]
//!
//! Each image is resized to 800 px wide (3/4 of its width if narrower) by the core's pipeline
//! (lossless PNG), encoded, decoded by a standard decoder and scored with SSIMULACRA2 against
//! the resized image (tests/metric/mod.rs has the details; AVIF needs `avifdec` from
//! tests/install-tools.sh).
//! `avif444` (native scale only, not by default) is AVIF with full-resolution chroma at every
//! quality, to compare with the core's 4:2:0 for photos.
//!
//! - `--scale native` (the calibration): the reference pixels go to the core's encoders at
//!   each encoder's *own* quality (`encode_native`: jpeg-encoder, libwebp, libavif's scale),
//!   0–100. From the photos' mean curves it prints the mapping: for Refract's quality q, the
//!   WebP and AVIF encoder qualities whose mean score equals JPEG's at q.
//! - `--scale refract` (the check): `refract_core::transform` with `width=800,format=F,
//!   quality=q` end to end, 20–100: what a request gets, mapping included.
//! - `--scale both` (the default) runs both.
//! - `--from-csv FILE` reads the rows of an earlier `--csv` run instead of measuring.
//!
//! Prints Markdown to stdout (mean score and bytes per quality and format, photos and graphics
//! apart) and, with `--csv`, one row per (image, format, quality) to the file. The encoders run
//! at the default efforts (`Policy::default()`: WebP method 4, AVIF speed 9) unless
//! `--avif-speed` says otherwise; single-threaded.

#[path = "../tests/metric/mod.rs"]
mod metric;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use refract_core::encode::encode_native;
use refract_core::{Context, OutputFormat, Policy, Spec};

/// Every photo sample but `progressive.jpg`, which decodes to `baseline.jpg`'s pixels.
const PHOTOS: &[&str] = &[
    "baseline.jpg",
    "bird-20mp.jpg",
    "bridge-10mp.jpg",
    "cat-small.jpg",
    "cmyk.jpg",
    "grayscale.jpg",
    "icc-adobergb.jpg",
    "icc-p3.jpg",
    "orientation-6.jpg",
];
/// Graphics (lossless sources; AVIF gets 4:4:4 for them) and the 16-bit PNG photo.
const GRAPHICS: &[&str] = &["palette.png", "logo-alpha.png", "photo-16bit.png"];

/// `(name, format, full chroma for AVIF whatever the source)`.
const FORMATS: [(&str, OutputFormat, bool); 4] = [
    ("jpeg", OutputFormat::Jpeg { progressive: false }, false),
    ("webp", OutputFormat::Webp { lossless: false }, false),
    ("avif", OutputFormat::Avif, false),
    ("avif444", OutputFormat::Avif, true),
];

#[derive(Debug, Clone)]
struct Row {
    image: String,
    graphic: bool,
    format: &'static str,
    scale: &'static str,
    quality: u8,
    bytes: usize,
    score: f64,
}

#[derive(Debug)]
struct Args {
    scales: Vec<&'static str>,
    csv: Option<String>,
    images: Vec<String>,
    formats: Vec<String>,
    qualities: Option<Vec<u8>>,
    from_csv: Option<String>,
    step: u8,
    policy: Policy,
}

fn args() -> Args {
    let mut out = Args {
        scales: vec!["native", "refract"],
        csv: None,
        images: PHOTOS
            .iter()
            .chain(GRAPHICS)
            .map(|s| s.to_string())
            .collect(),
        formats: ["jpeg", "webp", "avif"].map(str::to_owned).to_vec(),
        qualities: None,
        from_csv: None,
        step: 5,
        policy: Policy::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--scale" => {
                out.scales = match val().as_str() {
                    "native" => vec!["native"],
                    "refract" => vec!["refract"],
                    "both" => vec!["native", "refract"],
                    other => panic!("--scale native|refract|both, not {other}"),
                }
            }
            "--csv" => out.csv = Some(val()),
            "--from-csv" => out.from_csv = Some(val()),
            "--images" => out.images = val().split(',').map(str::to_owned).collect(),
            "--formats" => out.formats = val().split(',').map(str::to_owned).collect(),
            "--qualities" => {
                out.qualities = Some(
                    val()
                        .split(',')
                        .map(|q| q.parse().expect("--qualities 80,85,90"))
                        .collect(),
                )
            }
            "--step" => out.step = val().parse().expect("--step N"),
            "--avif-speed" => out.policy.avif_speed = val().parse().expect("--avif-speed N"),
            other => panic!("unknown argument {other}"),
        }
    }
    out
}

/// Encodes, decodes and scores every (image, scale, format, quality) the arguments name.
fn measure(args: &Args) -> Vec<Row> {
    let mut rows = Vec::new();
    for name in &args.images {
        let reference = metric::reference(name);
        eprintln!(
            "{name}: {}×{}{}",
            reference.image.width(),
            reference.image.height(),
            if reference.graphic { " (graphic)" } else { "" }
        );
        for scale in &args.scales {
            for (fname, format, full_chroma) in FORMATS {
                if !args.formats.iter().any(|f| f == fname) || (full_chroma && *scale != "native") {
                    continue;
                }
                let lowest = if *scale == "native" { 0 } else { 20 };
                let qualities = args
                    .qualities
                    .clone()
                    .unwrap_or_else(|| (lowest..=100).step_by(usize::from(args.step)).collect());
                for q in qualities {
                    let bytes = match *scale {
                        "native" => encode_native(
                            &metric::encoder_input(&reference, format),
                            format,
                            f32::from(q),
                            &args.policy,
                            None,
                            reference.graphic || full_chroma,
                        )
                        .expect("encode"),
                        _ => through_transform(&reference, fname, q, &args.policy),
                    };
                    let score = metric::score(&reference, &metric::decode(format, &bytes));
                    rows.push(Row {
                        image: name.clone(),
                        graphic: reference.graphic,
                        format: fname,
                        scale,
                        quality: q,
                        bytes: bytes.len(),
                        score,
                    });
                }
            }
        }
    }
    rows
}

/// Reads the rows a previous run wrote with `--csv`.
fn read_csv(path: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(path).expect("read the CSV");
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 7, "{line}");
            Row {
                image: f[0].to_owned(),
                graphic: f[1] == "true",
                format: FORMATS
                    .iter()
                    .map(|x| x.0)
                    .find(|x| *x == f[2])
                    .expect("a known format"),
                scale: if f[3] == "native" {
                    "native"
                } else {
                    "refract"
                },
                quality: f[4].parse().expect("quality"),
                bytes: f[5].parse().expect("bytes"),
                score: f[6].parse().expect("score"),
            }
        })
        .collect()
}

fn main() {
    let args = args();
    let rows = match &args.from_csv {
        Some(path) => read_csv(path),
        None => {
            println!(
                "WebP method {}, AVIF speed {}",
                args.policy.webp_method, args.policy.avif_speed
            );
            measure(&args)
        }
    };
    if let Some(path) = &args.csv {
        let mut csv = String::from("image,graphic,format,scale,quality,bytes,ssimulacra2\n");
        for r in &rows {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{:.3}",
                r.image, r.graphic, r.format, r.scale, r.quality, r.bytes, r.score
            );
        }
        std::fs::write(path, csv).expect("write the CSV");
    }
    for scale in ["native", "refract"] {
        for graphic in [false, true] {
            summary(&rows, scale, graphic);
        }
    }
    mapping(&rows);
}

/// What a request for `format`, `quality=q` at the reference's width gets from the core, end
/// to end.
fn through_transform(
    reference: &metric::Reference,
    format: &str,
    q: u8,
    policy: &Policy,
) -> Vec<u8> {
    let input = metric::sample(&reference.name);
    let spec = Spec::parse(&format!(
        "width={},format={format},quality={q}",
        reference.width
    ))
    .expect("spec");
    let ctx = Context {
        policy: *policy,
        ..Context::default()
    };
    refract_core::transform(&input, &spec, &ctx)
        .expect("transform")
        .bytes
}

/// Mean score and mean bytes per (format, quality) over photos or graphics.
fn means(rows: &[Row], scale: &str, graphic: bool) -> BTreeMap<(&'static str, u8), (f64, f64)> {
    let mut acc: BTreeMap<(&'static str, u8), (f64, f64, u32)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.scale == scale && r.graphic == graphic)
    {
        let e = acc.entry((r.format, r.quality)).or_default();
        e.0 += r.score;
        e.1 += r.bytes as f64;
        e.2 += 1;
    }
    acc.into_iter()
        .map(|(k, (s, b, n))| (k, (s / f64::from(n), b / f64::from(n))))
        .collect()
}

fn summary(rows: &[Row], scale: &str, graphic: bool) {
    use std::collections::BTreeSet;
    let m = means(rows, scale, graphic);
    if m.is_empty() {
        return;
    }
    let images: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.scale == scale && r.graphic == graphic)
        .map(|r| r.image.as_str())
        .collect();
    println!(
        "\n{} scale, {} ({}): mean SSIMULACRA2 and mean bytes\n",
        scale,
        if graphic { "graphics" } else { "photos" },
        images.into_iter().collect::<Vec<_>>().join(", ")
    );
    let formats: Vec<&str> = FORMATS
        .iter()
        .map(|f| f.0)
        .filter(|f| m.keys().any(|k| k.0 == *f))
        .collect();
    let (mut head, mut rule) = (String::from("| quality |"), String::from("|---:|"));
    for what in ["score", "bytes"] {
        for f in &formats {
            let _ = write!(head, " {f} {what} |");
            rule.push_str("---:|");
        }
    }
    println!("{head}\n{rule}");
    let qualities: BTreeSet<u8> = m.keys().map(|k| k.1).collect();
    for q in qualities {
        let get = |f: &str| m.get(&(f, q)).copied().unwrap_or((f64::NAN, f64::NAN));
        let mut line = format!("| {q} |");
        for f in &formats {
            let _ = write!(line, " {:.1} |", get(f).0);
        }
        for f in &formats {
            let _ = write!(line, " {:.0} |", get(f).1);
        }
        println!("{line}");
    }
}

/// The encoder quality of `format` whose mean photo score is `target`, interpolated on the
/// native curve made monotonic (its running maximum); clamped to the measured range.
fn inverse(curve: &[(u8, f64)], target: f64) -> f64 {
    let mut best = f64::NEG_INFINITY;
    let mono: Vec<(f64, f64)> = curve
        .iter()
        .map(|&(q, s)| {
            best = best.max(s);
            (f64::from(q), best)
        })
        .collect();
    if target <= mono[0].1 {
        return mono[0].0;
    }
    for w in mono.windows(2) {
        let ((q0, s0), (q1, s1)) = (w[0], w[1]);
        if target <= s1 && s1 > s0 {
            return q0 + (target - s0) / (s1 - s0) * (q1 - q0);
        }
    }
    mono[mono.len() - 1].0
}

/// Prints the mapping derived from the photos' native curves: Refract quality q (JPEG's
/// scale) → the WebP and AVIF encoder qualities with JPEG's mean score at q.
fn mapping(rows: &[Row]) {
    let m = means(rows, "native", false);
    let curve = |f: &str| -> Vec<(u8, f64)> {
        m.iter()
            .filter(|(k, _)| k.0 == f)
            .map(|(k, v)| (k.1, v.0))
            .collect()
    };
    let (jpeg, webp, avif, avif444) = (
        curve("jpeg"),
        curve("webp"),
        curve("avif"),
        curve("avif444"),
    );
    if jpeg.is_empty() || webp.is_empty() || avif.is_empty() {
        return;
    }
    println!(
        "\nMapping from the photos' mean native curves (JPEG is the reference; AVIF from \
         quality 90 on {} curve):\n",
        if avif444.is_empty() {
            "its own"
        } else {
            "the 4:4:4"
        }
    );
    println!("| quality | JPEG score | WebP encoder quality | AVIF encoder quality (cq-level) |");
    println!("|---:|---:|---:|---:|");
    let mut table = (String::new(), String::new());
    for &(q, s) in jpeg.iter().filter(|(q, _)| *q >= 20) {
        // From 90, JPEG and AVIF both keep full-resolution chroma.
        let a = if q >= 90 && !avif444.is_empty() {
            inverse(&avif444, s)
        } else {
            inverse(&avif, s)
        };
        let w = inverse(&webp, s);
        let cq = ((100.0 - a.round()) * 63.0 + 50.0) / 100.0;
        println!("| {q} | {s:.1} | {w:.1} | {a:.1} ({}) |", cq.floor());
        let _ = write!(table.0, "({q}, {w:.1}), ");
        let _ = write!(table.1, "({q}, {a:.1}), ");
    }
    println!(
        "\nconst WEBP: &[(u8, f32)] = &[{}];",
        table.0.trim_end_matches(", ")
    );
    println!(
        "const AVIF: &[(u8, f32)] = &[{}];",
        table.1.trim_end_matches(", ")
    );
}
