//! The protocol-neutral request model that fixture matching reads.
//!
//! Every wire codec (OpenAI, Bedrock, SageMaker) decodes its request into a [`Conversation`]; matching
//! never looks at a protocol's own JSON, so one fixture answers the same prompt on every protocol.

use std::collections::BTreeMap;

/// The service a request arrived at: what a fixture's `match.protocol` names.
///
/// This is the registry of protocol names: fixture validation, the pre-created metric series and the
/// journal read [`Protocol::ALL`]; the wires that serve each one are listed in `routes::WIRES`.
/// Bedrock Runtime's OpenAI- and Anthropic-compatible paths (`/openai/v1/…`, `/anthropic/v1/…`) are
/// Bedrock: a fixture tells them apart with `match.operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI-compatible HTTP API (Chat Completions, Responses, embeddings) under `/v1`.
    OpenAi,
    /// Anthropic Messages API under `/v1/messages`.
    Anthropic,
    /// AWS Bedrock Runtime, including its OpenAI- and Anthropic-compatible paths.
    Bedrock,
    /// AWS SageMaker Runtime (and the SageMaker container contract).
    SageMaker,
}

impl Protocol {
    /// Every protocol, in the order documentation lists them.
    pub const ALL: [Protocol; 4] = [
        Protocol::OpenAi,
        Protocol::Anthropic,
        Protocol::Bedrock,
        Protocol::SageMaker,
    ];

    /// Lower-case name used in fixtures (`match.protocol`), metrics and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Anthropic => "anthropic",
            Protocol::Bedrock => "bedrock",
            Protocol::SageMaker => "sagemaker",
        }
    }

    /// The protocol a fixture names, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// The kind of endpoint called (aimock's `match.endpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Chat / converse / invoke.
    Chat,
    /// Embeddings.
    Embedding,
}

impl Endpoint {
    /// aimock's name for the endpoint.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Embedding => "embedding",
        }
    }
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool result sent back to the model.
    Tool,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// The message's text blocks joined with `\n` (empty when it has none).
    pub text: String,
    /// Tool calls an assistant message made.
    pub tool_calls: Vec<ToolCallRef>,
    /// For `Role::Tool`: the call this result answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message with just text.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            text: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A tool result.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            text: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(tool_call_id.into()),
        }
    }
}

/// A tool call made earlier in the conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCallRef {
    /// Its id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Its arguments as JSON text, where the request carried them (`""` when it did not); read
    /// when the conversation is sent on to an upstream model (`--upstream-openai`).
    pub arguments: String,
}

/// Which tool the model must call (`toolChoice`, `tool_choice`), where the request said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// Some tool must be called (Bedrock `any`, Anthropic `any`, OpenAI `required`).
    Any,
    /// No tool may be called.
    None,
    /// This tool must be called.
    Tool(String),
}

/// The request's sampling options, kept so a translated request asks the upstream for the same.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    /// The output token limit.
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
}

impl Sampling {
    /// From a JSON body's loosely read fields (a wrongly typed one is left out: the wire's
    /// validation words it, and `--lenient` must not turn it into a rejection). `stop` is a string
    /// or a list of strings.
    pub fn from_json(
        max_tokens: Option<&serde_json::Value>,
        temperature: Option<&serde_json::Value>,
        top_p: Option<&serde_json::Value>,
        stop: Option<&serde_json::Value>,
    ) -> Self {
        Sampling {
            max_tokens: max_tokens.and_then(serde_json::Value::as_u64),
            temperature: temperature.and_then(serde_json::Value::as_f64),
            top_p: top_p.and_then(serde_json::Value::as_f64),
            stop: match stop {
                Some(serde_json::Value::String(s)) => vec![s.clone()],
                Some(serde_json::Value::Array(a)) => {
                    a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
                }
                _ => Vec::new(),
            },
        }
    }
}

/// A request, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The protocol it arrived on.
    pub protocol: Protocol,
    /// Chat or embedding.
    pub endpoint: Endpoint,
    /// The model id (percent-decoded), or the SageMaker endpoint name.
    pub model: String,
    /// System prompts, in order.
    pub system: Vec<String>,
    /// The messages, in order.
    pub messages: Vec<Message>,
    /// Names of the tools the request defines.
    pub tools: Vec<String>,
    /// The JSON Schema of each declared tool's input, by tool name, where the request gave one
    /// (read by the `toolArgsSchemaViolation` semantic fault).
    pub tool_schemas: BTreeMap<String, serde_json::Value>,
    /// Each declared tool's description, by tool name, where the request gave one.
    pub tool_descriptions: BTreeMap<String, String>,
    /// The request's tool choice, if it made one.
    pub tool_choice: Option<ToolChoice>,
    /// Sampling options (max tokens, temperature, top-p, stop sequences).
    pub sampling: Sampling,
    /// `response_format.type` (OpenAI), if any.
    pub response_format: Option<String>,
    /// Embedding input texts joined with `\n`.
    pub input_text: Option<String>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The request headers (read by `match.headers`, the control headers and the journal).
    pub headers: Headers,
    /// The Bedrock guardrail the request names (`match.guardrailId`), if any.
    pub guardrail: Option<String>,
}

/// A request's headers as matching reads them: by name in any case, UTF-8 values only, the last
/// value of a repeated header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers {
    map: http::HeaderMap,
    /// Whether any header is one of the mock's own (`x-mockmodel-…`, `x-aimock-…`, `x-test-id`).
    control: bool,
}

/// Whether `name` is one of the mock's own headers, which most requests carry none of.
fn is_control(name: &str) -> bool {
    let b = name.as_bytes();
    if b.len() < TEST_ID_HEADER.len() || b[0] | 0x20 != b'x' || b[1] != b'-' {
        return false;
    }
    let starts = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    starts("x-mockmodel-") || starts("x-aimock-") || name.eq_ignore_ascii_case(TEST_ID_HEADER)
}

impl Headers {
    fn new(map: http::HeaderMap) -> Self {
        let control = map.keys().any(|n| is_control(n.as_str()));
        Headers { map, control }
    }

    /// The value of `name` (in any case), if present and UTF-8. A scan of the request's few
    /// headers: `HeaderMap::get(&str)` parses and hashes the name on every call, and a request
    /// asks for several names (issue 12's hot path); the mock's own headers, asked for on every
    /// request (faults, sequences, the journal), are not looked for when none came.
    pub fn get(&self, name: &str) -> Option<&str> {
        if !self.control && is_control(name) {
            return None;
        }
        self.scan(name)
    }

    /// The value of `name`, one of the mock's own headers (`x-mockmodel-…`, `x-aimock-…`,
    /// `x-test-id`): [`Headers::get`] without telling the name's kind on every call, for the
    /// constant names asked for on every request (faults, sequences, the journal).
    pub fn control(&self, name: &str) -> Option<&str> {
        debug_assert!(is_control(name), "{name} is not a control header");
        if !self.control {
            return None;
        }
        self.scan(name)
    }

    /// Whether the request carried any of the mock's own headers.
    pub fn has_control(&self) -> bool {
        self.control
    }

    fn scan(&self, name: &str) -> Option<&str> {
        self.map
            .iter()
            .filter(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .last()?
            .1
            .to_str()
            .ok()
    }

    /// Sets `name` to `value` (fixtures' tests and the bidirectional stream's event headers); a
    /// name or value HTTP cannot carry is left out.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_ref().to_ascii_lowercase().as_bytes()),
            http::HeaderValue::from_str(value.as_ref()),
        ) {
            self.control |= is_control(n.as_str());
            self.map.insert(n, v);
        }
    }

    /// The header names, lower-case.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(http::HeaderName::as_str)
    }
}

impl From<http::HeaderMap> for Headers {
    fn from(map: http::HeaderMap) -> Self {
        Headers::new(map)
    }
}

impl From<&http::HeaderMap> for Headers {
    fn from(map: &http::HeaderMap) -> Self {
        Headers::new(map.clone())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut h = Headers::default();
        for (k, v) in pairs {
            h.insert(k, v);
        }
        h
    }
}

/// Header that scopes `sequenceIndex` counters.
pub const TEST_ID_HEADER: &str = "x-test-id";
/// Header matched by `match.context`.
pub const CONTEXT_HEADER: &str = "x-aimock-context";

impl Conversation {
    /// An empty chat conversation for a protocol and model.
    pub fn new(protocol: Protocol, model: impl Into<String>) -> Self {
        Conversation {
            protocol,
            endpoint: Endpoint::Chat,
            model: model.into(),
            system: Vec::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            tool_schemas: BTreeMap::new(),
            tool_descriptions: BTreeMap::new(),
            tool_choice: None,
            sampling: Sampling::default(),
            response_format: None,
            input_text: None,
            stream: false,
            headers: Headers::default(),
            guardrail: None,
        }
    }

    /// Keeps the request headers: the map itself, or a clone whose values share the request's
    /// bytes (copying each into a `String` pair was a measurable share of a request, issue 12).
    pub fn with_headers(mut self, headers: impl Into<Headers>) -> Self {
        self.headers = headers.into();
        self
    }

    /// Text of the last user message that has text (attachment-only messages are skipped).
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User && !m.text.is_empty())
            .map(|m| m.text.as_str())
    }

    /// The messages after the last user message (the current turn).
    pub fn current_turn(&self) -> &[Message] {
        match self.messages.iter().rposition(|m| m.role == Role::User) {
            Some(i) => &self.messages[i + 1..],
            None => &self.messages,
        }
    }

    /// Whether the current turn carries a tool result.
    pub fn has_tool_result(&self) -> bool {
        self.current_turn().iter().any(|m| m.role == Role::Tool)
    }

    /// The last message if it is a tool result.
    pub fn last_tool_result(&self) -> Option<&Message> {
        self.messages.last().filter(|m| m.role == Role::Tool)
    }

    /// Number of assistant messages.
    pub fn turn_index(&self) -> u32 {
        self.messages.iter().filter(|m| m.role == Role::Assistant).count() as u32
    }

    /// Value of the `X-Test-Id` header, or aimock's default scope.
    pub fn test_id(&self) -> &str {
        self.headers.control(TEST_ID_HEADER).unwrap_or("__default__")
    }

    /// All text the client sent, for token estimates.
    pub fn prompt_chars(&self) -> usize {
        self.system.iter().map(|s| s.chars().count()).sum::<usize>()
            + self
                .messages
                .iter()
                .map(|m| m.text.chars().count())
                .sum::<usize>()
            + self.input_text.as_deref().map_or(0, |t| t.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convo(messages: Vec<Message>) -> Conversation {
        let mut c = Conversation::new(Protocol::OpenAi, "gpt-4o");
        c.messages = messages;
        c
    }

    #[test]
    fn headers_are_read_by_name_in_any_case_and_the_mocks_own_only_when_sent() {
        let mut map = http::HeaderMap::new();
        map.insert("content-type", http::HeaderValue::from_static("application/json"));
        map.append("x-custom", http::HeaderValue::from_static("a"));
        map.append("x-custom", http::HeaderValue::from_static("b"));
        let plain = Headers::from(map.clone());
        assert_eq!(plain.get("Content-Type"), Some("application/json"));
        assert_eq!(plain.get("x-custom"), Some("b"));
        assert_eq!(plain.get("x-mockmodel-fault"), None);
        map.insert("X-Test-Id", http::HeaderValue::from_static("t1"));
        map.insert("x-aimock-context", http::HeaderValue::from_static("c"));
        let with = Headers::from(&map);
        assert_eq!(with.get("x-test-id"), Some("t1"));
        assert_eq!(with.get("X-AIMOCK-CONTEXT"), Some("c"));
        let mut added = Headers::from(http::HeaderMap::new());
        added.insert("X-Mockmodel-Fault", "refusal");
        assert_eq!(added.get("x-mockmodel-fault"), Some("refusal"));
        assert!(is_control("x-MockModel-seed") && !is_control("x-mock") && !is_control("x-test-ids"));
    }

    #[test]
    fn last_user_text_skips_attachment_only_user_messages() {
        let c = convo(vec![
            Message::text(Role::User, "hello"),
            Message::text(Role::User, ""),
        ]);
        assert_eq!(c.last_user_text(), Some("hello"));
    }

    #[test]
    fn tool_result_after_last_user_message_is_the_current_turn() {
        let mut assistant = Message::text(Role::Assistant, "");
        assistant.tool_calls.push(ToolCallRef {
            id: "c1".into(),
            name: "get_weather".into(),
            ..ToolCallRef::default()
        });
        let c = convo(vec![
            Message::text(Role::User, "weather?"),
            assistant,
            Message::tool_result("c1", "sunny"),
        ]);
        assert!(c.has_tool_result());
        assert_eq!(c.turn_index(), 1);
        assert_eq!(
            c.last_tool_result().and_then(|m| m.tool_call_id.as_deref()),
            Some("c1")
        );
    }

    #[test]
    fn tool_result_before_a_new_user_message_is_not_the_current_turn() {
        let c = convo(vec![
            Message::text(Role::User, "weather?"),
            Message::tool_result("c1", "sunny"),
            Message::text(Role::User, "thanks"),
        ]);
        assert!(!c.has_tool_result());
        assert!(c.last_tool_result().is_none());
    }

    #[test]
    fn test_id_defaults_to_aimock_scope() {
        let c = convo(vec![]);
        assert_eq!(c.test_id(), "__default__");
    }
}
