//! Object stores by URL, for the originals ([`crate::originals`]) and the cold tier: a local
//! directory, `file:///dir`, `s3://bucket/prefix` (AWS, R2, MinIO, SeaweedFS), `gs://` or
//! `az://`, every client's retries kept inside the storage timeout.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use crate::config::Config;

/// A store that cannot be opened: its URL (or directory) and why.
#[derive(Debug)]
pub struct OpenError {
    pub url: String,
    /// A local directory rather than a store behind a URL.
    pub local: bool,
    pub reason: String,
}

impl OpenError {
    fn new(url: &str, reason: impl std::fmt::Display) -> OpenError {
        OpenError {
            url: url.to_owned(),
            local: false,
            reason: reason.to_string(),
        }
    }

    fn local(dir: &str, reason: impl std::fmt::Display) -> OpenError {
        OpenError {
            local: true,
            ..OpenError::new(dir, reason)
        }
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.local { "directory" } else { "store" };
        write!(f, "{kind} {:?}: {}", self.url, self.reason)
    }
}

impl std::error::Error for OpenError {}

/// A store opened from a URL, with the key prefix the URL names inside it.
#[derive(Debug)]
pub struct Opened {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: String,
    /// A local directory (keeps no object attributes).
    pub local: bool,
    pub describe: String,
}

/// Opens `url`: a directory, `file:///dir`, `s3://bucket/prefix`, `gs://bucket/prefix` or
/// `az://container/prefix`, with S3 settings from `config.storage.s3` and the environment.
/// Every client keeps its retries within `storage.timeout_ms`. `create` makes a missing local
/// directory (for the server's own tiers) instead of refusing it (for originals).
pub fn open(url: &str, config: &Config, create: bool) -> Result<Opened, OpenError> {
    let url = url.trim();
    let timeout = Duration::from_millis(config.storage.timeout_ms.max(1));
    let client = ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout.min(Duration::from_secs(3)));
    // Retries stay inside the storage timeout; the caller's deadline is the real bound.
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: timeout,
    };
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let store: Arc<dyn ObjectStore> = match scheme {
        "s3" => {
            let s3 = &config.storage.s3;
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_client_options(client)
                .with_retry(retry);
            if let Some(v) = &s3.endpoint {
                b = b.with_endpoint(v);
            }
            if let Some(v) = &s3.region {
                b = b.with_region(v);
            }
            if let Some(v) = &s3.access_key_id {
                b = b.with_access_key_id(v);
            }
            if let Some(v) = &s3.secret_access_key {
                b = b.with_secret_access_key(v);
            }
            let env_endpoint = std::env::var("AWS_ENDPOINT_URL")
                .or_else(|_| std::env::var("AWS_ENDPOINT"))
                .unwrap_or_default();
            let endpoint = s3.endpoint.as_deref().unwrap_or(&env_endpoint);
            if s3.allow_http || endpoint.starts_with("http://") {
                b = b.with_allow_http(true);
            }
            Arc::new(b.build().map_err(|e| OpenError::new(url, e))?)
        }
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_client_options(client)
                .with_retry(retry)
                .build()
                .map_err(|e| OpenError::new(url, e))?,
        ),
        "az" => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .with_client_options(client)
                .with_retry(retry)
                .build()
                .map_err(|e| OpenError::new(url, e))?,
        ),
        "file" | "" => {
            let dir = if scheme == "file" { rest } else { url };
            if create {
                std::fs::create_dir_all(dir).map_err(|e| OpenError::local(dir, e))?;
            }
            let fs = LocalFileSystem::new_with_prefix(dir).map_err(|e| OpenError::local(dir, e))?;
            return Ok(Opened {
                store: Arc::new(fs),
                prefix: String::new(),
                local: true,
                describe: format!("directory {dir}"),
            });
        }
        other => {
            return Err(OpenError::new(
                url,
                format!(
                    "unknown scheme {other:?} (use a directory, file://, s3://, gs:// or az://)"
                ),
            ))
        }
    };
    Ok(Opened {
        store,
        prefix: prefix.to_owned(),
        local: false,
        describe: url.to_owned(),
    })
}
