//! The tests' own SigV4 client (tests/support/sigv4.rs) against a real S3-compatible server
//! (SeaweedFS's `weed mini`): what S3 itself reports about an object's storage class, size and
//! bytes, and that a wrong secret key is refused.
//!
//! Ignored by plain `cargo test`; run with
//! `cargo test -p refract-server --test s3_storage_class -- --ignored`.

// This test uses weed and the SigV4 client, not the rest of `support` (refract, replies).
mod support;

use support::process::{sample, Weed, ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY};
use support::sigv4::{get_object, head_object, put_object, set_storage_class};

const REGION: &str = "us-east-1";

#[tokio::test]
#[ignore = "needs SeaweedFS: run by tests/run.sh"]
async fn storage_class_is_set_by_copy_and_reported_by_head() {
    let root = tempfile::Builder::new()
        .prefix("refract-s3-class-")
        .tempdir()
        .expect("temp dir");
    let weed = Weed::start(root.path()).await;
    let s3 = weed.endpoint();
    let (id, secret) = (ACCESS_KEY_ID, SECRET_ACCESS_KEY);
    // A key whose canonical URI needs encoding: a space, `+`, `$`, non-ASCII, and a `/`.
    let key = "originals/class test/café+1$.jpg";
    let body = sample("cat-small.jpg");
    let size = Some(u64::try_from(body.len()).expect("size fits"));

    // Not there yet: 404 (so 200s below come from the PUT).
    let missing = head_object(&s3, REGION, id, secret, BUCKET, key).await;
    assert_eq!(missing.status, 404, "{missing:?}");

    // A plain signed PUT; the new object is STANDARD, which HEAD reports by omitting the class.
    let put = put_object(&s3, REGION, id, secret, BUCKET, key, body.clone()).await;
    assert_eq!(put, 200);
    let head = head_object(&s3, REGION, id, secret, BUCKET, key).await;
    eprintln!("after PUT: {head:?}");
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.storage_class, None, "{head:?}");
    assert_eq!(head.size, size, "{head:?}");
    assert!(head.etag.is_some(), "{head:?}");
    assert_eq!(
        weed.stored_object("originals/class%20test/caf%C3%A9%2B1%24.jpg")
            .await
            .as_deref(),
        Some(body.as_slice()),
        "the filer sees the object under the decoded key"
    );

    // In-place copy to STANDARD_IA: HEAD now names the class; size and bytes are unchanged.
    let copy = set_storage_class(&s3, REGION, id, secret, BUCKET, key, "STANDARD_IA").await;
    assert_eq!(copy, 200);
    let ia = head_object(&s3, REGION, id, secret, BUCKET, key).await;
    eprintln!("after copy: {ia:?}");
    assert_eq!(ia.status, 200, "{ia:?}");
    assert_eq!(ia.storage_class.as_deref(), Some("STANDARD_IA"), "{ia:?}");
    assert_eq!(ia.size, size, "{ia:?}");
    let (status, got) = get_object(&s3, REGION, id, secret, BUCKET, key).await;
    assert_eq!(status, 200);
    assert!(got == body, "GET after the copy returned other bytes");

    // A wrong secret key: the signature does not verify, so every call is refused and the
    // PUT stores nothing.
    let bad = "not-the-secret";
    let head = head_object(&s3, REGION, id, bad, BUCKET, key).await;
    assert_eq!(head.status, 403, "{head:?}");
    let (status, _) = get_object(&s3, REGION, id, bad, BUCKET, key).await;
    assert_eq!(status, 403);
    let other = "originals/forged.bin";
    let put = put_object(&s3, REGION, id, bad, BUCKET, other, b"forged".to_vec()).await;
    assert_eq!(put, 403);
    let copy = set_storage_class(&s3, REGION, id, bad, BUCKET, key, "STANDARD").await;
    assert_eq!(copy, 403);
    let forged = head_object(&s3, REGION, id, secret, BUCKET, other).await;
    assert_eq!(
        forged.status, 404,
        "the refused PUT stored something: {forged:?}"
    );
    let still = head_object(&s3, REGION, id, secret, BUCKET, key).await;
    assert_eq!(
        still.storage_class.as_deref(),
        Some("STANDARD_IA"),
        "{still:?}"
    );
    // An unsigned request is refused: weed enforces auth because support/mod.rs starts it
    // with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (without them it allows anonymous access).
    let url = format!("{s3}/{BUCKET}/{}", support::sigv4::uri_encode(key, true));
    let anonymous = support::process::client()
        .get(&url)
        .send()
        .await
        .expect("GET");
    assert_eq!(anonymous.status(), 403);
    // An unknown access key is refused too.
    let stranger = head_object(&s3, REGION, "nobody", secret, BUCKET, key).await;
    assert_eq!(stranger.status, 403, "{stranger:?}");
}
