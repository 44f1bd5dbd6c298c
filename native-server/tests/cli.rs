//! The `refract transform` command as a user runs it: files, stdin/stdout, `--accept`, and one
//! line on stderr with the error code for every failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn refract() -> Command {
    Command::new(env!("CARGO_BIN_EXE_refract"))
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn stderr_line(out: &Output) -> String {
    let s = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        s.trim_end().lines().count(),
        1,
        "exactly one line on stderr: {s:?}"
    );
    s
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = refract()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn refract");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn transforms_a_file() {
    let out_path = tmp("cat.webp");
    let out = refract()
        .args(["transform"])
        .arg(sample("cat-small.jpg"))
        .arg(&out_path)
        .arg("width=200&format=webp")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&out_path).expect("output written");
    assert_eq!(&bytes[8..12], b"WEBP");
    let img = refract_core::decode_upright(&bytes).expect("decodes");
    assert_eq!((img.width(), img.height()), (200, 133));
}

#[test]
fn stdin_to_stdout_with_accept() {
    let input = std::fs::read(sample("logo-alpha.png")).expect("sample");
    let out = run_with_stdin(
        &[
            "transform",
            "-",
            "-",
            "width=64,format=auto",
            "--accept",
            "image/webp,*/*",
        ],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&out.stdout[8..12], b"WEBP");
    let img = refract_core::decode_upright(&out.stdout).expect("decodes");
    assert_eq!((img.width(), img.height()), (64, 64));
}

#[test]
fn errors_are_one_line_with_a_code() {
    let cases: Vec<(Vec<&str>, &[u8], &str)> = vec![
        (
            vec!["transform", "-", "-", "width=abc"],
            b"",
            "error[invalid_value]",
        ),
        (
            vec!["transform", "-", "-", "colour=red"],
            b"",
            "error[unknown_option]",
        ),
        (
            vec!["transform", "-", "-", "w=1&width=2"],
            b"",
            "error[duplicate_option]",
        ),
        (
            vec!["transform", "-", "-", "width=10"],
            b"plain text",
            "error[unsupported_format]",
        ),
        (
            vec!["transform", "-", "-", "width=10"],
            b"\xFF\xD8\xFF\xE0garbage",
            "error[undecodable_image]",
        ),
        (
            vec!["transform", "/nonexistent/in.jpg", "-", "width=10"],
            b"",
            "error[io_error]",
        ),
    ];
    for (args, stdin, want) in cases {
        let out = run_with_stdin(&args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let line = stderr_line(&out);
        assert!(line.starts_with(want), "{args:?}: {line}");
        assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    }
    // A decompression bomb: 33 bytes claiming 100,000 × 100,000 pixels.
    let mut bomb = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
    bomb.extend_from_slice(b"IHDR");
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let out = run_with_stdin(&["transform", "-", "-", "width=10"], &bomb);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).starts_with("error[too_many_pixels]"));
}
