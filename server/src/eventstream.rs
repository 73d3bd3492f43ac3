//! The AWS event-stream frame encoder (`application/vnd.amazon.eventstream`), used by Bedrock
//! ConverseStream / InvokeModelWithResponseStream and SageMaker InvokeEndpointWithResponseStream.
//!
//! Frame: prelude (`total_len u32`, `headers_len u32`, `prelude_crc u32`), headers, payload,
//! `message_crc u32` over everything before it. All integers big-endian; CRC-32 (IEEE) via crc32fast.
//! Lengths are checked, never truncated: a truncated length would still yield valid CRCs.

use bytes::Bytes;

/// Bytes of the prelude: total length, headers length, prelude CRC.
pub const PRELUDE_LEN: usize = 12;
/// Bytes of the trailing message CRC.
pub const CRC_LEN: usize = 4;
/// Longest header name the format allows (its length is one byte).
pub const MAX_HEADER_NAME_LEN: usize = 255;
/// Longest string/bytes header value (its length is an i16 on the wire).
pub const MAX_HEADER_VALUE_LEN: usize = i16::MAX as usize;

/// A header value; only the types mockmodel emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Type 0 (true) / 1 (false); no value bytes.
    Bool(bool),
    /// Type 6: length-prefixed bytes.
    Bytes(Bytes),
    /// Type 7: length-prefixed UTF-8.
    String(String),
}

/// One frame header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Name, e.g. `:event-type`.
    pub name: String,
    /// Value.
    pub value: HeaderValue,
}

impl Header {
    /// A string header.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: HeaderValue::String(value.into()),
        }
    }
}

/// Why a frame cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A header name is empty or longer than 255 bytes.
    #[error("header name {0:?} must be 1-255 bytes")]
    HeaderNameLength(String),
    /// A header value is longer than 32767 bytes.
    #[error("value of header {0:?} is longer than 32767 bytes")]
    HeaderValueTooLong(String),
    /// The headers or the whole frame do not fit a u32 length.
    #[error("frame is longer than 4 GiB")]
    MessageTooLong,
}

/// Encodes one frame.
pub fn encode(headers: &[Header], payload: &[u8]) -> Result<Bytes, FrameError> {
    // Headers first, into their own buffer, to learn their length.
    let mut head = Vec::with_capacity(headers.len() * 32);
    for h in headers {
        let name = h.name.as_bytes();
        let name_len = u8::try_from(name.len())
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| FrameError::HeaderNameLength(h.name.clone()))?;
        head.push(name_len);
        head.extend_from_slice(name);
        match &h.value {
            HeaderValue::Bool(true) => head.push(0),
            HeaderValue::Bool(false) => head.push(1),
            HeaderValue::Bytes(b) => put_value(&mut head, 6, b, &h.name)?,
            HeaderValue::String(s) => put_value(&mut head, 7, s.as_bytes(), &h.name)?,
        }
    }
    let headers_len = u32::try_from(head.len()).map_err(|_| FrameError::MessageTooLong)?;
    let total = PRELUDE_LEN
        .checked_add(head.len())
        .and_then(|n| n.checked_add(payload.len()))
        .and_then(|n| n.checked_add(CRC_LEN))
        .ok_or(FrameError::MessageTooLong)?;
    let total_len = u32::try_from(total).map_err(|_| FrameError::MessageTooLong)?;

    let mut buf = Vec::with_capacity(total);
    buf.extend_from_slice(&total_len.to_be_bytes());
    buf.extend_from_slice(&headers_len.to_be_bytes());
    let prelude_crc = crc32fast::hash(&buf[..8]);
    buf.extend_from_slice(&prelude_crc.to_be_bytes());
    buf.extend_from_slice(&head);
    buf.extend_from_slice(payload);
    // The message CRC covers everything before it, the prelude CRC included.
    let message_crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&message_crc.to_be_bytes());
    Ok(Bytes::from(buf))
}

fn put_value(out: &mut Vec<u8>, type_tag: u8, value: &[u8], name: &str) -> Result<(), FrameError> {
    if value.len() > MAX_HEADER_VALUE_LEN {
        return Err(FrameError::HeaderValueTooLong(name.to_string()));
    }
    out.push(type_tag);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// An `event` frame: `:message-type event`, `:event-type <name>`, `:content-type <type>`.
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Result<Bytes, FrameError> {
    encode(
        &[
            Header::string(":event-type", event_type),
            Header::string(":content-type", content_type),
            Header::string(":message-type", "event"),
        ],
        payload,
    )
}

/// An `exception` frame: `:message-type exception`, `:exception-type <name>`, JSON payload.
pub fn exception(exception_type: &str, payload: &[u8]) -> Result<Bytes, FrameError> {
    encode(
        &[
            Header::string(":exception-type", exception_type),
            Header::string(":content-type", "application/json"),
            Header::string(":message-type", "exception"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder, read_message_from};
    use aws_smithy_types::event_stream::HeaderValue as SdkValue;

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn crt_vector_without_headers_is_byte_exact() {
        let frame = encode(&[], b"{'foo':'bar'}").unwrap();
        assert_eq!(be32(&frame, 0), 0x1D);
        assert_eq!(be32(&frame, 4), 0);
        assert_eq!(be32(&frame, 8), 0xFD52_8C5A);
        assert_eq!(be32(&frame, frame.len() - 4), 0xC365_3936);
        assert_eq!(frame.len(), 0x1D);
    }

    #[test]
    fn crt_vector_with_one_header_is_byte_exact() {
        let frame = encode(
            &[Header::string("content-type", "application/json")],
            b"{'foo':'bar'}",
        )
        .unwrap();
        assert_eq!(be32(&frame, 0), 0x3D);
        assert_eq!(be32(&frame, 4), 0x20);
        assert_eq!(be32(&frame, 8), 0x07FD_8396);
        assert_eq!(be32(&frame, frame.len() - 4), 0x8D9C_08B1);
    }

    #[test]
    fn the_sdk_decoder_reads_back_headers_and_payload() {
        let headers = vec![
            Header::string(":event-type", "messageStart"),
            Header {
                name: "flag".into(),
                value: HeaderValue::Bool(false),
            },
            Header {
                name: "raw".into(),
                value: HeaderValue::Bytes(Bytes::from_static(b"\x00\x01")),
            },
        ];
        let frame = encode(&headers, br#"{"role":"assistant"}"#).unwrap();
        let mut buf = &frame[..];
        let msg = read_message_from(&mut buf).unwrap();
        assert_eq!(msg.payload().as_ref(), br#"{"role":"assistant"}"#);
        let h = msg.headers();
        assert_eq!(h[0].name().as_str(), ":event-type");
        assert_eq!(h[0].value(), &SdkValue::String("messageStart".into()));
        assert_eq!(h[1].value(), &SdkValue::Bool(false));
        assert_eq!(
            h[2].value(),
            &SdkValue::ByteArray(Bytes::from_static(b"\x00\x01"))
        );
    }

    #[test]
    fn the_incremental_sdk_decoder_reassembles_frames_split_anywhere() {
        let mut wire = Vec::new();
        for i in 0..3 {
            wire.extend_from_slice(
                &event("chunk", "application/json", format!("{{\"i\":{i}}}").as_bytes()).unwrap(),
            );
        }
        for split in 1..=11 {
            let mut decoder = MessageFrameDecoder::new();
            let mut got = Vec::new();
            let mut pending = bytes::BytesMut::new();
            for piece in wire.chunks(split) {
                pending.extend_from_slice(piece);
                while let DecodedFrame::Complete(m) = decoder.decode_frame(&mut pending).unwrap() {
                    got.push(String::from_utf8(m.payload().to_vec()).unwrap());
                }
            }
            assert_eq!(
                got,
                vec![r#"{"i":0}"#, r#"{"i":1}"#, r#"{"i":2}"#],
                "split {split}"
            );
        }
    }

    #[test]
    fn over_long_names_and_values_fail_instead_of_truncating() {
        let long_name = "n".repeat(256);
        assert_eq!(
            encode(&[Header::string(long_name.clone(), "v")], b""),
            Err(FrameError::HeaderNameLength(long_name))
        );
        assert!(matches!(
            encode(&[Header::string("", "v")], b""),
            Err(FrameError::HeaderNameLength(_))
        ));
        let long_value = "v".repeat(MAX_HEADER_VALUE_LEN + 1);
        assert_eq!(
            encode(&[Header::string("n", long_value)], b""),
            Err(FrameError::HeaderValueTooLong("n".into()))
        );
        assert!(encode(&[Header::string("n", "v".repeat(MAX_HEADER_VALUE_LEN))], b"").is_ok());
    }

    #[test]
    fn exception_frames_carry_the_exception_type() {
        let frame = exception("throttlingException", br#"{"message":"slow down"}"#).unwrap();
        let msg = read_message_from(&mut &frame[..]).unwrap();
        let types: Vec<_> = msg
            .headers()
            .iter()
            .map(|h| (h.name().as_str().to_string(), h.value().clone()))
            .collect();
        assert!(types.contains(&(":message-type".into(), SdkValue::String("exception".into()))));
        assert!(types.contains(&(
            ":exception-type".into(),
            SdkValue::String("throttlingException".into())
        )));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn random_headers_and_payloads_round_trip_through_the_sdk_decoder(
                headers in proptest::collection::vec(("[a-z:-]{1,40}", "\\PC{0,60}"), 0..6),
                payload in proptest::collection::vec(any::<u8>(), 0..512),
            ) {
                let hs: Vec<Header> = headers.iter().map(|(n, v)| Header::string(n.clone(), v.clone())).collect();
                let frame = encode(&hs, &payload).unwrap();
                prop_assert_eq!(be32(&frame, 0) as usize, frame.len());
                let msg = read_message_from(&mut &frame[..]).unwrap();
                prop_assert_eq!(msg.payload().as_ref(), &payload[..]);
                prop_assert_eq!(msg.headers().len(), hs.len());
                for (got, want) in msg.headers().iter().zip(&hs) {
                    prop_assert_eq!(got.name().as_str(), want.name.as_str());
                    prop_assert_eq!(got.value(), &SdkValue::String(match &want.value {
                        HeaderValue::String(s) => s.clone().into(),
                        _ => unreachable!(),
                    }));
                }
            }
        }
    }
}
