//! A relayed answer written as a fixture: the match from the request (last user message, tool-result
//! state, protocol, operation), the response decoded from the upstream's own wire (`decode`) and
//! the timing observed.
//!
//! Nothing from the request's or the answer's headers is written: no keys, tokens or signatures.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value, json};

use super::decode::{Block, Decoded, Kind, chat_completions, converse, messages};
use super::frames::{Arrived, Framing};
use super::upstream_error::{self, ErrorHead};
use crate::conversation::Conversation;

/// The answer's wire, as far as recording reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    ChatCompletions,
    Converse,
    Messages,
    SageMaker,
    /// InvokeModel / InvokeModelWithResponseStream: the model family's own body.
    Invoke,
    Responses,
}

/// What a recording knows of its request, taken before the request is forwarded.
#[derive(Debug, Clone)]
pub struct RecordKey {
    codec: Codec,
    pub(super) framing: Framing,
    protocol: &'static str,
    operation: &'static str,
    model: String,
    user: Option<String>,
    has_tool_result: bool,
    tool_call_id: Option<String>,
    /// An error answer's status and headers: recorded as `response.error`.
    error: Option<ErrorHead>,
    /// InvokeModel's token-count headers (families whose body has no usage).
    header_usage: Option<(u64, u64)>,
}

impl RecordKey {
    /// The key of an answer in a wire recording understands (a success, or an error, which is
    /// recorded as `response.error`); `None` (logged) otherwise: such answers are relayed only.
    pub fn new(
        c: &Conversation,
        operation: &'static str,
        status: &StatusCode,
        headers: &HeaderMap,
    ) -> Option<Self> {
        let codec = if operation.ends_with("chat.completions") {
            Codec::ChatCompletions
        } else if operation.starts_with("Converse") {
            Codec::Converse
        } else if operation.ends_with("messages") {
            Codec::Messages
        } else if operation.starts_with("InvokeEndpoint") {
            Codec::SageMaker
        } else if operation.starts_with("InvokeModel") {
            Codec::Invoke
        } else if operation.ends_with("responses") {
            Codec::Responses
        } else {
            tracing::warn!(
                operation,
                "recording does not read this operation's answers yet: relayed only"
            );
            return None;
        };
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let error = (!status.is_success()).then(|| ErrorHead {
            status: status.as_u16(),
            aws_type: text("x-amzn-errortype").map(|t| t.split(':').next().unwrap_or(t).to_string()),
            retry_after: text("retry-after").and_then(|s| s.trim().parse().ok()),
        });
        let content_type = text(header::CONTENT_TYPE.as_str()).unwrap_or("");
        let framing = if error.is_some() {
            // An error is one document, whatever the request asked for.
            Framing::Whole
        } else if content_type.starts_with("text/event-stream") {
            Framing::Sse
        } else if content_type.starts_with("application/vnd.amazon.eventstream") {
            Framing::EventStream
        } else {
            Framing::Whole
        };
        let count = |name: &str| text(name).and_then(|s| s.parse().ok());
        let header_usage =
            count("x-amzn-bedrock-input-token-count").zip(count("x-amzn-bedrock-output-token-count"));
        Some(RecordKey {
            codec,
            framing,
            protocol: c.protocol.as_str(),
            operation,
            model: c.model.clone(),
            user: c.last_user_text().map(str::to_string),
            has_tool_result: c.has_tool_result(),
            tool_call_id: c.last_tool_result().and_then(|m| m.tool_call_id.clone()),
            error,
            header_usage,
        })
    }

    /// The fixture's `match`: exact last user message (anchored, so a recording of "hi" never
    /// answers "hi there"), the tool-result state, the protocol and operation.
    fn match_(&self) -> Value {
        let mut m = Map::new();
        if let Some(u) = &self.user {
            m.insert(
                "userMessage".into(),
                json!({"regex": format!(r"\A{}\z", regex::escape(u))}),
            );
        }
        m.insert("hasToolResult".into(), json!(self.has_tool_result));
        if let Some(id) = &self.tool_call_id {
            m.insert("toolCallId".into(), json!(id));
        }
        m.insert("protocol".into(), json!(self.protocol));
        m.insert("operation".into(), json!(self.operation));
        Value::Object(m)
    }
}

/// Writes the fixture for `frames` into `dir`; returns its path.
pub fn write(
    dir: &Path,
    key: &RecordKey,
    sent: Instant,
    frames: &[Arrived],
    upstream: &str,
) -> Result<PathBuf, String> {
    let mut fixture = Map::new();
    fixture.insert("match".into(), key.match_());
    if let Some(head) = &key.error {
        let body: Vec<u8> = frames.iter().flat_map(|f| f.bytes.iter().copied()).collect();
        fixture.insert("response".into(), upstream_error::response(head, &body));
    } else {
        let d = match key.codec {
            Codec::ChatCompletions => chat_completions(key.framing, frames)?,
            Codec::Converse => converse(key.framing, frames)?,
            Codec::Messages => messages(key.framing, frames)?,
            Codec::SageMaker => super::sagemaker::decode(key.framing, frames)?,
            Codec::Invoke => super::invoke::decode(key.framing, frames, key.header_usage)?,
            Codec::Responses => super::responses::decode(key.framing, frames)?,
        };
        fixture.insert("response".into(), response(&d));
        timing(&mut fixture, key.framing, sent, &d, frames);
    }
    let recorded_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    fixture.insert(
        "metadata".into(),
        json!({"recordedFrom": upstream, "recordedAt": recorded_at, "model": key.model}),
    );
    let doc = json!({"fixtures": [Value::Object(fixture)]});
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    let stem = format!(
        "{}-{}-{:016x}",
        key.protocol,
        key.operation.replace('.', "-"),
        fnv1a(key.match_().to_string().as_bytes())
    );
    create_new(dir, &stem, text.as_bytes())
}

/// Every fixture recorded into `dir`, in file-name order, as one fixture file (`{"fixtures": […]}`)
/// that loads like any other; each fixture's `metadata.recordedFile` names its file.
pub fn read_all(dir: &Path) -> Result<Value, String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut all = Vec::new();
    for path in names {
        // A file being written right now is skipped, not an error: it is complete on the next read.
        let Ok(doc) = std::fs::read(&path).map(|b| serde_json::from_slice::<Value>(&b)) else {
            continue;
        };
        let Ok(Value::Object(mut doc)) = doc else {
            continue;
        };
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(Value::Array(list)) = doc.remove("fixtures") {
            for mut f in list {
                if let Some(m) = f.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.insert("recordedFile".into(), json!(file));
                }
                all.push(f);
            }
        }
    }
    Ok(json!({"fixtures": all}))
}

/// Writes `stem.json`, or `stem-2.json`, `stem-3.json`… if taken: a recording never overwrites.
fn create_new(dir: &Path, stem: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.json")
        } else {
            format!("{stem}-{n}.json")
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Err(format!(
        "{stem}: 999 recordings of the same request already; not writing more"
    ))
}

/// FNV-1a, 64 bits: a stable file name from the match (std's hasher is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The fixture's `response`: `content` for a text-only answer, else ordered `blocks`.
pub(super) fn response(d: &Decoded) -> Value {
    let blocks: Vec<&Block> = d.blocks.values().collect();
    let mut r = Map::new();
    if blocks.iter().all(|b| b.kind == Kind::Text) {
        let text: String = blocks.iter().map(|b| b.text.as_str()).collect();
        r.insert("content".into(), json!(text));
    } else {
        let list: Vec<Value> = blocks
            .iter()
            .map(|b| match b.kind {
                Kind::Text => json!({"type": "text", "text": b.text}),
                Kind::Reasoning => {
                    let mut v = json!({"type": "reasoning", "text": b.text});
                    if let Some(s) = &b.signature {
                        v["signature"] = json!(s);
                    }
                    v
                }
                Kind::Tool => {
                    // Arguments as the model sent them: an object when they are JSON, else the string.
                    let args = if b.text.is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&b.text).unwrap_or_else(|_| json!(b.text))
                    };
                    let mut v = json!({"type": "toolCall", "name": b.name, "arguments": args});
                    if let Some(id) = &b.id {
                        v["id"] = json!(id);
                    }
                    v
                }
            })
            .collect();
        r.insert("blocks".into(), json!(list));
    }
    if let Some(u) = &d.usage {
        r.insert("usage".into(), u.clone());
    }
    Value::Object(r)
}

/// `streamingProfile` from a stream's content frames (ttft: request sent to the first content frame;
/// tps: content frames per second after it) and `chunkSize` from their mean text length; `latency`
/// (request sent to the whole answer) for a non-streamed one.
fn timing(
    fixture: &mut Map<String, Value>,
    framing: Framing,
    sent: Instant,
    d: &Decoded,
    frames: &[Arrived],
) {
    let ms = |a: Instant, b: Instant| {
        (b.saturating_duration_since(a).as_secs_f64() * 1000.0 * 10.0).round() / 10.0
    };
    if framing == Framing::Whole {
        if let Some(last) = frames.last() {
            fixture.insert("latency".into(), json!(ms(sent, last.at).round() as u64));
        }
        return;
    }
    let Some(&(first, _)) = d.content_frames.first() else {
        return;
    };
    let mut profile = Map::new();
    profile.insert("ttft".into(), json!(ms(sent, first)));
    if let [.., (last, _)] = d.content_frames[..]
        && d.content_frames.len() > 1
    {
        let span = last.saturating_duration_since(first).as_secs_f64();
        // Frames closer than a millisecond apart were not paced: replay sends them at once too.
        if span * 1000.0 >= (d.content_frames.len() - 1) as f64 {
            let tps = (d.content_frames.len() - 1) as f64 / span;
            profile.insert("tps".into(), json!((tps * 100.0).round() / 100.0));
        }
    }
    fixture.insert("streamingProfile".into(), Value::Object(profile));
    let chars: usize = d.content_frames.iter().map(|(_, n)| n).sum();
    let chunk = chars.div_ceil(d.content_frames.len().max(1));
    if chunk > 0 {
        fixture.insert("chunkSize".into(), json!(chunk));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_never_overwrite() {
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let dir = tempfile::tempdir().unwrap();
        let a = create_new(dir.path(), "x", b"1").unwrap();
        let b = create_new(dir.path(), "x", b"2").unwrap();
        assert!(a.ends_with("x.json") && b.ends_with("x-2.json"));
        assert_eq!(std::fs::read(a).unwrap(), b"1");
    }

    #[test]
    fn the_recorded_set_reads_back_as_one_fixture_file_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let doc = |text: &str| {
            json!({"fixtures": [{"match": {"userMessage": text}, "response": {"content": text},
                "metadata": {"model": "m"}}]})
            .to_string()
        };
        std::fs::write(dir.path().join("b.json"), doc("b")).unwrap();
        std::fs::write(dir.path().join("a.json"), doc("a")).unwrap();
        std::fs::write(dir.path().join("half.json"), "{\"fixt").unwrap();
        let all = read_all(dir.path()).unwrap();
        let list = all["fixtures"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["response"]["content"], "a");
        assert_eq!(list[1]["metadata"]["recordedFile"], "b.json");
    }
}
