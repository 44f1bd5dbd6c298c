//! The `refract` command: its arguments, and a dispatch to one file per command group:
//! [`serve`] (`serve`, `config`, `sign`), [`storage`] (`lifecycle plan|run`, `storage reindex`),
//! [`image`] (`transform`, `compare`, `bench`) and [`optimize`]. Every failure is one line on
//! stderr, `error[code]: message`, and exit status 1.

mod image;
mod optimize;
mod serve;
pub mod sign;
mod storage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "refract", version, about = "Refract image optimizer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the server's configuration comes from, besides `REFRACT_*` environment variables.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
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
    pub(crate) fn load(&self) -> Result<crate::config::Config, Failure> {
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
        crate::config::Config::load(file.as_deref(), std::env::vars(), &flags).map_err(|e| {
            Failure {
                code: "bad_config",
                message: e.to_string(),
            }
        })
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
        /// e.g. https://img.example.com/photos/cat.jpg?width=400&format=auto (without options:
        /// the original, for `signing.originals = "signed"`)
        url: String,
        /// Make the URL expire this many seconds from now (`expires=`, covered by the signature).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
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
        /// libaom speed for AVIF output, 0 (slow, small) to 9 (fast).
        #[arg(long, default_value_t = refract_core::Policy::DEFAULT_AVIF_SPEED)]
        avif_speed: u8,
        /// Print the chosen format, size and timings to standard error.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Optimize images for a static site: several widths × formats per image, a manifest with a
    /// `<picture>` snippet each, skipping what is up to date.
    Optimize(optimize::OptimizeArgs),
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
        #[arg(long, default_value_t = refract_core::Policy::DEFAULT_AVIF_SPEED)]
        avif_speed: u8,
    },
}

#[derive(Debug, Subcommand)]
enum StorageCommand {
    /// Rebuild the metadata store from the originals' store and the warm and cold tiers.
    Reindex(ConfigArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum LifecycleCommand {
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
pub(crate) struct SweepArgs {
    #[command(flatten)]
    pub args: ConfigArgs,
    /// Policy file (default: lifecycle.policy from the configuration).
    #[arg(long)]
    pub policy: Option<std::path::PathBuf>,
    /// The time to evaluate rules at: Unix ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).
    #[arg(long)]
    pub now: Option<String>,
    /// Let `run` apply a policy at a `--now` in the future: its expirations and moves are real.
    #[arg(long)]
    pub allow_future_now: bool,
}

/// A failure reported as one line: `error[code]: message`.
pub(crate) struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl From<refract_core::Error> for Failure {
    fn from(e: refract_core::Error) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

pub(crate) fn io_failure(what: &str, path: &str, e: std::io::Error) -> Failure {
    Failure {
        code: "io_error",
        message: format!("cannot {what} {path}: {e}"),
    }
}

/// Runs the command line; `main.rs` calls only this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(&args),
        Command::Config(args) => args.load().map(|c| print!("{}", c.to_toml_redacted())),
        Command::Lifecycle(cmd) => storage::lifecycle(cmd),
        Command::Storage(StorageCommand::Reindex(args)) => storage::reindex(&args),
        Command::Sign {
            url,
            expires_in,
            args,
        } => serve::sign(&args, &url, expires_in),
        Command::Transform {
            input,
            output,
            spec,
            accept,
            avif_speed,
            verbose,
        } => image::transform(
            &input,
            &output,
            &spec,
            accept.as_deref(),
            avif_speed,
            verbose,
        ),
        Command::Optimize(args) => optimize::run(&args),
        Command::Compare { a, b } => image::compare(&a, &b),
        Command::Bench {
            input,
            spec,
            iterations,
            avif_speed,
        } => image::bench(&input, &spec, iterations, avif_speed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error[{}]: {}", f.code, f.message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// The async runtime of the server and of the storage commands.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: "runtime",
            message: e.to_string(),
        })
}

/// Logs to stderr, filtered by the `log` key.
pub(crate) fn init_logging(config: &crate::config::Config) -> Result<(), Failure> {
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
