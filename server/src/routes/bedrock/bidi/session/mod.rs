//! One Nova Sonic session: reads the client's input events as they arrive and writes the model's
//! output events on their schedule, in one task, until the session ends, fails or the client goes.
//!
//! Turns: a user turn ends at an interactive USER text's `contentEnd`, or on audio when speech is
//! followed by [`ENDPOINT_SILENCE_MS`] of silence or its AUDIO content ends. Each turn is matched
//! against the fixtures like any request (journal, metrics, `sequenceIndex`), then answered as the
//! service does: USER transcript, tool calls (the `toolResult` continues the turn), SPECULATIVE
//! text, audio paced in real time, FINAL text, usage. Speech from the user while audio is still
//! queued interrupts it (barge-in): the audio ends `INTERRUPTED` and the FINAL text is
//! `{ "interrupted" : true }`, as the service signals it.

mod answer;
mod events;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::audio::AudioFormat;
use super::input::{ContentRole, ContentType};
use super::output::{Ids, Tokens};
use crate::conversation::{Conversation, Protocol, TEST_ID_HEADER};
use crate::eventstream_decode::Decoder;
use crate::journal::Entry;
use crate::plan::ErrorPlan;
use crate::routes::bedrock::Bedrock;
use crate::state::SharedState;
use crate::wire::Wire;

/// The operation, as fixtures (`match.operation`) and the journal name it.
pub const OPERATION: &str = "InvokeModelWithBidirectionalStream";
/// Longest session: Nova Sonic closes a connection after 8 minutes (Amazon Nova user guide,
/// "Amazon Nova Sonic quotas"; clients such as pipecat rotate sessions before it).
pub const SESSION_LIMIT: Duration = Duration::from_secs(8 * 60);
/// Longest wait for the next input event before the session times out. AWS documents no figure;
/// a minute is longer than any client pauses its microphone stream.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Largest `chunk.bytes`: the service model's `PartBody` (`"max": 1000000`).
pub const MAX_PART_BYTES: usize = 1_000_000;
/// Speech tokens per second of audio, for `usageEvent` (an estimate, like every mock token count).
const SPEECH_TOKENS_PER_SECOND: u64 = 25;

/// Why the session ended, for the sessions metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client ended it (`sessionEnd` or the end of its stream) and every output was sent.
    Completed,
    /// An in-stream exception ended it (fixture error, invalid input, timeout).
    Error,
    /// The client went away, or a fixture cut the stream.
    Disconnected,
}

impl Ended {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Ended::Completed => "completed",
            Ended::Error => "error",
            Ended::Disconnected => "disconnected",
        }
    }
}

/// What the body of the response carries.
pub type OutItem = Result<Bytes, std::io::Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An ordinary event.
    Plain,
    /// Part of a spoken answer that barge-in cancels (audio, the FINAL text, its usage).
    Speech,
    /// The assistant's AUDIO `contentStart`.
    AudioStart,
    /// The last frame: the stream ends after it.
    End,
    /// No frame: the connection is cut here (`truncateAfterChunks`, `disconnectAfterMs`).
    Abort,
}

struct Out {
    at: Instant,
    bytes: Bytes,
    kind: Kind,
    /// Carries content (text, audio or a tool call): counts for `truncateAfterChunks`.
    content: bool,
}

struct Prompt {
    name: String,
    audio_out: AudioFormat,
}

struct Open {
    type_: ContentType,
    role: ContentRole,
    interactive: bool,
    text: String,
    audio: Option<AudioFormat>,
    tool_use_id: Option<String>,
}

/// A spoken answer still (partly) queued.
struct Speaking {
    ids: Ids,
    audio_id: String,
    audio_started: bool,
    delta: Tokens,
}

/// Voice activity on the user's audio since the last turn.
#[derive(Default)]
struct Listening {
    heard: bool,
    silence_ms: f64,
    audio_ms: f64,
}

/// A session's state.
pub struct Session {
    state: SharedState,
    model: String,
    session_id: String,
    started: bool,
    prompt: Option<Prompt>,
    contents: HashMap<String, Open>,
    convo: Conversation,
    completion: Option<Ids>,
    out: VecDeque<Out>,
    awaiting_tools: Vec<String>,
    listening: Listening,
    speaking: Option<Speaking>,
    totals: Tokens,
    /// The client sent `sessionEnd`: close once the queue is sent.
    closing: bool,
    /// A terminal frame is queued: read no more input.
    failed: bool,
    /// Turns matched against the fixtures (tool continuations included).
    turns: u32,
}

impl Session {
    /// A session for `model`; `base` carries the request headers (`X-Test-Id` scopes sequences).
    pub fn new(state: SharedState, model: String, base: Conversation) -> Self {
        let mut convo = base;
        convo.protocol = Protocol::Bedrock;
        convo.stream = true;
        Session {
            state,
            session_id: uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string(),
            model,
            started: false,
            prompt: None,
            contents: HashMap::new(),
            convo,
            completion: None,
            out: VecDeque::new(),
            awaiting_tools: Vec::new(),
            listening: Listening::default(),
            speaking: None,
            totals: Tokens::default(),
            closing: false,
            failed: false,
            turns: 0,
        }
    }

    /// Runs the session: `input` is the request body, `tx` the response body. The journal gets
    /// one entry per turn (from matching) and one for the session when it ends.
    pub async fn run<S, E>(mut self, input: S, tx: mpsc::Sender<OutItem>) -> Ended
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let ended = self.drive(input, tx).await;
        self.state.journal.record(Entry {
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            protocol: Protocol::Bedrock.as_str(),
            operation: OPERATION,
            model: self.model.clone(),
            stream: true,
            user_message: self.convo.last_user_text().map(str::to_string),
            test_id: self.convo.headers.control(TEST_ID_HEADER).map(str::to_string),
            fixture: None,
            outcome: format!("session {} (turns: {})", ended.label(), self.turns).into(),
            upstream: None,
            recorded: None,
            // Each turn's own entry names the faults injected into it.
            faults: Vec::new(),
        });
        ended
    }

    async fn drive<S, E>(&mut self, mut input: S, tx: mpsc::Sender<OutItem>) -> Ended
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let started = Instant::now();
        let mut decoder = Decoder::new();
        let mut input_open = true;
        let mut last_input = started;
        loop {
            if self.out.is_empty() && (self.closing || !input_open || self.failed) {
                return Ended::Completed;
            }
            let next_at = self.out.front().map(|o| o.at);
            let reading = input_open && !self.failed && !self.closing;
            tokio::select! {
                biased;
                () = tx.closed() => return Ended::Disconnected,
                () = sleep_until(next_at.unwrap_or(started)), if next_at.is_some() => {
                    let Some(o) = self.out.pop_front() else { continue };
                    match o.kind {
                        Kind::Abort => {
                            let cut = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "stream cut by fixture");
                            let _ = tx.send(Err(cut)).await;
                            return Ended::Disconnected;
                        }
                        _ if tx.send(Ok(o.bytes)).await.is_err() => return Ended::Disconnected,
                        Kind::End => return Ended::Error,
                        Kind::AudioStart => {
                            if let Some(s) = &mut self.speaking {
                                s.audio_started = true;
                            }
                        }
                        Kind::Speech if !self.out.iter().any(|o| o.kind == Kind::Speech) => self.speaking = None,
                        _ => {}
                    }
                }
                item = input.next(), if reading => match item {
                    Some(Ok(data)) => {
                        last_input = Instant::now();
                        decoder.push(&data);
                        if let Err(message) = self.receive(&mut decoder) {
                            self.fail(validation(message));
                        }
                    }
                    Some(Err(_)) => return Ended::Disconnected,
                    None => input_open = false,
                },
                () = sleep_until(last_input + IDLE_LIMIT), if reading => self.fail(timeout(format!(
                    "Model has timed out in processing the request: no input event for {} seconds",
                    IDLE_LIMIT.as_secs()
                ))),
                () = sleep_until(started + SESSION_LIMIT), if !self.failed => self.fail(timeout(format!(
                    "Session exceeded the maximum duration of {} seconds",
                    SESSION_LIMIT.as_secs()
                ))),
            }
        }
    }

    /// Ends the session with `e` as the stream's exception, sent at once.
    fn fail(&mut self, e: ErrorPlan) {
        if self.failed && self.out.back().is_some_and(|o| o.kind == Kind::End) {
            return;
        }
        self.failed = true;
        self.out.clear();
        self.speaking = None;
        if let Ok(bytes) = (Bedrock { invoke: true }).stream_error(&e, &self.model) {
            self.out.push_back(Out {
                at: Instant::now(),
                bytes,
                kind: Kind::End,
                content: false,
            });
        }
    }
}

#[derive(serde::Deserialize)]
struct Part {
    bytes: String,
}

fn new_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

fn error_plan(status: u16, type_: &str, message: String) -> ErrorPlan {
    ErrorPlan {
        status,
        type_: Some(type_.into()),
        message,
        code: None,
        param: None,
        retry_after: None,
    }
}

fn validation(message: String) -> ErrorPlan {
    error_plan(400, "ValidationException", message)
}

fn timeout(message: String) -> ErrorPlan {
    error_plan(408, "ModelTimeoutException", message)
}

fn internal(message: String) -> ErrorPlan {
    error_plan(500, "InternalServerException", message)
}
