//! What `refract optimize` tells the user: a progress bar on a terminal (files done/total,
//! bytes in and out, ETA), one line per failed image on stderr, the dry run's list, and a
//! summary at the end (text, or one JSON object with every image's result for CI).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{DecimalBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Text,
    Quiet,
    Json,
}

/// What became of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Written,
    Skipped,
    Failed,
    WouldWrite,
    WouldSkip,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

/// One output of an image. `file` is relative to OUT_DIR.
#[derive(Debug, Clone, Serialize)]
pub struct OutputResult {
    pub file: String,
    pub format: String,
    pub width: u32,
    /// Unknown before it is made (a dry run).
    pub height: Option<u32>,
    pub bytes: Option<u64>,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// One image's result. `path` is the input's path as found; `manifest` is relative to OUT_DIR.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    pub path: String,
    pub status: Status,
    pub manifest: Option<String>,
    pub bytes_in: u64,
    pub outputs: Vec<OutputResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// Collects results as images finish, and shows them.
#[derive(Debug)]
pub struct Reporter {
    mode: Mode,
    dry_run: bool,
    bar: Option<ProgressBar>,
    results: Mutex<Vec<FileResult>>,
    /// Bytes in and out so far, for the bar.
    bytes: Mutex<(u64, u64)>,
    start: Instant,
}

impl Reporter {
    pub fn new(mode: Mode, dry_run: bool, files: usize) -> Reporter {
        let bar = (mode == Mode::Text && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(files as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} files  {msg}  {elapsed} (ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Reporter {
            mode,
            dry_run,
            bar,
            results: Mutex::new(Vec::new()),
            bytes: Mutex::new((0, 0)),
            start: Instant::now(),
        }
    }

    /// Prints a line above the bar (or plainly without one). Write errors (a closed pipe)
    /// are ignored: the exit status still tells.
    fn line(&self, stderr: bool, text: &str) {
        let print = || {
            let _ = if stderr {
                writeln!(std::io::stderr(), "{text}")
            } else {
                writeln!(std::io::stdout(), "{text}")
            };
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// One image is done (written, skipped, failed, or listed by a dry run).
    pub fn done(&self, result: FileResult) {
        if let Some(e) = &result.error {
            let message = e.message.replace('\n', " ");
            self.line(
                true,
                &format!("error[{}]: {}: {message}", e.code, result.path),
            );
        }
        let t = Totals::of(std::slice::from_ref(&result));
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        results.push(result);
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        *bytes = (bytes.0 + t.bytes_in, bytes.1 + t.bytes_out);
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{} in → {} out",
                DecimalBytes(bytes.0),
                DecimalBytes(bytes.1)
            ));
            bar.inc(1);
        }
    }

    /// Prints the summary; returns how many images failed, and of how many.
    pub fn finish(self) -> (usize, usize) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let mut results =
            std::mem::take(&mut *self.results.lock().unwrap_or_else(|e| e.into_inner()));
        results.sort_by(|a, b| a.path.cmp(&b.path));
        let t = Totals::of(&results);
        let seconds = self.start.elapsed().as_secs_f64();
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => {
                let summary = serde_json::json!({
                    "dry_run": self.dry_run,
                    "files": results.len(),
                    "written": t.files[0],
                    "skipped": t.files[1],
                    "failed": t.files[2],
                    "outputs": {
                        "written": t.outputs[0],
                        "skipped": t.outputs[1],
                        "failed": t.outputs[2],
                    },
                    "bytes_in": t.bytes_in,
                    "bytes_out": t.bytes_out,
                    "seconds": seconds,
                    "results": results,
                });
                self.line(false, &summary.to_string());
            }
            Mode::Text => {
                for o in results
                    .iter()
                    .filter(|_| self.dry_run)
                    .flat_map(|r| &r.outputs)
                {
                    let verb = match o.status {
                        Status::WouldWrite => "would write",
                        _ => "up to date ",
                    };
                    self.line(false, &format!("{verb} {}", o.file));
                }
                let change = if t.bytes_in == 0 {
                    String::new()
                } else {
                    let pct = 100.0 * (1.0 - t.bytes_out as f64 / t.bytes_in as f64);
                    if pct >= 0.0 {
                        format!(" ({pct:.0}% smaller)")
                    } else {
                        format!(" ({:.0}% larger)", -pct)
                    }
                };
                let what = if self.dry_run {
                    "would write"
                } else {
                    "written"
                };
                self.line(false, &format!(
                    "{} images ({} failed) in {seconds:.1} s: {} outputs {what}, {} up to date, {} failed; {} in → {} out{change}",
                    results.len(),
                    t.files[2],
                    t.outputs[0],
                    t.outputs[1],
                    t.outputs[2],
                    DecimalBytes(t.bytes_in),
                    DecimalBytes(t.bytes_out),
                ));
            }
        }
        (t.files[2], results.len())
    }
}

/// Counts over the results so far: [written, skipped, failed] images and outputs (a dry run's
/// would-write and would-skip count as written and skipped), and bytes.
struct Totals {
    files: [usize; 3],
    outputs: [usize; 3],
    bytes_in: u64,
    bytes_out: u64,
}

impl Totals {
    fn of(results: &[FileResult]) -> Totals {
        let slot = |s: Status| match s {
            Status::Written | Status::WouldWrite => 0,
            Status::Skipped | Status::WouldSkip => 1,
            Status::Failed => 2,
        };
        let mut t = Totals {
            files: [0; 3],
            outputs: [0; 3],
            bytes_in: 0,
            bytes_out: 0,
        };
        for r in results {
            t.files[slot(r.status)] += 1;
            t.bytes_in += r.bytes_in;
            for o in &r.outputs {
                t.outputs[slot(o.status)] += 1;
                t.bytes_out += o.bytes.unwrap_or(0);
            }
        }
        t
    }
}
