//! A minimal AWS Signature Version 4 client for the few S3 calls the tests need to ask S3
//! itself about an object (HeadObject, GetObject, a plain PutObject, and an in-place
//! CopyObject that changes the storage class). Path-style addressing
//! (`<endpoint>/<bucket>/<key>`), service `s3`, no query string, header-based signing.
//!
//! Every request signs `host`, `x-amz-content-sha256` and `x-amz-date`, plus any `x-amz-*`
//! header the call adds. The payload hash is the SHA-256 of the body (the empty-body hash for
//! HEAD, GET and the copy).

// Each test crate that includes `support` uses only some of these helpers.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, Response, Url};
use sha2::{Digest, Sha256};

/// SHA-256 of the empty string, the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What S3 answers to HeadObject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub status: u16,
    /// `x-amz-storage-class`. S3 sends this header on HEAD/GET only for classes other than
    /// STANDARD, so `None` (on a 200) means the object is STANDARD.
    pub storage_class: Option<String>,
    /// `ETag` exactly as sent, surrounding quotes included.
    pub etag: Option<String>,
    /// `Content-Length`: the object's size in bytes.
    pub size: Option<u64>,
}

/// S3 HeadObject of `key` in `bucket` at `endpoint` (`http://127.0.0.1:PORT`, path-style).
pub async fn head_object(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
    bucket: &str,
    key: &str,
) -> ObjectHead {
    let creds = Creds {
        region,
        access_key,
        secret_key,
    };
    let resp = send(Method::HEAD, endpoint, &creds, bucket, key, &[], Vec::new()).await;
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().expect("S3 header is ASCII").to_owned())
    };
    ObjectHead {
        status: resp.status().as_u16(),
        // Absent for STANDARD objects: S3 reports the storage class only when it is not
        // STANDARD.
        storage_class: header("x-amz-storage-class"),
        etag: header("etag"),
        size: header("content-length").map(|v| v.parse().expect("Content-Length is a number")),
    }
}

/// S3 GetObject: the status and the body.
pub async fn get_object(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
    bucket: &str,
    key: &str,
) -> (u16, Vec<u8>) {
    let creds = Creds {
        region,
        access_key,
        secret_key,
    };
    let resp = send(Method::GET, endpoint, &creds, bucket, key, &[], Vec::new()).await;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("read S3 GET body").to_vec();
    (status, body)
}

/// S3 PutObject of `body` (signed payload, no other headers): the status.
pub async fn put_object(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> u16 {
    let creds = Creds {
        region,
        access_key,
        secret_key,
    };
    let resp = send(Method::PUT, endpoint, &creds, bucket, key, &[], body).await;
    resp.status().as_u16()
}

/// S3 CopyObject of an object onto itself with `x-amz-storage-class: <class>` and
/// `x-amz-metadata-directive: REPLACE` (S3 refuses a self-copy that changes nothing; REPLACE
/// also drops user metadata and the content type, which is fine for test fixtures).
///
/// Returns the status, except that a 200 whose body is an `<Error>` document (S3 may report
/// a copy failure that way once it has started answering) is returned as 500.
pub async fn set_storage_class(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
    bucket: &str,
    key: &str,
    class: &str,
) -> u16 {
    let creds = Creds {
        region,
        access_key,
        secret_key,
    };
    // The copy source is `/<bucket>/<key>`, URL-encoded like the path.
    let source = object_path(bucket, key);
    let headers = [
        ("x-amz-copy-source", source.as_str()),
        ("x-amz-metadata-directive", "REPLACE"),
        ("x-amz-storage-class", class),
    ];
    let resp = send(
        Method::PUT,
        endpoint,
        &creds,
        bucket,
        key,
        &headers,
        Vec::new(),
    )
    .await;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("read S3 copy body");
    if status == 200 && String::from_utf8_lossy(&body).contains("<Error>") {
        eprintln!(
            "CopyObject answered 200 with an error: {}",
            String::from_utf8_lossy(&body)
        );
        return 500;
    }
    status
}

struct Creds<'a> {
    region: &'a str,
    access_key: &'a str,
    secret_key: &'a str,
}

/// Signs and sends `method` on `/<bucket>/<key>` with the `x-amz-*` headers `extra`.
async fn send(
    method: Method,
    endpoint: &str,
    creds: &Creds<'_>,
    bucket: &str,
    key: &str,
    extra: &[(&str, &str)],
    body: Vec<u8>,
) -> Response {
    let path = object_path(bucket, key);
    let url = Url::parse(&format!("{}{path}", endpoint.trim_end_matches('/')))
        .unwrap_or_else(|e| panic!("bad S3 URL {endpoint}{path}: {e}"));
    // The URL parser normalises dot segments; the signed path must be the one sent.
    assert_eq!(url.path(), path, "key {key:?} does not survive URL parsing");
    // reqwest writes Host as the URL's host, with the port unless it is the scheme's default.
    let host_name = url.host_str().expect("S3 endpoint has a host");
    let host = match url.port() {
        Some(port) => format!("{host_name}:{port}"),
        None => host_name.to_owned(),
    };
    let payload_hash = if body.is_empty() {
        EMPTY_SHA256.to_owned()
    } else {
        sha256_hex(&body)
    };
    let date = amz_date(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs(),
    );
    let mut headers: Vec<(&str, &str)> = vec![
        ("host", &host),
        ("x-amz-content-sha256", &payload_hash),
        ("x-amz-date", &date),
    ];
    headers.extend_from_slice(extra);
    let auth = authorization(
        method.as_str(),
        &path,
        &headers,
        &payload_hash,
        &date,
        creds,
    );

    let mut request = super::process::client().request(method.clone(), url);
    for (name, value) in &headers {
        // reqwest sets Host itself, from the URL, to the same value.
        if *name != "host" {
            request = request.header(*name, *value);
        }
    }
    request
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("S3 {method} {path}: {e}"))
}

/// The `Authorization` header of a request without a query string. `headers` are the signed
/// headers (names in any case; `host` and `x-amz-date` among them), `date` the `x-amz-date`.
fn authorization(
    method: &str,
    canonical_uri: &str,
    headers: &[(&str, &str)],
    payload_hash: &str,
    date: &str,
    creds: &Creds<'_>,
) -> String {
    let mut canon: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), canonical_value(v)))
        .collect();
    canon.sort();
    let canonical_headers: String = canon.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = canon
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    // The empty line is the (empty) canonical query string.
    let canonical_request = format!(
        "{method}\n{canonical_uri}\n\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    );

    let day = &date[..8];
    let scope = format!("{day}/{}/s3/aws4_request", creds.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(format!("AWS4{}", creds.secret_key).as_bytes(), day);
    let k_region = hmac_sha256(&k_date, creds.region);
    let k_service = hmac_sha256(&k_region, "s3");
    let k_signing = hmac_sha256(&k_service, "aws4_request");
    let signature = hex(&hmac_sha256(&k_signing, &string_to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        creds.access_key
    )
}

/// A header value as SigV4 canonicalises it: trimmed, inner runs of spaces made one.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `/<bucket>/<key>` with every segment URI-encoded and the `/`s kept.
fn object_path(bucket: &str, key: &str) -> String {
    format!("/{}/{}", uri_encode(bucket, false), uri_encode(key, true))
}

/// SigV4's URI encoding: every byte of the UTF-8 except `A-Z a-z 0-9 - _ . ~` (and `/` when
/// `keep_slash`) becomes `%XX` with upper-case hex.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYYMMDD'T'HHMMSS'Z'` (UTC) of a Unix time in seconds.
pub fn amz_date(unix_secs: u64) -> String {
    let days = i64::try_from(unix_secs / 86_400).expect("date in range");
    let secs = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01: the
/// inverse of days-from-civil. Works in 400-year eras (146 097 days) that start on March 1st,
/// so that the leap day is the last day of a year of the era.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = era * 400 + yoe + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).expect("month fits"),
        u32::try_from(day).expect("day fits"),
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days-from-civil);
/// only the tests use it, to check [`civil_from_days`] round-trips.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_of_known_instants() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_700_000_000), "20231114T221320Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z"); // leap day of a /400 year
        assert_eq!(amz_date(4_107_542_399), "21000228T235959Z"); // 2100 is not a leap year
        assert_eq!(amz_date(4_107_542_400), "21000301T000000Z");
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
    }

    #[test]
    fn civil_from_days_inverts_days_from_civil() {
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2023, 11, 14), 19_675);
    }

    #[test]
    fn uri_encoding() {
        assert_eq!(
            uri_encode("a/b c+d$é~_.-", true),
            "a/b%20c%2Bd%24%C3%A9~_.-"
        );
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(object_path("bkt", "x/y z.jpg"), "/bkt/x/y%20z.jpg");
    }

    const EXAMPLE: Creds<'static> = Creds {
        region: "us-east-1",
        access_key: "AKIAIOSFODNN7EXAMPLE",
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    };

    /// The "GET Object" example of the S3 SigV4 documentation (header-based auth).
    #[test]
    fn s3_documentation_get_object_example() {
        let auth = authorization(
            "GET",
            "/test.txt",
            &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ],
            EMPTY_SHA256,
            "20130524T000000Z",
            &EXAMPLE,
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// The "PUT Object" example: a key needing encoding, a signed payload, a storage class.
    #[test]
    fn s3_documentation_put_object_example() {
        let payload_hash = sha256_hex(b"Welcome to Amazon S3.");
        assert_eq!(
            payload_hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let uri = format!("/{}", uri_encode("test$file.text", true));
        let auth = authorization(
            "PUT",
            &uri,
            &[
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-content-sha256", &payload_hash),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            &payload_hash,
            "20130524T000000Z",
            &EXAMPLE,
        );
        assert!(
            auth.ends_with(
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
                 Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            ),
            "{auth}"
        );
    }
}
