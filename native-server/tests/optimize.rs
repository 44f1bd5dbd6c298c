//! `refract optimize` as a build step runs it, on real files in a temporary directory: the
//! outputs (decoded sizes and sniffed formats against the manifest), transparency and
//! animation, a broken file that fails alone with exit status 1, the manifest's `<picture>`
//! snippet, incremental re-runs (nothing rewritten, only a changed image redone, a truncated
//! output redone), `--dry-run` and `--json`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(name)
}

/// A directory `samples/` with four real images (one in a subdirectory) and a broken JPEG.
fn inputs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let samples = dir.path().join("samples");
    std::fs::create_dir_all(samples.join("icons")).expect("mkdir");
    for (name, to) in [
        ("cat-small.jpg", "cat-small.jpg"),
        ("logo-alpha.png", "icons/logo-alpha.png"),
        ("animated-bounce.gif", "animated-bounce.gif"),
        ("logo.svg", "logo.svg"),
    ] {
        std::fs::copy(sample(name), samples.join(to)).expect("copy sample");
    }
    // A JPEG that ends inside its first segment.
    std::fs::write(samples.join("broken.jpg"), b"\xff\xd8\xff\xe0\x00\x10JFIF").expect("write");
    std::fs::write(samples.join("notes.txt"), b"not an image").expect("write");
    dir
}

fn optimize(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refract"))
        .current_dir(dir)
        .args(["optimize", "samples/", "out/", "--widths", "100,200,4000"])
        .args(extra)
        .output()
        .expect("run refract optimize")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn manifest(dir: &Path, rel: &str) -> Value {
    let bytes = std::fs::read(dir.join("out").join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_slice(&bytes).expect("manifest is JSON")
}

/// The format of an image file, from its first bytes.
fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xff, 0xd8, 0xff, ..] => "jpeg",
        [0x89, b'P', b'N', b'G', ..] => "png",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', b'f', ..] => "avif",
        _ => "unknown",
    }
}

/// Every output of a manifest exists, sniffs as its format, decodes to its size, and weighs
/// what it says; returns the formats, in order.
fn check_outputs(dir: &Path, rel_manifest: &str) -> Vec<String> {
    let m = manifest(dir, rel_manifest);
    let base = dir.join("out").join(rel_manifest);
    let base = base.parent().expect("dir");
    let mut formats = Vec::new();
    for o in m["outputs"].as_array().expect("outputs") {
        let file = o["file"].as_str().expect("file");
        let bytes = std::fs::read(base.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(sniff(&bytes), o["format"], "{file}");
        assert_eq!(bytes.len() as u64, o["bytes"], "{file}");
        let img = refract_core::decode_upright(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            (u64::from(img.width()), u64::from(img.height())),
            (
                o["width"].as_u64().expect("w"),
                o["height"].as_u64().expect("h")
            ),
            "{file}"
        );
        let f = o["format"].as_str().expect("format").to_owned();
        if !formats.contains(&f) {
            formats.push(f);
        }
    }
    formats
}

/// (inode, mtime in ns) of every file under `dir`: a rewrite (a rename) changes the inode.
fn stamps(dir: &Path) -> BTreeMap<PathBuf, (u64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let path = e.expect("entry").path();
            let meta = std::fs::metadata(&path).expect("metadata");
            if meta.is_dir() {
                stack.push(path);
            } else {
                let ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
                out.insert(path, (meta.ino(), ns));
            }
        }
    }
    out
}

/// The attributes of every tag of an HTML fragment without text: `[(tag, {name: value})]`.
fn tags(html: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("tag closes") + start;
        let inner = &rest[start + 1..end];
        rest = &rest[end + 1..];
        let (name, mut attrs) = inner.split_once(' ').unwrap_or((inner, ""));
        let mut map = BTreeMap::new();
        while let Some(eq) = attrs.find("=\"") {
            let key = attrs[..eq].trim().to_owned();
            let close = attrs[eq + 2..].find('"').expect("quote closes") + eq + 2;
            map.insert(key, attrs[eq + 2..close].replace("&amp;", "&"));
            attrs = &attrs[close + 1..];
        }
        assert!(attrs.trim().is_empty(), "stray text in <{name}>: {attrs:?}");
        out.push((name.to_owned(), map));
    }
    out
}

/// The snippet: a `<source>` per modern format and an `<img>` in the fallback, whose srcset
/// candidates are exactly the manifest's outputs of that format with their widths.
fn check_html(m: &Value, sources: &[&str], fallback: &str) {
    let html = m["html"].as_str().expect("html");
    let tags = tags(html);
    let names: Vec<&str> = tags.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = vec!["picture"];
    expected.extend(sources.iter().map(|_| "source"));
    expected.extend(["img", "/picture"]);
    assert_eq!(names, expected, "{html}");
    let outputs = m["outputs"].as_array().expect("outputs");
    let srcset_of = |format: &str| -> Vec<String> {
        let mut of: Vec<&Value> = outputs.iter().filter(|o| o["format"] == format).collect();
        of.sort_by_key(|o| o["width"].as_u64());
        of.iter()
            .map(|o| format!("{} {}w", o["file"].as_str().expect("file"), o["width"]))
            .collect()
    };
    for (i, format) in sources.iter().enumerate() {
        let attrs = &tags[1 + i].1;
        assert_eq!(attrs["type"], format!("image/{format}"));
        assert_eq!(attrs["sizes"], "100vw");
        let srcset: Vec<String> = attrs["srcset"].split(", ").map(str::to_owned).collect();
        assert_eq!(srcset, srcset_of(format), "{html}");
    }
    let img = &tags[1 + sources.len()].1;
    let srcset: Vec<String> = img["srcset"].split(", ").map(str::to_owned).collect();
    assert_eq!(srcset, srcset_of(fallback), "{html}");
    let largest = outputs
        .iter()
        .filter(|o| o["format"] == fallback)
        .max_by_key(|o| o["width"].as_u64())
        .expect("a fallback output");
    assert_eq!(img["src"], largest["file"].as_str().expect("file"));
    assert_eq!(img["width"], largest["width"].to_string());
    assert_eq!(img["height"], largest["height"].to_string());
    for (k, v) in [("alt", ""), ("loading", "lazy"), ("decoding", "async")] {
        assert_eq!(img[k], v);
    }
}

#[test]
fn optimizes_a_tree_then_skips_what_is_up_to_date() {
    let tmp = inputs();
    let dir = tmp.path();

    // First run: everything but the broken file, which is reported and fails the run.
    let first = optimize(dir, &[]);
    let stderr = text(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[undecodable_image]: broken.jpg: "),
        "{stderr}"
    );
    assert!(stderr.contains("error[optimize_failed]: 1 of 5 images failed"));
    assert!(!dir.join("out/broken.json").exists());
    assert!(!dir.join("out/notes.json").exists());

    // The photo: AVIF, WebP and JPEG at the widths not larger than it (451 px).
    assert_eq!(
        check_outputs(dir, "cat-small.json"),
        ["avif", "webp", "jpeg"]
    );
    let cat = manifest(dir, "cat-small.json");
    let widths: Vec<u64> = cat["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| o["width"].as_u64().expect("width"))
        .collect();
    assert_eq!(widths, [100, 200, 100, 200, 100, 200]);
    assert_eq!(cat["source"]["path"], "cat-small.jpg");
    assert_eq!(cat["source"]["format"], "jpeg");
    assert_eq!(cat["source"]["width"], 451);
    assert_eq!(cat["source"]["alpha"], false);
    assert!(cat["placeholder"].as_str().is_some_and(|p| p.len() > 10));
    check_html(&cat, &["avif", "webp"], "jpeg");
    assert_eq!(
        std::fs::read(dir.join("out/cat-small-200.jpg"))
            .map(|b| b.len() as u64)
            .ok(),
        cat["outputs"][5]["bytes"].as_u64()
    );

    // Transparency: PNG instead of JPEG, in the mirrored subdirectory.
    assert_eq!(
        check_outputs(dir, "icons/logo-alpha.json"),
        ["avif", "webp", "png"]
    );
    assert!(!dir.join("out/icons/logo-alpha-100.jpg").exists());
    let logo = manifest(dir, "icons/logo-alpha.json");
    assert_eq!(logo["source"]["path"], "icons/logo-alpha.png");
    assert_eq!(logo["source"]["alpha"], true);
    check_html(&logo, &["avif", "webp"], "png");

    // An animation stays animated: animated WebP and GIF, no (still) AVIF.
    assert_eq!(check_outputs(dir, "animated-bounce.json"), ["webp", "gif"]);
    let anim = manifest(dir, "animated-bounce.json");
    assert!(anim["source"]["frames"].as_u64() > Some(1));
    let webp = std::fs::read(dir.join("out/animated-bounce-100.webp")).expect("webp");
    assert!(webp.windows(4).any(|w| w == b"ANIM"), "animated WebP");
    check_html(&anim, &["webp"], "gif");

    // SVG, rasterized at each width.
    assert_eq!(check_outputs(dir, "logo.json"), ["avif", "webp", "png"]);

    let before = stamps(&dir.join("out"));
    assert!(
        !before
            .keys()
            .any(|p| p.to_string_lossy().contains("refract-tmp")),
        "no temporary file left: {before:?}"
    );

    // Second run, JSON: every image up to date, nothing rewritten, the broken one still fails.
    let second = optimize(dir, &["--json"]);
    assert_eq!(second.status.code(), Some(1));
    let summary: Value = serde_json::from_slice(&second.stdout).expect("--json parses");
    assert_eq!(summary["files"], 5);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["skipped"], 4);
    assert_eq!(summary["outputs"]["written"], 0);
    assert_eq!(summary["outputs"]["skipped"], 6 + 6 + 2 + 6);
    for r in summary["results"].as_array().expect("results") {
        let want = if r["path"] == "broken.jpg" {
            "failed"
        } else {
            "skipped"
        };
        assert_eq!(r["status"], want, "{r}");
    }
    let broken = summary["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["path"] == "broken.jpg")
        .expect("broken.jpg reported");
    assert_eq!(broken["error"]["code"], "undecodable_image");
    assert_eq!(stamps(&dir.join("out")), before, "nothing rewritten");

    // Change one input: only its outputs and manifest are rewritten.
    std::fs::remove_file(dir.join("samples/broken.jpg")).expect("rm");
    let flipped = refract_core::transform(
        &std::fs::read(sample("cat-small.jpg")).expect("read"),
        &refract_core::Spec::parse("flip=h,format=jpeg").expect("spec"),
        &refract_core::Context::default(),
    )
    .expect("flip");
    std::fs::write(dir.join("samples/cat-small.jpg"), flipped.bytes).expect("write");
    let third = optimize(dir, &["--quiet"]);
    assert!(third.status.success(), "{}", text(&third.stderr));
    assert!(
        third.stdout.is_empty() && third.stderr.is_empty(),
        "--quiet"
    );
    let after = stamps(&dir.join("out"));
    for (path, stamp) in &before {
        let name = path.file_name().expect("name").to_string_lossy();
        let redone = path.parent() == Some(&dir.join("out")) && name.starts_with("cat-small");
        assert_eq!(after[path] != *stamp, redone, "{}", path.display());
    }
    check_outputs(dir, "cat-small.json");

    // A truncated output (as a killed copy would leave without atomic writes) is redone.
    let truncated = dir.join("out/icons/logo-alpha-200.webp");
    let len = std::fs::metadata(&truncated).expect("meta").len();
    std::fs::write(&truncated, vec![0; len as usize / 2]).expect("truncate");
    let fourth = optimize(dir, &["--json"]);
    assert!(fourth.status.success(), "{}", text(&fourth.stderr));
    let summary: Value = serde_json::from_slice(&fourth.stdout).expect("--json parses");
    assert_eq!(summary["written"], 1);
    assert_eq!(summary["skipped"], 3);
    check_outputs(dir, "icons/logo-alpha.json");

    // Only the snippet changes with --sizes: the manifest is rewritten, no output is.
    let before = stamps(&dir.join("out"));
    let fifth = optimize(dir, &["--sizes", "(min-width: 800px) 50vw, 100vw", "-q"]);
    assert!(fifth.status.success());
    let after = stamps(&dir.join("out"));
    for (path, stamp) in &before {
        let manifest = path.extension().is_some_and(|e| e == "json");
        assert_eq!(after[path] != *stamp, manifest, "{}", path.display());
    }
    let cat = manifest(dir, "cat-small.json");
    let html = cat["html"].as_str().expect("html");
    assert!(
        html.contains("sizes=\"(min-width: 800px) 50vw, 100vw\""),
        "{html}"
    );

    // Fewer widths: the outputs no longer made are removed.
    let sixth = Command::new(env!("CARGO_BIN_EXE_refract"))
        .current_dir(dir)
        .args(["optimize", "samples", "out", "--widths", "150", "-q"])
        .output()
        .expect("run");
    assert!(sixth.status.success(), "{}", text(&sixth.stderr));
    assert!(!dir.join("out/cat-small-200.avif").exists());
    assert_eq!(
        check_outputs(dir, "cat-small.json"),
        ["avif", "webp", "jpeg"]
    );
    assert!(dir.join("out/cat-small-150.avif").exists());
}

#[test]
fn dry_run_lists_and_writes_nothing() {
    let tmp = inputs();
    let dir = tmp.path();
    // Two inputs with one stem in one directory get their extension in their names.
    std::fs::copy(sample("logo-alpha.png"), dir.join("samples/cat-small.png")).expect("copy");
    let out = optimize(dir, &["--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(1), "the broken file still fails");
    assert!(!dir.join("out").exists(), "nothing written");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("--json parses");
    assert_eq!(summary["dry_run"], true);
    let files: Vec<&str> = summary["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["path"] == "cat-small.jpg" || r["path"] == "cat-small.png")
        .flat_map(|r| r["outputs"].as_array().expect("outputs"))
        .map(|o| {
            assert_eq!(o["status"], "would_write");
            o["file"].as_str().expect("file")
        })
        .collect();
    assert_eq!(
        files,
        [
            "cat-small-jpg-100.avif",
            "cat-small-jpg-200.avif",
            "cat-small-jpg-100.webp",
            "cat-small-jpg-200.webp",
            "cat-small-jpg-100.jpg",
            "cat-small-jpg-200.jpg",
            "cat-small-png-100.avif",
            "cat-small-png-200.avif",
            "cat-small-png-100.webp",
            "cat-small-png-200.webp",
            "cat-small-png-100.png",
            "cat-small-png-200.png",
        ]
    );

    // The text listing, one line per output.
    let text_out = optimize(dir, &["--dry-run"]);
    let listing = text(&text_out.stdout);
    assert!(
        listing.contains("would write icons/logo-alpha-200.png\n"),
        "{listing}"
    );
    assert!(!dir.join("out").exists(), "nothing written");
}

#[test]
fn refuses_options_that_it_sets_itself() {
    let tmp = inputs();
    for bad in [
        &["--spec", "width=300"][..],
        &["--formats", "avif,bmp"],
        &["--widths", "0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_refract"))
            .current_dir(tmp.path())
            .args(["optimize", "samples", "out"])
            .args(bad)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error[invalid_argument]: "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!tmp.path().join("out").exists());
    }
}
