//! Fault injection, decided once per matched request and applied the same way on every protocol.
//!
//! Sources, later ones winning: server defaults (`--chaos-*`), the fixture's `chaos`, and request
//! headers (`X-Mockmodel-Chaos-{Drop,Malformed,Disconnect}` or aimock's `X-AIMock-Chaos-*`, as
//! rates in [0, 1]). Deterministic faults: `X-Mockmodel-Fault: drop|malformed|disconnect|throttle|
//! unavailable` for one request, and `X-Mockmodel-Fail-First: N` (with optional
//! `X-Mockmodel-Fail-With: throttle|unavailable|internal`) failing the first N requests of an
//! `X-Test-Id`. Errors become `ErrorPlan`s (each codec writes its own error shape); body faults are
//! handed to `ctx` for the stream scheduler or the middleware. Model misbehaviour (the semantic
//! kinds of `X-Mockmodel-Fault`) is `semantic.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;

use crate::conversation::Headers;
use crate::ctx::{self, BodyFault};
use crate::fixture::schema::Chaos;
use crate::plan::{ErrorPlan, Outcome};

/// Probabilities of each random fault.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChaosRates {
    /// Answer with a 500 error instead.
    pub drop: f64,
    /// Send a malformed body or chunk.
    pub malformed: f64,
    /// Drop the connection part-way through the body.
    pub disconnect: f64,
}

impl ChaosRates {
    /// Overlays a fixture's `chaos`.
    pub fn with_fixture(mut self, c: Option<&Chaos>) -> Self {
        if let Some(c) = c {
            self.drop = c.drop_rate.unwrap_or(self.drop);
            self.malformed = c.malformed_rate.unwrap_or(self.malformed);
            self.disconnect = c.disconnect_rate.unwrap_or(self.disconnect);
        }
        self
    }

    /// Overlays per-request header rates (ours or aimock's); unparsable values are ignored.
    pub fn with_headers(mut self, h: &Headers) -> Self {
        // One pass over the few headers first: most requests carry no chaos header, and six
        // lookups by long names ran on every matched request (issue 12's hot path).
        if !h.has_control()
            || !h
                .names()
                .any(|k| k.starts_with("x-mockmodel-chaos-") || k.starts_with("x-aimock-chaos-"))
        {
            return self;
        }
        // Names spelled out rather than formatted: this runs on every matched request.
        for (field, names) in [
            (&mut self.drop, ["x-mockmodel-chaos-drop", "x-aimock-chaos-drop"]),
            (
                &mut self.malformed,
                ["x-mockmodel-chaos-malformed", "x-aimock-chaos-malformed"],
            ),
            (
                &mut self.disconnect,
                ["x-mockmodel-chaos-disconnect", "x-aimock-chaos-disconnect"],
            ),
        ] {
            for name in names {
                if let Some(v) = h.get(name).and_then(|v| v.trim().parse::<f64>().ok()) {
                    *field = v.clamp(0.0, 1.0);
                }
            }
        }
        self
    }
}

/// Per-`X-Test-Id` counts for `X-Mockmodel-Fail-First`.
#[derive(Debug, Default)]
pub struct FailFirstCounters(Mutex<HashMap<String, u32>>);

impl FailFirstCounters {
    /// Counts one more request for `test_id`; true while it is among the first `n`.
    fn should_fail(&self, test_id: &str, n: u32) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let seen = m.entry(test_id.to_string()).or_insert(0);
        *seen += 1;
        *seen <= n
    }

    /// Forgets every count.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn error(status: u16, type_: &str, message: &str, retry_after: Option<u64>) -> Outcome {
    Outcome::Error(ErrorPlan {
        status,
        type_: Some(type_.to_string()),
        message: message.to_string(),
        code: None,
        param: None,
        retry_after,
    })
}

fn named_error(kind: &str) -> Outcome {
    match kind {
        "unavailable" => error(
            503,
            "ServiceUnavailableException",
            "Injected fault: service unavailable",
            None,
        ),
        "internal" | "drop" => error(
            500,
            "InternalServerException",
            "Injected fault: request dropped",
            None,
        ),
        _ => error(
            429,
            "ThrottlingException",
            "Injected fault: rate exceeded",
            Some(1),
        ),
    }
}

/// What fault, if any, this request gets. `outcome` is the planned answer; errors replace it.
pub fn apply(
    outcome: Outcome,
    rates: ChaosRates,
    headers: &Headers,
    test_id: &str,
    counters: &FailFirstCounters,
    seed: Option<u64>,
) -> (Outcome, Option<&'static str>) {
    if let Some(n) = headers
        .control("x-mockmodel-fail-first")
        .and_then(|v| v.trim().parse::<u32>().ok())
        && counters.should_fail(test_id, n)
    {
        let with = headers.control("x-mockmodel-fail-with").unwrap_or("throttle");
        return (named_error(with), Some("fail_first"));
    }
    if let Some(kind) = headers.control("x-mockmodel-fault") {
        match kind.trim() {
            "malformed" => return body_fault(outcome, BodyFault::Malformed),
            "disconnect" => return body_fault(outcome, BodyFault::Disconnect),
            k @ ("drop" | "throttle" | "unavailable" | "internal") => {
                return (named_error(k), Some(label(k)));
            }
            // Any other value (a semantic kind, handled by `semantic.rs`) leaves chaos to the rates.
            _ => {}
        }
    }
    if rates == ChaosRates::default() {
        return (outcome, None);
    }
    let mut rng = crate::ids::rng(seed);
    if rng.random_bool(rates.drop.clamp(0.0, 1.0)) {
        return (named_error("drop"), Some("drop"));
    }
    if rng.random_bool(rates.malformed.clamp(0.0, 1.0)) {
        return body_fault(outcome, BodyFault::Malformed);
    }
    if rng.random_bool(rates.disconnect.clamp(0.0, 1.0)) {
        return body_fault(outcome, BodyFault::Disconnect);
    }
    (outcome, None)
}

fn label(kind: &str) -> &'static str {
    match kind {
        "drop" => "drop",
        "throttle" => "throttle",
        "unavailable" => "unavailable",
        _ => "internal",
    }
}

/// Body faults only make sense on a body that will be sent; errors stay errors.
fn body_fault(outcome: Outcome, fault: BodyFault) -> (Outcome, Option<&'static str>) {
    if matches!(outcome, Outcome::Error(_)) {
        return (outcome, None);
    }
    ctx::set_fault(fault);
    (outcome, Some(fault.label()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ErrorPlan;

    fn ok() -> Outcome {
        Outcome::Embedding(vec![1.0])
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn status(o: &Outcome) -> Option<u16> {
        match o {
            Outcome::Error(ErrorPlan { status, .. }) => Some(*status),
            _ => None,
        }
    }

    #[test]
    fn fail_first_fails_n_requests_per_test_id_then_succeeds() {
        let c = FailFirstCounters::default();
        let h = headers(&[
            ("x-mockmodel-fail-first", "2"),
            ("x-mockmodel-fail-with", "unavailable"),
        ]);
        let run = |id| status(&apply(ok(), ChaosRates::default(), &h, id, &c, None).0);
        assert_eq!(
            [run("a"), run("a"), run("b"), run("a")],
            [Some(503), Some(503), Some(503), None]
        );
    }

    #[test]
    fn header_rates_override_fixture_and_defaults() {
        let fixture = Chaos {
            drop_rate: Some(0.5),
            malformed_rate: None,
            disconnect_rate: Some(0.2),
        };
        let r = ChaosRates {
            drop: 0.1,
            malformed: 0.3,
            disconnect: 0.0,
        }
        .with_fixture(Some(&fixture))
        .with_headers(&headers(&[
            ("x-aimock-chaos-drop", "1"),
            ("x-mockmodel-chaos-disconnect", "7"),
        ]));
        assert_eq!(
            r,
            ChaosRates {
                drop: 1.0,
                malformed: 0.3,
                disconnect: 1.0
            }
        );
    }

    #[test]
    fn a_certain_drop_is_a_500_and_seeded_decisions_repeat() {
        let c = FailFirstCounters::default();
        let always = ChaosRates {
            drop: 1.0,
            ..Default::default()
        };
        assert_eq!(
            status(&apply(ok(), always, &headers(&[]), "t", &c, None).0),
            Some(500)
        );
        let half = ChaosRates {
            drop: 0.5,
            ..Default::default()
        };
        let decide = |seed| status(&apply(ok(), half, &headers(&[]), "t", &c, Some(seed)).0);
        for seed in 0..20 {
            assert_eq!(decide(seed), decide(seed));
        }
    }

    #[test]
    fn a_semantic_fault_header_leaves_the_chaos_rates_in_force() {
        let c = FailFirstCounters::default();
        let always = ChaosRates {
            drop: 1.0,
            ..Default::default()
        };
        let h = headers(&[("x-mockmodel-fault", "refusal")]);
        assert_eq!(status(&apply(ok(), always, &h, "t", &c, None).0), Some(500));
    }

    #[test]
    fn named_faults_map_to_error_classes() {
        let c = FailFirstCounters::default();
        let f = |k| {
            status(
                &apply(
                    ok(),
                    ChaosRates::default(),
                    &headers(&[("x-mockmodel-fault", k)]),
                    "t",
                    &c,
                    None,
                )
                .0,
            )
        };
        assert_eq!(
            [f("throttle"), f("unavailable"), f("drop"), f("malformed")],
            [Some(429), Some(503), Some(500), None]
        );
    }
}
