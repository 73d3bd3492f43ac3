//! Meta Llama (`{"prompt", "max_gen_len", …}`): the prompt is a chat template (Llama 3's header
//! tokens or Llama 2's `[INST]`), unpacked so that matching sees the system prompt and the last user
//! message rather than template tokens. Answers `generation` with token counts and `stop_reason`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Event, plan_text};
use crate::conversation::{Conversation, Message, Role};
use crate::plan::{Plan, StopReason, chunk_text};
use crate::routes::bedrock::{BedrockError, from_value};
use crate::tokens::estimate_tokens;

#[derive(Deserialize)]
struct Request {
    prompt: String,
}

/// Reads a Llama request.
pub fn decode(body: &Value, c: &mut Conversation) -> Result<(), BedrockError> {
    let req: Request = from_value(body)?;
    decode_prompt(&req.prompt, c);
    Ok(())
}

/// Unpacks a Llama 3 (`<|start_header_id|>role<|end_header_id|>…<|eot_id|>`) or Llama 2
/// (`[INST] … [/INST]`, `<<SYS>>`) prompt; any other text is one user message.
pub fn decode_prompt(prompt: &str, c: &mut Conversation) {
    if prompt.contains("<|start_header_id|>") {
        for part in prompt.split("<|start_header_id|>").skip(1) {
            let Some((role, rest)) = part.split_once("<|end_header_id|>") else {
                continue;
            };
            let text = rest.split("<|eot_id|>").next().unwrap_or("").trim().to_string();
            match role.trim() {
                "system" => c.system.push(text),
                "user" => c.messages.push(Message::text(Role::User, text)),
                // The open assistant header that ends the prompt is the model's turn, not a message.
                "assistant" if !text.is_empty() => c.messages.push(Message::text(Role::Assistant, text)),
                "ipython" | "tool" => c.messages.push(Message::tool_result("", text)),
                _ => {}
            }
        }
    } else if prompt.contains("[INST]") {
        for part in prompt.split("[INST]").skip(1) {
            let (user, answer) = part.split_once("[/INST]").unwrap_or((part, ""));
            let user = match user.split_once("<</SYS>>") {
                Some((sys, u)) => {
                    c.system.push(sys.replace("<<SYS>>", "").trim().to_string());
                    u
                }
                None => user,
            };
            c.messages.push(Message::text(Role::User, user.trim()));
            let answer = answer.replace("</s>", "").replace("<s>", "");
            if !answer.trim().is_empty() {
                c.messages.push(Message::text(Role::Assistant, answer.trim()));
            }
        }
    } else {
        c.messages.push(Message::text(Role::User, prompt.trim()));
    }
}

fn stop_reason(s: StopReason) -> &'static str {
    match s {
        StopReason::MaxTokens => "length",
        _ => "stop",
    }
}

/// The InvokeModel response body.
pub fn body(plan: &Plan) -> Value {
    json!({
        "generation": plan_text(plan),
        "prompt_token_count": plan.usage.input,
        "generation_token_count": plan.usage.output,
        "stop_reason": stop_reason(plan.stop),
    })
}

/// Llama's streaming chunks: the prompt count only on the first, the stop reason only on the last.
pub fn events(plan: &Plan) -> Vec<Event> {
    let text = plan_text(plan);
    let mut pieces = chunk_text(&text, plan.timing.chunk_size);
    if pieces.is_empty() {
        pieces.push("");
    }
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            Event::content(json!({
                "generation": p,
                "prompt_token_count": if i == 0 { json!(plan.usage.input) } else { Value::Null },
                "generation_token_count": if i == last { plan.usage.output } else { estimate_tokens(p.chars().count()) },
                "stop_reason": if i == last { json!(stop_reason(plan.stop)) } else { Value::Null },
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Protocol;

    #[test]
    fn llama3_and_llama2_templates_unpack_into_system_and_user_text() {
        let mut c = Conversation::new(Protocol::Bedrock, "meta.llama3-8b-instruct-v1:0");
        decode_prompt(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nbe brief<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhello there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            &mut c,
        );
        assert_eq!(c.system, vec!["be brief"]);
        assert_eq!(c.last_user_text(), Some("hello there"));
        assert_eq!(c.turn_index(), 0);

        let mut c = Conversation::new(Protocol::Bedrock, "meta.llama2-13b-chat-v1");
        decode_prompt(
            "<s>[INST] <<SYS>>\npirate\n<</SYS>>\n\nhi [/INST] Arr </s><s>[INST] hello [/INST]",
            &mut c,
        );
        assert_eq!(c.system, vec!["pirate"]);
        assert_eq!(c.last_user_text(), Some("hello"));
        assert_eq!(c.turn_index(), 1);
    }
}
