//! `--auth` with the AWS SDKs for Rust: their SigV4 signer (the `aws-sigv4` crate) against the
//! server's verification, and the error codes the SDKs surface for AWS's rejections.

mod support;

use std::sync::Arc;

use aws_sdk_bedrockruntime as bedrock;
use aws_sdk_sagemakerruntime as sagemaker;
use bedrock::error::ProvideErrorMetadata;
use bedrock::types::{ContentBlock, ConversationRole, ConverseStreamOutput};
use mockmodel_server::Config;
use mockmodel_server::auth::Credentials;

const FIXTURES: &str = r#"
fixtures:
  - match: {userMessage: "hello"}
    chunkSize: 5
    response: {content: "Hello! How can I help you today?"}
"#;
const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

async fn server() -> String {
    let set = mockmodel_server::fixture::load_documents([("test.yaml", FIXTURES)]).expect("fixtures");
    let creds = Credentials::parse("aws: [{accessKeyId: AKIDRUST, secretAccessKey: rust/secret+1}]")
        .expect("credentials");
    let config = Config {
        auth: Some(Arc::new(creds)),
        ..Config::default()
    };
    support::start_with(set, config).await.0
}

fn bedrock_client(url: &str, key: &str, secret: &str) -> bedrock::Client {
    let conf = bedrock::Config::builder()
        .behavior_version(bedrock::config::BehaviorVersion::latest())
        .region(bedrock::config::Region::new("us-east-1"))
        .credentials_provider(bedrock::config::Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(bedrock::config::retry::RetryConfig::disabled())
        .build();
    bedrock::Client::from_conf(conf)
}

fn hello() -> bedrock::types::Message {
    bedrock::types::Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hello".into()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_rust_sdks_signatures_verify_and_wrong_keys_get_awss_codes() {
    let url = server().await;
    let good = bedrock_client(&url, "AKIDRUST", "rust/secret+1");
    let out = good
        .converse()
        .model_id(MODEL)
        .messages(hello())
        .send()
        .await
        .unwrap();
    let message = out.output().unwrap().as_message().unwrap();
    assert_eq!(
        message.content(),
        &[ContentBlock::Text("Hello! How can I help you today?".into())]
    );
    let mut stream = good
        .converse_stream()
        .model_id(MODEL)
        .messages(hello())
        .send()
        .await
        .unwrap()
        .stream;
    let mut text = String::new();
    while let Some(event) = stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(d) = event {
            text.push_str(d.delta().unwrap().as_text().unwrap());
        }
    }
    assert_eq!(text, "Hello! How can I help you today?");

    let wrong = bedrock_client(&url, "AKIDRUST", "rust/secret+2");
    let e = wrong
        .converse()
        .model_id(MODEL)
        .messages(hello())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidSignatureException"));
    assert!(
        e.message()
            .unwrap()
            .starts_with("The request signature we calculated does not match")
    );

    let unknown = bedrock_client(&url, "AKIDNOBODY", "rust/secret+1");
    let e = unknown
        .converse()
        .model_id(MODEL)
        .messages(hello())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"));
    assert_eq!(
        e.message(),
        Some("The security token included in the request is invalid.")
    );
}

#[tokio::test]
async fn sagemaker_requests_are_signed_too() {
    let url = server().await;
    let client = |secret: &str| {
        sagemaker::Client::from_conf(
            sagemaker::Config::builder()
                .behavior_version(sagemaker::config::BehaviorVersion::latest())
                .region(sagemaker::config::Region::new("us-east-1"))
                .credentials_provider(sagemaker::config::Credentials::new(
                    "AKIDRUST", secret, None, None, "test",
                ))
                .endpoint_url(&url)
                .retry_config(sagemaker::config::retry::RetryConfig::disabled())
                .build(),
        )
    };
    let body = sagemaker::primitives::Blob::new(r#"{"messages":[{"role":"user","content":"hello"}]}"#);
    let out = client("rust/secret+1")
        .invoke_endpoint()
        .endpoint_name("llm")
        .content_type("application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(out.body().unwrap().as_ref()).unwrap();
    assert_eq!(
        parsed["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );
    let e = client("nope")
        .invoke_endpoint()
        .endpoint_name("llm")
        .content_type("application/json")
        .body(body)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sagemaker::error::ProvideErrorMetadata::code(&e),
        Some("InvalidSignatureException")
    );
}
