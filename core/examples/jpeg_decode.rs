//! Times one JPEG decode (or one whole transform) in this process and reports the process's
//! peak RSS, for `bench/jpeg-decode.sh` (BENCHMARKS.md, "Native JPEG decoding (issue 13)").
//!
//!     jpeg_decode decode <auto|turbo|jpeg-decoder> <shrink> <runs> <file.jpg>
//!     jpeg_decode transform <spec> <runs> <file.jpg>
//!
//! - `auto`: `refract_core::decode::decode`, the dispatch a transform uses in this build.
//! - `turbo`: libjpeg-turbo whatever the file (builds with the `turbojpeg` feature only).
//! - `jpeg-decoder`: the jpeg-decoder crate alone, with its scaled IDCT.
//! - `transform`: `refract_core::transform` with `spec` (e.g. `width=800,format=webp`).
//!
//! One warm-up, then `runs` timed runs. Prints one tab-separated line: what, file, shrink,
//! output size, median and fastest CPU ms of the thread (`CLOCK_THREAD_CPUTIME_ID`: time spent
//! descheduled on a busy machine does not count), median wall ms, peak RSS (VmHWM) MiB, RSS
//! before the first run MiB. Run one measurement per process, so that the peak is that
//! measurement's own. Linux only (the clock and /proc/self/status).
// The one C call below (clock_gettime) is the only unsafe code; its safety comment proves it.
#![allow(unsafe_code)]

use std::io::Cursor;
use std::time::Instant;

use refract_core::decode::{decode, probe};
use refract_core::{transform, Context, Limits, Policy, Spec};

fn vm_kib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

#[cfg(target_os = "linux")]
#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

#[cfg(target_os = "linux")]
extern "C" {
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
}

/// Linux's CLOCK_THREAD_CPUTIME_ID.
#[cfg(target_os = "linux")]
const THREAD_CPUTIME: i32 = 3;

/// Elsewhere (the wasm32-wasip1 test build compiles the examples too): no CPU clock.
#[cfg(not(target_os = "linux"))]
fn cpu_ms() -> f64 {
    f64::NAN
}

/// CPU time this thread has run, in milliseconds (up to date at the call, unlike the
/// tick-driven figures in /proc).
#[cfg(target_os = "linux")]
fn cpu_ms() -> f64 {
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one `struct timespec` (two 64-bit fields on 64-bit Linux,
    // which `Timespec` mirrors with repr(C)) to the valid, exclusive pointer it is given.
    let ok = unsafe { clock_gettime(THREAD_CPUTIME, &mut t) } == 0;
    if ok {
        t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
    } else {
        f64::NAN
    }
}

/// Decodes with jpeg-decoder alone at 1/`shrink`; returns the output size.
fn jpeg_decoder(bytes: &[u8], shrink: u32) -> (u32, u32) {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().expect("header");
    let info = d.info().expect("info");
    if shrink > 1 {
        let (w, h) = (
            u32::from(info.width).div_ceil(shrink),
            u32::from(info.height).div_ceil(shrink),
        );
        d.scale(w as u16, h as u16).expect("scale");
    }
    let pixels = d.decode().expect("decode");
    std::hint::black_box(&pixels);
    let info = d.info().expect("info");
    (u32::from(info.width), u32::from(info.height))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: jpeg_decode decode <auto|turbo|jpeg-decoder> <shrink> <runs> <file> \
                 | transform <spec> <runs> <file>";
    let (what, shrink, spec, runs, file) = match args.as_slice() {
        [m, d, s, r, f] if m == "decode" => (d.clone(), s.parse::<u32>().expect(usage), None, r, f),
        [m, s, r, f] if m == "transform" => ("transform".to_owned(), 0, Some(s.clone()), r, f),
        _ => panic!("{usage}"),
    };
    let runs: usize = runs.parse().expect(usage);
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let limits = Limits::default();
    let header = probe(&bytes, &limits).expect("probe");
    let ctx = Context {
        policy: Policy {
            max_cpu_ms: u64::MAX,
            ..Policy::default()
        },
        ..Context::default()
    };
    let spec = spec.map(|s| Spec::parse(&s).expect("spec"));
    let once = || -> (u32, u32) {
        match (what.as_str(), &spec) {
            ("transform", Some(spec)) => {
                let out = transform(&bytes, spec, &ctx).expect("transform");
                (out.width, out.height)
            }
            ("auto", _) => {
                let d = decode(&bytes, &header, shrink, &limits).expect("decode");
                (d.image.width(), d.image.height())
            }
            #[cfg(feature = "turbojpeg")]
            ("turbo", _) => {
                let (img, _, _) =
                    refract_core::decode::turbo::decode(&bytes, &header, shrink, &limits)
                        .expect("decode")
                        .expect("libjpeg-turbo handed the file back");
                (img.width(), img.height())
            }
            ("jpeg-decoder", _) => jpeg_decoder(&bytes, shrink),
            _ => panic!("{usage} (`turbo` needs the turbojpeg feature)"),
        }
    };
    let before = vm_kib("VmRSS:");
    let size = once();
    let (mut cpu, mut wall): (Vec<f64>, Vec<f64>) = (0..runs.max(1))
        .map(|_| {
            let (c, t) = (cpu_ms(), Instant::now());
            std::hint::black_box(once());
            (cpu_ms() - c, t.elapsed().as_secs_f64() * 1000.0)
        })
        .unzip();
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    let name = std::path::Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!(
        "{what}\t{name}\t{}\t{}x{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
        spec.map(|s| s.to_string())
            .unwrap_or_else(|| format!("1/{shrink}")),
        size.0,
        size.1,
        cpu[cpu.len() / 2],
        cpu[0],
        wall[wall.len() / 2],
        vm_kib("VmHWM:") / 1024.0,
        before / 1024.0
    );
}
