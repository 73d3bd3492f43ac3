//! A Nova Sonic session (InvokeModelWithBidirectionalStream) through the AWS SDK for Rust against the
//! real server on loopback: a text turn and a tool round trip, asserting the events the SDK parsed.
//!
//! Two transports. The SDK's own HTTP client (`aws-smithy-http-client` 1.5, `Builder::build_http()`)
//! speaks HTTP/1.1 on `http://` endpoints: its hyper-util builder never sets `http2_only`, the
//! setter that would (`ConnectorBuilder::hyper_builder`) is `pub(crate)`, and it reaches HTTP/2 only
//! through TLS ALPN. The mock serves the session over HTTP/1.1 as well (hyper reads a chunked request
//! body while it writes the response), so that client works unchanged. The service itself speaks
//! HTTP/2, so the second test plugs an `HttpClient` (the SDK's extension point) backed by
//! hyper-util's client with `http2_only(true)`, h2c prior knowledge; everything above the transport
//! (serialisation, SigV4 event signing, event-stream framing and parsing) is the SDK's in both.

mod support;

use std::time::Duration;

use aws_sdk_bedrockruntime as bedrock;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bedrock::primitives::Blob;
use bedrock::types::{
    BidirectionalInputPayloadPart, InvokeModelWithBidirectionalStreamInput as In,
    InvokeModelWithBidirectionalStreamOutput as Out,
};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as Tcp;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const FIXTURES: &str = r#"
fixtures:
  - match: {userMessage: "hello"}
    response: {content: "Hello from Rust!", speech: {pace: 50}}
  - match: {userMessage: "weather", hasToolResult: true}
    response: {content: "Sunny.", speech: {pace: 50}}
  - match: {userMessage: "weather"}
    response: {toolCalls: [{name: get_weather, arguments: {city: Paris}, id: tool-7}]}
"#;

/// HTTP/2 with prior knowledge over plain TCP, as the SDK's transport.
#[derive(Clone, Debug)]
struct H2c(Client<Tcp, SdkBody>);

impl H2c {
    fn shared() -> SharedHttpClient {
        SharedHttpClient::new(H2c(Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http()))
    }
}

impl HttpConnector for H2c {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let req = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let res = client
                .request(req)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let res = res.map(SdkBody::from_body_1_x);
            res.try_into()
                .map_err(|e: aws_smithy_runtime_api::http::HttpError| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for H2c {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

fn client(url: &str, http: SharedHttpClient) -> bedrock::Client {
    let conf = bedrock::Config::builder()
        .behavior_version(bedrock::config::BehaviorVersion::latest())
        .region(bedrock::config::Region::new("us-east-1"))
        .credentials_provider(bedrock::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .endpoint_url(url)
        .http_client(http)
        .retry_config(bedrock::config::retry::RetryConfig::disabled())
        .build();
    bedrock::Client::from_conf(conf)
}

fn event(e: Value) -> Result<In, bedrock::types::error::InvokeModelWithBidirectionalStreamInputError> {
    let bytes = json!({"event": e}).to_string();
    Ok(In::Chunk(
        BidirectionalInputPayloadPart::builder()
            .bytes(Blob::new(bytes))
            .build(),
    ))
}

/// Sends the user's text as an interactive USER content.
async fn say(tx: &mpsc::Sender<Value>, text: &str) {
    for e in [
        json!({"contentStart": {"promptName": "p", "contentName": text, "type": "TEXT", "interactive": true,
            "role": "USER", "textInputConfiguration": {"mediaType": "text/plain"}}}),
        json!({"textInput": {"promptName": "p", "contentName": text, "content": text}}),
        json!({"contentEnd": {"promptName": "p", "contentName": text}}),
    ] {
        tx.send(e).await.expect("input open");
    }
}

#[tokio::test]
async fn a_session_over_the_sdks_own_http1_client() {
    session(aws_smithy_http_client::Builder::new().build_http()).await;
}

#[tokio::test]
async fn a_session_over_http2_prior_knowledge() {
    session(H2c::shared()).await;
}

/// A text turn, then a tool round trip, asserting what the SDK parsed.
async fn session(http: SharedHttpClient) {
    let (url, _state) = support::start(FIXTURES).await;
    let (tx, rx) = mpsc::channel::<Value>(64);
    let input = futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), event);
    for e in [
        json!({"sessionStart": {"inferenceConfiguration": {"maxTokens": 1024}}}),
        json!({"promptStart": {"promptName": "p", "audioOutputConfiguration": {"mediaType": "audio/lpcm",
            "sampleRateHertz": 16000, "sampleSizeBits": 16, "channelCount": 1, "encoding": "base64",
            "audioType": "SPEECH", "voiceId": "tiffany"},
            "toolConfiguration": {"tools": [{"toolSpec": {"name": "get_weather", "description": "weather",
                "inputSchema": {"json": "{}"}}}]}}}),
    ] {
        tx.send(e).await.unwrap();
    }
    say(&tx, "hello").await;
    let mut out = client(&url, http)
        .invoke_model_with_bidirectional_stream()
        .model_id("amazon.nova-sonic-v1:0")
        .body(input.into())
        .send()
        .await
        .expect("the session opens");

    let mut texts = Vec::new();
    let mut audio = 0;
    let mut tool = None;
    let mut turns = 0;
    let mut last = String::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), out.body.recv()).await;
        let Some(Out::Chunk(part)) = next.expect("no stall").expect("no error") else {
            break;
        };
        let doc: Value = serde_json::from_slice(part.bytes().expect("bytes").as_ref()).expect("json event");
        let (name, body) = doc["event"]
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("one event");
        last.clone_from(name);
        match name.as_str() {
            "textOutput" => texts.push(body["content"].as_str().unwrap().to_string()),
            "audioOutput" => {
                use base64::Engine;
                audio += base64::engine::general_purpose::STANDARD
                    .decode(body["content"].as_str().unwrap())
                    .unwrap()
                    .len();
            }
            "toolUse" => {
                tool = Some((
                    body["toolName"].clone(),
                    body["toolUseId"].clone(),
                    body["content"].clone(),
                ));
                for e in [
                    json!({"contentStart": {"promptName": "p", "contentName": "r", "type": "TOOL", "role": "TOOL",
                        "interactive": false, "toolResultInputConfiguration": {"toolUseId": body["toolUseId"],
                        "type": "TEXT", "textInputConfiguration": {"mediaType": "text/plain"}}}}),
                    json!({"toolResult": {"promptName": "p", "contentName": "r", "content": "{\"sky\":\"clear\"}"}}),
                    json!({"contentEnd": {"promptName": "p", "contentName": "r"}}),
                ] {
                    tx.send(e).await.unwrap();
                }
            }
            "usageEvent" if body["details"]["delta"]["output"]["speechTokens"].as_u64() > Some(0) => {
                turns += 1;
                if turns == 1 {
                    say(&tx, "what is the weather").await;
                } else {
                    tx.send(json!({"promptEnd": {"promptName": "p"}})).await.unwrap();
                    tx.send(json!({"sessionEnd": {}})).await.unwrap();
                }
            }
            _ => {}
        }
    }
    drop(tx);
    assert_eq!(
        texts,
        ["Hello from Rust!", "Hello from Rust!", "Sunny.", "Sunny."]
    );
    assert_eq!(
        tool,
        Some((
            json!("get_weather"),
            json!("tool-7"),
            json!("{\"city\":\"Paris\"}")
        ))
    );
    // 16 kHz 16-bit mono: 32 bytes a millisecond, 60 ms a character, at least 500 ms.
    let ms = |t: &str| (t.len() * 60).max(500);
    assert_eq!(audio, (ms("Hello from Rust!") + ms("Sunny.")) * 32);
    assert_eq!(last, "completionEnd");
}
