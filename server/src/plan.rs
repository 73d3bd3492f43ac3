//! The protocol-neutral response plan that wire encoders write.
//!
//! A matched fixture plus the request becomes an [`Outcome`]: a message [`Plan`] (ordered blocks, stop
//! reason, usage, timing), an [`ErrorPlan`] or an embedding. Encoders only translate a plan into their
//! protocol's bytes; they never read fixtures.

use serde_json::Value;

use crate::conversation::Conversation;
use crate::fixture::schema::{
    BlockSpec, Fixture, GuardrailActionSpec, GuardrailSourceSpec, Response, SpeechSpec, StreamingProfile,
    ToolCallSpec,
};
use crate::tokens;

/// Characters per streamed chunk when neither the fixture nor the server sets one (aimock's default).
pub const DEFAULT_CHUNK_SIZE: usize = 20;

/// What to answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An assistant message.
    Message(Plan),
    /// An error response.
    Error(ErrorPlan),
    /// An embedding vector.
    Embedding(Vec<f32>),
}

/// An assistant message to send, as a protocol-neutral plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Response id override; encoders generate their own style of id when `None`.
    pub id: Option<String>,
    /// Model name to echo.
    pub model: String,
    /// Creation time override (Unix seconds).
    pub created: Option<i64>,
    /// Content blocks, in order.
    pub blocks: Vec<Block>,
    /// Why the model stopped.
    pub stop: StopReason,
    /// Token usage (never zero).
    pub usage: Usage,
    /// Timing and stream faults.
    pub timing: Timing,
    /// OpenAI `system_fingerprint`.
    pub system_fingerprint: Option<String>,
    /// How a spoken answer sounds (Nova Sonic sessions only). Boxed: rare.
    pub speech: Option<Box<SpeechSpec>>,
    /// A Bedrock guardrail's verdict (fixture `guardrail`); other wires never read it. Boxed: rare.
    pub guardrail: Option<Box<Guardrail>>,
    /// Bedrock InvokeGuardrailChecks `results` (fixture `guardrailChecks`); boxed: rare.
    pub guardrail_checks: Option<Box<Value>>,
}

/// What a guardrail made of the request or of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Guardrail {
    /// It blocked or masked (`GUARDRAIL_INTERVENED`), rather than only assessing (`NONE`).
    pub intervened: bool,
    /// The text sent instead of the answer when it intervened.
    pub output: Option<String>,
    /// It assessed the model's answer (`outputAssessments`) rather than the prompt (`inputAssessment`).
    pub on_output: bool,
    /// The findings, each a botocore `GuardrailAssessment`.
    pub assessments: Vec<Value>,
    /// `actionReason`.
    pub action_reason: Option<String>,
    /// ApplyGuardrail `usage` members to send as given.
    pub usage: Option<Value>,
    /// ApplyGuardrail `guardrailCoverage` to send as given.
    pub coverage: Option<Value>,
}

impl Plan {
    /// Content chunks a stream of this plan carries: each block's text in `chunk_size` pieces.
    pub fn content_chunks(&self) -> usize {
        let size = self.timing.chunk_size.max(1);
        self.blocks
            .iter()
            .map(|b| match b {
                Block::Text(t) | Block::Reasoning { text: t, .. } => t.chars().count().div_ceil(size),
                // One chunk names the call, then its arguments in pieces.
                Block::ToolCall { arguments, .. } => 1 + arguments.chars().count().div_ceil(size),
            })
            .sum()
    }

    /// How long a non-streamed answer waits: the latency plus the whole stream's expected duration
    /// under the streaming profile (jitter averages out), so both modes take the same time.
    pub fn unary_delay_ms(&self) -> u64 {
        let Some(p) = &self.timing.streaming_profile else {
            return self.timing.latency_ms;
        };
        let ttft = p.ttft.unwrap_or(0.0).max(0.0);
        let gaps = self.content_chunks().saturating_sub(1) as f64;
        let per_gap = p.tps.filter(|t| *t > 0.0).map_or(0.0, |tps| 1000.0 / tps);
        self.timing.latency_ms + (ttft + gaps * per_gap).round() as u64
    }

    /// Waits `timing.latency_ms` before a non-streamed answer; no timer at all when it is zero.
    pub async fn delay(&self) {
        if self.timing.latency_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(self.timing.latency_ms)).await;
        }
    }
}

/// One content block.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Assistant text.
    Text(String),
    /// Reasoning text with an optional signature.
    Reasoning {
        /// The reasoning text.
        text: String,
        /// Its signature.
        signature: Option<String>,
    },
    /// A tool call; `arguments` is JSON text.
    ToolCall {
        /// Tool call id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments as JSON text.
        arguments: String,
    },
}

/// Why generation stopped, in neutral terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StopReason {
    /// Natural end of the answer.
    #[default]
    EndTurn,
    /// The answer asks for tool calls.
    ToolUse,
    /// Token limit reached.
    MaxTokens,
    /// One of the request's stop sequences was generated (Anthropic's `stop_sequence`; wires
    /// without that name say what they say for a natural end).
    StopSequence,
    /// Filtered.
    ContentFilter,
    /// The model declined: the text blocks are its refusal (OpenAI `message.refusal`, Responses
    /// `refusal` part, Anthropic `stop_reason: refusal`; wires without one send the text as an
    /// answer that ended naturally).
    Refusal,
}

impl StopReason {
    /// Parses an aimock `finishReason` (OpenAI or Bedrock spelling).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stop" | "end_turn" => Some(StopReason::EndTurn),
            "stop_sequence" => Some(StopReason::StopSequence),
            "tool_calls" | "tool_use" | "function_call" => Some(StopReason::ToolUse),
            "length" | "max_tokens" => Some(StopReason::MaxTokens),
            "content_filter" | "content_filtered" | "refusal" => Some(StopReason::ContentFilter),
            _ => None,
        }
    }
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached or not (OpenAI's `prompt_tokens`); wires that report uncached input
    /// separately (Anthropic, Bedrock) subtract the cache counts.
    pub input: u64,
    /// Completion tokens, reasoning included.
    pub output: u64,
    /// Total tokens.
    pub total: u64,
    /// Of `input`, read from the prompt cache.
    pub cache_read: u64,
    /// Of `input`, written to the prompt cache.
    pub cache_write: u64,
    /// Of `output`, spent on reasoning.
    pub reasoning: u64,
}

impl Usage {
    /// Prompt tokens neither read from nor written to the cache (Anthropic's `input_tokens`,
    /// Bedrock's `inputTokens`).
    pub fn uncached_input(&self) -> u64 {
        self.input.saturating_sub(self.cache_read + self.cache_write)
    }
}

/// When and how to send: delays and stream faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    /// Delay before the answer (or its first chunk), in ms.
    pub latency_ms: u64,
    /// Characters per streamed chunk.
    pub chunk_size: usize,
    /// Streaming timing model.
    pub streaming_profile: Option<StreamingProfile>,
    /// End the stream abruptly after this many content chunks.
    pub truncate_after_chunks: Option<u32>,
    /// Drop the connection this many ms into a stream.
    pub disconnect_after_ms: Option<u64>,
    /// Send this error inside the stream after some content chunks (`errorAfterChunks`); boxed, as
    /// it is rare and would otherwise double the size of every plan.
    pub stream_error: Option<Box<StreamError>>,
}

/// An error sent inside a stream, after some content (fixture `errorAfterChunks`).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamError {
    /// Content chunks sent before the error.
    pub after_chunks: u32,
    /// The error.
    pub error: ErrorPlan,
}

/// An error to answer with, before protocol translation.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorPlan {
    /// HTTP status.
    pub status: u16,
    /// The fixture's error type, if any (AWS or OpenAI spelling).
    pub type_: Option<String>,
    /// Message.
    pub message: String,
    /// OpenAI `code`.
    pub code: Option<Value>,
    /// OpenAI `param`.
    pub param: Option<String>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
}

/// Server-wide defaults a fixture can override.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Characters per chunk.
    pub chunk_size: usize,
    /// Delay before answering, ms.
    pub latency_ms: u64,
    /// Streaming timing model.
    pub streaming_profile: Option<StreamingProfile>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            chunk_size: DEFAULT_CHUNK_SIZE,
            latency_ms: 0,
            streaming_profile: None,
        }
    }
}

/// Turns a matched fixture and the request into what to send.
pub fn build(fixture: &Fixture, request: &Conversation, defaults: &Defaults) -> Outcome {
    let r = &fixture.response;
    let error = r.error.as_ref().map(|err| ErrorPlan {
        status: r.status.or(err.status).unwrap_or(500),
        type_: err.type_.clone(),
        message: err.message.clone(),
        code: err.code.clone(),
        param: err.param.clone(),
        retry_after: r.retry_after.or(err.retry_after),
    });
    // A mid-stream error needs a stream; a non-streamed request can only fail whole.
    let stream_error = match (error, fixture.error_after_chunks) {
        (Some(error), Some(after_chunks)) if request.stream => {
            Some(Box::new(StreamError { after_chunks, error }))
        }
        (Some(error), _) => return Outcome::Error(error),
        (None, _) => None,
    };
    if let Some(embedding) = &r.embedding {
        return Outcome::Embedding(embedding.clone());
    }
    let blocks = blocks_of(r);
    let has_tool_call = blocks.iter().any(|b| matches!(b, Block::ToolCall { .. }));
    let stop = r
        .finish_reason
        .as_deref()
        .and_then(StopReason::parse)
        .unwrap_or(if has_tool_call {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        });
    Outcome::Message(Plan {
        id: r.id.clone(),
        model: r.model.clone().unwrap_or_else(|| request.model.clone()),
        created: r.created,
        usage: usage_of(r, request, &blocks),
        blocks,
        stop,
        timing: Timing {
            latency_ms: fixture.latency.unwrap_or(defaults.latency_ms),
            chunk_size: fixture.chunk_size.unwrap_or(defaults.chunk_size).max(1),
            streaming_profile: fixture
                .streaming_profile
                .clone()
                .or_else(|| defaults.streaming_profile.clone()),
            truncate_after_chunks: fixture.truncate_after_chunks,
            disconnect_after_ms: fixture.disconnect_after_ms,
            stream_error,
        },
        system_fingerprint: r.system_fingerprint.clone(),
        speech: r.speech.clone().map(Box::new),
        guardrail: r.guardrail.as_ref().map(|g| {
            Box::new(Guardrail {
                intervened: g.action != Some(GuardrailActionSpec::None),
                output: g.output.clone(),
                on_output: g.source == Some(GuardrailSourceSpec::Output),
                assessments: g.assessments.clone(),
                action_reason: g.action_reason.clone(),
                usage: g.usage.clone(),
                coverage: g.coverage.clone(),
            })
        }),
        guardrail_checks: r.guardrail_checks.clone().map(Box::new),
    })
}

/// The response's content blocks: `blocks` if given, else reasoning, text, then tool calls.
fn blocks_of(r: &Response) -> Vec<Block> {
    if let Some(blocks) = &r.blocks {
        return blocks
            .iter()
            .map(|b| match b {
                BlockSpec::Text { text } => Block::Text(text.clone()),
                BlockSpec::Reasoning { text, signature } => Block::Reasoning {
                    text: text.clone(),
                    signature: signature.clone(),
                },
                BlockSpec::ToolCall { name, arguments, id } => tool_call(name, arguments, id.as_deref()),
            })
            .collect();
    }
    let mut out = Vec::new();
    if let Some(reasoning) = &r.reasoning {
        out.push(Block::Reasoning {
            text: reasoning.clone(),
            signature: r.reasoning_signature.clone(),
        });
    }
    if let Some(content) = &r.content {
        out.push(Block::Text(content_text(content)));
    }
    for ToolCallSpec { name, arguments, id } in r.tool_calls.iter().flatten() {
        out.push(tool_call(name, arguments, id.as_deref()));
    }
    out
}

/// `content` as text: strings verbatim, anything else as compact JSON (aimock auto-stringifies).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn tool_call(name: &str, arguments: &Value, id: Option<&str>) -> Block {
    let arguments = match arguments {
        // Validation guarantees the string is JSON; re-serialise so the wire text is compact.
        Value::String(s) => serde_json::from_str::<Value>(s)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| s.clone()),
        other => other.to_string(),
    };
    Block::ToolCall {
        id: id.map(str::to_string).unwrap_or_else(new_tool_call_id),
        name: name.to_string(),
        arguments,
    }
}

/// A fresh tool call id in the `call_` + 24 alphanumerics style the OpenAI API uses.
pub fn new_tool_call_id() -> String {
    format!("call_{}", &crate::ids::uuid().simple().to_string()[..24])
}

fn usage_of(r: &Response, request: &Conversation, blocks: &[Block]) -> Usage {
    // Counted only when the fixture does not state them: a BPE pass is the costliest per-request step.
    let stated = r.usage.as_ref().and_then(|u| u.input_tokens);
    let input = stated.unwrap_or_else(|| tokens::counter(&request.model).prompt(request));
    usage_given(r, &request.model, input, blocks)
}

/// After a semantic fault changed the answer's blocks: the usage of what is now sent (an empty
/// answer generates no tokens, half a tool call half of them), unless the fixture stated the
/// counts. The prompt's count stands.
pub fn recount(plan: &mut Plan, fixture: &Fixture, request: &Conversation) {
    plan.usage = usage_given(&fixture.response, &request.model, plan.usage.input, &plan.blocks);
}

fn usage_given(r: &Response, model: &str, input: u64, blocks: &[Block]) -> Usage {
    let spec = r.usage.clone().unwrap_or_default();
    let counter = || tokens::counter(model);
    let output = spec.output_tokens.unwrap_or_else(|| {
        counter().texts(blocks.iter().flat_map(|b| match b {
            Block::Text(t) | Block::Reasoning { text: t, .. } => [t.as_str(), ""],
            Block::ToolCall { name, arguments, .. } => [name.as_str(), arguments.as_str()],
        }))
    });
    let cache_read = spec.cache_read_input_tokens.unwrap_or(0);
    let cache_write = spec.cache_write_input_tokens.unwrap_or(0);
    // Cached tokens are part of the prompt: a stated cache count larger than the counted prompt
    // raises the prompt count rather than reporting a negative uncached remainder.
    let input = input.max(cache_read + cache_write);
    let reasoning_text: Vec<&str> = blocks
        .iter()
        .filter_map(|b| match b {
            Block::Reasoning { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    // A stated reasoning count is part of the output; a counted one never exceeds a stated output.
    let (reasoning, output) = match spec.reasoning_tokens {
        Some(r) => (r, output.max(r)),
        None if reasoning_text.is_empty() => (0, output),
        None => (
            counter().texts(reasoning_text.iter().copied()).min(output),
            output,
        ),
    };
    Usage {
        input,
        output,
        total: spec.total_tokens.unwrap_or(input + output),
        cache_read,
        cache_write,
        reasoning,
    }
}

/// Splits text into chunks of at most `size` characters (never inside a UTF-8 character).
pub fn chunk_text(text: &str, size: usize) -> Vec<&str> {
    let size = size.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    let mut count = 0;
    for (i, _) in text.char_indices() {
        if count == size {
            out.push(&text[start..i]);
            start = i;
            count = 0;
        }
        count += 1;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Message, Protocol, Role};
    use crate::fixture::schema::ErrorSpec;

    fn request(text: &str) -> Conversation {
        let mut c = Conversation::new(Protocol::OpenAi, "gpt-4o");
        c.messages.push(Message::text(Role::User, text));
        c
    }

    fn fixture(response: Response) -> Fixture {
        Fixture {
            response,
            ..Default::default()
        }
    }

    #[test]
    fn a_changed_answer_is_recounted_unless_the_fixture_stated_its_usage() {
        let f = fixture(Response {
            content: Some("The weather in Paris is sunny today.".into()),
            ..Default::default()
        });
        let c = request("weather?");
        let Outcome::Message(mut p) = build(&f, &c, &Defaults::default()) else {
            panic!("a message")
        };
        let (input, output) = (p.usage.input, p.usage.output);
        assert!(output > 1);
        p.blocks.clear();
        recount(&mut p, &f, &c);
        // An empty answer counts the counter's floor of one token (its end), the prompt stands.
        assert_eq!(
            (p.usage.input, p.usage.output, p.usage.total),
            (input, 1, input + 1)
        );

        let stated = fixture(Response {
            content: Some("hi".into()),
            usage: Some(crate::fixture::schema::UsageSpec {
                output_tokens: Some(7),
                ..Default::default()
            }),
            ..Default::default()
        });
        let Outcome::Message(mut p) = build(&stated, &c, &Defaults::default()) else {
            panic!("a message")
        };
        p.blocks.clear();
        recount(&mut p, &stated, &c);
        assert_eq!(p.usage.output, 7);
    }

    #[test]
    fn chunking_keeps_multibyte_characters_whole() {
        let chunks = chunk_text("héllo 世界 👋🏽!", 3);
        assert_eq!(chunks.concat(), "héllo 世界 👋🏽!");
        assert!(chunks.iter().all(|c| c.chars().count() <= 3));
        assert_eq!(chunks[0], "hél");
    }

    #[test]
    fn chunking_empty_text_gives_no_chunks() {
        assert!(chunk_text("", 5).is_empty());
    }

    #[test]
    fn usage_is_estimated_and_never_zero() {
        let f = fixture(Response {
            content: Some("".into()),
            ..Default::default()
        });
        // A model without a public tokenizer: the character estimate.
        let mut r = request("hi");
        r.model = "llama-3-8b".into();
        let Outcome::Message(plan) = build(&f, &r, &Defaults::default()) else {
            panic!()
        };
        assert_eq!(
            plan.usage,
            Usage {
                input: 1,
                output: 1,
                total: 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn tool_calls_set_the_tool_use_stop_reason_and_compact_string_arguments() {
        let f = fixture(Response {
            tool_calls: Some(vec![ToolCallSpec {
                name: "get_weather".into(),
                arguments: Value::String("{ \"city\": \"Paris\" }".into()),
                id: Some("call_1".into()),
            }]),
            ..Default::default()
        });
        let Outcome::Message(plan) = build(&f, &request("weather"), &Defaults::default()) else {
            panic!()
        };
        assert_eq!(plan.stop, StopReason::ToolUse);
        assert_eq!(
            plan.blocks,
            vec![Block::ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            }]
        );
    }

    #[test]
    fn error_status_is_accepted_beside_or_inside_error() {
        let inside = fixture(Response {
            error: Some(ErrorSpec {
                message: "slow down".into(),
                status: Some(429),
                ..Default::default()
            }),
            ..Default::default()
        });
        let beside = fixture(Response {
            error: Some(ErrorSpec {
                message: "slow down".into(),
                ..Default::default()
            }),
            status: Some(429),
            retry_after: Some(3),
            ..Default::default()
        });
        for (f, retry) in [(inside, None), (beside, Some(3))] {
            let Outcome::Error(e) = build(&f, &request("x"), &Defaults::default()) else {
                panic!()
            };
            assert_eq!(e.status, 429);
            assert_eq!(e.retry_after, retry);
        }
    }

    #[test]
    fn a_unary_answer_waits_as_long_as_the_stream_would() {
        let f = Fixture {
            latency: Some(10),
            chunk_size: Some(5),
            streaming_profile: Some(StreamingProfile {
                ttft: Some(100.0),
                tps: Some(10.0),
                jitter: Some(0.3),
            }),
            ..fixture(Response {
                content: Some("0123456789abcde".into()),
                ..Default::default()
            })
        };
        let Outcome::Message(plan) = build(&f, &request("x"), &Defaults::default()) else {
            panic!()
        };
        assert_eq!(plan.content_chunks(), 3);
        assert_eq!(plan.unary_delay_ms(), 10 + 100 + 2 * 100);
    }

    #[test]
    fn error_after_chunks_streams_the_message_first_but_fails_a_plain_request_whole() {
        let f = Fixture {
            error_after_chunks: Some(2),
            ..fixture(Response {
                content: Some("partial".into()),
                error: Some(ErrorSpec {
                    message: "slow down".into(),
                    ..Default::default()
                }),
                status: Some(429),
                ..Default::default()
            })
        };
        let mut streamed = request("x");
        streamed.stream = true;
        let Outcome::Message(plan) = build(&f, &streamed, &Defaults::default()) else {
            panic!()
        };
        let se = plan.timing.stream_error.expect("a stream error");
        assert_eq!((se.after_chunks, se.error.status), (2, 429));
        assert!(matches!(
            build(&f, &request("x"), &Defaults::default()),
            Outcome::Error(ErrorPlan { status: 429, .. })
        ));
    }

    #[test]
    fn object_content_is_sent_as_json_text() {
        let f = fixture(Response {
            content: Some(serde_json::json!({"a": 1})),
            ..Default::default()
        });
        let Outcome::Message(plan) = build(&f, &request("x"), &Defaults::default()) else {
            panic!()
        };
        assert_eq!(plan.blocks, vec![Block::Text(r#"{"a":1}"#.into())]);
    }
}
