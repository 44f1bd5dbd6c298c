//! The manifest `refract optimize` writes beside each image's outputs (`cat.json` for
//! `cat.jpg`): the source, the placeholder, the outputs and a ready `<picture>` snippet. Files
//! are written atomically: to a temporary file in the same directory, then renamed, so a
//! killed run leaves either the old file or the new one, never a truncated one.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One image's manifest. `outputs[].file` are names in the manifest's own directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `refract <version>`.
    pub generator: String,
    /// [`super::settings::Settings::hash`] of the input and the options.
    pub hash: String,
    pub source: Source,
    /// The options every output was made with (canonical).
    pub options: String,
    /// The ThumbHash (base64) of the image, as `format=json` gives it.
    pub placeholder: String,
    pub outputs: Vec<Entry>,
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Relative to the input directory it was found in, `/`-separated.
    pub path: String,
    pub width: u32,
    pub height: u32,
    /// `jpeg`, `png`, `gif`, `webp`, `avif` or `svg`.
    pub format: String,
    pub bytes: u64,
    pub alpha: bool,
    pub frames: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub file: String,
    pub width: u32,
    pub height: u32,
    /// `avif`, `webp`, `jpeg`, `png` or `gif`.
    pub format: String,
    pub bytes: u64,
}

/// Reads a manifest; `None` when it is missing or not one of ours.
pub fn load(path: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Whether every output `manifest` lists is in `dir` with the size it records.
pub fn outputs_exist(manifest: &Manifest, dir: &Path) -> bool {
    manifest.outputs.iter().all(|o| {
        safe_name(&o.file)
            && std::fs::metadata(dir.join(&o.file)).is_ok_and(|m| m.is_file() && m.len() == o.bytes)
    })
}

/// A plain file name (no directory, not hidden): the only names a manifest may make refract
/// touch.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{}.refract-tmp", name.unwrap_or_default()));
    let res = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Percent-encodes a path for a URL in `srcset` (where spaces and commas separate
/// candidates), keeping `/`.
fn url_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes text for a double-quoted HTML attribute.
fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Where the snippet's URLs point: next to the manifest, or under `--base-url`.
#[derive(Debug, Clone, Copy)]
pub struct Urls<'a> {
    /// `--base-url`, if given.
    pub base: Option<&'a str>,
    /// The manifest's directory relative to the output directory (`photos`, or empty).
    pub dir: &'a str,
}

impl Urls<'_> {
    fn url(&self, file: &str) -> String {
        match self.base {
            None => url_path(file),
            Some(base) => {
                let rel = if self.dir.is_empty() {
                    file.to_owned()
                } else {
                    format!("{}/{file}", self.dir)
                };
                format!("{}/{}", base.trim_end_matches('/'), url_path(&rel))
            }
        }
    }
}

/// The `<picture>` snippet: a `<source>` per modern format (in the order asked), and an
/// `<img>` in the fallback format (JPEG, PNG or GIF; else the last format) at its largest
/// width, with the intrinsic size so the page does not shift as it loads.
pub fn html(outputs: &[Entry], sizes: &str, urls: Urls<'_>) -> String {
    let mut formats: Vec<&str> = Vec::new();
    for o in outputs {
        if !formats.contains(&o.format.as_str()) {
            formats.push(&o.format);
        }
    }
    let fallback = formats
        .iter()
        .copied()
        .find(|f| matches!(*f, "jpeg" | "png" | "gif"))
        .or(formats.last().copied())
        .unwrap_or_default();
    let srcset = |format: &str| -> String {
        let mut of: Vec<&Entry> = outputs.iter().filter(|o| o.format == format).collect();
        of.sort_by_key(|o| o.width);
        let list: Vec<String> = of
            .iter()
            .map(|o| format!("{} {}w", urls.url(&o.file), o.width))
            .collect();
        attr(&list.join(", "))
    };
    let sizes = attr(sizes);
    let mut s = String::from("<picture>");
    for f in formats.iter().filter(|f| **f != fallback) {
        s.push_str(&format!(
            "<source type=\"{}\" srcset=\"{}\" sizes=\"{sizes}\">",
            super::settings::mime(f),
            srcset(f)
        ));
    }
    if let Some(img) = outputs
        .iter()
        .filter(|o| o.format == fallback)
        .max_by_key(|o| o.width)
    {
        s.push_str(&format!(
            "<img src=\"{}\" srcset=\"{}\" sizes=\"{sizes}\" width=\"{}\" height=\"{}\" \
             alt=\"\" loading=\"lazy\" decoding=\"async\">",
            attr(&urls.url(&img.file)),
            srcset(fallback),
            img.width,
            img.height
        ));
    }
    s.push_str("</picture>");
    s
}
