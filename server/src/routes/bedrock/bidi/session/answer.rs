//! The model's side of a session: a turn matched against the fixtures becomes timed output frames
//! (text, tool calls, paced audio, usage), cut short by barge-in or a fixture's stream fault.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::{
    Kind, OPERATION, Out, SPEECH_TOKENS_PER_SECOND, Session, Speaking, internal, new_id, validation,
};
use crate::conversation::{Message, Role, ToolCallRef};
use crate::plan::{Block, ErrorPlan, Outcome, Plan};
use crate::routes::bedrock::bidi::audio;
use crate::routes::bedrock::bidi::output::{self, Ids, TextKind, Tokens};
use crate::routes::bedrock::{Bedrock, BedrockError};
use crate::wire::Wire;

impl Session {
    /// Matches the conversation so far and queues the answer.
    pub(super) fn answer(&mut self, delta: Tokens) {
        self.turns += 1;
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
        let speech = plan.speech.as_deref().cloned().unwrap_or_default();
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
                    // Every whole chunk is the same tone under the same ids, so the same frame:
                    // encoded once per answer. Encoding each (base64 twice, JSON, CRC) for 100
                    // sessions answering at once delayed their first audio (the bench's pacing).
                    let mut last: Option<(&Bytes, Bytes)> = None;
                    let chunks = audio::speech_chunks(&audio_out, ms);
                    for (i, pcm) in chunks.iter().enumerate() {
                        let offset =
                            Duration::from_secs_f64((i as u64 * audio::CHUNK_MS) as f64 / 1000.0 / pace);
                        audio_at.push((frames.len(), offset));
                        let frame = match &last {
                            Some((prev, frame)) if *prev == pcm => frame.clone(),
                            _ => output::audio_output(&ids, &aid, pcm)?,
                        };
                        last = Some((pcm, frame.clone()));
                        frames.push((frame, Kind::Speech, true));
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
                        arguments: arguments.clone(),
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
    pub(super) fn barge_in(&mut self) {
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
    pub(super) fn queue_after(&mut self, frame: Result<Bytes, BedrockError>, kind: Kind) {
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
}

/// The FINAL text of an interrupted answer, exactly as Nova Sonic sends it (AWS's samples and
/// clients such as pipecat look for this string).
pub const INTERRUPTED: &str = "{ \"interrupted\" : true }";

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
