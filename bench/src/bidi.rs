//! Nova Sonic sessions (InvokeModelWithBidirectionalStream) at once, each on its own HTTP/2
//! (h2c) connection, with audio flowing both ways in real time: the client streams 32 ms microphone
//! chunks (1 s of speech, then silence) for the whole session while the mock answers with 2 s of
//! audio paced in real time. Reports completed sessions, the turn latency (last speech chunk sent to
//! first audio received: the 600 ms endpointing silence plus the mock's overhead), the pacing error
//! of the audio events against their 100 ms spacing, and the server's memory per open session.

use std::convert::Infallible;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::procs;
use crate::report::Report;
use crate::stats::{Samples, print_rss};

/// The assistant's answer: 2 s of audio, paced in real time.
const ANSWER_MS: u64 = 2_000;
/// 32 ms of 16 kHz, 16-bit mono microphone audio.
const MIC_CHUNK_MS: u64 = 32;
/// Speech before the silence that ends the user's turn.
const SPEECH_CHUNKS: usize = 31;

const FIXTURES: &str = "fixtures:\n  - match: {operation: InvokeModelWithBidirectionalStream}\n    response:\n      content: \"This is the benchmark answer.\"\n      speech: {durationMs: 2000}\n";

/// What one session saw.
#[derive(Default)]
struct Seen {
    ok: bool,
    turn_latency_ms: Option<f64>,
    gap_err_ms: Vec<f64>,
    audio_bytes: usize,
    mic_chunks: usize,
}

fn frame(event: Value) -> Bytes {
    let doc = json!({"event": event}).to_string();
    let payload = json!({"bytes": STANDARD.encode(doc)}).to_string();
    let msg = Message::new(payload.into_bytes())
        .add_header(Header::new(":event-type", HeaderValue::String("chunk".into())))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(":message-type", HeaderValue::String("event".into())));
    let mut out = Vec::new();
    let _ = write_message_to(&msg, &mut out);
    Bytes::from(out)
}

fn mic(speech: bool) -> String {
    let samples = (16 * MIC_CHUNK_MS) as usize;
    let mut b = Vec::with_capacity(samples * 2);
    for i in 0..samples {
        let v = if speech {
            (8000.0 * (std::f64::consts::TAU * 300.0 * i as f64 / 16_000.0).sin()) as i16
        } else {
            0
        };
        b.extend_from_slice(&v.to_le_bytes());
    }
    STANDARD.encode(b)
}

/// One session: opens it, streams the microphone until the answer's FINAL text ends, closes it.
async fn session(addr: std::net::SocketAddr, id: usize) -> Seen {
    let mut seen = Seen::default();
    let client: Client<_, StreamBody<_>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let body = StreamBody::new(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    })));
    let p = format!("p{id}");
    let audio_in = json!({"mediaType": "audio/lpcm", "sampleRateHertz": 16000, "sampleSizeBits": 16,
        "channelCount": 1, "audioType": "SPEECH", "encoding": "base64"});
    for e in [
        json!({"sessionStart": {"inferenceConfiguration": {"maxTokens": 1024}}}),
        json!({"promptStart": {"promptName": p}}),
        json!({"contentStart": {"promptName": p, "contentName": "mic", "type": "AUDIO", "interactive": true,
            "role": "USER", "audioInputConfiguration": audio_in}}),
    ] {
        let _ = tx.send(frame(e)).await;
    }
    let req = hyper::Request::post(format!(
        "http://{addr}/model/amazon.nova-sonic-v1:0/invoke-with-bidirectional-stream"
    ))
    .header("content-type", "application/vnd.amazon.eventstream")
    .body(body);
    let Ok(req) = req else { return seen };
    let Ok(res) = client.request(req).await else {
        return seen;
    };
    if !res.status().is_success() {
        return seen;
    }
    // The microphone: real-time chunks until told to stop.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mic_tx = tx.clone();
    let prompt = p.clone();
    let speech_ended = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let ended = speech_ended.clone();
    let mic_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(MIC_CHUNK_MS));
        let (speech, silence) = (mic(true), mic(false));
        let mut n = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop_rx.changed() => break,
            }
            let content = if n < SPEECH_CHUNKS { &speech } else { &silence };
            let e = json!({"audioInput": {"promptName": prompt, "contentName": "mic", "content": content}});
            if mic_tx.send(frame(e)).await.is_err() {
                break;
            }
            n += 1;
            if n == SPEECH_CHUNKS
                && let Ok(mut at) = ended.lock()
            {
                *at = Some(Instant::now());
            }
        }
        n
    });
    let mut body = res.into_body();
    let mut pending = BytesMut::new();
    let mut decoder = MessageFrameDecoder::new();
    let mut last_audio: Option<Instant> = None;
    let mut finished = false;
    while let Some(Ok(f)) = body.frame().await {
        let Ok(data) = f.into_data() else { continue };
        pending.extend_from_slice(&data);
        while let Ok(DecodedFrame::Complete(m)) = decoder.decode_frame(&mut pending) {
            let Some(doc) = event_of(&m) else {
                return seen;
            };
            let (name, body) = match doc["event"].as_object().and_then(|o| o.iter().next()) {
                Some((n, b)) => (n.clone(), b.clone()),
                None => return seen,
            };
            let now = Instant::now();
            match name.as_str() {
                "audioOutput" => {
                    if let Some(prev) = last_audio {
                        seen.gap_err_ms
                            .push(((now - prev).as_secs_f64() * 1000.0 - 100.0).abs());
                    } else if let Some(at) = speech_ended.lock().ok().and_then(|g| *g) {
                        seen.turn_latency_ms = Some((now - at).as_secs_f64() * 1000.0);
                    }
                    last_audio = Some(now);
                    seen.audio_bytes += body["content"]
                        .as_str()
                        .and_then(|c| STANDARD.decode(c).ok())
                        .map_or(0, |b| b.len());
                }
                "contentEnd" if body["type"] == "TEXT" && body["stopReason"] == "END_TURN" && !finished => {
                    finished = true;
                    let _ = stop_tx.send(true);
                    for e in [
                        json!({"contentEnd": {"promptName": p, "contentName": "mic"}}),
                        json!({"promptEnd": {"promptName": p}}),
                        json!({"sessionEnd": {}}),
                    ] {
                        let _ = tx.send(frame(e)).await;
                    }
                }
                "completionEnd" => seen.ok = finished,
                _ => {}
            }
        }
    }
    drop(tx);
    seen.mic_chunks = mic_task.await.unwrap_or(0);
    seen
}

/// The decoded event of a `chunk` frame; `None` for anything else (an exception).
fn event_of(m: &Message) -> Option<Value> {
    let is_chunk = m.headers().iter().any(|h| {
        h.name().as_str() == ":event-type" && h.value().as_string().is_ok_and(|s| s.as_str() == "chunk")
    });
    if !is_chunk {
        return None;
    }
    let part: Value = serde_json::from_slice(m.payload()).ok()?;
    let doc = STANDARD.decode(part["bytes"].as_str()?).ok()?;
    serde_json::from_slice(&doc).ok()
}

/// `n` concurrent sessions against one mockmodel process.
pub async fn run(dir: &Path, n: usize, report: &mut Report) -> anyhow::Result<()> {
    println!(
        "\n[7] {n} concurrent Nova Sonic sessions (InvokeModelWithBidirectionalStream, h2c), audio both ways in real time"
    );
    let fixtures = dir.join("bidi");
    std::fs::create_dir_all(&fixtures)?;
    std::fs::write(fixtures.join("sonic.yaml"), FIXTURES)?;
    let mm = procs::mockmodel(&fixtures, &[])?;
    // The server builds its tokenizer tables on a background thread at start (tens of MiB): wait
    // for them, so the sessions' own memory is what the difference shows.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, idle) = print_rss("mockmodel idle (tokenizers built)", mm.child.id());
    let started = Instant::now();
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(session(mm.addr, i))).collect();
    // Sample memory in the middle of the answers (speech + endpointing + half the audio).
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let (_, during) = print_rss("mockmodel during the sessions", mm.child.id());
    let per_session = (during - idle) / n.max(1) as f64 * 1024.0;
    println!("  memory per open session            {per_session:.0} KiB");
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.push(t.await.unwrap_or_default());
    }
    let wall = started.elapsed().as_secs_f64();
    let ok = all.iter().filter(|s| s.ok).count();
    let want = 24 * 2 * ANSWER_MS as usize;
    let full_audio = all.iter().filter(|s| s.audio_bytes == want).count();
    let latency = Samples::new(all.iter().filter_map(|s| s.turn_latency_ms).collect());
    let gaps = Samples::new(all.iter().flat_map(|s| s.gap_err_ms.iter().copied()).collect());
    let mic: usize = all.iter().map(|s| s.mic_chunks).sum();
    println!(
        "  completed {ok}/{n}  full answer audio {full_audio}/{n} ({want} bytes each)  mic chunks sent {mic}  wall {wall:.1} s"
    );
    println!(
        "  turn latency (last speech chunk to first audio; 600 ms endpointing) p50 {:.0} / p99 {:.0} ms",
        latency.pct(50.0),
        latency.pct(99.0)
    );
    println!(
        "  audio pacing error vs 100 ms spacing p50 {:.2} / p99 {:.2} ms ({} gaps)",
        gaps.pct(50.0),
        gaps.pct(99.0),
        gaps.len()
    );
    report.check(
        &format!("{n} Nova Sonic sessions"),
        "all complete",
        format!("{ok}/{n}, audio {full_audio}/{n}"),
        ok == n && full_audio == n,
    );
    report.check(
        &format!("{n} Nova Sonic sessions, audio pacing"),
        "p99 err < 10 ms",
        format!("{:.2} ms", gaps.pct(99.0)),
        gaps.pct(99.0) < 10.0,
    );
    report.check(
        &format!("{n} Nova Sonic sessions, RSS per session"),
        "< 1 MiB",
        format!("{per_session:.0} KiB"),
        per_session < 1024.0,
    );
    drop(mm);
    Ok(())
}
