//! One image's work, as tasks for the queue: [`Task::Probe`] reads the image, skips it when
//! its manifest's hash matches and its outputs exist, else asks the core for `format=json`
//! (size after `--spec`, transparency, frames, placeholder) and plans the outputs;
//! [`Task::Encode`] makes one output; the last one to finish writes the manifest (last, so a
//! killed run is redone) and removes the outputs of an older manifest that are not made any
//! more.

use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use refract_core::{Context, Format, Limits};

use super::inputs::Input;
use super::manifest::{self, Entry, Manifest, Source, Urls};
use super::report::{ErrorInfo, FileResult, OutputResult, Reporter, Status};
use super::settings::{extension, Settings};

/// What every task shares.
#[derive(Debug)]
pub struct Batch<'a> {
    pub settings: &'a Settings,
    pub out: &'a Path,
    pub sizes: &'a str,
    pub base_url: Option<&'a str>,
    pub dry_run: bool,
    pub reporter: &'a Reporter,
}

#[derive(Debug)]
pub enum Task {
    Probe(Input),
    /// The image and the index of one planned output.
    Encode(Arc<Image>, usize),
}

/// An image whose outputs are being made.
#[derive(Debug)]
pub struct Image {
    input: Input,
    dir: PathBuf,
    bytes: Vec<u8>,
    hash: String,
    source: Source,
    placeholder: String,
    planned: Vec<(u32, Format)>,
    done: Mutex<Vec<Option<Result<Entry, ErrorInfo>>>>,
    remaining: AtomicUsize,
}

fn error(code: &str, message: impl ToString) -> ErrorInfo {
    ErrorInfo {
        code: code.to_owned(),
        message: message.to_string(),
    }
}

/// Runs a transform, turning a panic (there should be none) into an `internal` error.
fn guarded<T>(f: impl FnOnce() -> Result<T, refract_core::Error>) -> Result<T, ErrorInfo> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error(e.code(), e)),
        Err(_) => Err(error("internal", "the transform panicked")),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ErrorInfo> {
    let limit = Limits::default().max_input_bytes;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
        .map_err(|e| error("io_error", format!("cannot read: {e}")))?;
    Ok(buf)
}

impl Batch<'_> {
    pub fn run(&self, task: Task) -> Vec<Task> {
        match task {
            Task::Probe(input) => match self.probe(&input) {
                Ok(Some(image)) => {
                    let image = Arc::new(image);
                    (0..image.planned.len())
                        .map(|i| Task::Encode(Arc::clone(&image), i))
                        .collect()
                }
                Ok(None) => Vec::new(),
                Err((e, bytes_in)) => {
                    self.reporter
                        .done(self.failed(&input, bytes_in, Vec::new(), e));
                    Vec::new()
                }
            },
            Task::Encode(image, i) => {
                self.encode(&image, i);
                Vec::new()
            }
        }
    }

    fn context(&self) -> Context<'static> {
        Context {
            policy: self.settings.policy,
            ..Context::default()
        }
    }

    fn urls<'a>(&'a self, input: &'a Input) -> Urls<'a> {
        Urls {
            base: self.base_url,
            dir: &input.rel_dir,
        }
    }

    pub fn failed(
        &self,
        input: &Input,
        bytes_in: u64,
        outputs: Vec<OutputResult>,
        e: ErrorInfo,
    ) -> FileResult {
        FileResult {
            path: input.rel.clone(),
            status: Status::Failed,
            manifest: None,
            bytes_in,
            outputs,
            error: Some(e),
        }
    }

    /// Reports the image and returns `None` when nothing is to be made (up to date, a dry
    /// run); the error and the input's size when it failed.
    fn probe(&self, input: &Input) -> Result<Option<Image>, (ErrorInfo, u64)> {
        let bytes = read(&input.path).map_err(|e| (e, 0))?;
        let size = bytes.len() as u64;
        let fail = |e| (e, size);
        let hash = self.settings.hash(&bytes);
        let dir = input.out_dir(self.out);
        let manifest_path = dir.join(input.manifest_name());
        if let Some(old) = manifest::load(&manifest_path) {
            if old.hash == hash && manifest::outputs_exist(&old, &dir) {
                return self.up_to_date(input, old, &manifest_path).map_err(fail);
            }
        }
        let probe = guarded(|| {
            let spec = self.settings.spec(None, Format::Json);
            refract_core::transform(&bytes, &spec, &self.context())
        })
        .map_err(fail)?;
        let json: serde_json::Value = serde_json::from_slice(&probe.bytes)
            .map_err(|e| fail(error("internal", format!("format=json: {e}"))))?;
        let number = |v: &serde_json::Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        let alpha = json["original"]["alpha"].as_bool().unwrap_or(false);
        let frames = number(&json["original"]["frames"]).unwrap_or(1);
        let own = number(&json["width"]).unwrap_or(probe.input_width);
        let source = Source {
            path: input.rel.clone(),
            width: probe.input_width,
            height: probe.input_height,
            format: probe.input_format.name().to_ascii_lowercase(),
            bytes: size,
            alpha,
            frames,
        };
        let mut planned = Vec::new();
        for format in self.settings.formats_for(alpha, frames) {
            for width in self.settings.widths_for(own) {
                planned.push((width, format));
            }
        }
        if self.dry_run {
            let outputs = planned
                .iter()
                .map(|&(width, format)| OutputResult {
                    file: input.out_rel(&format!("{}-{width}.{}", input.stem, extension(format))),
                    format: format.as_str().to_owned(),
                    width,
                    height: None,
                    bytes: None,
                    status: Status::WouldWrite,
                    error: None,
                })
                .collect();
            self.reporter.done(FileResult {
                path: input.rel.clone(),
                status: Status::WouldWrite,
                manifest: Some(input.out_rel(&input.manifest_name())),
                bytes_in: size,
                outputs,
                error: None,
            });
            return Ok(None);
        }
        std::fs::create_dir_all(&dir).map_err(|e| {
            fail(error(
                "io_error",
                format!("cannot create {}: {e}", dir.display()),
            ))
        })?;
        let n = planned.len();
        Ok(Some(Image {
            input: input.clone(),
            dir,
            bytes,
            hash,
            source,
            placeholder: json["placeholder"].as_str().unwrap_or_default().to_owned(),
            planned,
            done: Mutex::new(vec![None; n]),
            remaining: AtomicUsize::new(n),
        }))
    }

    /// An image whose outputs are up to date: only its snippet may change (`--sizes`,
    /// `--base-url`), and then only the manifest is rewritten.
    fn up_to_date(
        &self,
        input: &Input,
        mut old: Manifest,
        path: &Path,
    ) -> Result<Option<Image>, ErrorInfo> {
        let status = if self.dry_run {
            Status::WouldSkip
        } else {
            Status::Skipped
        };
        let html = manifest::html(&old.outputs, self.sizes, self.urls(input));
        if html != old.html && !self.dry_run {
            old.html = html;
            write_manifest(path, &old)?;
        }
        let outputs = old
            .outputs
            .iter()
            .map(|o| OutputResult {
                file: input.out_rel(&o.file),
                format: o.format.clone(),
                width: o.width,
                height: Some(o.height),
                bytes: Some(o.bytes),
                status,
                error: None,
            })
            .collect();
        self.reporter.done(FileResult {
            path: input.rel.clone(),
            status,
            manifest: Some(input.out_rel(&input.manifest_name())),
            bytes_in: old.source.bytes,
            outputs,
            error: None,
        });
        Ok(None)
    }

    fn encode(&self, image: &Image, i: usize) {
        let (width, format) = image.planned[i];
        let result = guarded(|| {
            let spec = self.settings.spec(Some(width), format);
            refract_core::transform(&image.bytes, &spec, &self.context())
        })
        .and_then(|out| {
            let file = format!("{}-{width}.{}", image.input.stem, out.format.extension());
            manifest::write_atomic(&image.dir.join(&file), &out.bytes)
                .map_err(|e| error("io_error", format!("cannot write {file}: {e}")))?;
            Ok(Entry {
                file,
                width: out.width,
                height: out.height,
                format: out.format.name().to_owned(),
                bytes: out.bytes.len() as u64,
            })
        });
        image.done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
        if image.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.reporter.done(self.finish(image));
        }
    }

    /// All outputs of `image` are made (or failed): the manifest, and the result.
    fn finish(&self, image: &Image) -> FileResult {
        let done = std::mem::take(&mut *image.done.lock().unwrap_or_else(|e| e.into_inner()));
        let input = &image.input;
        let mut entries = Vec::new();
        let mut outputs = Vec::new();
        let mut first_error = None;
        for (result, &(width, format)) in done.into_iter().zip(&image.planned) {
            match result.unwrap_or_else(|| Err(error("internal", "an output was not made"))) {
                Ok(entry) => {
                    outputs.push(OutputResult {
                        file: input.out_rel(&entry.file),
                        format: entry.format.clone(),
                        width: entry.width,
                        height: Some(entry.height),
                        bytes: Some(entry.bytes),
                        status: Status::Written,
                        error: None,
                    });
                    entries.push(entry);
                }
                Err(e) => {
                    outputs.push(OutputResult {
                        file: input.out_rel(&format!(
                            "{}-{width}.{}",
                            input.stem,
                            extension(format)
                        )),
                        format: format.as_str().to_owned(),
                        width,
                        height: None,
                        bytes: None,
                        status: Status::Failed,
                        error: Some(e.clone()),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        let bytes_in = image.source.bytes;
        if let Some(e) = first_error {
            return self.failed(input, bytes_in, outputs, e);
        }
        let path = image.dir.join(input.manifest_name());
        let old = manifest::load(&path);
        let manifest = Manifest {
            generator: format!("refract {}", env!("CARGO_PKG_VERSION")),
            hash: image.hash.clone(),
            source: image.source.clone(),
            options: self.settings.base.to_string(),
            placeholder: image.placeholder.clone(),
            html: manifest::html(&entries, self.sizes, self.urls(input)),
            outputs: entries,
        };
        if let Err(e) = write_manifest(&path, &manifest) {
            return self.failed(input, bytes_in, outputs, e);
        }
        // Outputs of the previous run that this one did not make (other widths or formats).
        for stale in old.iter().flat_map(|m| &m.outputs) {
            let ours = stale.file.starts_with(&format!("{}-", input.stem));
            let kept = manifest.outputs.iter().any(|o| o.file == stale.file);
            if ours && !kept && manifest::safe_name(&stale.file) {
                let _ = std::fs::remove_file(image.dir.join(&stale.file));
            }
        }
        FileResult {
            path: input.rel.clone(),
            status: Status::Written,
            manifest: Some(input.out_rel(&input.manifest_name())),
            bytes_in,
            outputs,
            error: None,
        }
    }
}

fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), ErrorInfo> {
    let mut json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| error("internal", format!("manifest: {e}")))?;
    json.push(b'\n');
    manifest::write_atomic(path, &json)
        .map_err(|e| error("io_error", format!("cannot write {}: {e}", path.display())))
}
