//! Relays an upstream body chunk by chunk as it arrives and, when recording, notes when each
//! complete frame (an SSE event, an event-stream message) arrived, for the recorded timing.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use futures::StreamExt;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;

use super::JournalMark;
use super::frames::{Arrived, Framing};
use super::record::{self, RecordKey};

/// What is written when the body has arrived whole.
pub struct Recorder {
    dir: PathBuf,
    key: RecordKey,
    sent: Instant,
    upstream: String,
    buf: Vec<u8>,
    frames: Vec<Arrived>,
    broken: bool,
    /// The body's `Content-Length`: hyper stops polling a body once that much is sent, so the end
    /// of such a body is seen by counting, not by the stream ending.
    expected: Option<usize>,
    received: usize,
    /// The request's journal entry, told the file once it is written.
    mark: JournalMark,
}

impl Recorder {
    /// A recorder for one answer to a request sent at `sent`.
    pub fn new(
        dir: PathBuf,
        key: RecordKey,
        sent: Instant,
        upstream: String,
        expected: Option<usize>,
        mark: JournalMark,
    ) -> Self {
        Recorder {
            dir,
            key,
            sent,
            upstream,
            buf: Vec::new(),
            frames: Vec::new(),
            broken: false,
            expected,
            received: 0,
            mark,
        }
    }

    /// Takes a chunk; true once the body's whole `Content-Length` has arrived.
    fn push(&mut self, chunk: &[u8]) -> bool {
        let at = Instant::now();
        self.received += chunk.len();
        self.buf.extend_from_slice(chunk);
        while let Some(n) = frame_len(self.key.framing, &self.buf) {
            let bytes = Bytes::from(self.buf.drain(..n).collect::<Vec<u8>>());
            self.frames.push(Arrived { at, bytes });
        }
        self.expected.is_some_and(|n| self.received >= n)
    }

    fn finish(mut self) {
        if self.broken {
            tracing::warn!("the upstream's answer broke off: not recorded");
            return;
        }
        if !self.buf.is_empty() {
            // A whole JSON body, or a last SSE event with no blank line after it.
            let bytes = Bytes::from(std::mem::take(&mut self.buf));
            self.frames.push(Arrived {
                at: Instant::now(),
                bytes,
            });
        }
        let done = record::write(&self.dir, &self.key, self.sent, &self.frames, &self.upstream);
        match done {
            Ok(path) => {
                tracing::info!(file = %path.display(), "recorded a fixture");
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                self.mark.recorded(name.unwrap_or_default());
            }
            Err(e) => tracing::warn!("cannot record the upstream's answer: {e}"),
        }
    }
}

/// The length of the first complete frame in `buf`, if one is there.
fn frame_len(framing: Framing, buf: &[u8]) -> Option<usize> {
    match framing {
        Framing::Whole => None,
        Framing::Sse => buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2),
        Framing::EventStream => {
            let total = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
            // A frame is at least its 12-byte prelude and 4-byte CRC; anything shorter is garbage
            // that would otherwise never be consumed.
            (total >= 16 && buf.len() >= total).then_some(total)
        }
    }
}

/// The upstream body as the client's body: each chunk is passed on the moment it arrives; the
/// recorder (if any) sees the same chunks and writes its fixture once the body has ended.
pub fn relay(incoming: Incoming, recorder: Option<Recorder>) -> Body {
    let Some(recorder) = recorder else {
        return Body::new(incoming);
    };
    let rec = Arc::new(Mutex::new(Some(recorder)));
    let tap = rec.clone();
    let data = BodyDataStream::new(incoming).map(move |item| {
        let mut slot = tap.lock().unwrap_or_else(|e| e.into_inner());
        let complete = match (slot.as_mut(), &item) {
            (Some(r), Ok(chunk)) => r.push(chunk),
            (Some(r), Err(_)) => {
                r.broken = true;
                false
            }
            (None, _) => false,
        };
        if complete && let Some(r) = slot.take() {
            // File writes stay off the async workers.
            tokio::task::spawn_blocking(move || r.finish());
        }
        item
    });
    let end = futures::stream::once(async move {
        let r = rec.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(r) = r {
            // File writes stay off the async workers.
            let _ = tokio::task::spawn_blocking(move || r.finish()).await;
        }
    })
    .filter_map(|()| async { None::<Result<Bytes, hyper::Error>> });
    Body::from_stream(data.chain(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_where_their_protocol_ends_them() {
        assert_eq!(frame_len(Framing::Sse, b"data: {}\n\ndata: x"), Some(10));
        assert_eq!(frame_len(Framing::Sse, b"data: {}\n"), None);
        let frame = crate::eventstream::event("messageStart", "application/json", b"{}").unwrap();
        let mut two = frame.to_vec();
        two.extend_from_slice(&frame[..5]);
        assert_eq!(frame_len(Framing::EventStream, &two), Some(frame.len()));
        assert_eq!(frame_len(Framing::EventStream, &frame[..5]), None);
        assert_eq!(frame_len(Framing::Whole, b"{}"), None);
    }
}
