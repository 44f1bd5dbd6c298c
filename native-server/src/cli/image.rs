//! `refract transform`, `compare` and `bench`: the core on files, no server.

use std::io::{Read, Write};

use refract_core::{Context, Limits, Spec};

use super::{io_failure, Failure};

/// The CLI's transform context: default limits, a clock for timings, the chosen AVIF speed,
/// and no CPU cap: the CLI works on the user's own files, for as long as they ask.
fn context(accept: Option<&str>, avif_speed: u8) -> Context<'_> {
    let mut ctx = Context {
        accept,
        clock: Some(crate::runtime::clock::monotonic_ms),
        ..Context::default()
    };
    ctx.policy.avif_speed = avif_speed;
    ctx.policy.max_cpu_ms = u64::MAX;
    ctx
}

/// Reads at most one byte more than the default input limit, so an endless stdin cannot
/// exhaust memory (the core then refuses the input as too large).
fn read_input(path: &str) -> Result<Vec<u8>, Failure> {
    let limit = Limits::default().max_input_bytes;
    let mut buf = Vec::new();
    let res = if path == "-" {
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
    };
    res.map_err(|e| io_failure("read", path, e))?;
    Ok(buf)
}

pub(super) fn transform(
    input: &str,
    output: &str,
    spec: &str,
    accept: Option<&str>,
    avif_speed: u8,
    verbose: bool,
) -> Result<(), Failure> {
    let spec = Spec::parse(spec)?;
    let bytes = read_input(input)?;
    let ctx = context(accept, avif_speed);
    let out = refract_core::transform(&bytes, &spec, &ctx)?;
    if output == "-" {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&out.bytes)
            .and_then(|()| stdout.flush())
            .map_err(|e| io_failure("write", output, e))?;
    } else {
        std::fs::write(output, &out.bytes).map_err(|e| io_failure("write", output, e))?;
    }
    if verbose {
        eprintln!(
            "{} {}x{} {} bytes (input {} {}x{}, shrink 1/{}, icc {}) decode {:.1} ms, resize {:.1} ms, encode {:.1} ms",
            out.format.name(),
            out.width,
            out.height,
            out.bytes.len(),
            out.input_format.name(),
            out.input_width,
            out.input_height,
            out.shrink,
            out.icc.as_str(),
            out.timings.decode_ms,
            out.timings.resize_ms,
            out.timings.encode_ms,
        );
    }
    Ok(())
}

pub(super) fn compare(a: &str, b: &str) -> Result<(), Failure> {
    let load = |p: &str| -> Result<_, Failure> {
        let bytes = read_input(p)?;
        Ok(refract_core::decode_upright(&bytes)?)
    };
    let (ia, ib) = (load(a)?, load(b)?);
    let s = refract_core::similarity::compare(&ia, &ib).ok_or_else(|| Failure {
        code: "size_mismatch",
        message: format!(
            "images differ in size: {}x{} and {}x{}",
            ia.width(),
            ia.height(),
            ib.width(),
            ib.height()
        ),
    })?;
    println!("ssim {:.5} psnr {:.2}", s.ssim, s.psnr);
    Ok(())
}

/// User + system CPU time of this process in milliseconds, from /proc/self/stat (clock ticks
/// of 10 ms: the median over many iterations is what is meaningful).
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

pub(super) fn bench(
    input: &str,
    spec: &str,
    iterations: u32,
    avif_speed: u8,
) -> Result<(), Failure> {
    let spec = Spec::parse(spec)?;
    let bytes = read_input(input)?;
    let ctx = context(None, avif_speed);
    let first = refract_core::transform(&bytes, &spec, &ctx)?;
    let cpu0 = process_cpu_ms().ok_or_else(|| Failure {
        code: "io_error",
        message: "cannot read /proc/self/stat".into(),
    })?;
    let mut wall = Vec::new();
    for _ in 0..iterations.max(1) {
        let t = crate::runtime::clock::monotonic_ms();
        refract_core::transform(&bytes, &spec, &ctx)?;
        wall.push(crate::runtime::clock::monotonic_ms() - t);
    }
    let cpu = (process_cpu_ms().unwrap_or(cpu0) - cpu0) / f64::from(iterations.max(1));
    wall.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "format": first.format.name(),
        "width": first.width,
        "height": first.height,
        "bytes": first.bytes.len(),
        "cpu_ms": cpu,
        "wall_ms_median": wall[wall.len() / 2],
        "iterations": iterations.max(1),
    });
    println!("{report}");
    Ok(())
}
