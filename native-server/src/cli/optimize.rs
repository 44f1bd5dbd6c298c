//! `refract optimize <INPUT>... <OUT_DIR>`: a static site's build step. Every image becomes
//! several widths × formats through the core (no HTTP), in parallel on a shared work queue
//! ([`queue`]), with a manifest per image ([`manifest`]: outputs, placeholder, `<picture>`
//! snippet). Re-runs skip images whose manifest's content hash matches ([`settings`]).
//! docs/optimize.md is the user's documentation.

mod inputs;
mod job;
mod manifest;
mod queue;
mod report;
mod settings;

use std::path::PathBuf;

use crate::cli::Failure;

/// The command's arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 when every image succeeded (or was up to date), 1 when any image failed (each \
failure is one line on stderr, `error[code]: path: message`, and is in --json's results) or \
the arguments are wrong. docs/optimize.md describes the outputs and the manifest.")]
pub(crate) struct OptimizeArgs {
    /// Images, and directories walked recursively for .jpg .jpeg .png .webp .gif .avif .svg.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Where outputs and manifests go; it mirrors the input tree.
    #[arg(required = true, value_name = "OUT_DIR")]
    out_dir: PathBuf,
    /// Output widths in pixels, comma-separated; only those not larger than the image (its own
    /// width when it is smaller than all of them).
    #[arg(long, default_value = "640,750,828,1080,1200,1920")]
    widths: String,
    /// Output formats in order of preference: avif, webp, jpeg (PNG for images with
    /// transparency, GIF for animations), png, gif.
    #[arg(long, default_value = "avif,webp,jpeg")]
    formats: String,
    /// Quality, 1–100 or high, medium-high, medium-low, low (default: 85 on refract's one
    /// perceptual scale).
    #[arg(long)]
    quality: Option<String>,
    /// More options for every output, e.g. 'sharpen=1,metadata=copyright' (not width, height,
    /// dpr or format).
    #[arg(long, default_value = "")]
    spec: String,
    /// Images transformed at once (default: every core).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// The snippet's `sizes` attribute.
    #[arg(long, default_value = "100vw")]
    sizes: String,
    /// Prefix of the snippet's URLs, e.g. https://cdn.example.com/img (default: URLs relative
    /// to the manifest).
    #[arg(long)]
    base_url: Option<String>,
    /// libaom speed for AVIF output, 0 (slow, small) to 9 (fast).
    #[arg(long, default_value_t = refract_core::Policy::DEFAULT_AVIF_SPEED)]
    avif_speed: u8,
    /// List what would be written and what is up to date; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print only errors.
    #[arg(long, short, conflicts_with = "json")]
    quiet: bool,
    /// Print one JSON object: the totals and every image's result.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &OptimizeArgs) -> Result<(), Failure> {
    let settings = settings::Settings::new(
        &args.spec,
        args.quality.as_deref(),
        &args.widths,
        &args.formats,
        args.avif_speed,
    )?;
    let (found, conflicts) = inputs::collect(&args.inputs, &args.out_dir)?;
    let mode = if args.json {
        report::Mode::Json
    } else if args.quiet {
        report::Mode::Quiet
    } else {
        report::Mode::Text
    };
    let reporter = report::Reporter::new(mode, args.dry_run, found.len() + conflicts.len());
    let batch = job::Batch {
        settings: &settings,
        out: &args.out_dir,
        sizes: &args.sizes,
        base_url: args.base_url.as_deref(),
        dry_run: args.dry_run,
        reporter: &reporter,
    };
    for input in &conflicts {
        let e = report::ErrorInfo {
            code: "name_conflict".into(),
            message: format!(
                "another input writes {}",
                input.out_rel(&input.manifest_name())
            ),
        };
        reporter.done(batch.failed(input, 0, Vec::new(), e));
    }
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok().map(Into::into))
        .unwrap_or(1);
    let tasks = found.into_iter().map(job::Task::Probe).collect();
    queue::run(jobs, tasks, |task| batch.run(task));
    match reporter.finish() {
        (0, _) => Ok(()),
        (failed, total) => Err(Failure {
            code: "optimize_failed",
            message: format!("{failed} of {total} images failed"),
        }),
    }
}
