//! Counting content frames as they arrive, per wire format: OpenAI SSE `data:` events, Bedrock
//! ConverseStream `contentBlockDelta` events and SageMaker `PayloadPart` events, the last two
//! decoded from the AWS event stream with the SDK's own `MessageFrameDecoder`.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::{Buf, BytesMut};

/// Which wire a stream speaks, and so what counts as one content frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI SSE: a `data:` event with a non-empty `"content"` delta.
    Sse,
    /// Bedrock ConverseStream: a `contentBlockDelta` event.
    Bedrock,
    /// SageMaker InvokeEndpointWithResponseStream: a `PayloadPart` whose chunk has a non-empty
    /// `content` delta (OpenAI format) or `token.text` (TGI).
    SageMaker,
}

/// Stateful per-stream counter: event-stream frames may be split across body chunks.
pub struct Counter {
    wire: Wire,
    pending: BytesMut,
    decoder: MessageFrameDecoder,
    /// Set when the stream carried a frame the decoder rejected or an `exception` message.
    pub broken: bool,
}

/// A non-empty string member `"name":"x…"` in a JSON text.
fn has_text(json: &[u8], member: &str) -> bool {
    let text = String::from_utf8_lossy(json);
    let key = format!("\"{member}\":\"");
    text.split(&key).skip(1).any(|rest| !rest.starts_with('"'))
}

fn header<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

impl Counter {
    /// A counter for one stream.
    pub fn new(wire: Wire) -> Self {
        Counter {
            wire,
            pending: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
            broken: false,
        }
    }

    /// Content frames completed by this body chunk.
    pub fn feed(&mut self, chunk: &[u8]) -> usize {
        if self.wire == Wire::Sse {
            return String::from_utf8_lossy(chunk)
                .split("\n\n")
                .filter(|e| e.starts_with("data: ") && has_text(e.as_bytes(), "content"))
                .count();
        }
        self.pending.extend_from_slice(chunk);
        let mut n = 0;
        loop {
            match self.decoder.decode_frame(&mut self.pending) {
                Ok(DecodedFrame::Complete(m)) => n += usize::from(self.is_content(&m)),
                Ok(DecodedFrame::Incomplete) => break,
                Err(_) => {
                    self.broken = true;
                    self.pending.advance(self.pending.len());
                    break;
                }
            }
        }
        n
    }

    fn is_content(&mut self, m: &Message) -> bool {
        if header(m, ":message-type") != Some("event") {
            self.broken = true;
            return false;
        }
        match (self.wire, header(m, ":event-type")) {
            (Wire::Bedrock, Some("contentBlockDelta")) => true,
            (Wire::SageMaker, Some("PayloadPart")) => {
                has_text(m.payload(), "content") || has_text(m.payload(), "text")
            }
            _ => false,
        }
    }
}
