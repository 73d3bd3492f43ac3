//! Token counts for the usage fields: OpenAI-family models with their real BPE (the tiktoken ranks
//! that `tiktoken-rs` embeds, so nothing is downloaded at run time), every other model with the
//! estimate of one token per four characters.
//!
//! Chat prompts are counted as OpenAI's cookbook counts them ("How to count tokens with tiktoken",
//! `num_tokens_from_messages`): 3 tokens per message, plus its role and content, plus 3 priming the
//! reply. CountTokens, `/v1/messages/count_tokens` and the next answer's `inputTokens` all read
//! [`prompt`], so they agree.

use std::sync::atomic::{AtomicBool, Ordering};

use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::conversation::{Conversation, Role};

/// How usage is counted, process-wide (`--token-count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenCount {
    /// OpenAI-family models with their BPE, others estimated.
    Tiktoken,
    /// Every model at four characters a token (no BPE tables in memory).
    Estimate,
}

/// Set once at start from the CLI; in-process users (tests, the operator) keep the default.
static ESTIMATE_ONLY: AtomicBool = AtomicBool::new(false);

/// Chooses how usage is counted for the rest of the process; with `Tiktoken`, starts building the
/// o200k tables (~0.1 s of CPU in a release build) on a thread whose handle the caller joins before
/// it listens: a request arriving early would otherwise wait for them, and its first frame would
/// miss its `ttft`. cl100k (GPT-4, GPT-3.5, text-embedding-3) is built on first use.
pub fn configure(mode: TokenCount) -> Option<std::thread::JoinHandle<()>> {
    ESTIMATE_ONLY.store(mode == TokenCount::Estimate, Ordering::Relaxed);
    (mode == TokenCount::Tiktoken).then(|| {
        std::thread::spawn(|| {
            let _ = tiktoken_rs::o200k_base_singleton();
        })
    })
}

/// How one model's text is counted.
#[derive(Clone, Copy)]
pub enum Counter {
    /// The model's own BPE encoding.
    Bpe(&'static CoreBPE),
    /// Four characters a token (models whose tokenizer ships in no crate).
    Estimate,
}

/// Per message: `<|start|>{role}<|message|>…<|end|>` around the role and content (cookbook).
const TOKENS_PER_MESSAGE: u64 = 3;
/// Every reply is primed with `<|start|>assistant<|message|>` (cookbook).
const REPLY_PRIMING: u64 = 3;

/// The counter for `model`: o200k_base (GPT-4o, GPT-4.1, GPT-5, o-series) and cl100k_base (GPT-4,
/// GPT-3.5, text-embedding-3) by `tiktoken`'s own model table; the older encodings and every other
/// model are estimated. Only these two encodings are referenced, so only their ranks are linked.
pub fn counter(model: &str) -> Counter {
    if ESTIMATE_ONLY.load(Ordering::Relaxed) {
        return Counter::Estimate;
    }
    // Bedrock-style ids (`openai.gpt-…`) and Azure-style deployment names are not OpenAI model
    // names; tiktoken's table is matched on the bare name only.
    match get_tokenizer(model) {
        Some(Tokenizer::O200kBase) => Counter::Bpe(tiktoken_rs::o200k_base_singleton()),
        Some(Tokenizer::Cl100kBase) => Counter::Bpe(tiktoken_rs::cl100k_base_singleton()),
        _ => Counter::Estimate,
    }
}

impl Counter {
    /// Tokens of plain texts (embedding inputs, generated text), at least one.
    pub fn texts<'a>(self, texts: impl IntoIterator<Item = &'a str>) -> u64 {
        match self {
            Counter::Bpe(bpe) => texts.into_iter().map(|t| ordinary(bpe, t)).sum::<u64>().max(1),
            Counter::Estimate => estimate_tokens(texts.into_iter().map(|t| t.chars().count()).sum()),
        }
    }

    /// Tokens of a request's prompt, at least one.
    pub fn prompt(self, c: &Conversation) -> u64 {
        let Counter::Bpe(bpe) = self else {
            return estimate_tokens(c.prompt_chars());
        };
        if c.messages.is_empty() && c.system.is_empty() {
            // An embedding or completion input: plain text, no chat framing.
            return self.texts(c.input_text.as_deref());
        }
        let message = |role: &str, text: &str| TOKENS_PER_MESSAGE + ordinary(bpe, role) + ordinary(bpe, text);
        let system: u64 = c.system.iter().map(|s| message("system", s)).sum();
        let messages: u64 = c
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::Tool => "tool",
                };
                // Tool calls are not in the cookbook; their names are counted as text.
                let calls: u64 = m.tool_calls.iter().map(|t| ordinary(bpe, &t.name)).sum();
                message(role, &m.text) + calls
            })
            .sum();
        (system + messages + REPLY_PRIMING).max(1)
    }
}

/// Rough token estimate: one token per four characters, at least one.
pub fn estimate_tokens(chars: usize) -> u64 {
    (chars.div_ceil(4)).max(1) as u64
}

fn ordinary(bpe: &CoreBPE, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    bpe.encode_ordinary(text).len() as u64
}

/// Tokens of a request's prompt with its model's counter.
pub fn prompt(c: &Conversation) -> u64 {
    counter(&c.model).prompt(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Message, Protocol};

    #[test]
    fn openai_models_use_their_encoding_and_others_the_estimate() {
        assert!(matches!(counter("gpt-4o"), Counter::Bpe(_)));
        assert!(matches!(counter("gpt-4"), Counter::Bpe(_)));
        assert!(matches!(counter("anthropic.claude-3-haiku"), Counter::Estimate));
        assert!(matches!(counter("llama-3-8b"), Counter::Estimate));
    }

    #[test]
    fn a_chat_prompt_counts_framing_role_and_content() {
        let mut c = Conversation::new(Protocol::OpenAi, "gpt-4o");
        c.system.push("You are terse.".into());
        c.messages.push(Message::text(Role::User, "hello world"));
        let bpe = tiktoken_rs::o200k_base_singleton();
        let n = |s: &str| bpe.encode_ordinary(s).len() as u64;
        let expected = 3 + n("system") + n("You are terse.") + 3 + n("user") + n("hello world") + 3;
        assert_eq!(prompt(&c), expected);
        // "hello world" is two o200k tokens, far from the 3 the character estimate gives.
        assert_eq!(n("hello world"), 2);
    }

    #[test]
    fn estimated_models_keep_the_character_estimate() {
        let mut c = Conversation::new(Protocol::Bedrock, "amazon.nova-lite-v1:0");
        c.messages.push(Message::text(Role::User, "0123456789"));
        assert_eq!(prompt(&c), 3);
        assert_eq!(counter("mistral").texts(["abcd", "efgh"]), 2);
    }
}
