//! Deterministic embeddings: the same text always embeds to the same unit vector, so embedding
//! routes (OpenAI, Bedrock Titan/Cohere) answer without a fixture.

/// A unit vector derived from the text alone: the same input always embeds the same way.
pub fn deterministic(text: &str, dims: usize) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    // FNV-1a: stable across runs and platforms, unlike std's randomly keyed hasher.
    let seed = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let v: Vec<f32> = (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    v.into_iter().map(|x| x / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_embeddings_repeat_and_are_unit_length() {
        let a = deterministic("hello", 8);
        assert_eq!(a, deterministic("hello", 8));
        assert_ne!(a, deterministic("hello!", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
