//! The AWS event-stream frame decoder: reads the frames a client sends up an
//! `InvokeModelWithBidirectionalStream` request (the encoder, for frames going down, is `eventstream`).
//!
//! Incremental: bytes are pushed as HTTP/2 DATA frames arrive and whole messages come out, whatever
//! the split. Both CRCs are checked and every length is bounded before anything is allocated, so a
//! hostile prelude cannot make the server reserve gigabytes.

use bytes::{Buf, Bytes, BytesMut};

use crate::eventstream::{CRC_LEN, PRELUDE_LEN};

/// Largest frame the format allows (16 MiB; `aws-smithy-eventstream` and the AWS CRT use the same).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;
/// Largest headers section the format allows (128 KiB).
pub const MAX_HEADERS_LEN: usize = 128 * 1024;

/// A decoded header value. Every wire type is read (a client may send any); integers of every width
/// are widened to `i64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Types 0 and 1.
    Bool(bool),
    /// Types 2-5 (byte, short, integer, long).
    Int(i64),
    /// Type 6.
    Bytes(Bytes),
    /// Type 7.
    String(String),
    /// Type 8: milliseconds since the epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Headers, in wire order.
    pub headers: Vec<(String, Value)>,
    /// The payload.
    pub payload: Bytes,
}

impl Message {
    /// A string header's value.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            Value::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// Whether the message carries a header of this name.
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The prelude's total length is below the minimum or above [`MAX_FRAME_LEN`].
    #[error("frame length {0} is outside 16..=16777216 bytes")]
    FrameLength(u32),
    /// The headers length does not fit the frame or exceeds [`MAX_HEADERS_LEN`].
    #[error("headers length {0} does not fit the frame")]
    HeadersLength(u32),
    /// The prelude CRC does not match.
    #[error("prelude checksum mismatch")]
    PreludeCrc,
    /// The message CRC does not match.
    #[error("message checksum mismatch")]
    MessageCrc,
    /// A header is cut short or has an unknown type.
    #[error("malformed header: {0}")]
    Header(&'static str),
}

/// Reassembles messages from arbitrarily split bytes.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet part of a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `None` until one has fully arrived. An error is final: the stream is
    /// out of step and nothing after it can be trusted.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        if self.buf.len() < PRELUDE_LEN {
            return Ok(None);
        }
        let total = be32(&self.buf[0..4]);
        let headers_len = be32(&self.buf[4..8]);
        // Checked before waiting for the rest: a bad length must not make us buffer 4 GiB.
        if crc32fast::hash(&self.buf[..8]) != be32(&self.buf[8..12]) {
            return Err(DecodeError::PreludeCrc);
        }
        let total_len = total as usize;
        if !(PRELUDE_LEN + CRC_LEN..=MAX_FRAME_LEN).contains(&total_len) {
            return Err(DecodeError::FrameLength(total));
        }
        let h_len = headers_len as usize;
        if h_len > MAX_HEADERS_LEN || PRELUDE_LEN + h_len + CRC_LEN > total_len {
            return Err(DecodeError::HeadersLength(headers_len));
        }
        if self.buf.len() < total_len {
            return Ok(None);
        }
        let frame = self.buf.split_to(total_len).freeze();
        decode_frame(frame, h_len).map(Some)
    }
}

/// Decodes exactly one whole frame (a signed envelope's payload, for instance).
pub fn decode(frame: Bytes) -> Result<Message, DecodeError> {
    let mut d = Decoder::new();
    d.push(&frame);
    match d.next_message()? {
        Some(m) if d.pending() == 0 => Ok(m),
        _ => Err(DecodeError::FrameLength(frame.len() as u32)),
    }
}

fn decode_frame(frame: Bytes, headers_len: usize) -> Result<Message, DecodeError> {
    let body_end = frame.len() - CRC_LEN;
    if crc32fast::hash(&frame[..body_end]) != be32(&frame[body_end..]) {
        return Err(DecodeError::MessageCrc);
    }
    let mut head = frame.slice(PRELUDE_LEN..PRELUDE_LEN + headers_len);
    let mut headers = Vec::new();
    while head.has_remaining() {
        let name_len = head.get_u8() as usize;
        let name = take(&mut head, name_len, "name cut short")?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| DecodeError::Header("name is not UTF-8"))?;
        let value = read_value(&mut head)?;
        headers.push((name, value));
    }
    Ok(Message {
        headers,
        payload: frame.slice(PRELUDE_LEN + headers_len..body_end),
    })
}

fn read_value(head: &mut Bytes) -> Result<Value, DecodeError> {
    if !head.has_remaining() {
        return Err(DecodeError::Header("value type missing"));
    }
    let int = |head: &mut Bytes, n: usize| -> Result<i64, DecodeError> {
        let b = take(head, n, "integer cut short")?;
        // Sign-extend from the value's own width.
        let mut v: i64 = if b[0] & 0x80 != 0 { -1 } else { 0 };
        for byte in b.iter() {
            v = (v << 8) | i64::from(*byte);
        }
        Ok(v)
    };
    Ok(match head.get_u8() {
        0 => Value::Bool(true),
        1 => Value::Bool(false),
        2 => Value::Int(int(head, 1)?),
        3 => Value::Int(int(head, 2)?),
        4 => Value::Int(int(head, 4)?),
        5 => Value::Int(int(head, 8)?),
        t @ (6 | 7) => {
            let len = take(head, 2, "length cut short")?;
            let v = take(
                head,
                u16::from_be_bytes([len[0], len[1]]) as usize,
                "value cut short",
            )?;
            if t == 6 {
                Value::Bytes(v)
            } else {
                Value::String(
                    String::from_utf8(v.to_vec()).map_err(|_| DecodeError::Header("string is not UTF-8"))?,
                )
            }
        }
        8 => Value::Timestamp(int(head, 8)?),
        9 => {
            let b = take(head, 16, "uuid cut short")?;
            let mut id = [0u8; 16];
            id.copy_from_slice(&b);
            Value::Uuid(id)
        }
        _ => return Err(DecodeError::Header("unknown value type")),
    })
}

fn take(head: &mut Bytes, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
    if head.remaining() < n {
        return Err(DecodeError::Header(what));
    }
    Ok(head.split_to(n))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::{Header, HeaderValue, encode, event};

    #[test]
    fn frames_split_anywhere_come_out_whole_with_their_headers() {
        let mut wire = Vec::new();
        for i in 0..3 {
            wire.extend_from_slice(
                &event("chunk", "application/json", format!("{{\"i\":{i}}}").as_bytes()).unwrap(),
            );
        }
        for split in [1, 2, 5, 11, 64] {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for piece in wire.chunks(split) {
                d.push(piece);
                while let Some(m) = d.next_message().unwrap() {
                    assert_eq!(m.string(":event-type"), Some("chunk"));
                    got.push(String::from_utf8(m.payload.to_vec()).unwrap());
                }
            }
            assert_eq!(got, [r#"{"i":0}"#, r#"{"i":1}"#, r#"{"i":2}"#], "split {split}");
        }
    }

    #[test]
    fn every_header_type_is_read() {
        // A signed envelope as the SDKs send it: `:date` (timestamp) and `:chunk-signature` (bytes),
        // built with the SDK's own encoder since ours only writes what the server sends.
        use aws_smithy_types::event_stream::{Header as H, HeaderValue as V, Message as M};
        let msg = M::new(&b"inner"[..])
            .add_header(H::new(
                ":date",
                V::Timestamp(aws_smithy_types::DateTime::from_millis(1_700_000_000_123)),
            ))
            .add_header(H::new(
                ":chunk-signature",
                V::ByteArray(Bytes::from_static(b"\x01\x02")),
            ))
            .add_header(H::new("b", V::Byte(-2)))
            .add_header(H::new("s", V::Int16(-300)))
            .add_header(H::new("i", V::Int32(70_000)))
            .add_header(H::new("l", V::Int64(-5)))
            .add_header(H::new("t", V::Bool(true)))
            .add_header(H::new("u", V::Uuid(7)));
        let mut out = Vec::new();
        aws_smithy_eventstream::frame::write_message_to(&msg, &mut out).unwrap();
        let m = decode(Bytes::from(out)).unwrap();
        assert_eq!(m.payload.as_ref(), b"inner");
        let v: Vec<&Value> = m.headers.iter().map(|(_, v)| v).collect();
        assert_eq!(v[0], &Value::Timestamp(1_700_000_000_123));
        assert_eq!(v[1], &Value::Bytes(Bytes::from_static(b"\x01\x02")));
        assert_eq!(
            v[2..6],
            [
                &Value::Int(-2),
                &Value::Int(-300),
                &Value::Int(70_000),
                &Value::Int(-5)
            ]
        );
        assert_eq!(v[6], &Value::Bool(true));
        assert!(matches!(v[7], Value::Uuid(b) if b[15] == 7));
        assert!(m.has(":chunk-signature"));
    }

    #[test]
    fn corrupt_or_oversized_frames_are_errors_not_allocations() {
        let frame = encode(
            &[Header {
                name: "n".into(),
                value: HeaderValue::String("v".into()),
            }],
            b"x",
        )
        .unwrap();
        let mut bad = frame.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode(Bytes::from(bad)), Err(DecodeError::MessageCrc));
        let mut bad = frame.to_vec();
        bad[0] = 0x7f;
        assert_eq!(decode(Bytes::from(bad)), Err(DecodeError::PreludeCrc));
        // A valid prelude announcing 1 GiB is refused at once, before the bytes arrive.
        let mut prelude = (1u32 << 30).to_be_bytes().to_vec();
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32fast::hash(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let mut d = Decoder::new();
        d.push(&prelude);
        assert_eq!(d.next_message(), Err(DecodeError::FrameLength(1 << 30)));
    }
}
