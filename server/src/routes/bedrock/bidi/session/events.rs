//! The client's side of a session: frames in, events checked against the session's state, turns
//! detected (interactive text, or speech followed by silence on audio).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Kind, MAX_PART_BYTES, Open, Part, Prompt, SPEECH_TOKENS_PER_SECOND, Session};
use crate::conversation::{Message, Role};
use crate::eventstream_decode::{self as decode, Decoder};
use crate::routes::bedrock::bidi::audio::{self, AudioFormat, ENDPOINT_SILENCE_MS};
use crate::routes::bedrock::bidi::input::{self, ContentRole, ContentType, InputEvent};
use crate::routes::bedrock::bidi::output::{self, Tokens};

impl Session {
    /// Handles every whole message received so far.
    pub(super) fn receive(&mut self, decoder: &mut Decoder) -> Result<(), String> {
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
            input_text: crate::tokens::estimate_tokens(text.chars().count()),
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
}
