//! What the server's tests share. Each test file includes it with `mod support;` and uses what
//! it needs:
//!
//! - [`app`]: the real router over a temporary directory of samples, driven in process with
//!   `oneshot` (most tests);
//! - [`process`]: `refract` as a process, the one way tests start `refract serve`, and a real
//!   S3-compatible server (SeaweedFS);
//! - [`pg`]: a private PostgreSQL server; [`sigv4`]: the tests' own S3 client, for asking S3
//!   itself what it holds.
#![allow(dead_code)]

pub mod app;
pub mod pg;
pub mod process;
pub mod sigv4;

use std::path::Path;

pub fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
