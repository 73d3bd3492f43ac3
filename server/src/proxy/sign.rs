//! SigV4 re-signing of a forwarded Bedrock or SageMaker request with this server's own AWS
//! credentials: the client signed for the mock's host, and its signature names that host.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::Region;
use aws_config::default_provider::{credentials::DefaultCredentialsChain, region::DefaultRegionChain};
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use http_body_util::Full;

use crate::conversation::Protocol;

/// Headers of the client's own signature, replaced by ours.
const CLIENT_SIGNATURE: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Credentials from the standard chain, cached until shortly before they expire.
pub struct Signer {
    chain: DefaultCredentialsChain,
    region: Option<String>,
    cached: Mutex<Option<Credentials>>,
}

impl Signer {
    /// The default credential and region chains (nothing is fetched yet). Without the system's CA
    /// certificates (`native_roots` false: a minimal image recording from plain-http upstreams) the
    /// chain's own HTTPS clients (STS, SSO) get an empty trust store, where the SDK's default one
    /// would assert that roots exist, and the region comes from the environment only.
    pub async fn load(native_roots: bool) -> Result<Self, String> {
        if native_roots {
            let region = DefaultRegionChain::builder().build().region().await;
            return Ok(Signer {
                chain: DefaultCredentialsChain::builder().build().await,
                region: region.map(|r| r.to_string()),
                cached: Mutex::new(None),
            });
        }
        let trust = tls::TlsContext::builder()
            .with_trust_store(tls::TrustStore::empty())
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(trust)
            .build_https();
        let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .into_iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        let conf = ProviderConfig::without_region()
            .with_http_client(http)
            .with_region(region.clone().map(Region::new));
        Ok(Signer {
            chain: DefaultCredentialsChain::builder().configure(conf).build().await,
            region,
            cached: Mutex::new(None),
        })
    }

    async fn credentials(&self) -> Result<Credentials, String> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300))
        };
        if let Some(c) = self.cached.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && fresh(c)
        {
            return Ok(c.clone());
        }
        let c = self
            .chain
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials to sign the forwarded request: {e}"))?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
        Ok(c)
    }

    /// Replaces the client's signature on `req` with ours. A Bedrock API key
    /// (`Authorization: Bearer`, the SDKs' `AWS_BEARER_TOKEN_BEDROCK`) is passed on as it is: it is
    /// the client's own credential for the real service, not a signature over the mock's host.
    pub async fn sign(
        &self,
        req: &mut http::Request<Full<Bytes>>,
        protocol: Protocol,
        client: &HeaderMap,
        body: &Bytes,
    ) -> Result<(), String> {
        let auth = client.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if auth.is_some_and(|a| a.starts_with("Bearer ")) {
            return Ok(());
        }
        for h in CLIENT_SIGNATURE {
            req.headers_mut().remove(h);
        }
        let service = match protocol {
            Protocol::SageMaker => "sagemaker",
            _ => "bedrock",
        };
        // The region the client signed for, else this server's own (AWS_REGION, profile).
        let region = auth
            .and_then(client_region)
            .or_else(|| self.region.clone())
            .unwrap_or_else(|| "us-east-1".to_string());
        let identity = self.credentials().await?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign: {e}"))?
            .into();
        let uri = req.uri().to_string();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            &uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("cannot sign: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("cannot sign: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

/// The region in a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20260101/us-east-1/bedrock/aws4_request`).
fn client_region(auth: &str) -> Option<String> {
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    let region = scope.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_region_comes_from_its_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-3/bedrock/aws4_request, SignedHeaders=host, Signature=ab";
        assert_eq!(client_region(auth).as_deref(), Some("eu-west-3"));
        assert_eq!(client_region("Bearer x"), None);
    }

    async fn signer(creds: Credentials) -> Signer {
        Signer {
            chain: DefaultCredentialsChain::builder().build().await,
            region: Some("us-west-2".into()),
            cached: Mutex::new(Some(creds)),
        }
    }

    fn request(auth: &str) -> (http::Request<Full<Bytes>>, HeaderMap) {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:9/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
            .header("content-type", "application/json")
            .header("authorization", auth)
            .header("x-amz-date", "20200101T000000Z")
            .header("x-amz-security-token", "client-session")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let client = req.headers().clone();
        req.headers_mut().remove("host");
        (req, client)
    }

    #[tokio::test]
    async fn a_forwarded_request_carries_our_signature_in_the_clients_region() {
        let s = signer(Credentials::new("AKIDPROXY", "proxy-secret", None, None, "test")).await;
        let client_auth = "AWS4-HMAC-SHA256 Credential=AKIDCLIENT/20200101/eu-west-3/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
        let (mut req, client) = request(client_auth);
        s.sign(&mut req, Protocol::Bedrock, &client, &Bytes::from_static(b"{}"))
            .await
            .unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDPROXY/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-west-3/bedrock/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date,"),
            "{auth}"
        );
        assert_ne!(req.headers()["x-amz-date"], "20200101T000000Z");
        // The client's session token is not ours: sent with our signature it would be refused.
        assert!(req.headers().get("x-amz-security-token").is_none());

        let (mut req, client) = request("Bearer bedrock-api-key");
        s.sign(&mut req, Protocol::SageMaker, &client, &Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer bedrock-api-key");
    }
}
