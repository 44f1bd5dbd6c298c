//! Times one progressive JPEG decode at a reduced scale, Refract's own decoder against
//! jpeg-decoder, and reports the process's peak RSS (BENCHMARKS.md, "Progressive JPEG at
//! reduced scale (issue 13)").
//!
//!     progressive_decode <new|old> <shrink> <runs> <file.jpg>
//!
//! - `new`: `refract_core::decode::decode`, which sends a progressive file shrunk on load to
//!   `decode/progressive` (it also prints what that decoder's accounting says it allocates).
//! - `old`: jpeg-decoder alone with its scaled IDCT, as the core decoded these files before.
//!
//! One warm-up, then `runs` timed runs. Prints one tab-separated line: mode, file, shrink,
//! output size, median ms, fastest ms, peak RSS (VmHWM) MiB, RSS before the first run MiB,
//! the accounted peak MiB (new only). Run one measurement per process, so that the peak RSS is
//! that measurement's own.

use std::io::Cursor;
use std::time::Instant;

use refract_core::decode::{decode, probe, progressive};
use refract_core::Limits;

fn vm_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn old(bytes: &[u8], shrink: u32) -> (u32, u32) {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().expect("header");
    let info = d.info().expect("info");
    let (w, h) = (
        u32::from(info.width).div_ceil(shrink),
        u32::from(info.height).div_ceil(shrink),
    );
    let (w, h) = d.scale(w as u16, h as u16).expect("scale");
    std::hint::black_box(d.decode().expect("decode"));
    (u32::from(w), u32::from(h))
}

fn new(bytes: &[u8], shrink: u32) -> (u32, u32) {
    let limits = Limits::default();
    let header = probe(bytes, &limits).expect("probe");
    let d = decode(bytes, &header, shrink, &limits).expect("decode");
    (d.image.width(), d.image.height())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: progressive_decode <new|old> <shrink> <runs> <file.jpg>";
    let [mode, shrink, runs, file] = args.as_slice() else {
        panic!("{usage}");
    };
    let shrink: u32 = shrink.parse().expect(usage);
    let runs: usize = runs.parse().expect(usage);
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let run = |b: &[u8]| match mode.as_str() {
        "new" => new(b, shrink),
        "old" => old(b, shrink),
        _ => panic!("{usage}"),
    };
    let before = vm_mib("VmRSS:");
    let size = run(&bytes);
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(run(&bytes));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let accounted = match mode.as_str() {
        "new" => progressive::allocation(&bytes, shrink)
            .ok()
            .flatten()
            .map_or("-".to_owned(), |a| {
                format!("{:.1}", a.peak() as f64 / 1048576.0)
            }),
        _ => "-".to_owned(),
    };
    let name = std::path::Path::new(file)
        .file_name()
        .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
    println!(
        "{mode}\t{name}\t1/{shrink}\t{}x{}\t{:.1}\t{:.1}\t{:.1}\t{before:.1}\t{accounted}",
        size.0,
        size.1,
        times.get(runs / 2).copied().unwrap_or(f64::NAN),
        times.first().copied().unwrap_or(f64::NAN),
        vm_mib("VmHWM:"),
    );
}
