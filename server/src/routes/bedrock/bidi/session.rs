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

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::audio::{self, AudioFormat, ENDPOINT_SILENCE_MS};
use super::input::{self, ContentRole, ContentType, InputEvent};
use super::output::{self, Ids, TextKind, Tokens};
use crate::conversation::{Conversation, Message, Protocol, Role, ToolCallRef};
use crate::eventstream_decode::{self as decode, Decoder};
use crate::plan::{Block, ErrorPlan, Outcome, Plan};
use crate::routes::bedrock::{Bedrock, BedrockError};
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
        }
    }

    /// Runs the session: `input` is the request body, `tx` the response body.
    pub async fn run<S, E>(mut self, mut input: S, tx: mpsc::Sender<OutItem>) -> Ended
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

    /// Handles every whole message received so far.
    fn receive(&mut self, decoder: &mut Decoder) -> Result<(), String> {
        while let Some(msg) = decoder
            .next_message()
            .map_err(|e| format!("Invalid event-stream frame: {e}"))?
        {
            // The SDKs sign every event: an envelope (`:date`, `:chunk-signature`) whose payload is
            // the event frame; an empty payload marks the end of the input stream.
            let msg = if msg.has(":chunk-signature") {
                if msg.payload.is_empty() {
                    continue;
                }
                decode::decode(msg.payload).map_err(|e| format!("Invalid signed event frame: {e}"))?
            } else {
                msg
            };
            match (msg.string(":message-type"), msg.string(":event-type")) {
                (Some("event"), Some("chunk")) => {}
                (t, e) => {
                    return Err(format!(
                        "Invalid input frame: expected an event of type 'chunk', got message type {t:?}, event type {e:?}"
                    ));
                }
            }
            let part: Part = serde_json::from_slice(&msg.payload).map_err(|e| {
                format!("Invalid input event: the chunk payload is not {{\"bytes\": \"<base64>\"}} ({e})")
            })?;
            let bytes = STANDARD
                .decode(part.bytes.as_bytes())
                .map_err(|e| format!("Invalid input event: chunk.bytes is not base64 ({e})"))?;
            if bytes.len() > MAX_PART_BYTES {
                return Err(format!(
                    "1 validation error detected: Value at 'body.chunk.bytes' failed to satisfy constraint: Member must have length less than or equal to {MAX_PART_BYTES}"
                ));
            }
            self.handle(input::parse(&bytes)?)?;
            if self.failed {
                break;
            }
        }
        Ok(())
    }

    fn handle(&mut self, event: InputEvent) -> Result<(), String> {
        let name = event.name();
        tracing::debug!(event = name, "bidirectional stream input event");
        match (&event, self.started) {
            (InputEvent::SessionStart(_), false) => {
                self.started = true;
                return Ok(());
            }
            (InputEvent::SessionStart(_), true) => {
                return Err("Invalid input event: sessionStart was already sent".into());
            }
            (_, false) => return Err(format!("Invalid input event: {name} before sessionStart")),
            _ => {}
        }
        if let InputEvent::SessionEnd(_) = event {
            self.closing = true;
            return Ok(());
        }
        if let InputEvent::PromptStart(p) = event {
            if self.prompt.is_some() {
                return Err("Invalid input event: promptStart while a prompt is open".into());
            }
            let audio_out = p
                .audio_output_configuration
                .unwrap_or_else(AudioFormat::default_output);
            audio_out.check("promptStart.audioOutputConfiguration")?;
            self.convo.tools = p
                .tool_configuration
                .map(|t| t.tools.into_iter().map(|t| t.tool_spec.name).collect())
                .unwrap_or_default();
            self.prompt = Some(Prompt {
                name: p.prompt_name,
                audio_out,
            });
            return Ok(());
        }
        let prompt_name = match &event {
            InputEvent::ContentStart(c) => &c.prompt_name,
            InputEvent::TextInput(c) | InputEvent::AudioInput(c) | InputEvent::ToolResult(c) => {
                &c.prompt_name
            }
            InputEvent::ContentEnd(c) => &c.prompt_name,
            InputEvent::PromptEnd(p) => &p.prompt_name,
            _ => return Ok(()),
        };
        match &self.prompt {
            None => return Err(format!("Invalid input event: {name} before promptStart")),
            Some(p) if &p.name != prompt_name => {
                return Err(format!(
                    "Invalid input event: {name}.promptName '{prompt_name}' is not the open prompt '{}'",
                    p.name
                ));
            }
            Some(_) => {}
        }
        match event {
            InputEvent::ContentStart(c) => self.content_start(c),
            InputEvent::TextInput(c) => {
                self.input_for(name, &c.content_name, ContentType::Text)?
                    .text
                    .push_str(&c.content);
                Ok(())
            }
            InputEvent::ToolResult(c) => {
                self.input_for(name, &c.content_name, ContentType::Tool)?
                    .text
                    .push_str(&c.content);
                Ok(())
            }
            InputEvent::AudioInput(c) => self.audio_input(&c.content_name, &c.content),
            InputEvent::ContentEnd(c) => self.content_end(&c.content_name),
            InputEvent::PromptEnd(_) => {
                self.prompt_end();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn content_start(&mut self, c: input::ContentStart) -> Result<(), String> {
        if self.contents.contains_key(&c.content_name) {
            return Err(format!(
                "Invalid input event: contentName '{}' is already open",
                c.content_name
            ));
        }
        let audio = match c.type_ {
            ContentType::Audio => {
                let f = c
                    .audio_input_configuration
                    .ok_or("Invalid input event: an AUDIO contentStart needs audioInputConfiguration")?;
                f.check("contentStart.audioInputConfiguration")?;
                Some(f)
            }
            _ => None,
        };
        let tool_use_id = match c.type_ {
            ContentType::Tool => Some(
                c.tool_result_input_configuration
                    .ok_or("Invalid input event: a TOOL contentStart needs toolResultInputConfiguration.toolUseId")?
                    .tool_use_id,
            ),
            _ => None,
        };
        self.contents.insert(
            c.content_name,
            Open {
                type_: c.type_,
                role: c.role,
                interactive: c.interactive.unwrap_or(false),
                text: String::new(),
                audio,
                tool_use_id,
            },
        );
        Ok(())
    }

    fn input_for(&mut self, event: &str, content_name: &str, want: ContentType) -> Result<&mut Open, String> {
        match self.contents.get_mut(content_name) {
            Some(o) if o.type_ == want => Ok(o),
            Some(o) => Err(format!(
                "Invalid input event: {event} for contentName '{content_name}', whose type is {:?}",
                o.type_
            )),
            None => Err(format!(
                "Invalid input event: {event} for contentName '{content_name}', which is not open"
            )),
        }
    }

    fn audio_input(&mut self, content_name: &str, content: &str) -> Result<(), String> {
        let format = self
            .input_for("audioInput", content_name, ContentType::Audio)?
            .audio
            .clone()
            .unwrap_or_else(AudioFormat::default_output);
        let pcm = STANDARD
            .decode(content.as_bytes())
            .map_err(|e| format!("Invalid input event: audioInput.content is not base64 ({e})"))?;
        let ms = format.ms_of(pcm.len());
        self.listening.audio_ms += ms;
        if audio::is_speech(&pcm) {
            if self.speaking.is_some() {
                self.barge_in();
            }
            self.listening.heard = true;
            self.listening.silence_ms = 0.0;
        } else if self.listening.heard {
            self.listening.silence_ms += ms;
            if self.listening.silence_ms >= ENDPOINT_SILENCE_MS as f64 {
                self.user_turn(String::new());
            }
        }
        Ok(())
    }

    fn content_end(&mut self, content_name: &str) -> Result<(), String> {
        let open = self.contents.remove(content_name).ok_or_else(|| {
            format!("Invalid input event: contentEnd for contentName '{content_name}', which is not open")
        })?;
        match (open.type_, open.role) {
            (ContentType::Text, ContentRole::System) => self.convo.system.push(open.text),
            (ContentType::Text, ContentRole::User) if open.interactive => self.user_turn(open.text),
            (ContentType::Text, ContentRole::User) => {
                self.convo.messages.push(Message::text(Role::User, open.text))
            }
            (ContentType::Text, ContentRole::Assistant) => {
                self.convo
                    .messages
                    .push(Message::text(Role::Assistant, open.text));
            }
            (ContentType::Audio, _) if self.listening.heard => self.user_turn(String::new()),
            (ContentType::Tool, _) => {
                let id = open.tool_use_id.unwrap_or_default();
                self.awaiting_tools.retain(|t| *t != id);
                self.convo.messages.push(Message::tool_result(id, open.text));
                if self.awaiting_tools.is_empty() {
                    self.answer(Tokens::default());
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The user finished a turn (`text` is empty for audio): record it and answer.
    fn user_turn(&mut self, text: String) {
        let heard = std::mem::take(&mut self.listening);
        let delta = Tokens {
            input_speech: heard.audio_ms as u64 * SPEECH_TOKENS_PER_SECOND / 1000,
            input_text: crate::plan::estimate_tokens(text.chars().count()),
            ..Tokens::default()
        };
        self.convo.messages.push(Message::text(Role::User, text));
        self.answer(delta);
    }

    fn prompt_end(&mut self) {
        if let Some(ids) = &self.completion {
            let frame = output::completion_end(ids, "END_TURN");
            self.queue_after(frame, Kind::Plain);
        }
        self.prompt = None;
        self.completion = None;
    }

    /// Matches the conversation so far and queues the answer.
    fn answer(&mut self, delta: Tokens) {
        match self.state.resolve(&self.convo, OPERATION) {
            Ok(Outcome::Message(plan)) => {
                if let Err(e) = self.speak(&plan, delta) {
                    self.fail(internal(e.message().to_string()));
                }
            }
            Ok(Outcome::Error(e)) => self.fail(e),
            Ok(Outcome::Embedding(_)) => self.fail(validation(
                "The matched fixture answers embeddings, not InvokeModelWithBidirectionalStream turns".into(),
            )),
            Err(n) => self.fail(ErrorPlan {
                status: if n.strict { 503 } else { 404 },
                type_: Some(
                    if n.strict {
                        "ServiceUnavailableException"
                    } else {
                        "ResourceNotFoundException"
                    }
                    .into(),
                ),
                message: n.message,
                code: None,
                param: None,
                retry_after: None,
            }),
        }
    }

    /// Queues a planned answer on its schedule.
    fn speak(&mut self, plan: &Plan, mut delta: Tokens) -> Result<(), BedrockError> {
        let Some(prompt) = &self.prompt else {
            return Ok(());
        };
        let audio_out = prompt.audio_out.clone();
        let mut frames: Vec<(Bytes, Kind, bool)> = Vec::new();
        let ids = match &self.completion {
            Some(ids) => ids.clone(),
            None => {
                let ids = Ids {
                    session_id: self.session_id.clone(),
                    prompt_name: prompt.name.clone(),
                    completion_id: new_id(),
                };
                frames.push((output::completion_start(&ids)?, Kind::Plain, false));
                self.completion = Some(ids.clone());
                ids
            }
        };
        let speech = plan.speech.clone().unwrap_or_default();
        if let Some(t) = &speech.transcript {
            if let Some(m) = self
                .convo
                .messages
                .iter_mut()
                .rev()
                .find(|m| m.role == Role::User)
                && m.text.is_empty()
            {
                m.text = t.clone();
            }
            let id = new_id();
            frames.push((
                output::text_start(&ids, &id, TextKind::UserTranscript)?,
                Kind::Plain,
                false,
            ));
            frames.push((
                output::text_output(&ids, &id, TextKind::UserTranscript, t)?,
                Kind::Plain,
                true,
            ));
            frames.push((
                output::content_end(&ids, &id, "TEXT", "END_TURN")?,
                Kind::Plain,
                false,
            ));
        }
        let mut said = Vec::new();
        let mut calls = Vec::new();
        // Audio frames are paced in real time from the moment the audio starts; their offsets are
        // kept apart from the text schedule (index into `frames`, offset from the audio start).
        let mut audio_at: Vec<(usize, Duration)> = Vec::new();
        let pace = speech.pace.filter(|p| *p > 0.0).unwrap_or(1.0);
        let mut audio_ms_total = 0;
        let mut audio_id = None;
        for block in &plan.blocks {
            match block {
                Block::Text(text) => {
                    said.push(text.clone());
                    let id = new_id();
                    frames.push((
                        output::text_start(&ids, &id, TextKind::Speculative)?,
                        Kind::Plain,
                        false,
                    ));
                    frames.push((
                        output::text_output(&ids, &id, TextKind::Speculative, text)?,
                        Kind::Plain,
                        true,
                    ));
                    frames.push((
                        output::content_end(&ids, &id, "TEXT", "PARTIAL_TURN")?,
                        Kind::Plain,
                        false,
                    ));
                    let aid = new_id();
                    let ms = audio::speech_ms(text, speech.duration_ms);
                    frames.push((
                        output::audio_start(&ids, &aid, &audio_out)?,
                        Kind::AudioStart,
                        false,
                    ));
                    for (i, pcm) in audio::speech_chunks(&audio_out, ms).iter().enumerate() {
                        let offset =
                            Duration::from_secs_f64((i as u64 * audio::CHUNK_MS) as f64 / 1000.0 / pace);
                        audio_at.push((frames.len(), offset));
                        frames.push((output::audio_output(&ids, &aid, pcm)?, Kind::Speech, true));
                    }
                    let end = Duration::from_secs_f64(ms as f64 / 1000.0 / pace);
                    audio_at.push((frames.len(), end));
                    frames.push((
                        output::content_end(&ids, &aid, "AUDIO", "END_TURN")?,
                        Kind::Speech,
                        false,
                    ));
                    let fid = new_id();
                    audio_at.push((frames.len(), end));
                    frames.push((
                        output::text_start(&ids, &fid, TextKind::Final)?,
                        Kind::Speech,
                        false,
                    ));
                    audio_at.push((frames.len(), end));
                    frames.push((
                        output::text_output(&ids, &fid, TextKind::Final, text)?,
                        Kind::Speech,
                        false,
                    ));
                    audio_at.push((frames.len(), end));
                    frames.push((
                        output::content_end(&ids, &fid, "TEXT", "END_TURN")?,
                        Kind::Speech,
                        false,
                    ));
                    audio_ms_total += ms;
                    audio_id = Some(aid);
                }
                Block::ToolCall { id, name, arguments } => {
                    let cid = new_id();
                    frames.push((output::tool_start(&ids, &cid)?, Kind::Plain, false));
                    frames.push((
                        output::tool_use(&ids, &cid, id, name, arguments)?,
                        Kind::Plain,
                        true,
                    ));
                    frames.push((
                        output::content_end(&ids, &cid, "TOOL", "TOOL_USE")?,
                        Kind::Plain,
                        false,
                    ));
                    calls.push(ToolCallRef {
                        id: id.clone(),
                        name: name.clone(),
                    });
                }
                Block::Reasoning { .. } => {}
            }
        }
        delta.input_text = delta.input_text.max(plan.usage.input);
        delta.output_text = plan.usage.output;
        delta.output_speech = audio_ms_total * SPEECH_TOKENS_PER_SECOND / 1000;
        self.totals.add(delta);
        let usage_kind = if audio_id.is_some() {
            Kind::Speech
        } else {
            Kind::Plain
        };
        frames.push((output::usage(&ids, delta, self.totals)?, usage_kind, false));
        let mut assistant = Message::text(Role::Assistant, said.join(" "));
        self.awaiting_tools = calls.iter().map(|c| c.id.clone()).collect();
        assistant.tool_calls = calls;
        self.convo.messages.push(assistant);
        if let Some(aid) = audio_id {
            self.speaking = Some(Speaking {
                ids: ids.clone(),
                audio_id: aid,
                audio_started: false,
                delta,
            });
        }
        self.schedule(plan, frames, &audio_at)
    }

    /// Gives the turn's frames their times: text and tool events on the plan's streaming profile
    /// (the shared scheduler), audio paced from the moment its `contentStart` is due; then applies
    /// the fixture's stream faults.
    fn schedule(
        &mut self,
        plan: &Plan,
        frames: Vec<(Bytes, Kind, bool)>,
        audio_at: &[(usize, Duration)],
    ) -> Result<(), BedrockError> {
        let paced: HashMap<usize, Duration> = audio_at.iter().copied().collect();
        let text: Vec<crate::stream::Frame> = frames
            .iter()
            .map(|(b, _, content)| crate::stream::Frame {
                bytes: b.clone(),
                content: *content,
            })
            .collect();
        let due = crate::stream::schedule(&text, &plan.timing, crate::ctx::seed());
        let start = self
            .out
            .back()
            .map_or_else(Instant::now, |o| o.at.max(Instant::now()));
        let mut audio_start = Duration::ZERO;
        let mut shift = Duration::ZERO;
        let mut out: Vec<Out> = Vec::with_capacity(frames.len() + 1);
        for (i, (bytes, kind, content)) in frames.into_iter().enumerate() {
            let at = match paced.get(&i) {
                Some(offset) => audio_start + *offset,
                None => due[i] + shift,
            };
            if kind == Kind::AudioStart {
                audio_start = at;
            }
            if paced.contains_key(&i) {
                // What follows the audio waits for it.
                shift = at.saturating_sub(due[i]);
            }
            out.push(Out {
                at: start + at,
                bytes,
                kind,
                content,
            });
        }
        let t = &plan.timing;
        if let Some(se) = &t.stream_error {
            cut_after(&mut out, se.after_chunks);
            let frame = Bedrock { invoke: true }.stream_error(&se.error, &self.model)?;
            let at = out.last().map_or(start, |o| o.at);
            out.push(Out {
                at,
                bytes: frame,
                kind: Kind::End,
                content: false,
            });
            self.failed = true;
        } else if let Some(n) = t.truncate_after_chunks {
            cut_after(&mut out, n);
            let at = out.last().map_or(start, |o| o.at);
            out.push(Out {
                at,
                bytes: Bytes::new(),
                kind: Kind::Abort,
                content: false,
            });
            self.failed = true;
        }
        if let Some(ms) = t.disconnect_after_ms {
            let at = start + Duration::from_millis(ms);
            out.retain(|o| o.at < at);
            out.push(Out {
                at,
                bytes: Bytes::new(),
                kind: Kind::Abort,
                content: false,
            });
            self.failed = true;
        }
        self.out.extend(out);
        Ok(())
    }

    /// The user spoke over the assistant: drop the queued audio and say so, as the service does.
    fn barge_in(&mut self) {
        let Some(s) = self.speaking.take() else { return };
        self.out
            .retain(|o| !matches!(o.kind, Kind::Speech | Kind::AudioStart));
        let now = Instant::now();
        let id = new_id();
        let mut frames = Vec::new();
        if s.audio_started {
            frames.push(output::content_end(&s.ids, &s.audio_id, "AUDIO", "INTERRUPTED"));
        }
        frames.push(output::text_start(&s.ids, &id, TextKind::Final));
        frames.push(output::text_output(&s.ids, &id, TextKind::Final, INTERRUPTED));
        frames.push(output::content_end(&s.ids, &id, "TEXT", "INTERRUPTED"));
        frames.push(output::usage(&s.ids, s.delta, self.totals));
        for frame in frames.into_iter().rev() {
            match frame {
                Ok(bytes) => self.out.push_front(Out {
                    at: now,
                    bytes,
                    kind: Kind::Plain,
                    content: false,
                }),
                Err(e) => return self.fail(internal(e.message().to_string())),
            }
        }
    }

    /// Queues `frame` after everything already queued.
    fn queue_after(&mut self, frame: Result<Bytes, BedrockError>, kind: Kind) {
        match frame {
            Ok(bytes) => {
                let at = self
                    .out
                    .back()
                    .map_or_else(Instant::now, |o| o.at.max(Instant::now()));
                self.out.push_back(Out {
                    at,
                    bytes,
                    kind,
                    content: false,
                });
            }
            Err(e) => self.fail(internal(e.message().to_string())),
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

/// The FINAL text of an interrupted answer, exactly as Nova Sonic sends it (AWS's samples and
/// clients such as pipecat look for this string).
pub const INTERRUPTED: &str = "{ \"interrupted\" : true }";

#[derive(serde::Deserialize)]
struct Part {
    bytes: String,
}

fn new_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// Keeps frames up to the `n`th content frame.
fn cut_after(out: &mut Vec<Out>, n: u32) {
    let mut seen = 0;
    let keep = out
        .iter()
        .position(|o| {
            if o.content {
                seen += 1;
            }
            seen >= n && o.content
        })
        .map_or(out.len(), |i| i + 1);
    out.truncate(keep);
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
