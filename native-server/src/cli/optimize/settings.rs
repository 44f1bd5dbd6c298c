//! What `refract optimize` makes of every image: the base spec (`--spec`, `--quality`), the
//! widths and formats it asks for, the ones it picks for one image, and the content hash that
//! says whether an image's outputs are up to date.

use refract_core::variant::OUTPUT_GENERATION;
use refract_core::{Format, Policy, Spec, VariantKey};
use sha2::{Digest, Sha256};

use crate::cli::Failure;

/// Everything that shapes the outputs, checked once before any file is read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--spec` with `--quality`: every output's options but its width and format.
    pub base: Spec,
    /// Ascending, without duplicates.
    pub widths: Vec<u32>,
    /// In the order given; each one of avif, webp, jpeg, png, gif.
    pub formats: Vec<Format>,
    pub policy: Policy,
}

fn usage(message: String) -> Failure {
    Failure {
        code: "invalid_argument",
        message,
    }
}

impl Settings {
    pub fn new(
        spec: &str,
        quality: Option<&str>,
        widths: &str,
        formats: &str,
        avif_speed: u8,
    ) -> Result<Settings, Failure> {
        let mut base = Spec::parse(spec)?;
        if base.width.is_some()
            || base.height.is_some()
            || base.width_auto
            || base.dpr.is_some()
            || base.dpr_auto
            || base.format.is_some()
        {
            return Err(usage(format!(
                "--spec `{spec}`: width, height, dpr and format come from --widths and --formats"
            )));
        }
        if let Some(q) = quality {
            let quality = Spec::parse(&format!("quality={q}"))?.quality;
            if base.quality.is_some() && base.quality != quality {
                return Err(usage("--quality and --spec's quality differ".into()));
            }
            base.quality = quality;
        }
        let max = refract_core::Limits::default().max_output_dimension;
        let mut list = Vec::new();
        for w in widths.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match w.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => list.push(n),
                _ => {
                    return Err(usage(format!(
                        "--widths: `{w}` is not a width in 1..={max}"
                    )))
                }
            }
        }
        list.sort_unstable();
        list.dedup();
        let mut fmts = Vec::new();
        for f in formats.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let format = match f.to_ascii_lowercase().as_str() {
                "avif" => Format::Avif,
                "webp" => Format::Webp,
                "jpeg" | "jpg" => Format::Jpeg,
                "png" => Format::Png,
                "gif" => Format::Gif,
                _ => {
                    return Err(usage(format!(
                        "--formats: `{f}` is not one of avif, webp, jpeg, png, gif"
                    )))
                }
            };
            if !fmts.contains(&format) {
                fmts.push(format);
            }
        }
        if list.is_empty() || fmts.is_empty() {
            return Err(usage(
                "--widths and --formats need at least one value".into(),
            ));
        }
        let policy = Policy {
            avif_speed,
            // The CLI works on the user's own files, for as long as they ask.
            max_cpu_ms: u64::MAX,
            ..Policy::default()
        };
        Ok(Settings {
            base,
            widths: list,
            formats: fmts,
            policy,
        })
    }

    /// The widths made of an image `own` pixels wide (after `--spec`'s trim and rotation):
    /// those not larger than it, or its own width when it is narrower than all of them.
    pub fn widths_for(&self, own: u32) -> Vec<u32> {
        let fit: Vec<u32> = self.widths.iter().copied().filter(|&w| w <= own).collect();
        if fit.is_empty() {
            vec![own.max(1)]
        } else {
            fit
        }
    }

    /// The formats made of an image: `jpeg` is PNG for an image with transparency (JPEG would
    /// flatten it); an animation kept animated (`anim=false` not given) is made as animated
    /// WebP and GIF (for `jpeg` or `png`), and AVIF is left out because the core writes a
    /// still AVIF (unless AVIF is all that is asked).
    pub fn formats_for(&self, alpha: bool, frames: u32) -> Vec<Format> {
        let animated = frames > 1 && self.base.anim;
        let mut out = Vec::new();
        for &f in &self.formats {
            let f = match f {
                Format::Avif if animated => continue,
                Format::Jpeg | Format::Png if animated => Format::Gif,
                Format::Jpeg if alpha => Format::Png,
                other => other,
            };
            if !out.contains(&f) {
                out.push(f);
            }
        }
        if out.is_empty() {
            out.push(Format::Avif);
        }
        out
    }

    /// The spec of one output.
    pub fn spec(&self, width: Option<u32>, format: Format) -> Spec {
        Spec {
            width,
            format: Some(format),
            ..self.base.clone()
        }
    }

    /// The canonical options, as the manifest records them.
    pub fn options(&self) -> String {
        let widths: Vec<String> = self.widths.iter().map(u32::to_string).collect();
        let formats: Vec<&str> = self.formats.iter().map(|f| f.as_str()).collect();
        format!(
            "spec={};widths={};formats={};avif_speed={}",
            self.base,
            widths.join(","),
            formats.join(","),
            self.policy.avif_speed
        )
    }

    /// SHA-256 (hex) of the input's bytes, the canonical options, refract's version, the
    /// core's output generation and every encoder's fingerprint (codec versions, settings and
    /// code paths, as in [`VariantKey`]): equal hashes mean equal outputs.
    pub fn hash(&self, input: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "refract-optimize/1 refract={} generation={OUTPUT_GENERATION}\n{}\n",
            env!("CARGO_PKG_VERSION"),
            self.options()
        ));
        for format in [
            Format::Avif,
            Format::Webp,
            Format::Jpeg,
            Format::Png,
            Format::Gif,
        ] {
            let key = VariantKey::new("", &self.spec(None, format), "", &self.policy);
            h.update(format!("{}={}\n", format.as_str(), key.fingerprint()));
        }
        h.update(Sha256::digest(input));
        hex(&h.finalize())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file extension of an output format.
pub fn extension(format: Format) -> &'static str {
    match format {
        Format::Jpeg | Format::BaselineJpeg => "jpg",
        other => other.as_str(),
    }
}

/// The MIME type of an output format.
pub fn mime(format: &str) -> String {
    format!("image/{format}")
}
