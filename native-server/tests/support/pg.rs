//! A private PostgreSQL server for the tests that need one (the metadata store's conformance
//! suite, the lifecycle over S3 with two instances): `initdb` and `pg_ctl` from
//! `$PG_BIN` or the newest `/usr/lib/postgresql/*/bin`, run as the `postgres` user when the
//! tests run as root.

// Each test crate that includes `support` uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A private PostgreSQL server: `initdb` into a temp dir, `pg_ctl start` on a free port with
/// its socket in the same dir, listening on 127.0.0.1 only; stopped (`pg_ctl stop`) on drop.
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
    as_user: Option<&'static str>,
    pub url: String,
}

impl PgServer {
    fn pg_bin() -> PathBuf {
        if let Ok(dir) = std::env::var("PG_BIN") {
            return dir.into();
        }
        let root = Path::new("/usr/lib/postgresql");
        let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL server not installed ({}: {e}); run tests/install-tools.sh",
                    root.display()
                )
            })
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        versions.sort();
        versions
            .pop()
            .expect("an initdb under /usr/lib/postgresql/*/bin")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A new, empty database on this server; its URL.
    pub async fn database(&self, name: &str) -> String {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect to postgres");
        let conn = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        drop(client);
        let _ = conn.await;
        let (base, _) = self.url.rsplit_once('/').expect("url with a database");
        format!("{base}/{name}")
    }

    pub fn start() -> PgServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        // initdb refuses to run as root: use the postgres system user then.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        let as_user = root.then_some("postgres");
        if let Some(user) = as_user {
            let ok = Command::new("chown")
                .args([user, &dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(ok.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let server = PgServer {
            bin: Self::pg_bin(),
            data: data.clone(),
            _dir: dir,
            as_user,
            url: format!("postgres://refract@127.0.0.1:{port}/postgres"),
        };
        let data_s = data.display().to_string();
        server.run(
            "initdb",
            &[
                "-D",
                &data_s,
                "-U",
                "refract",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let socket_dir = data.parent().expect("parent").display().to_string();
        let opts = format!("-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off");
        let log = data
            .parent()
            .expect("parent")
            .join("pg.log")
            .display()
            .to_string();
        // -w waits until the server accepts connections.
        server.run(
            "pg_ctl",
            &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
        );
        server
    }
}

impl PgServer {
    /// Restarts the server (same data, port and options): every connection to it breaks.
    pub fn restart(&self) {
        let data = self.data.display().to_string();
        // With a log file, so the server does not hold pg_ctl's output open.
        let log = self.data.parent().expect("parent").join("pg.log");
        let log = log.display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-m", "fast", "-l", &log, "-w", "restart"],
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let exe = self.bin.join("pg_ctl");
        let mut cmd = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let _ = cmd.args(["-D", &data, "-m", "fast", "-w", "stop"]).output();
    }
}
