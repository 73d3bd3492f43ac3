//! Random ids and unseeded random generators from a per-thread fast generator seeded once from
//! the OS: `Uuid::new_v4()` and `StdRng::from_os_rng()` each cost a `getrandom` system call, once
//! per request on the hot path (issue 12). Ids and chaos draws need to be distinct and unbiased,
//! not secret, so a non-cryptographic generator is enough.

use std::cell::RefCell;

use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, SeedableRng};
use uuid::Uuid;

thread_local! {
    static FAST: RefCell<SmallRng> = RefCell::new(SmallRng::from_rng(&mut rand::rng()));
}

fn random<T>() -> T
where
    rand::distr::StandardUniform: rand::distr::Distribution<T>,
{
    FAST.with(|r| r.borrow_mut().random())
}

/// A random (version 4) UUID.
pub fn uuid() -> Uuid {
    // One `u128` is two 64-bit draws; a `[u8; 16]` is drawn byte by byte, 16 draws.
    uuid::Builder::from_random_bytes(random::<u128>().to_le_bytes()).into_uuid()
}

/// `prefix` then a random UUID as 32 lower-case hex digits (`chatcmpl-…`), in one allocation and
/// without the formatting machinery (`format!` of a `Uuid::simple` was a kilo-instruction per id).
pub fn hex32_after(prefix: &str) -> String {
    let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
    let hex = uuid().simple().encode_lower(&mut buf);
    let mut s = String::with_capacity(prefix.len() + hex.len());
    s.push_str(prefix);
    s.push_str(hex);
    s
}

/// A generator for one request's draws: from `seed` when the request carried one (reproducible),
/// else seeded from the per-thread generator.
pub fn rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::seed_from_u64(random()),
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let (a, b) = (super::uuid(), super::uuid());
        assert_eq!(a.get_version_num(), 4);
        assert_ne!(a, b);
        let h = super::hex32_after("chatcmpl-");
        let hex = h.strip_prefix("chatcmpl-").unwrap();
        assert!(
            hex.len() == 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn a_seed_gives_the_same_draws() {
        let draw = |s| super::rng(s).random::<u64>();
        assert_eq!(draw(Some(7)), draw(Some(7)));
        assert_ne!(super::rng(None).random::<u64>(), super::rng(None).random::<u64>());
    }
}
