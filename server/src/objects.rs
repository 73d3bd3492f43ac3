//! The S3-compatible object store asynchronous invocations read their input from and write their
//! output to (`--s3-endpoint`), through the AWS SDK for Rust.
//!
//! Credentials come from the standard AWS chain (environment, profile, web identity, container);
//! the chain's instance-metadata step honours `AWS_EC2_METADATA_DISABLED=true`. The region is read
//! from `AWS_REGION` / `AWS_DEFAULT_REGION` only (else `us-east-1`), never from instance metadata,
//! since an S3-compatible store rarely cares. The client is built on first use, so a server without
//! `--s3-endpoint` starts as before and only its asynchronous operations answer an error.

use aws_config::BehaviorVersion;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use tokio::sync::OnceCell;

/// Largest object read as an asynchronous request's input (SageMaker's async payload limit, 1 GB, is
/// far beyond what a fixture answers; 10 MiB keeps one request from exhausting memory).
pub const MAX_INPUT_BYTES: usize = 10 * 1024 * 1024;

/// The store, configured or not.
pub struct ObjectStore {
    endpoint: Option<String>,
    client: OnceCell<Client>,
}

/// An `s3://bucket/key` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key (may be empty: the bucket's root).
    pub key: String,
}

impl S3Location {
    /// Parses `s3://bucket/key` (also `https://host/bucket/key`, SageMaker's other accepted
    /// spelling of `InputLocation`, read path-style).
    pub fn parse(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("s3://").or_else(|| {
            uri.strip_prefix("https://")
                .and_then(|r| r.split_once('/').map(|(_, p)| p))
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| S3Location {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// A location below this one: `prefix/name`, with exactly one `/` between.
    pub fn join(&self, name: &str) -> Self {
        let key = match self.key.trim_end_matches('/') {
            "" => name.to_string(),
            k => format!("{k}/{name}"),
        };
        S3Location {
            bucket: self.bucket.clone(),
            key,
        }
    }

    /// The `s3://` URI.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

impl ObjectStore {
    /// A store at `endpoint` (`None`: no store; asynchronous operations are refused).
    pub fn new(endpoint: Option<String>) -> Self {
        ObjectStore {
            endpoint,
            client: OnceCell::new(),
        }
    }

    /// Whether `--s3-endpoint` was given.
    pub fn configured(&self) -> bool {
        self.endpoint.is_some()
    }

    async fn client(&self) -> Result<&Client, String> {
        let endpoint = self
            .endpoint
            .as_deref()
            .ok_or("mockmodel has no S3 store: start it with --s3-endpoint (MOCKMODEL_S3_ENDPOINT)")?;
        Ok(self
            .client
            .get_or_init(|| async move {
                let region = std::env::var("AWS_REGION")
                    .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|_| "us-east-1".into());
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(region))
                    .endpoint_url(endpoint)
                    .load()
                    .await;
                let config = aws_sdk_s3::config::Builder::from(&shared)
                    // S3-compatible servers are reached by path (`host/bucket/key`), not virtual host.
                    .force_path_style(true)
                    // Flexible checksums only where S3 requires them: older S3-compatible servers
                    // reject the aws-chunked trailers the SDK would otherwise send.
                    .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                    .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
                    .build();
                Client::from_conf(config)
            })
            .await)
    }

    /// Reads an object (at most [`MAX_INPUT_BYTES`]).
    pub async fn get(&self, at: &S3Location) -> Result<Vec<u8>, String> {
        let out = self
            .client()
            .await?
            .get_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
            .map_err(|e| format!("cannot read {}: {}", at.uri(), error_text(&e)))?;
        if out.content_length().unwrap_or(0) > MAX_INPUT_BYTES as i64 {
            return Err(format!("{} is larger than {MAX_INPUT_BYTES} bytes", at.uri()));
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| format!("cannot read {}: {e}", at.uri()))?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// Writes an object.
    pub async fn put(&self, at: &S3Location, body: Vec<u8>, content_type: &str) -> Result<(), String> {
        self.client()
            .await?
            .put_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| format!("cannot write {}: {}", at.uri(), error_text(&e)))?;
        Ok(())
    }
}

/// An SDK error with its service code and message where there is one (the `Display` of an
/// `SdkError` alone says only "service error").
fn error_text<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use std::error::Error as _;
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("(no message)")
        ),
        None => {
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_parse_and_join_with_one_slash() {
        let l = S3Location::parse("s3://bucket/out/").unwrap();
        assert_eq!(l.join("abc/output.json").uri(), "s3://bucket/out/abc/output.json");
        let root = S3Location::parse("s3://bucket").unwrap();
        assert_eq!(root.join("x.out").uri(), "s3://bucket/x.out");
        let https = S3Location::parse("https://s3.amazonaws.com/b/in/req.json").unwrap();
        assert_eq!((https.bucket.as_str(), https.key.as_str()), ("b", "in/req.json"));
        assert_eq!(S3Location::parse("s3:///key"), None);
        assert_eq!(S3Location::parse("file:///x"), None);
    }

    #[tokio::test]
    async fn an_unconfigured_store_refuses_with_the_flag_named() {
        let store = ObjectStore::new(None);
        assert!(!store.configured());
        let e = store
            .get(&S3Location::parse("s3://b/k").unwrap())
            .await
            .unwrap_err();
        assert!(e.contains("--s3-endpoint"), "{e}");
    }
}
