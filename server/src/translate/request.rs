//! A neutral [`Conversation`] as an OpenAI `/chat/completions` request body: system prompts first,
//! tools as `tools`/`tool_choice`, assistant tool calls as `tool_calls`, tool results as
//! `role: tool` messages with their `tool_call_id`.

use serde_json::{Map, Value, json};

use crate::conversation::{Conversation, Message, Role, ToolChoice};

/// The request body for `model`; streamed answers ask for the usage chunk too.
pub fn chat_request(c: &Conversation, model: &str) -> Value {
    let mut messages: Vec<Value> = c
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| json!({"role": "system", "content": s}))
        .collect();
    // A tool result answers a call of the assistant message before it; one that answers none (a
    // Llama prompt's `ipython` turn has no call id) is sent as user text, which every server takes.
    let mut open: Vec<&str> = Vec::new();
    for m in ordered(&c.messages) {
        match m.role {
            Role::Assistant => open = m.tool_calls.iter().map(|t| t.id.as_str()).collect(),
            Role::User => open.clear(),
            Role::Tool if !m.tool_call_id.as_deref().is_some_and(|id| open.contains(&id)) => {
                messages.push(json!({"role": "user", "content": m.text}));
                continue;
            }
            Role::Tool => {}
        }
        messages.push(message(m));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    if !c.tools.is_empty() {
        let tools: Vec<Value> = c.tools.iter().map(|name| tool(c, name)).collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = &c.tool_choice {
            body.insert("tool_choice".into(), tool_choice(choice));
        }
    }
    let s = &c.sampling;
    if let Some(n) = s.max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = s.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !s.stop.is_empty() {
        body.insert("stop".into(), json!(s.stop));
    }
    if c.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

/// The messages in an order Chat Completions accepts: it requires the `tool` messages answering an
/// assistant's `tool_calls` to follow that message at once, while Converse and Anthropic put tool
/// results and new user text in one user message (decoded text first).
fn ordered(messages: &[Message]) -> Vec<&Message> {
    let mut out = Vec::with_capacity(messages.len());
    let mut i = 0;
    while i < messages.len() {
        let m = &messages[i];
        out.push(m);
        i += 1;
        if m.role == Role::Assistant && !m.tool_calls.is_empty() {
            let end = messages[i..]
                .iter()
                .position(|n| n.role == Role::Assistant)
                .map_or(messages.len(), |p| i + p);
            let run = &messages[i..end];
            out.extend(run.iter().filter(|n| n.role == Role::Tool));
            out.extend(run.iter().filter(|n| n.role != Role::Tool));
            i = end;
        }
    }
    out
}

fn message(m: &Message) -> Value {
    match m.role {
        Role::User => json!({"role": "user", "content": m.text}),
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.text,
        }),
        Role::Assistant => {
            let mut msg = json!({"role": "assistant", "content": m.text});
            if !m.tool_calls.is_empty() {
                if m.text.is_empty() {
                    // What the API itself sends beside tool calls with no text.
                    msg["content"] = Value::Null;
                }
                msg["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .map(|t| {
                        let arguments = if t.arguments.is_empty() {
                            "{}"
                        } else {
                            &t.arguments
                        };
                        json!({
                            "id": t.id,
                            "type": "function",
                            "function": {"name": t.name, "arguments": arguments},
                        })
                    })
                    .collect();
            }
            msg
        }
    }
}

fn tool(c: &Conversation, name: &str) -> Value {
    let mut function = json!({
        "name": name,
        // Chat Completions wants an object schema; a tool declared without one takes no input.
        "parameters": c.tool_schemas.get(name).cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    });
    if let Some(d) = c.tool_descriptions.get(name) {
        function["description"] = json!(d);
    }
    json!({"type": "function", "function": function})
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Any => json!("required"),
        ToolChoice::None => json!("none"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Protocol, ToolCallRef};

    #[test]
    fn tools_calls_and_results_become_chat_completions_members() {
        let mut c = Conversation::new(Protocol::Bedrock, "m");
        c.system.push("be brief".into());
        c.tools.push("get_weather".into());
        c.tool_schemas.insert(
            "get_weather".into(),
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        );
        c.tool_descriptions.insert("get_weather".into(), "Weather".into());
        c.tool_choice = Some(ToolChoice::Any);
        c.sampling.max_tokens = Some(64);
        c.messages.push(Message::text(Role::User, "weather?"));
        let mut a = Message::text(Role::Assistant, "");
        a.tool_calls.push(ToolCallRef {
            id: "t1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        });
        c.messages.push(a);
        // Converse decodes a user message's text before its tool results.
        c.messages.push(Message::text(Role::User, "and hurry"));
        c.messages.push(Message::tool_result("t1", "sunny"));
        let body = chat_request(&c, "small");
        assert_eq!(body["model"], "small");
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["tool_choice"], "required");
        assert_eq!(body["tools"][0]["function"]["description"], "Weather");
        assert_eq!(
            body["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
            "string"
        );
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(body["messages"][3]["tool_call_id"], "t1");
        assert!(body.get("stream").is_none());
    }

    #[test]
    fn a_tool_result_that_answers_no_call_is_user_text() {
        let mut c = Conversation::new(Protocol::Bedrock, "meta.llama3-8b-instruct-v1:0");
        c.messages.push(Message::text(Role::User, "what time is it?"));
        c.messages.push(Message::tool_result("", "noon"));
        let body = chat_request(&c, "m");
        assert_eq!(body["messages"][1], json!({"role": "user", "content": "noon"}));
    }

    #[test]
    fn a_stream_asks_for_usage_and_a_call_without_arguments_sends_an_empty_object() {
        let mut c = Conversation::new(Protocol::Anthropic, "claude");
        c.stream = true;
        let mut a = Message::text(Role::Assistant, "checking");
        a.tool_calls.push(ToolCallRef {
            id: "t1".into(),
            name: "now".into(),
            ..ToolCallRef::default()
        });
        c.messages.push(Message::text(Role::User, "time?"));
        c.messages.push(a);
        c.messages.push(Message::tool_result("t1", "noon"));
        let body = chat_request(&c, "claude");
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["messages"][1]["content"], "checking");
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
    }
}
