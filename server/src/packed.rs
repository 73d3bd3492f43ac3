//! A stream's encoded frames in one buffer, each kept only as the bytes it does not share with one
//! frame of the stream, its base (issue 12: 10,000 live streams).
//!
//! A stream is encoded before its first frame is due and held for seconds, and its frames are
//! nearly alike: an OpenAI chunk repeats its id, model, `created` and field names around a few
//! characters of content, ~250 bytes for 8 characters. Held whole, an 18-chunk answer took ~5 KB a
//! stream; held as differences from the first content frame, a few hundred. A frame is rebuilt
//! from the base's first bytes, its own middle and the base's last bytes when it is sent, so every
//! frame leaves byte for byte as its wire encoded it.

use bytes::{Bytes, BytesMut};

/// Where one frame is in a [`Packed`] buffer: the base's first `prefix` bytes, its own middle (up
/// to `end`, from where the frame before it ended), then the base's last `suffix` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    end: u32,
    prefix: u32,
    suffix: u32,
}

/// The base frame, then every frame's middle, back to back, in one exactly sized buffer.
#[derive(Debug, Clone)]
pub struct Packed {
    all: Bytes,
    /// The base frame is `all[..base]`; the first frame's middle starts there.
    base: usize,
}

impl Packed {
    /// Packs `frames`, the first content frame (`content[i]`) as the base, or the first frame if
    /// none is content. A buffer past 4 GiB (far past any body limit) keeps the frames up to there.
    pub fn new(frames: &[&[u8]], content: impl Fn(usize) -> bool) -> (Self, Vec<Piece>) {
        let base: &[u8] = (0..frames.len())
            .find(|&i| content(i))
            .or((!frames.is_empty()).then_some(0))
            .map_or(&[], |i| frames[i]);
        let shared: Vec<(usize, usize)> = frames.iter().map(|f| shared(f, base)).collect();
        let middles: usize = frames
            .iter()
            .zip(&shared)
            .map(|(f, (p, s))| f.len() - p - s)
            .sum();
        let mut all = BytesMut::with_capacity(base.len() + middles);
        all.extend_from_slice(base);
        let mut pieces = Vec::with_capacity(frames.len());
        for (f, &(prefix, suffix)) in frames.iter().zip(&shared) {
            all.extend_from_slice(&f[prefix..f.len() - suffix]);
            let (Ok(end), Ok(prefix), Ok(suffix)) = (
                u32::try_from(all.len()),
                u32::try_from(prefix),
                u32::try_from(suffix),
            ) else {
                break;
            };
            pieces.push(Piece { end, prefix, suffix });
        }
        let base = base.len();
        (
            Packed {
                all: all.freeze(),
                base,
            },
            pieces,
        )
    }

    /// Where the first frame's middle starts.
    pub fn start(&self) -> usize {
        self.base
    }

    /// The bytes of the frame `piece` locates, whose middle starts at `start` (where the piece
    /// before it ended, or [`Packed::start`]). A frame that shares nothing with the base is a
    /// slice of the buffer; any other is copied together when it is sent.
    pub fn frame(&self, start: usize, piece: Piece) -> Bytes {
        let middle = self.all.slice(start..piece.end as usize);
        let (prefix, suffix) = (piece.prefix as usize, piece.suffix as usize);
        if prefix == 0 && suffix == 0 {
            return middle;
        }
        let base = &self.all[..self.base];
        let mut frame = BytesMut::with_capacity(prefix + middle.len() + suffix);
        frame.extend_from_slice(&base[..prefix]);
        frame.extend_from_slice(&middle);
        frame.extend_from_slice(&base[base.len() - suffix..]);
        frame.freeze()
    }
}

impl Piece {
    /// Where this frame's middle ends: the next frame's middle starts here.
    pub fn end(self) -> usize {
        self.end as usize
    }
}

/// How many of `frame`'s first and last bytes are `base`'s first and last bytes, the two never
/// overlapping in either.
fn shared(frame: &[u8], base: &[u8]) -> (usize, usize) {
    let prefix = frame.iter().zip(base).take_while(|(a, b)| a == b).count();
    let suffix = frame[prefix..]
        .iter()
        .rev()
        .zip(base[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    (prefix, suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unpack(frames: &[&[u8]], content: impl Fn(usize) -> bool) -> (Packed, Vec<Bytes>) {
        let (packed, pieces) = Packed::new(frames, content);
        let mut start = packed.start();
        let out = pieces
            .iter()
            .map(|&p| {
                let f = packed.frame(start, p);
                start = p.end();
                f
            })
            .collect();
        (packed, out)
    }

    #[test]
    fn alike_frames_keep_only_what_differs_from_the_first_content_frame() {
        let frames: [&[u8]; 5] = [
            b"data: {\"delta\":{\"role\":\"assistant\"},\"id\":\"x\"}\n\n",
            b"data: {\"delta\":{\"content\":\"Hello\"},\"id\":\"x\"}\n\n",
            b"data: {\"delta\":{\"content\":\" world\"},\"id\":\"x\"}\n\n",
            b"data: {\"delta\":{\"content\":\"Hello\"},\"id\":\"x\"}\n\n",
            b"data: [DONE]\n\n",
        ];
        let (packed, out) = unpack(&frames, |i| (1..=3).contains(&i));
        assert_eq!(out, frames.map(Bytes::copy_from_slice));
        let whole: usize = frames.iter().map(|f| f.len()).sum();
        assert!(
            packed.all.len() < whole / 2,
            "{} of {whole} bytes",
            packed.all.len()
        );
    }

    #[test]
    fn a_frame_that_is_a_prefix_of_the_base_or_the_base_of_it_comes_back_whole() {
        let frames: [&[u8]; 4] = [b"abcabc", b"abc", b"", b"abcabcabc"];
        let (_, out) = unpack(&frames, |i| i == 0);
        assert_eq!(out, frames.map(Bytes::copy_from_slice));
        let (_, out) = unpack(&frames, |_| false);
        assert_eq!(out, frames.map(Bytes::copy_from_slice));
        let (packed, out) = unpack(&[], |_| true);
        assert!(out.is_empty() && packed.all.is_empty());
    }

    proptest! {
        #[test]
        fn every_frame_comes_back_byte_for_byte(
            frames in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..12), 0..8),
            content in any::<u8>(),
        ) {
            let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let (_, out) = unpack(&frames, |i| content & (1 << i) != 0);
            prop_assert_eq!(out, frames.iter().map(|f| Bytes::copy_from_slice(f)).collect::<Vec<_>>());
        }
    }
}
