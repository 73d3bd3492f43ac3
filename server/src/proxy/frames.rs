//! What the relay notes of an upstream body for the recorder: how it divides into frames, and
//! when each frame arrived. A leaf of `proxy`, so the relay and the decoders that read its frames
//! do not import each other.

use std::time::Instant;

use axum::body::Bytes;

/// How the upstream's body divides into frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document.
    Whole,
    /// `text/event-stream`: events end with a blank line.
    Sse,
    /// `application/vnd.amazon.eventstream`: length-prefixed messages.
    EventStream,
}

/// One complete frame and when its last byte arrived.
#[derive(Debug)]
pub struct Arrived {
    pub at: Instant,
    pub bytes: Bytes,
}
