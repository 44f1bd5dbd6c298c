//! The images `refract optimize` works on and where their outputs go: directories are walked
//! recursively (sorted, hidden entries, symlinked directories and the output directory
//! skipped) for image extensions; files named on the command line are taken as they are. The
//! output tree mirrors the input tree: `photos/cat.jpg` → `OUT/photos/cat-640.avif`, …,
//! `OUT/photos/cat.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::{io_failure, Failure};

/// The extensions looked for in directories (case-insensitive).
pub const EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "gif", "avif", "svg"];

/// One image to optimize.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where to read it.
    pub path: PathBuf,
    /// Relative to the input directory it was found in (its file name when named on the
    /// command line), `/`-separated.
    pub rel: String,
    /// The output subdirectory, relative to OUT_DIR, `/`-separated (empty at the top).
    pub rel_dir: String,
    /// The outputs' base name: the file stem, or `stem-ext` when two inputs in one directory
    /// share a stem (`cat.jpg` and `cat.png` → `cat-jpg-640.avif`, `cat-png-640.avif`).
    pub stem: String,
}

impl Input {
    pub fn out_dir(&self, out: &Path) -> PathBuf {
        if self.rel_dir.is_empty() {
            out.to_path_buf()
        } else {
            out.join(&self.rel_dir)
        }
    }

    /// A file of this image's, relative to OUT_DIR.
    pub fn out_rel(&self, file: &str) -> String {
        if self.rel_dir.is_empty() {
            file.to_owned()
        } else {
            format!("{}/{file}", self.rel_dir)
        }
    }

    pub fn manifest_name(&self) -> String {
        format!("{}.json", self.stem)
    }
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn walk(
    dir: &Path,
    prefix: &str,
    skip: Option<&Path>,
    out: &mut Vec<Input>,
) -> Result<(), Failure> {
    let shown = dir.display().to_string();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io_failure("read directory", &shown, e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel = format!("{prefix}{name}");
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let inside_out = skip.is_some_and(|s| path.canonicalize().is_ok_and(|p| p == s));
            if !inside_out {
                walk(&path, &format!("{rel}/"), skip, out)?;
            }
        } else if is_image(&path) && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            out.push(Input {
                path,
                rel,
                rel_dir: prefix.trim_end_matches('/').to_owned(),
                stem: String::new(),
            });
        }
    }
    Ok(())
}

/// The inputs, in order, and the ones left out because another input already writes the same
/// outputs (reported as failures).
pub fn collect(paths: &[PathBuf], out: &Path) -> Result<(Vec<Input>, Vec<Input>), Failure> {
    let skip = out.canonicalize().ok();
    let mut found = Vec::new();
    for p in paths {
        let meta =
            std::fs::metadata(p).map_err(|e| io_failure("read", &p.display().to_string(), e))?;
        if meta.is_dir() {
            walk(p, "", skip.as_deref(), &mut found)?;
        } else {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push(Input {
                path: p.clone(),
                rel: name,
                rel_dir: String::new(),
                stem: String::new(),
            });
        }
    }
    // Stems shared within an output directory take their extension.
    let stem_of = |i: &Input| {
        let p = Path::new(&i.rel);
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
        let ext = p
            .extension()
            .map(|s| s.to_string_lossy().to_ascii_lowercase());
        (stem.unwrap_or_default(), ext)
    };
    let mut count: BTreeMap<(String, String), usize> = BTreeMap::new();
    for i in &found {
        *count.entry((i.rel_dir.clone(), stem_of(i).0)).or_default() += 1;
    }
    let (mut inputs, mut conflicts) = (Vec::new(), Vec::new());
    let mut taken = std::collections::BTreeSet::new();
    for mut i in found {
        let (stem, ext) = stem_of(&i);
        i.stem = match ext {
            Some(ext) if count[&(i.rel_dir.clone(), stem.clone())] > 1 => format!("{stem}-{ext}"),
            _ => stem,
        };
        if taken.insert((i.rel_dir.clone(), i.stem.clone())) {
            inputs.push(i);
        } else {
            conflicts.push(i);
        }
    }
    Ok((inputs, conflicts))
}
