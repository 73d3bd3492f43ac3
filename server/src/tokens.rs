//! Token counts for the usage fields: OpenAI-family models with their real BPE (the tiktoken ranks
//! that `tiktoken-rs` embeds, so nothing is downloaded at run time, held in the compact count-only
//! form of `bpe.rs`), every other model with the estimate of one token per four characters.
//!
//! Chat prompts are counted as OpenAI's cookbook counts them ("How to count tokens with tiktoken",
//! `num_tokens_from_messages`): 3 tokens per message, plus its role and content, plus 3 priming the
//! reply. CountTokens, `/v1/messages/count_tokens` and the next answer's `inputTokens` all read
//! [`prompt`], so they agree.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use rustc_hash::FxHashMap;
use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::bpe::Bpe;
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
            let _ = o200k();
        })
    })
}

/// How one model's text is counted.
#[derive(Clone, Copy)]
pub enum Counter {
    /// The model's own BPE encoding.
    Bpe(&'static Bpe),
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
    // A request asks for its model's counter several times, and the next request mostly names
    // the same model: the last answer is kept per thread (tiktoken's lookup hashes the name and
    // scans its prefix table each time).
    thread_local! {
        static LAST: RefCell<Option<(Box<str>, Counter)>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((m, c)) if **m == *model => *c,
        _ => {
            let c = counter_of(model);
            *last = Some((model.into(), c));
            c
        }
    })
}

fn counter_of(model: &str) -> Counter {
    // Bedrock-style ids (`openai.gpt-…`) and Azure-style deployment names are not OpenAI model
    // names; tiktoken's table is matched on the bare name only.
    match get_tokenizer(model) {
        Some(Tokenizer::O200kBase) => Counter::Bpe(o200k()),
        Some(Tokenizer::Cl100kBase) => Counter::Bpe(cl100k()),
        _ => Counter::Estimate,
    }
}

/// cl100k_base's split pattern, as `tiktoken_rs::cl100k_base()` (and tiktoken's
/// `openai_public.py`) gives it; tiktoken-rs exports only o200k's as a constant.
const CL100K_BASE_PAT_STR: &str = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*+|\\s++$|\\s*[\\r\\n]|\\s+(?!\\S)|\\s";

fn o200k() -> &'static Bpe {
    static O200K: OnceLock<Bpe> = OnceLock::new();
    O200K.get_or_init(|| compact(tiktoken_rs::o200k_base, tiktoken_rs::O200K_BASE_PAT_STR))
}

fn cl100k() -> &'static Bpe {
    static CL100K: OnceLock<Bpe> = OnceLock::new();
    CL100K.get_or_init(|| compact(tiktoken_rs::cl100k_base, CL100K_BASE_PAT_STR))
}

/// The compact table of an encoding. `tiktoken-rs` builds its full `CoreBPE` (~50 MiB for
/// o200k) from the embedded ranks on a thread of its own, which copies the tokens out and drops it;
/// the table is then built here. With glibc's malloc (tests and library users; the binary uses
/// jemalloc) each thread allocates from its own arena, and an arena gives memory back only from its
/// top: built on one thread, the table would sit above the freed `CoreBPE` and keep those ~45 MiB
/// resident for the life of the process.
fn compact(core: fn() -> anyhow::Result<CoreBPE>, pattern: &str) -> Bpe {
    // Both are fixed data compiled into the binary: a failure is a build defect, caught by the
    // unit tests, not something a request can cause.
    let (all, ends) = std::thread::scope(|s| {
        s.spawn(|| Bpe::tokens_of(&core().expect("tiktoken-rs' embedded ranks parse")))
            .join()
            .expect("the tokenizer thread does not panic")
    });
    Bpe::new(&all, &ends, pattern).expect("tiktoken's split pattern compiles")
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

/// The counts this thread has made, by encoding and text. A fixture's answer is the same text on
/// every request, and an agent sends its whole history again each turn (system prompt, tool
/// results, earlier messages), so most texts a request counts were counted before: the BPE split
/// and merge cost about 2,000 instructions a word (issue 12: counting was a third of a chat
/// request's CPU). Bounded by the bytes it keeps (1 MiB a thread); emptied when full.
#[derive(Default)]
struct Memo {
    /// Per encoding (its table's address): text -> count.
    by_encoding: Vec<(usize, FxHashMap<Box<str>, u64>)>,
    /// Bytes kept: the texts and [`Memo::ENTRY`] per entry.
    bytes: usize,
}

impl Memo {
    /// Text kept per thread before the memo is emptied.
    const BYTES: usize = 1 << 20;
    /// Longer texts are counted every time (and are rarely sent twice).
    const LONGEST: usize = 64 << 10;
    /// What an entry costs besides its text: the key's pointer and length, the count, the table's
    /// control byte and slack.
    const ENTRY: usize = 48;
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::default();
}

/// Ordinary tokens of `text` in `bpe`'s encoding, from this thread's memo when it was counted before.
fn ordinary(bpe: &Bpe, text: &str) -> u64 {
    if text.len() > Memo::LONGEST {
        return bpe.count(text);
    }
    let encoding = std::ptr::from_ref(bpe) as usize;
    MEMO.with_borrow_mut(|memo| {
        let at = match memo.by_encoding.iter().position(|(e, _)| *e == encoding) {
            Some(at) => at,
            None => {
                memo.by_encoding.push((encoding, FxHashMap::default()));
                memo.by_encoding.len() - 1
            }
        };
        if let Some(&n) = memo.by_encoding[at].1.get(text) {
            return n;
        }
        let n = bpe.count(text);
        let cost = text.len() + Memo::ENTRY;
        if memo.bytes + cost > Memo::BYTES {
            // New maps, not cleared ones: a cleared map keeps its table.
            memo.by_encoding
                .iter_mut()
                .for_each(|(_, m)| *m = FxHashMap::default());
            memo.bytes = 0;
        }
        memo.bytes += cost;
        memo.by_encoding[at].1.insert(text.into(), n);
        n
    })
}

/// Tokens of a request's prompt with its model's counter.
pub fn prompt(c: &Conversation) -> u64 {
    counter(&c.model).prompt(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Message, Protocol};

    /// Texts that reach every branch of `bpe.rs`: one-token pieces, short merges, long pieces
    /// (heap merge), contractions, digits, CJK, emoji flags, trailing whitespace and line ends.
    fn texts() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            "hello world",
            "Quelle est la capitale de la France ? 🇫🇷",
            "I'm SHOUTING'S they'll we'd  123456789 3.14159 foo/bar\r\n\r\n",
            "日本語のテキストとカタカナ、漢字。Ünïcödé façade naïve Straße",
            "fn main() {\n    println!(\"hi\");\n}\n\n\n   ",
        ]
        .map(String::from)
        .to_vec();
        v.push("x".repeat(1000));
        v.push("abcdefghij0123456789".repeat(40));
        v.push("🇫🇷!?".repeat(80));
        v.push(" \t".repeat(300));
        v
    }

    #[test]
    fn the_compact_tables_count_as_tiktoken_rs_does() {
        for (bpe, core, size) in [
            (o200k(), tiktoken_rs::o200k_base_singleton(), 199_998),
            (cl100k(), tiktoken_rs::cl100k_base_singleton(), 100_256),
        ] {
            assert_eq!(bpe.vocabulary(), size, "every ordinary token copied");
            for t in texts() {
                assert_eq!(bpe.count(&t), core.encode_ordinary(&t).len() as u64, "{t:?}");
            }
        }
    }

    #[test]
    fn a_remembered_count_is_the_encodings_count_and_the_memo_stays_bounded() {
        for t in texts() {
            for bpe in [o200k(), cl100k()] {
                // Counted, then remembered: both times what the encoding counts.
                assert_eq!(ordinary(bpe, &t), bpe.count(&t), "{t:?}");
                assert_eq!(ordinary(bpe, &t), bpe.count(&t), "{t:?}");
            }
        }
        let big = "word ".repeat(Memo::LONGEST / 5);
        for i in 0..(Memo::BYTES / big.len() + 2) {
            let text = format!("{i} {big}");
            assert_eq!(ordinary(o200k(), &text), o200k().count(&text));
        }
        MEMO.with_borrow(|m| assert!(m.bytes <= Memo::BYTES, "{} bytes kept", m.bytes));
        let long = "x ".repeat(Memo::LONGEST);
        assert_eq!(ordinary(o200k(), &long), o200k().count(&long));
    }

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
