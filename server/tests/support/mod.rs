//! Shared helpers for the integration tests: a real server on 127.0.0.1:0 and a Bedrock Runtime client.

#![allow(dead_code)] // each test binary uses its own subset

use aws_sdk_bedrockruntime as bedrock;
use mockmodel_server::{AppState, Config, SharedState, app, fixture};

/// A server on a free loopback port, serving inline YAML fixtures; returns its URL and state.
pub async fn start(yaml: &str) -> (String, SharedState) {
    let set = fixture::load_documents([("test.yaml", yaml)]).expect("test fixtures are valid");
    start_with(set, Config::default()).await
}

/// A server on a free loopback port with the given fixtures and settings.
pub async fn start_with(set: mockmodel_server::fixture::FixtureSet, config: Config) -> (String, SharedState) {
    let state = AppState::new(set, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app(state);
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    (format!("http://{addr}"), state)
}

/// The AWS SDK for Rust's Bedrock Runtime client, unchanged apart from the endpoint: static test
/// credentials (requests are still SigV4-signed), us-east-1, plain-HTTP connector, no retries (an
/// error must surface, not be retried away).
pub fn client(url: &str) -> bedrock::Client {
    let conf = bedrock::Config::builder()
        .behavior_version(bedrock::config::BehaviorVersion::latest())
        .region(bedrock::config::Region::new("us-east-1"))
        .credentials_provider(bedrock::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .endpoint_url(url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(bedrock::config::retry::RetryConfig::disabled())
        .build();
    bedrock::Client::from_conf(conf)
}
