//! Status computation: conditions `FixturesValid`, `Available` and `Ready`, fixture count, ready
//! replicas and endpoints, from what reconcile observed.
//!
//! Pure; no client. `lastTransitionTime` is carried over from the previous status unless the
//! condition's status flips, so an unchanged world yields an identical status (and no patch).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use crate::crd::{MockModel, MockModelStatus};
use crate::resources::endpoints;

/// Condition: the endpoint serves the current fixtures and has ready pods.
pub const READY: &str = "Ready";
/// Condition: the fixtures (inline and `fixturesFrom`) are valid.
pub const FIXTURES_VALID: &str = "FixturesValid";
/// Condition: at least one mock server pod is ready.
pub const AVAILABLE: &str = "Available";

/// Reason: fixtures validated and rendered.
pub const REASON_FIXTURES_LOADED: &str = "FixturesLoaded";
/// Reason: a fixture failed validation.
pub const REASON_INVALID_FIXTURES: &str = "InvalidFixtures";
/// Reason: a `fixturesFrom` ConfigMap or key is missing.
pub const REASON_SOURCE_NOT_FOUND: &str = "FixturesSourceNotFound";
/// Reason: ready pods serve the endpoint.
pub const REASON_DEPLOYMENT_READY: &str = "DeploymentReady";
/// Reason: no ready pod yet.
pub const REASON_WAITING_FOR_PODS: &str = "WaitingForPods";
/// Reason: `replicas: 0`.
pub const REASON_SCALED_TO_ZERO: &str = "ScaledToZero";
/// Reason: everything is in place.
pub const REASON_READY: &str = "Ready";

/// What happened to the fixtures in this reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixtureOutcome {
    /// Valid and applied; the number of fixtures.
    Applied(usize),
    /// Invalid; every error with its field path. The children were left untouched.
    Invalid(Vec<String>),
    /// A `fixturesFrom` source is missing. The children were left untouched.
    SourceMissing(String),
}

impl FixtureOutcome {
    /// The `FixturesValid` status, reason and message.
    fn condition(&self) -> (bool, &'static str, String) {
        match self {
            FixtureOutcome::Applied(n) => (true, REASON_FIXTURES_LOADED, format!("{n} fixtures loaded")),
            FixtureOutcome::Invalid(errors) => (false, REASON_INVALID_FIXTURES, errors.join("; ")),
            FixtureOutcome::SourceMissing(m) => (false, REASON_SOURCE_NOT_FOUND, m.clone()),
        }
    }
}

/// The status after this reconcile. `deployment` is the applied (or, on bad input, current)
/// one. On bad input, `served` is how many fixtures the ConfigMap holds now (`None`: not known,
/// keep the count the status had); an applied outcome carries its own count.
pub fn compute(
    mm: &MockModel,
    outcome: &FixtureOutcome,
    deployment: Option<&Deployment>,
    served: Option<usize>,
    now: &Time,
) -> MockModelStatus {
    let old = mm.status.clone().unwrap_or_default();
    let generation = mm.metadata.generation;
    let ready_replicas = deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let wanted = mm.spec.replicas;

    let (valid, valid_reason, valid_msg) = outcome.condition();
    let (available, avail_reason, avail_msg) = if wanted == 0 {
        (false, REASON_SCALED_TO_ZERO, "replicas is 0".to_string())
    } else if ready_replicas > 0 {
        (
            true,
            REASON_DEPLOYMENT_READY,
            format!("{ready_replicas}/{wanted} replicas ready"),
        )
    } else {
        (
            false,
            REASON_WAITING_FOR_PODS,
            format!("0/{wanted} replicas ready"),
        )
    };
    let (ready, ready_reason, ready_msg) = if !valid {
        (
            false,
            valid_reason,
            "fixtures are not valid; the endpoint serves its last valid set".to_string(),
        )
    } else if !available {
        (false, avail_reason, avail_msg.clone())
    } else {
        let e = endpoints(
            &mm.name_any(),
            mm.namespace().as_deref().unwrap_or_default(),
            crate::tls::enabled(mm),
        );
        (
            true,
            REASON_READY,
            format!("serving at {}", e.get("bedrock").unwrap_or_default()),
        )
    };

    let cond = |type_: &str, status: bool, reason: &str, message: String| {
        let status = if status { "True" } else { "False" }.to_string();
        let last = old
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message,
            observed_generation: generation,
            last_transition_time: last,
        }
    };

    MockModelStatus {
        observed_generation: generation,
        fixture_count: match (outcome, served) {
            (FixtureOutcome::Applied(n), _) => i32::try_from(*n).unwrap_or(i32::MAX),
            // the endpoint keeps serving its last valid set, as its ConfigMap holds it
            (_, Some(n)) => i32::try_from(n).unwrap_or(i32::MAX),
            (_, None) => old.fixture_count,
        },
        ready_replicas,
        conditions: vec![
            cond(READY, ready, ready_reason, ready_msg),
            cond(FIXTURES_VALID, valid, valid_reason, valid_msg),
            cond(AVAILABLE, available, avail_reason, avail_msg),
        ],
        endpoints: mm
            .namespace()
            .map(|ns| endpoints(&mm.name_any(), &ns, crate::tls::enabled(mm))),
    }
}

/// The `FixturesValid` condition of a status, if any.
pub fn fixtures_valid(status: Option<&MockModelStatus>) -> Option<&Condition> {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == FIXTURES_VALID))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::MockModelSpec;
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use k8s_openapi::jiff::Timestamp;

    fn mm() -> MockModel {
        let mut mm = MockModel::new(
            "bot",
            MockModelSpec {
                replicas: 1,
                ..MockModelSpec::default()
            },
        );
        mm.metadata.namespace = Some("ns".into());
        mm.metadata.generation = Some(3);
        mm
    }

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("timestamp"))
    }

    fn ready_deploy(n: i32) -> Deployment {
        Deployment {
            status: Some(DeploymentStatus {
                ready_replicas: Some(n),
                ..DeploymentStatus::default()
            }),
            ..Deployment::default()
        }
    }

    fn get<'a>(s: &'a MockModelStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).expect("condition")
    }

    #[test]
    fn valid_fixtures_and_a_ready_pod_make_it_ready_with_endpoints() {
        let s = compute(
            &mm(),
            &FixtureOutcome::Applied(4),
            Some(&ready_deploy(1)),
            None,
            &at(100),
        );
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!((s.fixture_count, s.ready_replicas), (4, 1));
        for t in [READY, FIXTURES_VALID, AVAILABLE] {
            assert_eq!(get(&s, t).status, "True", "{t}");
            assert_eq!(get(&s, t).observed_generation, Some(3));
        }
        assert_eq!(
            s.endpoints.expect("endpoints").get("openai"),
            Some("http://bot.ns.svc:8080/v1")
        );
    }

    #[test]
    fn no_ready_pod_means_not_available_and_not_ready() {
        let s = compute(
            &mm(),
            &FixtureOutcome::Applied(1),
            Some(&ready_deploy(0)),
            None,
            &at(100),
        );
        assert_eq!(get(&s, AVAILABLE).reason, REASON_WAITING_FOR_PODS);
        assert_eq!(get(&s, READY).status, "False");
        assert_eq!(get(&s, FIXTURES_VALID).status, "True");
    }

    #[test]
    fn invalid_fixtures_keep_the_last_count_and_report_the_path() {
        let mut mm = mm();
        mm.status = Some(compute(
            &mm,
            &FixtureOutcome::Applied(5),
            Some(&ready_deploy(1)),
            None,
            &at(100),
        ));
        let s = compute(
            &mm,
            &FixtureOutcome::Invalid(vec!["spec.fixtures[1].chunkSize: must be at least 1".into()]),
            Some(&ready_deploy(1)),
            None,
            &at(200),
        );
        assert_eq!(s.fixture_count, 5);
        let v = get(&s, FIXTURES_VALID);
        assert_eq!(
            (v.status.as_str(), v.reason.as_str()),
            ("False", REASON_INVALID_FIXTURES)
        );
        assert!(v.message.contains("spec.fixtures[1].chunkSize"));
        assert_eq!(get(&s, READY).status, "False");
        assert_eq!(get(&s, AVAILABLE).status, "True", "the old pods still serve");
    }

    #[test]
    fn invalid_fixtures_report_what_the_configmap_serves_even_when_the_status_is_stale() {
        // The object handed to this reconcile predates the last reconcile's status patch.
        let s = compute(
            &mm(),
            &FixtureOutcome::Invalid(vec!["spec.fixtures[1].chunkSize: must be at least 1".into()]),
            Some(&ready_deploy(1)),
            Some(5),
            &at(200),
        );
        assert_eq!(s.fixture_count, 5);
    }

    #[test]
    fn transition_time_changes_only_on_a_flip() {
        let mut mm = mm();
        let first = compute(
            &mm,
            &FixtureOutcome::Applied(1),
            Some(&ready_deploy(0)),
            None,
            &at(100),
        );
        mm.status = Some(first.clone());
        let same = compute(
            &mm,
            &FixtureOutcome::Applied(1),
            Some(&ready_deploy(0)),
            None,
            &at(200),
        );
        assert_eq!(same, first, "nothing changed, so the status is identical");
        let flipped = compute(
            &mm,
            &FixtureOutcome::Applied(1),
            Some(&ready_deploy(1)),
            None,
            &at(300),
        );
        assert_eq!(get(&flipped, AVAILABLE).last_transition_time, at(300));
        assert_eq!(get(&flipped, FIXTURES_VALID).last_transition_time, at(100));
    }

    #[test]
    fn scaled_to_zero_is_not_available() {
        let mut mm = mm();
        mm.spec.replicas = 0;
        let s = compute(&mm, &FixtureOutcome::Applied(1), None, None, &at(1));
        assert_eq!(get(&s, AVAILABLE).reason, REASON_SCALED_TO_ZERO);
    }

    #[test]
    fn missing_source_is_reported_as_not_valid() {
        let s = compute(
            &mm(),
            &FixtureOutcome::SourceMissing("configMap big not found".into()),
            None,
            None,
            &at(1),
        );
        assert_eq!(get(&s, FIXTURES_VALID).reason, REASON_SOURCE_NOT_FOUND);
        assert!(fixtures_valid(Some(&s)).is_some());
    }
}
