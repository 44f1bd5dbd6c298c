//! `refract serve` over real sockets, with its originals in a real S3-compatible server
//! (SeaweedFS's `weed mini`, started per test on free ports with a fresh data directory).
//!
//! Ignored by plain `cargo test`; tests/run.sh runs them with
//! `cargo test -p refract-server --test s3_delivery -- --ignored --test-threads=1`.
//! The `weed` binary comes from `$WEED_BIN`, the venv tests/install-tools.sh makes, or `PATH`.

mod support;

use std::time::{Duration, Instant};

use refract_core::decode::sniff;
use refract_core::{decode_upright, InputFormat};
use support::process::{sample, Env, Reply, STORAGE_TIMEOUT, TOKEN};

const CAT: &str = "cat-small.jpg"; // 451×300 JPEG
const LOGO: &str = "logo-alpha.png"; // 256×256 RGBA PNG

/// Format and upright size of an image the core can decode (JPEG, PNG, WebP, GIF).
fn format_and_size(bytes: &[u8]) -> (InputFormat, u32, u32) {
    let format = sniff(bytes).expect("output is an image the core recognises");
    let image = decode_upright(bytes).expect("output decodes");
    (format, image.width(), image.height())
}

/// An AVIF file: the `ftyp` box with major brand `avif`, and the size from its `ispe` box.
fn avif_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[4..12], b"ftypavif", "not an AVIF file");
    let at = bytes
        .windows(4)
        .position(|w| w == b"ispe")
        .expect("AVIF has an ispe box");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    (be(at + 8), be(at + 12))
}

fn vary_lists_accept(reply: &Reply) -> bool {
    reply
        .header("vary")
        .split(',')
        .any(|v| v.trim().eq_ignore_ascii_case("accept"))
}

#[tokio::test]
#[ignore = "needs SeaweedFS: run by tests/run.sh"]
async fn uploads_are_authorised_sniffed_and_stored_in_s3() {
    let env = Env::start().await;
    let cat = sample(CAT);

    // Raw-body upload with the token: 201 and a JSON description of the image.
    let put = env.upload("/photos/cat.jpg", cat.clone()).await;
    assert_eq!(put.status, 201, "upload: {put:?}");
    let json = put.json();
    assert_eq!(json["key"], "photos/cat.jpg", "{json}");
    assert_eq!(json["size"], cat.len(), "{json}");
    assert_eq!(json["format"], "jpeg", "{json}");
    assert_eq!(json["width"], 451, "{json}");
    assert_eq!(json["height"], 300, "{json}");
    // The object really is in the bucket, under the originals prefix, byte for byte.
    assert_eq!(
        env.weed.stored_object("originals/photos/cat.jpg").await,
        Some(cat.clone())
    );

    // Without a token, or with a wrong one: 401 and nothing stored.
    let no_token = env
        .send(
            env.client
                .put(env.url("/photos/sneaky.jpg"))
                .body(cat.clone()),
        )
        .await;
    assert_eq!(no_token.status, 401, "{no_token:?}");
    assert_eq!(no_token.code(), "unauthorized");
    let bad_token = env
        .send(
            env.client
                .put(env.url("/photos/sneaky.jpg"))
                .bearer_auth(format!("{TOKEN}x"))
                .body(cat.clone()),
        )
        .await;
    assert_eq!(bad_token.status, 401, "{bad_token:?}");
    assert_eq!(bad_token.code(), "unauthorized");
    assert_eq!(env.get("/photos/sneaky.jpg").await.status, 404);
    assert_eq!(
        env.weed.stored_object("originals/photos/sneaky.jpg").await,
        None
    );

    // A text file, even named .jpg, is sniffed and refused: 415 and nothing stored.
    let text = env
        .upload(
            "/notes/readme.jpg",
            b"just some text, not an image\n".to_vec(),
        )
        .await;
    assert_eq!(text.status, 415, "{text:?}");
    assert_eq!(text.code(), "unsupported_format");
    let get = env.get("/notes/readme.jpg").await;
    assert_eq!(get.status, 404, "{get:?}");
    assert_eq!(get.code(), "not_found");
    assert_eq!(
        env.weed.stored_object("originals/notes/readme.jpg").await,
        None
    );
}

#[tokio::test]
#[ignore = "needs SeaweedFS: run by tests/run.sh"]
async fn serves_originals_and_variants_with_etags() {
    let env = Env::start().await;
    let cat = sample(CAT);
    assert_eq!(env.upload("/photos/cat.jpg", cat.clone()).await.status, 201);

    // No options: the original bytes.
    let original = env.get("/photos/cat.jpg").await;
    assert_eq!(original.status, 200, "{original:?}");
    assert_eq!(original.header("content-type"), "image/jpeg");
    assert!(
        original.body == cat,
        "original bytes differ from the upload"
    );

    // Query form: a WebP 100 px wide (451×300 scaled, 66.5 rounds to 67).
    let query = env.get("/photos/cat.jpg?width=100&format=webp").await;
    assert_eq!(query.status, 200, "{query:?}");
    assert_eq!(query.header("content-type"), "image/webp");
    assert_eq!(format_and_size(&query.body), (InputFormat::Webp, 100, 67));
    let etag = query.header("etag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "ETag must be strong and quoted: {etag:?}"
    );
    assert!(query.opt_header("cache-control").is_some(), "{query:?}");
    assert!(query.opt_header("server-timing").is_some(), "{query:?}");

    // Option form under /cdn-cgi/image/: the same variant, the same ETag.
    let cdn = env
        .get("/cdn-cgi/image/width=100,format=webp/photos/cat.jpg")
        .await;
    assert_eq!(cdn.status, 200, "{cdn:?}");
    assert_eq!(cdn.header("content-type"), "image/webp");
    assert_eq!(format_and_size(&cdn.body), (InputFormat::Webp, 100, 67));
    assert_eq!(cdn.header("etag"), etag);

    // format=auto with a client that takes AVIF: AVIF, and the response varies on Accept.
    let auto = env
        .send(
            env.client
                .get(env.url("/photos/cat.jpg?width=100&format=auto"))
                .header("accept", "image/avif,image/webp,image/*,*/*;q=0.8"),
        )
        .await;
    assert_eq!(auto.status, 200, "{auto:?}");
    assert_eq!(auto.header("content-type"), "image/avif");
    assert_eq!(avif_size(&auto.body), (100, 67));
    assert!(vary_lists_accept(&auto), "Vary: {:?}", auto.header("vary"));
    // The same URL for a client that takes neither AVIF nor WebP: a JPEG, different ETag.
    let auto_jpeg = env
        .send(
            env.client
                .get(env.url("/photos/cat.jpg?width=100&format=auto"))
                .header("accept", "image/jpeg"),
        )
        .await;
    assert_eq!(auto_jpeg.status, 200, "{auto_jpeg:?}");
    assert_eq!(auto_jpeg.header("content-type"), "image/jpeg");
    assert_eq!(
        format_and_size(&auto_jpeg.body),
        (InputFormat::Jpeg, 100, 67)
    );
    assert!(vary_lists_accept(&auto_jpeg));
    assert_ne!(auto_jpeg.header("etag"), auto.header("etag"));

    // HEAD: the GET's headers, no body.
    let head = env
        .send(
            env.client
                .head(env.url("/photos/cat.jpg?width=100&format=webp")),
        )
        .await;
    assert_eq!(head.status, 200, "{head:?}");
    assert!(
        head.body.is_empty(),
        "HEAD has a body of {}",
        head.body.len()
    );
    for name in ["etag", "content-type", "cache-control"] {
        assert_eq!(head.header(name), query.header(name), "{name}");
    }
    assert_eq!(head.header("content-length"), query.body.len().to_string());
    let head_auto = env
        .send(
            env.client
                .head(env.url("/photos/cat.jpg?width=100&format=auto"))
                .header("accept", "image/avif,image/webp,image/*,*/*;q=0.8"),
        )
        .await;
    assert_eq!(head_auto.status, 200, "{head_auto:?}");
    assert!(head_auto.body.is_empty());
    assert_eq!(head_auto.header("etag"), auto.header("etag"));
    assert_eq!(head_auto.header("content-type"), "image/avif");
    assert!(vary_lists_accept(&head_auto));

    // Conditional GET: If-None-Match with the ETag gives 304, no body, the same ETag.
    let not_modified = env
        .send(
            env.client
                .get(env.url("/photos/cat.jpg?width=100&format=webp"))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(not_modified.status, 304, "{not_modified:?}");
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), etag);
    // The same for the original.
    let original_etag = original.header("etag");
    let not_modified = env
        .send(
            env.client
                .get(env.url("/photos/cat.jpg"))
                .header("if-none-match", original_etag),
        )
        .await;
    assert_eq!(not_modified.status, 304, "{not_modified:?}");
    assert!(not_modified.body.is_empty());
    // A different ETag: the full response.
    let modified = env
        .send(
            env.client
                .get(env.url("/photos/cat.jpg?width=100&format=webp"))
                .header("if-none-match", "\"something-else\""),
        )
        .await;
    assert_eq!(modified.status, 200, "{modified:?}");
    assert_eq!(modified.body, query.body);
}

#[tokio::test]
#[ignore = "needs SeaweedFS: run by tests/run.sh"]
async fn accepts_multipart_uploads() {
    let env = Env::start().await;
    let logo = sample(LOGO);

    // multipart/form-data with one file field, built by hand.
    let boundary = "refract-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        b"Content-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n",
    );
    body.extend_from_slice(b"Content-Type: image/png\r\n\r\n");
    body.extend_from_slice(&logo);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let put = env
        .send(
            env.client
                .put(env.url("/logos/debian.png"))
                .bearer_auth(TOKEN)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body),
        )
        .await;
    assert_eq!(put.status, 201, "{put:?}");
    let json = put.json();
    assert_eq!(json["key"], "logos/debian.png", "{json}");
    assert_eq!(json["size"], logo.len(), "{json}");
    assert_eq!(json["format"], "png", "{json}");
    assert_eq!(json["width"], 256, "{json}");
    assert_eq!(json["height"], 256, "{json}");
    // Only the file's bytes are stored, not the multipart framing.
    assert_eq!(
        env.weed.stored_object("originals/logos/debian.png").await,
        Some(logo.clone())
    );
    let original = env.get("/logos/debian.png").await;
    assert_eq!(original.status, 200, "{original:?}");
    assert!(
        original.body == logo,
        "original bytes differ from the upload"
    );

    let small = env.get("/logos/debian.png?format=png&width=64").await;
    assert_eq!(small.status, 200, "{small:?}");
    assert_eq!(small.header("content-type"), "image/png");
    assert_eq!(format_and_size(&small.body), (InputFormat::Png, 64, 64));
    let image = decode_upright(&small.body).expect("decodes");
    assert!(image.color().has_alpha(), "transparency was lost");
}

#[tokio::test]
#[ignore = "needs SeaweedFS: run by tests/run.sh"]
async fn deletes_originals() {
    let env = Env::start().await;
    assert_eq!(env.upload("/photos/cat.jpg", sample(CAT)).await.status, 201);
    assert_eq!(env.get("/photos/cat.jpg").await.status, 200);

    // Without the token: 401, and the object stays.
    let no_token = env
        .send(env.client.delete(env.url("/photos/cat.jpg")))
        .await;
    assert_eq!(no_token.status, 401, "{no_token:?}");
    assert_eq!(no_token.code(), "unauthorized");
    assert_eq!(env.get("/photos/cat.jpg").await.status, 200);

    let deleted = env.delete("/photos/cat.jpg").await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert!(deleted.body.is_empty());
    assert_eq!(
        env.weed.stored_object("originals/photos/cat.jpg").await,
        None
    );

    let get = env.get("/photos/cat.jpg").await;
    assert_eq!(get.status, 404, "{get:?}");
    assert_eq!(get.code(), "not_found");

    let again = env.delete("/photos/cat.jpg").await;
    assert_eq!(again.status, 404, "{again:?}");
    assert_eq!(again.code(), "not_found");
}

#[tokio::test]
#[ignore = "needs SeaweedFS: run by tests/run.sh"]
async fn storage_outage_gives_503_and_recovers() {
    let mut env = Env::start().await;
    let cat = sample(CAT);
    assert_eq!(env.upload("/photos/cat.jpg", cat.clone()).await.status, 201);
    let warm = env.get("/photos/cat.jpg?width=100&format=webp").await;
    assert_eq!(warm.status, 200, "{warm:?}");
    let health = env.admin_get("/health").await;
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(String::from_utf8_lossy(&health.body).trim_end(), "ok");
    let ready = env.admin_get("/ready").await;
    assert_eq!(ready.status, 200, "{ready:?}");

    // Storage goes away.
    env.weed.stop();

    // A variant never requested before has to come from storage: 503 with Retry-After, and
    // no later than the storage timeout (plus slack for a loaded machine).
    let variant = "/photos/cat.jpg?width=123&format=jpeg";
    let started = Instant::now();
    let down = env.get(variant).await;
    let took = started.elapsed();
    eprintln!("GET during the outage took {} ms", took.as_millis());
    assert_eq!(down.status, 503, "{down:?}");
    assert_eq!(down.code(), "storage_unavailable");
    let retry_after: u64 = down
        .header("retry-after")
        .parse()
        .expect("Retry-After is a number of seconds");
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    assert!(
        took <= STORAGE_TIMEOUT + Duration::from_secs(2),
        "the 503 took {took:?}, storage timeout is {STORAGE_TIMEOUT:?}"
    );

    let ready = env.admin_get("/ready").await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.code(), "storage_unavailable");
    let health = env.admin_get("/health").await;
    assert_eq!(health.status, 200, "liveness does not depend on storage");

    // Storage comes back on the same data directory and ports.
    env.weed.restart().await;
    let started = Instant::now();
    loop {
        let ready = env.admin_get("/ready").await;
        if ready.status == 200 {
            break;
        }
        assert_eq!(ready.status, 503, "{ready:?}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "/ready still 503 30 s after storage came back: {ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "/ready was 200 {} ms after weed was ready again",
        started.elapsed().as_millis()
    );

    // The listing answers before SeaweedFS has re-registered its volumes, so reads may still
    // fail for a moment: until they succeed, every answer must be a clean 503, never a 500.
    let up = loop {
        let up = env.get(variant).await;
        if up.status == 200 {
            break up;
        }
        assert_eq!(up.status, 503, "{up:?}");
        assert_eq!(up.code(), "storage_unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "reads still failing 30 s after storage came back: {up:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(up.header("content-type"), "image/jpeg");
    // 451×300 scaled to width 123: 81.8 rounds to 82.
    assert_eq!(format_and_size(&up.body), (InputFormat::Jpeg, 123, 82));
    let original = env.get("/photos/cat.jpg").await;
    assert_eq!(original.status, 200, "{original:?}");
    assert!(
        original.body == cat,
        "the original changed across the outage"
    );

    // SIGTERM: the server exits cleanly.
    let status = env.refract.stop().expect("refract was running");
    assert!(
        status.success(),
        "refract serve exited with {status} on SIGTERM"
    );
}

#[tokio::test]
#[ignore = "needs SeaweedFS: run by tests/run.sh"]
async fn hung_storage_times_out_with_503() {
    let mut env = Env::start().await;
    assert_eq!(env.upload("/photos/cat.jpg", sample(CAT)).await.status, 201);

    // Storage that accepts connections but never answers: the storage timeout has to end the
    // request, with a 503, instead of the client's patience.
    env.weed.pause();
    let variant = "/photos/cat.jpg?width=77&format=png";
    let started = Instant::now();
    let hung = env.get(variant).await;
    let took = started.elapsed();
    eprintln!(
        "GET with storage hung: {} after {} ms",
        hung.status,
        took.as_millis()
    );
    assert_eq!(hung.status, 503, "{hung:?}");
    let code = hung.code();
    assert!(
        code == "storage_unavailable" || code == "deadline_exceeded",
        "code {code:?}"
    );
    assert!(hung.opt_header("retry-after").is_some(), "{hung:?}");
    assert!(
        took <= STORAGE_TIMEOUT + Duration::from_secs(2),
        "the 503 took {took:?}, storage timeout is {STORAGE_TIMEOUT:?}"
    );
    let started = Instant::now();
    let ready = env.admin_get("/ready").await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.code(), "storage_unavailable");
    assert!(started.elapsed() <= STORAGE_TIMEOUT + Duration::from_secs(2));

    // Thawed, it serves again.
    env.weed.resume();
    // The listing answers before SeaweedFS has re-registered its volumes, so reads may still
    // fail for a moment: until they succeed, every answer must be a clean 503, never a 500.
    let up = loop {
        let up = env.get(variant).await;
        if up.status == 200 {
            break up;
        }
        assert_eq!(up.status, 503, "{up:?}");
        assert_eq!(up.code(), "storage_unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "reads still failing 30 s after storage came back: {up:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // 451×300 scaled to width 77: 51.2 rounds to 51.
    assert_eq!(format_and_size(&up.body), (InputFormat::Png, 77, 51));
    assert_eq!(env.admin_get("/ready").await.status, 200);
}

#[tokio::test]
#[ignore = "needs SeaweedFS: run by tests/run.sh"]
async fn every_key_the_grammar_accepts_round_trips_through_s3() {
    let env = Env::start().await;
    let jpeg = sample(CAT);
    let keys = support::awkward_keys();
    for key in &keys {
        let path = support::url_path(key);
        let up = env.upload(&path, jpeg.clone()).await;
        assert_eq!(up.status, 201, "{key}: {up:?}");
        let got = env.get(&path).await;
        assert_eq!(got.status, 200, "{key}");
        assert_eq!(got.body, jpeg, "{key}");
        let small = env.get(&format!("{path}?width=20")).await;
        assert_eq!(small.status, 200, "{key}");
        assert_eq!(format_and_size(&small.body).1, 20, "{key}");
    }
    // What reindex and the lifecycle see: the keys themselves, not the stored names.
    let mut config = refract_server::config::Config {
        originals: format!("s3://{}/originals", support::process::BUCKET),
        ..Default::default()
    };
    config.storage.s3 = refract_server::config::S3Config {
        endpoint: Some(env.weed.endpoint()),
        region: Some("us-east-1".into()),
        access_key_id: Some(support::process::ACCESS_KEY_ID.into()),
        secret_access_key: Some(support::process::SECRET_ACCESS_KEY.into()),
        allow_http: true,
    };
    let originals = refract_server::originals::Originals::from_config(&config).expect("store");
    let listed = originals.list().await.expect("list");
    support::assert_same_keys(listed.into_iter().map(|(k, _, _)| k).collect(), &keys);
    for key in &keys {
        let path = support::url_path(key);
        assert_eq!(env.delete(&path).await.status, 204, "{key}");
        assert_eq!(env.get(&path).await.status, 404, "{key}");
    }
    assert!(originals.list().await.expect("list").is_empty());
}
