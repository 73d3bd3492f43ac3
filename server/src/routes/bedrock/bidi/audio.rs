//! Nova Sonic audio: the LPCM formats a session declares, the assistant's "speech" (a quiet tone of
//! plausible length, in the declared format) and voice activity on the user's audio, which drives
//! turn-taking and barge-in since the mock does not transcribe.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Milliseconds of audio per `audioOutput` event.
pub const CHUNK_MS: u64 = 100;
/// Silence after speech that ends the user's turn (the service's endpointing, at its default).
pub const ENDPOINT_SILENCE_MS: u64 = 600;
/// Mean absolute sample value above which audio counts as speech (about -40 dBFS): microphone
/// silence and comfort noise stay below it, a voice does not.
pub const SPEECH_LEVEL: u64 = 330;

/// `audioInputConfiguration` / `audioOutputConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioFormat {
    /// `audio/lpcm`.
    pub media_type: String,
    /// 8000, 16000 or 24000.
    pub sample_rate_hertz: u32,
    /// 16.
    pub sample_size_bits: u32,
    /// 1.
    pub channel_count: u32,
    /// `base64`.
    pub encoding: String,
    /// `SPEECH`.
    #[serde(default = "speech", skip_serializing_if = "String::is_empty")]
    pub audio_type: String,
    /// The voice (output only), echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
}

fn speech() -> String {
    "SPEECH".into()
}

impl AudioFormat {
    /// The service's default output format: 24 kHz, 16-bit, mono LPCM.
    pub fn default_output() -> Self {
        AudioFormat {
            media_type: "audio/lpcm".into(),
            sample_rate_hertz: 24_000,
            sample_size_bits: 16,
            channel_count: 1,
            encoding: "base64".into(),
            audio_type: speech(),
            voice_id: None,
        }
    }

    /// Checks the values Nova Sonic accepts, naming the field (`what` is the configuration's name).
    pub fn check(&self, what: &str) -> Result<(), String> {
        let bad = |field: &str, value: String, allowed: &str| {
            Err(format!(
                "Invalid input event: {what}.{field} is {value}; Nova Sonic accepts {allowed}"
            ))
        };
        if self.media_type != "audio/lpcm" {
            return bad("mediaType", format!("{:?}", self.media_type), "\"audio/lpcm\"");
        }
        if ![8_000, 16_000, 24_000].contains(&self.sample_rate_hertz) {
            return bad(
                "sampleRateHertz",
                self.sample_rate_hertz.to_string(),
                "8000, 16000 or 24000",
            );
        }
        if self.sample_size_bits != 16 {
            return bad("sampleSizeBits", self.sample_size_bits.to_string(), "16");
        }
        if self.channel_count != 1 {
            return bad("channelCount", self.channel_count.to_string(), "1");
        }
        if self.encoding != "base64" {
            return bad("encoding", format!("{:?}", self.encoding), "\"base64\"");
        }
        Ok(())
    }

    /// Bytes of one second of audio.
    fn bytes_per_second(&self) -> u64 {
        u64::from(self.sample_rate_hertz)
            * u64::from(self.sample_size_bits / 8)
            * u64::from(self.channel_count)
    }

    /// Bytes of `ms` milliseconds of audio (whole samples).
    pub fn bytes_for(&self, ms: u64) -> usize {
        let frame = u64::from(self.sample_size_bits / 8) * u64::from(self.channel_count);
        (u64::from(self.sample_rate_hertz) * ms / 1000 * frame) as usize
    }

    /// Milliseconds that `bytes` of audio last.
    pub fn ms_of(&self, bytes: usize) -> f64 {
        bytes as f64 * 1000.0 / self.bytes_per_second().max(1) as f64
    }
}

/// How long the assistant speaks `text`: the fixture's duration, else 60 ms per character (about 170
/// words a minute), at least 500 ms.
pub fn speech_ms(text: &str, declared: Option<u64>) -> u64 {
    declared.unwrap_or_else(|| (text.chars().count() as u64 * 60).max(500))
}

/// The assistant's audio for `ms` milliseconds, in [`CHUNK_MS`] pieces (the last one shorter): a
/// quiet 200 Hz tone, so players play something and levels show it, never anything loud.
pub fn speech_chunks(format: &AudioFormat, ms: u64) -> Vec<Bytes> {
    let full = tone(format, CHUNK_MS);
    let mut out = Vec::with_capacity(ms.div_ceil(CHUNK_MS) as usize);
    let mut left = ms;
    while left > 0 {
        let take = left.min(CHUNK_MS);
        out.push(if take == CHUNK_MS {
            full.clone()
        } else {
            full.slice(..format.bytes_for(take))
        });
        left -= take;
    }
    out
}

/// `ms` of a 200 Hz sine at -20 dBFS. 200 Hz has a whole number of periods in every 100 ms chunk,
/// so consecutive chunks join without a click.
fn tone(format: &AudioFormat, ms: u64) -> Bytes {
    let rate = f64::from(format.sample_rate_hertz);
    let samples = format.bytes_for(ms) / 2 / format.channel_count.max(1) as usize;
    let mut out = Vec::with_capacity(format.bytes_for(ms));
    for i in 0..samples {
        let v = (3277.0 * (std::f64::consts::TAU * 200.0 * i as f64 / rate).sin()) as i16;
        for _ in 0..format.channel_count {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Bytes::from(out)
}

/// Whether 16-bit little-endian PCM holds speech: its mean absolute level is above [`SPEECH_LEVEL`].
pub fn is_speech(pcm: &[u8]) -> bool {
    let samples = pcm.len() / 2;
    if samples == 0 {
        return false;
    }
    let sum: u64 = pcm
        .chunks_exact(2)
        .map(|b| u64::from(i16::from_le_bytes([b[0], b[1]]).unsigned_abs()))
        .sum();
    sum / samples as u64 > SPEECH_LEVEL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_has_the_declared_length_in_the_declared_format() {
        let f = AudioFormat::default_output();
        let chunks = speech_chunks(&f, 1_250);
        assert_eq!(chunks.len(), 13);
        assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>(), 24_000 * 2 * 5 / 4);
        assert_eq!(chunks[0].len(), 4_800);
        assert_eq!(chunks[12].len(), 2_400);
        let mut eight = f.clone();
        eight.sample_rate_hertz = 8_000;
        assert_eq!(
            speech_chunks(&eight, 1_000).iter().map(Bytes::len).sum::<usize>(),
            16_000
        );
        assert_eq!(speech_ms("Hello there", None), 660);
        assert_eq!(speech_ms("Hi", None), 500);
        assert_eq!(speech_ms("Hi", Some(42)), 42);
    }

    #[test]
    fn the_tone_is_speech_and_zeros_are_not() {
        let f = AudioFormat::default_output();
        assert!(is_speech(&speech_chunks(&f, 100)[0]));
        assert!(!is_speech(&[0u8; 3200]));
        assert!(!is_speech(&[]));
        assert_eq!(f.ms_of(4_800), 100.0);
    }

    #[test]
    fn formats_nova_sonic_rejects_are_named() {
        let mut f = AudioFormat::default_output();
        assert!(f.check("audioOutputConfiguration").is_ok());
        f.sample_rate_hertz = 44_100;
        let e = f.check("audioOutputConfiguration").unwrap_err();
        assert!(
            e.contains("audioOutputConfiguration.sampleRateHertz is 44100"),
            "{e}"
        );
    }
}
