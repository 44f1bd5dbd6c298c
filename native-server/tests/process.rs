//! `refract serve`, `config` and `sign` as processes: defaults over samples/, config errors at
//! start-up, and graceful shutdown on SIGTERM with a request in flight.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn refract() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_refract"));
    // Run from the repository root, as the README does, with no REFRACT_* from the caller.
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    for (k, _) in std::env::vars() {
        if k.starts_with("REFRACT_") {
            c.env_remove(k);
        }
    }
    c
}

/// A running server, killed on drop if a test fails before stopping it.
struct Server {
    child: Child,
    http: String,
    admin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = refract();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ])
    .args(extra)
    .env("REFRACT_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The server's own state (tiers, metadata) goes to a directory of the test's.
    let data = std::env::temp_dir().join(format!("refract-process-{}", std::process::id()));
    if !env.iter().any(|(k, _)| *k == "REFRACT_DATA_DIR") {
        cmd.env("REFRACT_DATA_DIR", &data);
    }
    let mut child = cmd.spawn().expect("spawn refract serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read ready line");
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
            .to_owned()
    };
    Server {
        http: field("http="),
        admin: field("admin="),
        child,
    }
}

/// One HTTP/1.1 request on a fresh connection; returns the status line, headers and body.
fn request(addr: &str, raw: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(raw.as_bytes()).expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    (head, buf[split + 4..].to_vec())
}

fn get(addr: &str, path: &str, accept: &str) -> (String, Vec<u8>) {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn serves_samples_with_no_configuration() {
    let server = start(&[], &[]);
    let (head, body) = get(
        &server.http,
        "/cat-small.jpg?width=120&format=auto",
        "image/webp,*/*",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: image/webp"), "{head}");
    assert!(head.contains("vary: Accept"), "{head}");
    let h = refract_core::decode::probe(&body, &refract_core::Limits::default()).expect("webp");
    assert_eq!(h.width, 120);
    let (head, body) = get(&server.admin, "/ready", "*/*");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"ready\n");
}

#[test]
fn config_prints_the_effective_configuration() {
    let out = refract().arg("config").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
    assert!(text.contains("originals = \"samples\""), "{text}");
    let out = refract()
        .args([
            "config",
            "--listen",
            "127.0.0.1:9999",
            "--config",
            "samples/refract.toml",
        ])
        .env("REFRACT_CACHE__MEMORY_BYTES", "1234")
        .output()
        .expect("run");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("listen = \"127.0.0.1:9999\""), "{text}");
    assert!(text.contains("memory_bytes = 1234"), "{text}");
    assert!(text.contains("thumb = "), "{text}");
}

#[test]
fn unknown_configuration_is_an_error_at_start_up() {
    for (k, v) in [("REFRACT_LISTEN_ADDR", "x"), ("REFRACT_CACHE__BYTES", "1")] {
        let out = refract().arg("serve").env(k, v).output().expect("run");
        assert!(!out.status.success(), "{k}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error[bad_config]:"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
    }
    let out = refract()
        .args(["serve", "--originals", "/nonexistent/refract-originals"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("originals directory"));
}

#[test]
fn sign_appends_a_signature_the_server_accepts() {
    let key = "process-test-signing-key";
    let out = refract()
        .args([
            "sign",
            "http://127.0.0.1/cat-small.jpg?width=90&format=webp",
        ])
        .env("REFRACT_SIGNING__KEYS", format!("[\"{key}\"]"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).expect("utf-8");
    let path = &url.trim()["http://127.0.0.1".len()..];
    assert!(path.contains("&sig="), "{path}");
    let keys = format!("[\"{key}\"]");
    let server = start(&[], &[("REFRACT_SIGNING__KEYS", &keys)]);
    let (head, _) = get(&server.http, path, "*/*");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _) = get(&server.http, "/cat-small.jpg?width=90&format=webp", "*/*");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().expect("temp dir");
    let originals = dir.path().display().to_string();
    let token = "graceful-shutdown-token";
    let mut server = start(&["--originals", &originals, "--upload-token", token], &[]);
    let png =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/logo-alpha.png"))
            .expect("sample");
    // An upload whose body we hold back: the server answers `100 Continue` only once the
    // handler reads the body, which proves the request is in flight.
    let mut s = TcpStream::connect(&server.http).expect("connect");
    let head = format!(
        "PUT /kept.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        png.len()
    );
    s.write_all(head.as_bytes()).expect("send head");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("100 continue");
    assert!(line.starts_with("HTTP/1.1 100"), "{line}");
    let mut blank = String::new();
    reader.read_line(&mut blank).expect("blank line");

    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    s.write_all(&png).expect("send body after SIGTERM");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("response");
    assert!(rest.starts_with("HTTP/1.1 201"), "{rest}");
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        std::fs::read(dir.path().join("kept.png")).expect("stored"),
        png
    );
    // And it no longer accepts connections.
    assert!(TcpStream::connect(&server.http).is_err());
}

#[test]
fn lifecycle_plan_prints_a_readable_plan_of_the_sample_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let originals = dir.path().join("originals");
    std::fs::create_dir_all(originals.join("photos")).expect("mkdir");
    std::fs::create_dir_all(originals.join("tmp")).expect("mkdir");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    std::fs::copy(
        samples.join("bird-20mp.jpg"),
        originals.join("photos/bird.jpg"),
    )
    .expect("copy");
    std::fs::copy(
        samples.join("cat-small.jpg"),
        originals.join("tmp/upload.jpg"),
    )
    .expect("copy");
    let data = dir.path().join("data").display().to_string();
    let originals = originals.display().to_string();
    let with_env = |c: &mut Command| {
        c.env("REFRACT_DATA_DIR", &data)
            .env("REFRACT_ORIGINALS", &originals)
            .env("REFRACT_LOG", "warn");
    };
    let mut reindex = refract();
    with_env(reindex.args(["storage", "reindex"]));
    let out = reindex.output().expect("reindex");
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["originals"], 2, "{report}");

    let plan = |json: bool| {
        let mut c = refract();
        with_env(c.args(["lifecycle", "plan", "--policy", "samples/lifecycle.toml"]));
        c.args(["--now", "2099-01-01"]);
        if json {
            c.arg("--json");
        }
        let out = c.output().expect("plan");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let table = plan(false);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("RULE"), "{table}");
    assert!(
        lines.iter().any(|l| l.starts_with("photo-originals")
            && l.contains("STANDARD → GLACIER_IR")
            && l.contains("photos/bird.jpg")),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tmp-uploads") && l.contains("expire")),
        "{table}"
    );
    assert!(table.contains("2 actions"), "{table}");
    assert!(table.contains("2 objects scanned"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&plan(true)).expect("json plan");
    assert_eq!(
        json["actions"].as_array().expect("actions").len(),
        2,
        "{json}"
    );
}
