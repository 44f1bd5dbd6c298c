//! The listeners against hostile clients, through a real `refract serve` process and raw TCP:
//! headers trickled a byte at a time, connections opened and left idle, more connections than
//! the cap. The sleeps below are the hostile client's pace, not synchronization: every
//! assertion is on what the server did to the connection.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::process::Serve;

/// Reads until the server closes the connection (or the bound passes): what it sent, and
/// whether it closed.
fn read_until_closed(s: &mut TcpStream, bound: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(bound)).expect("read timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let (got, _) = read_until_closed(&mut s, Duration::from_secs(30));
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_client_trickling_its_headers_is_cut_off_at_the_header_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Serve::new(dir.path())
        .env("REFRACT_HTTP__HEADER_TIMEOUT_MS", "500")
        .start();
    let mut s = TcpStream::connect(server.http).expect("connect");
    let request = b"GET /cat-small.jpg?width=50 HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n\r\n";
    let started = Instant::now();
    let mut sent = 0;
    // One byte every 100 ms: the whole header would take about 6 s.
    for &b in request {
        if s.write_all(&[b]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    assert!(sent < request.len(), "the whole header went through");
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(10));
    assert!(closed, "the connection is still open");
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "a trickled request was served"
    );
}

#[test]
fn an_idle_connection_is_closed_and_a_kept_alive_one_too_once_idle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Serve::new(dir.path())
        .env("REFRACT_HTTP__HEADER_TIMEOUT_MS", "500")
        .start();
    // Opened, never used.
    let mut idle = TcpStream::connect(server.http).expect("connect");
    let (got, closed) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(
        closed && got.is_empty(),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // One request served on a keep-alive connection, then nothing.
    let mut kept = TcpStream::connect(server.http).expect("connect");
    write!(
        kept,
        "GET /cat-small.jpg?width=40 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .expect("send");
    let (got, closed) = read_until_closed(&mut kept, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "the idle keep-alive connection is still open");
}

#[test]
fn connections_past_the_cap_get_503_and_the_slots_come_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Serve::new(dir.path())
        .env("REFRACT_HTTP__MAX_CONNECTIONS", "2")
        .env("REFRACT_HTTP__HEADER_TIMEOUT_MS", "60000")
        .start();
    // Two connections hold both slots (the server accepts in order, so by the time it takes
    // the third, these two are counted).
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.http).expect("connect"))
        .collect();
    let text = get(server.http, "/cat-small.jpg?width=30");
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("retry-after: 1"), "{text}");
    assert!(text.contains("\"code\":\"overloaded\""), "{text}");
    // The admin listener has its own slots.
    let ready = get(server.admin, "/ready");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");

    drop(held);
    // The server frees a slot when it sees the close; until then it may still refuse.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = get(server.http, "/cat-small.jpg?width=30");
        if text.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came back: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
