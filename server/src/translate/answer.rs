//! An OpenAI Chat Completions answer (one `chat.completion`, or `chat.completion.chunk`s as SSE)
//! read into a neutral [`Plan`]: reasoning, text and tool calls (with the upstream's ids, argument
//! fragments merged by index), the upstream's usage and its finish reason in neutral terms.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::conversation::Conversation;
use crate::plan::{Block, Defaults, Plan, StopReason, Timing, Usage, new_tool_call_id};
use crate::tokens;

/// What the upstream answered, gathered from either framing.
#[derive(Debug, Default)]
struct Gathered {
    reasoning: String,
    text: String,
    /// Tool calls by their index: id, name, arguments.
    calls: BTreeMap<u64, (Option<String>, String, String)>,
    finish: Option<String>,
    usage: Option<Value>,
}

impl Gathered {
    /// One message or delta (`choices[0].message` / `.delta`).
    fn add(&mut self, m: &Value) {
        for field in ["reasoning_content", "reasoning"] {
            if let Some(t) = m[field].as_str() {
                self.reasoning.push_str(t);
            }
        }
        if let Some(t) = m["content"].as_str() {
            self.text.push_str(t);
        }
        for (i, call) in m["tool_calls"].as_array().into_iter().flatten().enumerate() {
            // A whole message's calls carry no index; a delta's do.
            let index = call["index"].as_u64().unwrap_or(i as u64);
            let entry = self.calls.entry(index).or_default();
            if let Some(id) = call["id"].as_str().filter(|id| !id.is_empty()) {
                entry.0 = Some(id.to_string());
            }
            if let Some(n) = call["function"]["name"].as_str() {
                entry.1.push_str(n);
            }
            if let Some(a) = call["function"]["arguments"].as_str() {
                entry.2.push_str(a);
            }
        }
    }

    fn choice(&mut self, doc: &Value, member: &str) {
        if let Some(choice) = doc["choices"].get(0) {
            self.add(&choice[member]);
            if let Some(f) = choice["finish_reason"].as_str() {
                self.finish = Some(f.to_string());
            }
        }
        if doc["usage"].is_object() {
            self.usage = Some(doc["usage"].clone());
        }
    }
}

/// Reads the upstream's body; `Err` says why it is not a Chat Completions answer (an error event
/// inside a stream included).
pub fn read(body: &[u8], c: &Conversation, defaults: &Defaults) -> Result<Plan, String> {
    let mut g = Gathered::default();
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_string())?;
    if text.trim_start().starts_with('{') {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("the answer is not JSON: {e}"))?;
        g.choice(&doc, "message");
    } else {
        for line in text.lines() {
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" || data.is_empty() {
                continue;
            }
            let doc: Value =
                serde_json::from_str(data).map_err(|e| format!("a streamed chunk is not JSON: {e}"))?;
            if let Some(m) = doc["error"]["message"].as_str() {
                return Err(format!("the stream carried an error: {m}"));
            }
            g.choice(&doc, "delta");
        }
        if g.finish.is_none() {
            return Err("the stream ended before a finish_reason".into());
        }
    }
    Ok(plan(g, c, defaults))
}

fn plan(g: Gathered, c: &Conversation, defaults: &Defaults) -> Plan {
    let mut blocks = Vec::new();
    if !g.reasoning.is_empty() {
        blocks.push(Block::Reasoning {
            text: g.reasoning,
            signature: None,
        });
    }
    if !g.text.is_empty() {
        blocks.push(Block::Text(g.text));
    }
    for (id, name, arguments) in g.calls.into_values() {
        blocks.push(Block::ToolCall {
            id: id.unwrap_or_else(new_tool_call_id),
            name,
            arguments: if arguments.is_empty() {
                "{}".into()
            } else {
                arguments
            },
        });
    }
    let has_call = blocks.iter().any(|b| matches!(b, Block::ToolCall { .. }));
    let stop = match g.finish.as_deref() {
        Some("length") => StopReason::MaxTokens,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        Some("content_filter") => StopReason::ContentFilter,
        // Some servers end a tool call with `stop`: the wires must still say tool use.
        _ if has_call => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    };
    Plan {
        id: None,
        model: c.model.clone(),
        created: None,
        usage: usage(g.usage.as_ref(), c, &blocks),
        blocks,
        stop,
        timing: Timing {
            chunk_size: defaults.chunk_size.max(1),
            ..Timing::default()
        },
        system_fingerprint: None,
        speech: None,
        guardrail: None,
        guardrail_checks: None,
    }
}

/// The upstream's counts; estimated as for a fixture when it sent none.
fn usage(u: Option<&Value>, c: &Conversation, blocks: &[Block]) -> Usage {
    let count = |key: &str| u.and_then(|u| u[key].as_u64());
    let input = count("prompt_tokens").unwrap_or_else(|| tokens::counter(&c.model).prompt(c));
    let output = count("completion_tokens").unwrap_or_else(|| {
        tokens::counter(&c.model).texts(blocks.iter().flat_map(|b| match b {
            Block::Text(t) | Block::Reasoning { text: t, .. } => [t.as_str(), ""],
            Block::ToolCall { name, arguments, .. } => [name.as_str(), arguments.as_str()],
        }))
    });
    let detail = |outer: &str, inner: &str| u.and_then(|u| u[outer][inner].as_u64()).unwrap_or(0);
    Usage {
        input,
        output,
        total: count("total_tokens").unwrap_or(input + output),
        cache_read: detail("prompt_tokens_details", "cached_tokens").min(input),
        cache_write: 0,
        reasoning: detail("completion_tokens_details", "reasoning_tokens").min(output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Protocol;

    fn convo() -> Conversation {
        Conversation::new(Protocol::Bedrock, "us.anthropic.claude-3-5-haiku-20241022-v1:0")
    }

    #[test]
    fn a_whole_answer_keeps_the_upstream_ids_usage_and_stop_reason() {
        let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#;
        let p = read(body, &convo(), &Defaults::default()).unwrap();
        assert_eq!(p.stop, StopReason::ToolUse);
        assert_eq!((p.usage.input, p.usage.output, p.usage.total), (12, 5, 17));
        assert_eq!(
            p.blocks,
            vec![Block::ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            }]
        );
        assert_eq!(p.model, "us.anthropic.claude-3-5-haiku-20241022-v1:0");
    }

    #[test]
    fn streamed_deltas_merge_by_index_and_length_is_max_tokens() {
        let body = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"hm\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c9\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n",
            "data: [DONE]\n\n"
        );
        let p = read(body.as_bytes(), &convo(), &Defaults::default()).unwrap();
        assert_eq!(p.stop, StopReason::MaxTokens);
        assert_eq!(p.usage.total, 7);
        assert_eq!(
            p.blocks,
            vec![
                Block::Reasoning {
                    text: "hm".into(),
                    signature: None
                },
                Block::Text("Hello".into()),
                Block::ToolCall {
                    id: "c9".into(),
                    name: "f".into(),
                    arguments: r#"{"a":1}"#.into()
                }
            ]
        );
    }

    #[test]
    fn a_cut_stream_or_an_error_event_is_no_answer() {
        let cut = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";
        assert!(read(cut.as_bytes(), &convo(), &Defaults::default()).is_err());
        let err = "data: {\"error\":{\"message\":\"boom\"}}\n\n";
        let e = read(err.as_bytes(), &convo(), &Defaults::default()).unwrap_err();
        assert!(e.contains("boom"), "{e}");
    }
}
