//! One timed frame scheduler shared by every streaming protocol (SSE, event-stream, PayloadPart).
//!
//! Codecs turn a plan into a list of already-encoded [`Frame`]s; this module decides *when* each is
//! written, and applies stream faults (truncation, disconnect). It uses timers inside the body
//! stream itself: no task per stream, and a client that disconnects drops the stream at once.

use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use rand::Rng;
use tokio::time::Instant;

use crate::ctx::{self, BodyFault};
use crate::packed::{Packed, Piece};
use crate::plan::Timing;

/// One encoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Bytes to write.
    pub bytes: Bytes,
    /// Whether it carries generated content (counts for timing and `truncateAfterChunks`).
    pub content: bool,
}

impl Frame {
    /// A content frame.
    pub fn content(bytes: impl Into<Bytes>) -> Self {
        Frame {
            bytes: bytes.into(),
            content: true,
        }
    }

    /// A framing / bookkeeping frame (role header, stop, usage, `[DONE]`).
    pub fn control(bytes: impl Into<Bytes>) -> Self {
        Frame {
            bytes: bytes.into(),
            content: false,
        }
    }
}

/// Cuts a stream right after its `n`th content frame (or its last, if it has fewer): an
/// `errorAfterChunks` error then replaces the stream's proper end.
pub fn cut_after_content(frames: &mut Vec<Frame>, n: u32) {
    let content_at: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.content)
        .map(|(i, _)| i)
        .collect();
    let cut = content_at
        .get(n.saturating_sub(1) as usize)
        .or(content_at.last())
        .map_or(0, |i| i + 1);
    frames.truncate(cut);
}

/// Offsets from the start of the response at which each frame is due.
pub fn schedule(frames: &[Frame], timing: &Timing, seed: Option<u64>) -> Vec<Duration> {
    let mut rng = crate::ids::rng(seed);
    let profile = timing.streaming_profile.as_ref();
    let ttft_ms = profile.and_then(|p| p.ttft).unwrap_or(0.0);
    let gap_ms = profile.and_then(|p| p.tps).map_or(0.0, |tps| 1000.0 / tps);
    let jitter = profile.and_then(|p| p.jitter).unwrap_or(0.0);
    let mut at_ms = timing.latency_ms as f64;
    let mut seen_content = false;
    let mut due: Vec<Duration> = frames
        .iter()
        .map(|f| {
            if f.content {
                let base = if seen_content { gap_ms } else { ttft_ms };
                seen_content = true;
                let factor = if jitter > 0.0 {
                    1.0 + jitter * rng.random_range(-1.0..=1.0)
                } else {
                    1.0
                };
                at_ms += (base * factor).max(0.0);
            }
            Duration::from_micros((at_ms * 1000.0) as u64)
        })
        .collect();
    // What precedes the first token in a real stream (OpenAI's role chunk, Bedrock's `messageStart`,
    // Anthropic's `message_start`, the Responses API's `response.created`) is sent when prefill is
    // done, together with that token: a client timing its first chunk must see the TTFT.
    let first = frames.iter().position(|f| f.content);
    let start = first.map_or(
        Duration::from_micros(((timing.latency_ms as f64 + ttft_ms) * 1000.0) as u64),
        |i| due[i],
    );
    for d in due.iter_mut().take(first.unwrap_or(frames.len())) {
        *d = start;
    }
    due
}

/// Why a stream ended early on purpose.
#[derive(Debug, thiserror::Error)]
pub enum StreamFault {
    /// `truncateAfterChunks` was reached.
    #[error("stream truncated by fixture after {0} chunks")]
    Truncated(u32),
    /// `disconnectAfterMs` elapsed.
    #[error("stream disconnected by fixture after {0} ms")]
    Disconnected(u64),
}

/// The frames as a timed byte stream; an `Err` item makes hyper abort the connection mid-body,
/// which is exactly what a client sees when a real stream breaks.
///
/// The request's context (see `ctx`) may add a seed, a chaos fault (a malformed chunk or a
/// disconnect half-way through the content) and a vLLM metrics observer.
pub fn timed(
    frames: Vec<Frame>,
    timing: &Timing,
    seed: Option<u64>,
) -> impl Stream<Item = Result<Bytes, StreamFault>> + Send + 'static {
    let due = schedule(&frames, timing, seed.or_else(ctx::seed));
    let (fault, observer) = ctx::stream_parts();
    let content_total = frames.iter().filter(|f| f.content).count() as u32;
    let half = (content_total / 2).max(1);
    let mut truncate = timing.truncate_after_chunks;
    if fault == Some(BodyFault::Disconnect) {
        truncate = Some(truncate.map_or(half, |t| t.min(half)));
    }
    let (packed, marks) = compact(frames, due);
    let run = Run {
        sent_up_to: packed.start(),
        frames: packed,
        marks: marks.into_iter(),
        start: Instant::now(),
        sent_content: 0,
        done: false,
        truncate,
        disconnect: timing.disconnect_after_ms,
        // 0-based index among content frames of the chunk to cut in half.
        malformed_at: (fault == Some(BodyFault::Malformed)).then_some(half - 1),
        observer,
    };
    futures::stream::unfold(run, |mut run| async move {
        let item = run.next().await?;
        Some((item, run))
    })
}

/// One frame of a stream: where it is in the packed buffer, when it is due, and whether it is
/// content; 24 bytes where a `Frame` and its `Duration` took 56.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mark {
    /// Microseconds from the start of the response.
    due_us: u64,
    piece: Piece,
    content: bool,
}

/// Packs the frames into one exactly sized buffer (see `packed`): a stream held open for seconds
/// keeps one small allocation instead of one (often half-empty) per frame, which was most of the
/// memory of thousands of concurrent streams.
fn compact(frames: Vec<Frame>, due: Vec<Duration>) -> (Packed, Vec<Mark>) {
    let bytes: Vec<&[u8]> = frames.iter().map(|f| f.bytes.as_ref()).collect();
    let (packed, pieces) = Packed::new(&bytes, |i| frames[i].content);
    let marks = pieces
        .into_iter()
        .zip(frames.iter().zip(due))
        .map(|(piece, (f, at))| Mark {
            due_us: u64::try_from(at.as_micros()).unwrap_or(u64::MAX),
            piece,
            content: f.content,
        })
        .collect();
    (packed, marks)
}

/// The state of one timed stream.
struct Run {
    frames: Packed,
    marks: std::vec::IntoIter<Mark>,
    /// Where the next frame's middle starts in `frames`.
    sent_up_to: usize,
    start: Instant,
    sent_content: u32,
    done: bool,
    truncate: Option<u32>,
    disconnect: Option<u64>,
    malformed_at: Option<u32>,
    observer: Option<ctx::Observer>,
}

impl Run {
    async fn next(&mut self) -> Option<Result<Bytes, StreamFault>> {
        if self.done {
            return None;
        }
        if let Some(limit) = self.truncate
            && self.sent_content >= limit
        {
            // Return Pending once so hyper flushes what was already sent before the abort.
            tokio::task::yield_now().await;
            self.done = true;
            return Some(Err(StreamFault::Truncated(limit)));
        }
        let Some(mark) = self.marks.next() else {
            if let Some(o) = &mut self.observer {
                o.completed();
            }
            self.done = true;
            return None;
        };
        let at = Duration::from_micros(mark.due_us);
        if let Some(ms) = self.disconnect
            && at >= Duration::from_millis(ms)
        {
            tokio::time::sleep_until(self.start + Duration::from_millis(ms)).await;
            tokio::task::yield_now().await;
            self.done = true;
            return Some(Err(StreamFault::Disconnected(ms)));
        }
        tokio::time::sleep_until(self.start + at).await;
        let mut bytes = self.frames.frame(self.sent_up_to, mark.piece);
        self.sent_up_to = mark.piece.end();
        if mark.content {
            if self.malformed_at == Some(self.sent_content) {
                // Half a chunk: the client's SSE/JSON or event-stream parser fails on it.
                bytes.truncate(bytes.len() / 2);
            }
            self.sent_content += 1;
            if let Some(o) = &mut self.observer {
                o.content();
            }
        }
        Some(Ok(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::schema::StreamingProfile;
    use futures::StreamExt;

    fn frames() -> Vec<Frame> {
        vec![
            Frame::control("start"),
            Frame::content("a"),
            Frame::content("b"),
            Frame::content("c"),
            Frame::control("end"),
        ]
    }

    fn profile(ttft: f64, tps: f64, jitter: f64) -> Timing {
        Timing {
            latency_ms: 10,
            chunk_size: 20,
            streaming_profile: Some(StreamingProfile {
                ttft: Some(ttft),
                tps: Some(tps),
                jitter: Some(jitter),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_schedule_adds_latency_ttft_then_one_gap_per_content_frame() {
        let ms: Vec<u128> = schedule(&frames(), &profile(100.0, 10.0, 0.0), None)
            .iter()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(
            ms,
            vec![110, 110, 210, 310, 310],
            "the leading control frame goes with the first token"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_frame_a_client_reads_arrives_at_the_ttft() {
        let started = Instant::now();
        let mut stream = Box::pin(timed(frames(), &profile(100.0, 10.0, 0.0), None));
        let first = stream.next().await.expect("a frame").expect("no fault");
        assert_eq!(first, Bytes::from("start"));
        assert_eq!(started.elapsed(), Duration::from_millis(110));
        let only_control = vec![Frame::control("start"), Frame::control("end")];
        let ms: Vec<u128> = schedule(&only_control, &profile(100.0, 10.0, 0.0), None)
            .iter()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(ms, vec![110, 110], "an empty answer still waits for prefill");
    }

    #[test]
    fn a_seeded_jittered_schedule_repeats_exactly() {
        let t = profile(100.0, 10.0, 0.5);
        assert_eq!(schedule(&frames(), &t, Some(7)), schedule(&frames(), &t, Some(7)));
        assert_ne!(
            schedule(&frames(), &t, Some(7)),
            schedule(&frames(), &profile(100.0, 10.0, 0.0), Some(7))
        );
    }

    #[test]
    fn cutting_keeps_frames_up_to_the_nth_content_frame() {
        let mut f = frames();
        cut_after_content(&mut f, 2);
        assert_eq!(f, frames()[..3].to_vec());
        let mut f = frames();
        cut_after_content(&mut f, 9);
        assert_eq!(
            f,
            frames()[..4].to_vec(),
            "fewer content frames: cut after the last"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn truncation_stops_after_n_content_frames_with_an_error() {
        let t = Timing {
            truncate_after_chunks: Some(2),
            ..Default::default()
        };
        let out: Vec<_> = timed(frames(), &t, None).collect().await;
        assert_eq!(out.len(), 4);
        assert!(out[..3].iter().all(Result::is_ok));
        assert!(matches!(out[3], Err(StreamFault::Truncated(2))));
    }

    #[tokio::test(start_paused = true)]
    async fn disconnect_fires_at_its_deadline() {
        let mut t = profile(100.0, 10.0, 0.0);
        t.disconnect_after_ms = Some(150);
        let started = Instant::now();
        let out: Vec<_> = timed(frames(), &t, None).collect().await;
        assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 2); // "start" and "a" at 110 ms
        assert!(matches!(out.last(), Some(Err(StreamFault::Disconnected(150)))));
        assert_eq!(started.elapsed(), Duration::from_millis(150));
    }

    #[test]
    fn compacting_keeps_every_frame_its_kind_and_its_time() {
        let f = frames();
        let due: Vec<Duration> = (0..5).map(Duration::from_millis).collect();
        let (packed, marks) = compact(f.clone(), due);
        let mut start = packed.start();
        let back: Vec<Bytes> = marks
            .iter()
            .map(|m| {
                let b = packed.frame(start, m.piece);
                start = m.piece.end();
                b
            })
            .collect();
        assert_eq!(back, f.iter().map(|f| f.bytes.clone()).collect::<Vec<_>>());
        assert_eq!(marks[3].due_us, 3_000);
        assert!(marks.iter().zip(&f).all(|(m, f)| m.content == f.content));
        let (packed, marks) = compact(Vec::new(), Vec::new());
        assert!(packed.start() == 0 && marks.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_untimed_stream_yields_every_frame_then_ends() {
        let out: Vec<_> = timed(frames(), &Timing::default(), None).collect().await;
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(Result::is_ok));
    }
}
