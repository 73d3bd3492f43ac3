//! Sessions driven in-process on tokio's paused clock: limits, malformed input, pacing and a client
//! that vanishes (the SDK tests in tests/python/test_nova_sonic.py cover the wire end to end).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::session::{Ended, IDLE_LIMIT, OutItem, Session};
use crate::conversation::{Conversation, Protocol};
use crate::eventstream::{self, Header, HeaderValue};
use crate::eventstream_decode::Decoder;
use crate::fixture::load::load_documents;
use crate::{AppState, Config};

const FIXTURES: &str = r#"
fixtures:
  - match: {userMessage: "hello"}
    response: {content: "Hello there", speech: {durationMs: 1000}}
  - match: {userMessage: "fast"}
    response: {content: "Quick", speech: {durationMs: 1000, pace: 10}}
  - match: {userMessage: "flaky"}
    errorAfterChunks: 3
    response:
      content: "This breaks"
      speech: {durationMs: 1000}
      error: {type: ModelStreamErrorException, message: "model fell over"}
  - match: {userMessage: "cut"}
    truncateAfterChunks: 2
    response: {content: "This is cut", speech: {durationMs: 1000}}
"#;

/// A running session: what the test sends up and reads down.
struct Harness {
    up: mpsc::Sender<Result<Bytes, std::io::Error>>,
    down: mpsc::Receiver<OutItem>,
    decoder: Decoder,
    done: tokio::task::JoinHandle<Ended>,
}

fn start() -> Harness {
    let set = load_documents([("t.yaml", FIXTURES)]).expect("valid fixtures");
    let state = AppState::new(set, Config::default());
    let (up, up_rx) = mpsc::channel(64);
    let (tx, down) = mpsc::channel(64);
    let session = Session::new(
        state,
        "amazon.nova-sonic-v1:0".into(),
        Conversation::new(Protocol::Bedrock, "m"),
    );
    let done = tokio::spawn(session.run(ReceiverStream::new(up_rx), tx));
    Harness {
        up,
        down,
        decoder: Decoder::new(),
        done,
    }
}

/// An input event as the SDKs frame it: a `chunk` whose `bytes` hold the event, inside a signed
/// envelope when `signed`.
fn frame(event: Value, signed: bool) -> Bytes {
    let doc = json!({"event": event}).to_string();
    let inner = eventstream::event(
        "chunk",
        "application/json",
        json!({"bytes": STANDARD.encode(doc)}).to_string().as_bytes(),
    )
    .expect("frame");
    if !signed {
        return inner;
    }
    let sig = Header {
        name: ":chunk-signature".into(),
        value: HeaderValue::Bytes(Bytes::from_static(&[0xab; 32])),
    };
    eventstream::encode(&[sig], &inner).expect("envelope")
}

impl Harness {
    async fn send(&self, event: Value) {
        self.up.send(Ok(frame(event, true))).await.expect("session reads");
    }

    async fn open(&self) {
        self.send(json!({"sessionStart": {}})).await;
        self.send(json!({"promptStart": {"promptName": "p"}})).await;
    }

    async fn say(&self, text: &str) {
        let c = json!({"promptName": "p", "contentName": text});
        self.send(json!({"contentStart": {"promptName": "p", "contentName": text, "type": "TEXT", "role": "USER", "interactive": true}}))
            .await;
        self.send(json!({"textInput": {"promptName": "p", "contentName": text, "content": text}}))
            .await;
        self.send(json!({"contentEnd": c})).await;
    }

    /// The next output event (name, body) or exception (`!type`, body); `None` when the stream ends.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(m) = self.decoder.next_message().expect("valid frames") {
                if m.string(":message-type") == Some("exception") {
                    let body = serde_json::from_slice(&m.payload).expect("json");
                    return Some((
                        format!("!{}", m.string(":exception-type").unwrap_or_default()),
                        body,
                    ));
                }
                let part: Value = serde_json::from_slice(&m.payload).expect("json");
                let doc = STANDARD
                    .decode(part["bytes"].as_str().expect("bytes"))
                    .expect("base64");
                let doc: Value = serde_json::from_slice(&doc).expect("event json");
                let (name, body) = doc["event"]
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .expect("one event");
                return Some((name.clone(), body.clone()));
            }
            match self.down.recv().await? {
                Ok(bytes) => self.decoder.push(&bytes),
                Err(_) => return None,
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_text_turn_is_spoken_in_real_time_unless_the_fixture_speeds_it_up() {
    let mut h = start();
    h.open().await;
    for (text, pace) in [("hello", 1), ("fast", 10)] {
        h.say(text).await;
        let mut audio_at = Vec::new();
        let mut bytes = 0;
        while let Some((name, body)) = h.next().await {
            if name == "audioOutput" {
                audio_at.push(Instant::now());
                bytes += STANDARD.decode(body["content"].as_str().unwrap()).unwrap().len();
            }
            if name == "usageEvent" {
                break;
            }
        }
        // 1000 ms of 24 kHz 16-bit mono in ten 100 ms events, one every 100 ms / pace.
        assert_eq!((audio_at.len(), bytes), (10, 48_000), "{text}");
        assert_eq!(
            audio_at[9] - audio_at[0],
            Duration::from_millis(900 / pace),
            "{text}"
        );
    }
    h.send(json!({"promptEnd": {"promptName": "p"}})).await;
    h.send(json!({"sessionEnd": {}})).await;
    assert_eq!(h.next().await.map(|e| e.0).as_deref(), Some("completionEnd"));
    assert!(h.next().await.is_none());
    assert_eq!(h.done.await.unwrap(), Ended::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_times_out_with_the_streams_exception() {
    let mut h = start();
    h.open().await;
    let started = Instant::now();
    let (name, body) = h.next().await.expect("an exception");
    assert_eq!(name, "!modelTimeoutException");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no input event for 60 seconds")
    );
    assert_eq!(started.elapsed(), IDLE_LIMIT);
    assert!(h.next().await.is_none());
    assert_eq!(h.done.await.unwrap(), Ended::Error);
}

#[tokio::test(start_paused = true)]
async fn malformed_input_is_a_validation_exception_naming_what_is_wrong() {
    let cases: [(Vec<Value>, &str); 5] = [
        (
            vec![json!({"promptStart": {"promptName": "p"}})],
            "promptStart before sessionStart",
        ),
        (
            vec![json!({"sessionStart": {}}), json!({"promptStart": {}})],
            "'event.promptStart': missing field `promptName`",
        ),
        (
            vec![
                json!({"sessionStart": {}}),
                json!({"promptStart": {"promptName": "p"}}),
                json!({"textInput": {"promptName": "q", "contentName": "c", "content": "x"}}),
            ],
            "textInput.promptName 'q' is not the open prompt 'p'",
        ),
        (
            vec![
                json!({"sessionStart": {}}),
                json!({"promptStart": {"promptName": "p", "audioOutputConfiguration": {"mediaType": "audio/lpcm",
                    "sampleRateHertz": 44100, "sampleSizeBits": 16, "channelCount": 1, "encoding": "base64"}}}),
            ],
            "audioOutputConfiguration.sampleRateHertz is 44100",
        ),
        (
            vec![
                json!({"sessionStart": {}}),
                json!({"promptStart": {"promptName": "p"}}),
                json!({"audioInput": {"promptName": "p", "contentName": "nope", "content": ""}}),
            ],
            "contentName 'nope', which is not open",
        ),
    ];
    for (events, want) in cases {
        let mut h = start();
        for e in events {
            h.send(e).await;
        }
        let (name, body) = h.next().await.expect("an exception");
        assert_eq!(name, "!validationException", "{want}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(want), "{message} should contain {want}");
        assert_eq!(h.done.await.unwrap(), Ended::Error);
    }
    // Bytes that are not an event stream at all.
    let mut h = start();
    h.up.send(Ok(Bytes::from_static(&[0u8; 16]))).await.unwrap();
    let (name, body) = h.next().await.expect("an exception");
    assert_eq!(name, "!validationException");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Invalid event-stream frame")
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_vanishes_mid_answer_ends_the_session_at_once() {
    let mut h = start();
    h.open().await;
    h.say("hello").await;
    while let Some((name, _)) = h.next().await {
        if name == "audioOutput" {
            break;
        }
    }
    let started = Instant::now();
    drop(h.down);
    assert_eq!(h.done.await.unwrap(), Ended::Disconnected);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "the queued audio is not waited for"
    );
}

#[tokio::test(start_paused = true)]
async fn stream_faults_cut_the_answer_after_n_content_events() {
    let mut h = start();
    h.open().await;
    h.say("flaky").await;
    let mut names = Vec::new();
    while let Some((name, body)) = h.next().await {
        if name.starts_with('!') {
            assert_eq!(body["message"], "model fell over");
            assert_eq!(body["originalStatusCode"], 500);
        }
        names.push(name);
    }
    // The SPECULATIVE text and two audio events are the three content events, then the exception.
    assert_eq!(names.iter().filter(|n| *n == "audioOutput").count(), 2);
    assert_eq!(
        names.last().map(String::as_str),
        Some("!modelStreamErrorException")
    );
    assert_eq!(h.done.await.unwrap(), Ended::Error);

    let mut h = start();
    h.open().await;
    h.say("cut").await;
    let mut names = Vec::new();
    while let Some((name, _)) = h.next().await {
        names.push(name);
    }
    assert_eq!(names.iter().filter(|n| *n == "audioOutput").count(), 1);
    assert!(
        !names.iter().any(|n| n == "usageEvent"),
        "no proper end: {names:?}"
    );
    assert_eq!(h.done.await.unwrap(), Ended::Disconnected);
}
