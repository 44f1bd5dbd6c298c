//! `?list`: the keys of image originals the page offers as samples, from the originals' store
//! listing (any backend: a directory, S3, GCS, Azure), bounded.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Most keys returned.
pub const MAX_KEYS: usize = 200;
/// Most store entries looked at to find them (one S3 `ListObjectsV2` page).
const MAX_SCAN: usize = 1000;

/// File name endings of the formats the core decodes.
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "avif", "svg"];

#[derive(Serialize)]
struct Listing {
    keys: Vec<Entry>,
    /// More originals exist than are listed.
    truncated: bool,
    /// Uploads are configured (the page then offers an upload with the token typed in).
    upload: bool,
    /// Unsigned transforms are restricted (`signing.keys` set): the page's requests will be
    /// refused unless they fit the unsigned policy.
    signing: bool,
}

#[derive(Serialize)]
struct Entry {
    key: String,
    size: u64,
}

pub(super) async fn originals(state: &AppState) -> Response {
    let page = match state.originals.list_page("", MAX_SCAN).await {
        Ok(page) => page,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut images = page
        .objects
        .into_iter()
        .filter_map(|o| Some((o.key?, o.size)))
        .filter(|(key, _)| is_image_name(key));
    let keys: Vec<Entry> = images
        .by_ref()
        .take(MAX_KEYS)
        .map(|(key, size)| Entry { key, size })
        .collect();
    let truncated = images.next().is_some() || !page.done;
    let listing = Listing {
        keys,
        truncated,
        upload: state.config.upload.token.is_some(),
        signing: state.access.requires_signature(),
    };
    let mut res = axum::Json(listing).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    super::page_headers(&mut res);
    res
}

fn is_image_name(key: &str) -> bool {
    key.rsplit_once('.')
        .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}
