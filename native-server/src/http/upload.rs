//! `PUT /<key>` (raw body or `multipart/form-data`) and `DELETE /<key>` of originals, behind a
//! bearer token. The body is counted while it streams in and refused (413) as soon as it passes
//! the input limit; only then is its format sniffed and its header checked against the limits,
//! so nothing that the server would refuse to transform is ever stored.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use refract_core::url::decode_key;

use crate::error::{ApiError, Code};
use crate::metrics as m;
use crate::state::AppState;

pub async fn put(state: AppState, req: Request) -> Response {
    let authorized = authorize(&state, req.headers()).is_ok();
    let charged = match super::limit::upload(&state, &req, authorized) {
        Ok(charged) => charged,
        Err(refused) => return refused.into_response(),
    };
    let res = put_inner(state, req)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    super::limit::label(res, charged)
}

pub async fn delete(state: AppState, req: Request) -> Response {
    let authorized = authorize(&state, req.headers()).is_ok();
    let charged = match super::limit::upload(&state, &req, authorized) {
        Ok(charged) => charged,
        Err(refused) => return refused.into_response(),
    };
    let res = delete_inner(state, req)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    super::limit::label(res, charged)
}

async fn put_inner(state: AppState, req: Request) -> Result<Response, ApiError> {
    authorize(&state, req.headers())?;
    let key = key_of(&req)?;
    let limit = state.limits.max_input_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    // The body is held whole until it is checked and stored: it counts in the memory budget.
    let _reserved = super::delivery::reserve(&state, declared.unwrap_or(limit)).await?;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("multipart/form-data"));
    let bytes = if is_multipart {
        read_multipart(req, limit).await?
    } else {
        read_capped(req.into_body(), limit).await?
    };
    if bytes.is_empty() {
        return Err(ApiError::new(Code::EmptyBody, "the upload is empty"));
    }
    let header = refract_core::decode::probe(&bytes, &state.limits)?;
    let size = bytes.len();
    let hold = hold_original(&state, &key).await?;
    let stored = state
        .originals
        .put(&key, bytes, header.format.mime_type())
        .await;
    let meta = match stored {
        Ok(meta) => meta,
        Err(e) => {
            release_hold(&state, hold).await;
            return Err(e.into());
        }
    };
    metrics::counter!(m::BYTES_IN).increment(size as u64);
    state
        .tiers
        .original_stored(&key, size as u64, header.format.mime_type())
        .await;
    release_hold(&state, hold).await;
    let body = serde_json::json!({
        "key": key,
        "size": size,
        "format": header.format.name().to_ascii_lowercase(),
        "width": header.width,
        "height": header.height,
        "etag": format!("\"{}\"", meta.etag),
    });
    let mut res = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
        res.headers_mut().insert(header::ETAG, etag);
    }
    Ok(res)
}

async fn delete_inner(state: AppState, req: Request) -> Result<Response, ApiError> {
    authorize(&state, req.headers())?;
    let key = key_of(&req)?;
    state.originals.delete(&key).await?;
    // The object is gone; an index failure is repaired by `refract storage reindex`.
    if let Err(e) = state.tiers.original_deleted(&key).await {
        tracing::warn!("index row for delete {key}: {e}");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An upload's hold on its original's index row (see `lifecycle::journal::UploadHold`): while
/// it is held, no lifecycle move of the original runs, and while a move holds it, the upload is
/// refused (409 `original_busy`, to retry) rather than written under a move that planned for
/// the old version. A hold older than the lease (its holder died) is taken over. Without an
/// index, or for a key with no row yet, there is nothing a move could be doing.
async fn hold_original(state: &AppState, key: &str) -> Result<Option<(String, String)>, ApiError> {
    use crate::lifecycle::journal::{claim_started_ms, real_now_ms, UploadHold};
    let Some(index) = state.tiers.index() else {
        return Ok(None);
    };
    let id = crate::index::Record::original_id(key);
    let text = UploadHold::now().text();
    let busy = || {
        ApiError::new(
            Code::OriginalBusy,
            "a lifecycle move of this original is in progress; retry in a moment",
        )
    };
    let unavailable = |e: crate::index::IndexError| {
        ApiError::new(
            Code::StorageUnavailable,
            "storage is unavailable; retry shortly",
        )
        .with_detail(format!("index: {e}"))
    };
    if index.claim(&id, &text).await.map_err(unavailable)? {
        return Ok(Some((id, text)));
    }
    let Some(row) = index.get(&id).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let Some(held) = row.pending.as_deref() else {
        // Released in between: one more try.
        return match index.claim(&id, &text).await.map_err(unavailable)? {
            true => Ok(Some((id, text))),
            false => Err(busy()),
        };
    };
    let lease_ms =
        i64::try_from(state.config.lifecycle.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let stale = claim_started_ms(held).is_none_or(|t| real_now_ms() - t >= lease_ms);
    if stale
        && index
            .finish(&row, held, Some(&text))
            .await
            .map_err(unavailable)?
    {
        tracing::info!("upload took over a stale hold on {id}");
        return Ok(Some((id, text)));
    }
    Err(busy())
}

async fn release_hold(state: &AppState, hold: Option<(String, String)>) {
    let (Some((id, text)), Some(index)) = (hold, state.tiers.index()) else {
        return;
    };
    if let Err(e) = index.release(&id, &text).await {
        tracing::warn!("releasing the upload's hold on {id}: {e}");
    }
}

/// The object key of an upload or delete: the whole path, no options.
fn key_of(req: &Request) -> Result<String, ApiError> {
    let path = req.uri().path();
    if req.uri().query().is_some_and(|q| !q.is_empty()) {
        return Err(ApiError::new(
            Code::OptionsNotAllowed,
            "uploads and deletes take no query options",
        ));
    }
    let key = decode_key(path.strip_prefix('/').unwrap_or(path))?;
    // Checked on the decoded key, so `cdn-cgi%2Fimage/x.jpg` is refused like `cdn-cgi/image/x.jpg`.
    if let Some(prefix) = RESERVED.iter().find(|p| key.starts_with(*p)) {
        return Err(ApiError::new(
            Code::BadKey,
            format!("keys under {prefix} are reserved"),
        ));
    }
    Ok(key)
}

/// Key prefixes an original may not have: transform URLs (`/cdn-cgi/image/…`, the core's
/// `CDN_CGI_PREFIX`), and the path under which the edge worker keeps variants in the Cache API.
const RESERVED: &[&str] = &["cdn-cgi/image/", ".refract-cache/"];

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = state.config.upload.token.as_deref() else {
        return Err(ApiError::new(
            Code::UploadsDisabled,
            "uploads and deletes are disabled: no upload.token is configured",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// Compares without an early exit, so the time taken does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        Code::InputTooLarge,
        format!("the upload is larger than the {limit}-byte input limit"),
    )
}

fn read_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::BadBody, format!("cannot read the request body: {e}"))
}

/// Reads a body, failing as soon as it passes `limit` bytes.
async fn read_capped(body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(read_error)?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Reads the first file field (a field with a file name, or named `file`) of a form.
async fn read_multipart(req: Request, limit: u64) -> Result<Bytes, ApiError> {
    let mut form = Multipart::from_request(req, &())
        .await
        .map_err(read_error)?;
    while let Some(mut field) = form.next_field().await.map_err(read_error)? {
        if field.file_name().is_none() && field.name() != Some("file") {
            continue;
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(read_error)? {
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        return Ok(buf.freeze());
    }
    Err(ApiError::new(
        Code::MissingFile,
        "the form has no file field",
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reserved_transform_prefix_is_the_grammars() {
        assert_eq!(
            refract_core::url::CDN_CGI_PREFIX,
            format!("/{}", super::RESERVED[0])
        );
    }
}
