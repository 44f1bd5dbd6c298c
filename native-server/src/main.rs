//! The `refract` command: `serve` (the origin server), `config` (print the effective
//! configuration), `sign` (sign a URL), `transform` (one image), `compare` (similarity of two
//! images) and `bench` (in-process timing).

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use refract_core::{Context, Limits, Spec};

#[derive(Debug, Parser)]
#[command(name = "refract", version, about = "Refract image optimizer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the server's configuration comes from, besides `REFRACT_*` environment variables.
#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// TOML configuration file (also `REFRACT_CONFIG`).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Address of the image listener, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// Address of the admin listener (/health, /ready, /metrics).
    #[arg(long)]
    admin_listen: Option<String>,
    /// Originals: a directory, file:///dir, s3://bucket/prefix, gs://bucket/prefix or
    /// az://container/prefix.
    #[arg(long)]
    originals: Option<String>,
    /// Bearer token that enables PUT and DELETE of originals.
    #[arg(long)]
    upload_token: Option<String>,
}

impl ConfigArgs {
    fn load(&self) -> Result<refract_server::config::Config, Failure> {
        let file = self
            .config
            .clone()
            .or_else(|| std::env::var_os("REFRACT_CONFIG").map(Into::into));
        let mut flags = Vec::new();
        for (key, value) in [
            ("listen", &self.listen),
            ("admin_listen", &self.admin_listen),
            ("originals", &self.originals),
            ("upload.token", &self.upload_token),
        ] {
            if let Some(v) = value {
                flags.push((key, v.clone()));
            }
        }
        refract_server::config::Config::load(file.as_deref(), std::env::vars(), &flags).map_err(
            |e| Failure {
                code: "bad_config",
                message: e.to_string(),
            },
        )
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve images over HTTP from the originals' store (defaults: samples/ on 127.0.0.1:8080).
    Serve(ConfigArgs),
    /// Print the effective configuration (defaults, file, environment and flags merged) as TOML.
    Config(ConfigArgs),
    /// The metadata store: `reindex` rebuilds it from the stores.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Lifecycle policies: `plan` (a dry run) and `run` (one sweep).
    #[command(subcommand)]
    Lifecycle(LifecycleCommand),
    /// Append the signature to a transform URL, using the first configured signing key.
    Sign {
        /// e.g. https://img.example.com/photos/cat.jpg?width=400&format=auto
        url: String,
        #[command(flatten)]
        args: ConfigArgs,
    },
    /// Transform one image: `refract transform in.jpg out.webp 'width=800,format=webp'`.
    Transform {
        /// Input file, or `-` for standard input.
        input: String,
        /// Output file, or `-` for standard output.
        output: String,
        /// Options in query form (`w=800&q=75`) or Cloudflare's form (`w=800,q=75`).
        spec: String,
        /// `Accept` header value used by `format=auto`.
        #[arg(long)]
        accept: Option<String>,
        /// rav1e speed for AVIF output, 1 (slow, small) to 10 (fast).
        #[arg(long, default_value_t = 6)]
        avif_speed: u8,
        /// Print the chosen format, size and timings to standard error.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Print the similarity (SSIM, PSNR) of two images of the same size.
    Compare { a: String, b: String },
    /// Run one transform repeatedly in this process and print the mean CPU and median wall
    /// time per image (CPU from /proc, Linux only). Used by bench/run.sh.
    Bench {
        input: String,
        spec: String,
        /// Timed iterations after one warm-up run.
        #[arg(long, default_value_t = 10)]
        iterations: u32,
        #[arg(long, default_value_t = 6)]
        avif_speed: u8,
    },
}

#[derive(Debug, Subcommand)]
enum StorageCommand {
    /// Rebuild the metadata store from the originals' store and the warm and cold tiers.
    Reindex(ConfigArgs),
}

#[derive(Debug, Subcommand)]
enum LifecycleCommand {
    /// Print what a sweep would do now, without doing it.
    Plan {
        #[command(flatten)]
        sweep: SweepArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run one sweep: finish half-done moves, then apply the policy to every object once.
    Run {
        #[command(flatten)]
        sweep: SweepArgs,
    },
}

#[derive(Debug, clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    args: ConfigArgs,
    /// Policy file (default: lifecycle.policy from the configuration).
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    /// The time to evaluate rules at: Unix ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).
    #[arg(long)]
    now: Option<String>,
}

/// A failure reported as one line: `error[code]: message`.
struct Failure {
    code: &'static str,
    message: String,
}

impl From<refract_core::Error> for Failure {
    fn from(e: refract_core::Error) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

fn io_failure(what: &str, path: &str, e: std::io::Error) -> Failure {
    Failure {
        code: "io_error",
        message: format!("cannot {what} {path}: {e}"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Config(args) => args.load().map(|c| print!("{}", c.to_toml_redacted())),
        Command::Lifecycle(cmd) => lifecycle(cmd),
        Command::Storage(StorageCommand::Reindex(args)) => reindex(&args),
        Command::Sign { url, args } => args.load().and_then(|c| {
            let signed = refract_server::sign::sign_url(&c, &url).map_err(|message| Failure {
                code: "cannot_sign",
                message,
            })?;
            println!("{signed}");
            Ok(())
        }),
        Command::Transform {
            input,
            output,
            spec,
            accept,
            avif_speed,
            verbose,
        } => transform(
            &input,
            &output,
            &spec,
            accept.as_deref(),
            avif_speed,
            verbose,
        ),
        Command::Compare { a, b } => compare(&a, &b),
        Command::Bench {
            input,
            spec,
            iterations,
            avif_speed,
        } => bench(&input, &spec, iterations, avif_speed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error[{}]: {}", f.code, f.message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn reindex(args: &ConfigArgs) -> Result<(), Failure> {
    let config = args.load()?;
    init_logging(&config)?;
    let fail = |message: String| Failure {
        code: "reindex",
        message,
    };
    let runtime = runtime()?;
    runtime.block_on(async {
        let originals = refract_server::storage::Originals::from_config(&config).map_err(fail)?;
        let tiers =
            refract_server::tiers::Tiers::open(&config, refract_server::clock::Clock::System)
                .await
                .map_err(fail)?;
        let report = refract_server::reindex::reindex(&originals, &tiers)
            .await
            .map_err(fail)?;
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| fail(e.to_string()))?
        );
        Ok(())
    })
}

fn lifecycle(cmd: LifecycleCommand) -> Result<(), Failure> {
    let (sweep, json) = match &cmd {
        LifecycleCommand::Plan { sweep, json } => (sweep, *json),
        LifecycleCommand::Run { sweep } => (sweep, false),
    };
    let config = sweep.args.load()?;
    init_logging(&config)?;
    let fail = |message: String| Failure {
        code: "lifecycle",
        message,
    };
    let clock = match &sweep.now {
        Some(t) => refract_server::clock::Clock::manual(
            refract_server::lifecycle::parse_time(t).map_err(fail)?,
        ),
        None => refract_server::clock::Clock::System,
    };
    let runtime = runtime()?;
    runtime.block_on(async {
        let lc = refract_server::lifecycle::open(&config, sweep.policy.as_deref(), clock.clone())
            .await
            .map_err(fail)?;
        match cmd {
            LifecycleCommand::Plan { .. } => {
                let (scanned, plans) = lc.plan(clock.now_ms()).await.map_err(fail)?;
                if json {
                    let out = serde_json::json!({ "now_ms": clock.now_ms(), "scanned": scanned, "actions": plans });
                    println!("{out}");
                } else {
                    print!("{}", refract_server::lifecycle::plan::render_table(&plans));
                    println!("{scanned} objects scanned");
                }
            }
            LifecycleCommand::Run { .. } => {
                let report = lc.run_once().await.map_err(fail)?;
                lc.tiers.settle().await;
                println!("{}", serde_json::to_string(&report).map_err(|e| fail(e.to_string()))?);
            }
        }
        Ok(())
    })
}

/// The async runtime of the server and of the storage commands.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: "runtime",
            message: e.to_string(),
        })
}

/// Logs to stderr, filtered by the `log` key.
fn init_logging(config: &refract_server::config::Config) -> Result<(), Failure> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log).map_err(|e| Failure {
        code: "bad_config",
        message: format!("log filter {:?}: {e}", config.log),
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

fn serve(args: &ConfigArgs) -> Result<(), Failure> {
    let config = args.load()?;
    init_logging(&config)?;
    let runtime = runtime()?;
    runtime
        .block_on(refract_server::serve::run(config))
        .map_err(|message| Failure {
            code: "serve_failed",
            message,
        })
}

/// The CLI's transform context: default limits, a clock for timings, the chosen AVIF speed.
fn context(accept: Option<&str>, avif_speed: u8) -> Context<'_> {
    let mut ctx = Context {
        accept,
        clock: Some(refract_server::clock::monotonic_ms),
        ..Context::default()
    };
    ctx.policy.avif_speed = avif_speed;
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

fn transform(
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

fn compare(a: &str, b: &str) -> Result<(), Failure> {
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

fn bench(input: &str, spec: &str, iterations: u32, avif_speed: u8) -> Result<(), Failure> {
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
        let t = refract_server::clock::monotonic_ms();
        refract_core::transform(&bytes, &spec, &ctx)?;
        wall.push(refract_server::clock::monotonic_ms() - t);
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
