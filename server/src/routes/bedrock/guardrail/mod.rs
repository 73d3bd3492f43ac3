//! Bedrock guardrails: what a request asks of one (Converse's `guardrailConfig`, InvokeModel's
//! `X-Amzn-Bedrock-Guardrail*` headers) and how a fixture's verdict ([`crate::plan::Guardrail`])
//! reads on each operation: the replacement text, `stopReason: guardrail_intervened`, the
//! `GuardrailTraceAssessment` of Converse's `trace.guardrail` (ConverseStream's `metadata.trace`),
//! InvokeModel's `amazon-bedrock-guardrailAction` / `amazon-bedrock-trace` body members, and the
//! ApplyGuardrail response ([`apply`]). InvokeGuardrailChecks ([`checks`]) needs no guardrail.
//!
//! Which guardrails exist: those a fixture's `match.guardrailId` names (see
//! [`crate::fixture::FixtureSet::names_guardrail`]); only ApplyGuardrail asks.

pub mod apply;
pub mod checks;

use std::borrow::Cow;

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use crate::plan::{Block, Guardrail, Plan};

/// The guardrail a Converse or InvokeModel request applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// `guardrailIdentifier` as sent (an id or an ARN).
    pub identifier: String,
    /// Whether the response carries the trace (`enabled`/`enabled_full`, `ENABLED`/`ENABLED_FULL`).
    pub trace: bool,
}

impl Guard {
    /// From Converse's `guardrailConfig` members (the service model requires none of them).
    pub fn from_config(identifier: Option<&str>, trace: Option<&str>) -> Self {
        Guard {
            identifier: identifier.unwrap_or_default().to_string(),
            // botocore `GuardrailTrace`: enabled | disabled | enabled_full; the default is disabled.
            trace: matches!(trace, Some("enabled" | "enabled_full")),
        }
    }

    /// From InvokeModel's headers: `X-Amzn-Bedrock-GuardrailIdentifier` (and `-Trace`, botocore
    /// `Trace`: ENABLED | DISABLED | ENABLED_FULL), if the request names a guardrail.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let identifier = header("x-amzn-bedrock-guardrailidentifier")?;
        Some(Guard {
            identifier: identifier.to_string(),
            trace: matches!(header("x-amzn-bedrock-trace"), Some("ENABLED" | "ENABLED_FULL")),
        })
    }

    /// The id the trace's maps are keyed by: an ARN's last segment (`…:guardrail/<id>`).
    pub fn id(&self) -> &str {
        guardrail_id(&self.identifier)
    }
}

/// The id in a guardrail identifier: the identifier itself, or an ARN's last path segment.
pub fn guardrail_id(identifier: &str) -> &str {
    identifier.rsplit('/').next().unwrap_or(identifier)
}

/// What the request's guardrail made of this answer: present when the request names a guardrail
/// and the matched fixture gives a verdict.
pub struct Verdict<'a> {
    guard: &'a Guard,
    g: &'a Guardrail,
}

/// The verdict for a plan, if the request's guardrail has one.
pub fn verdict<'a>(guard: Option<&'a Guard>, plan: &'a Plan) -> Option<Verdict<'a>> {
    Some(Verdict {
        guard: guard?,
        g: plan.guardrail.as_deref()?,
    })
}

/// The plan as sent under an optional verdict (see [`Verdict::sent`]).
pub fn sent<'p>(verdict: Option<&Verdict>, plan: &'p Plan) -> Cow<'p, Plan> {
    verdict.map_or(Cow::Borrowed(plan), |v| v.sent(plan))
}

impl Verdict<'_> {
    /// Whether the guardrail intervened.
    pub fn intervened(&self) -> bool {
        self.g.intervened
    }

    /// The plan as sent: an intervention's output replaces the answer's blocks.
    pub fn sent<'p>(&self, plan: &'p Plan) -> Cow<'p, Plan> {
        match (&self.g.output, self.g.intervened) {
            (Some(output), true) => {
                let mut p = plan.clone();
                p.blocks = vec![Block::Text(output.clone())];
                Cow::Owned(p)
            }
            _ => Cow::Borrowed(plan),
        }
    }

    /// Converse's `stopReason` when the guardrail intervened.
    pub fn stop_reason(&self) -> Option<&'static str> {
        self.g.intervened.then_some("guardrail_intervened")
    }

    /// The `GuardrailTraceAssessment` (Converse `trace.guardrail`), when the request enabled the
    /// trace. An input verdict is one merged assessment under the guardrail id (`inputAssessment`
    /// is a map of `GuardrailAssessment`); an output verdict lists them (`outputAssessments` maps
    /// to lists) beside the model's own text in `modelOutput`.
    pub fn trace(&self, plan: &Plan) -> Option<Value> {
        if !self.guard.trace {
            return None;
        }
        let id = self.guard.id();
        let mut t = Map::new();
        if self.g.on_output {
            t.insert("modelOutput".into(), json!([answer_text(plan)]));
            t.insert("outputAssessments".into(), json!({id: self.g.assessments}));
        } else {
            t.insert("inputAssessment".into(), json!({id: merged(&self.g.assessments)}));
        }
        if let Some(reason) = &self.g.action_reason {
            t.insert("actionReason".into(), json!(reason));
        }
        Some(Value::Object(t))
    }

    /// InvokeModel's additions to the model's body: `amazon-bedrock-guardrailAction`
    /// (`INTERVENED`/`NONE`) and, with the trace on, `amazon-bedrock-trace.guardrail` keyed
    /// `input` (a map by guardrail id) or `outputs` (a list of such maps), as the Bedrock user
    /// guide's InvokeModel guardrail examples show (the service model leaves the body opaque).
    pub fn invoke_members(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "amazon-bedrock-guardrailAction".into(),
            json!(self.invoke_action()),
        );
        if self.guard.trace {
            let one = json!({self.guard.id(): merged(&self.g.assessments)});
            let guardrail = if self.g.on_output {
                json!({"outputs": [one]})
            } else {
                json!({"input": one})
            };
            m.insert("amazon-bedrock-trace".into(), json!({"guardrail": guardrail}));
        }
        m
    }

    /// InvokeModel's spelling of the action.
    pub fn invoke_action(&self) -> &'static str {
        if self.g.intervened { "INTERVENED" } else { "NONE" }
    }
}

/// The answer's text blocks, concatenated.
fn answer_text(plan: &Plan) -> String {
    plan.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// Several assessments as one `GuardrailAssessment` (their policies side by side; a later
/// assessment's policy replaces an earlier one of the same name).
fn merged(assessments: &[Value]) -> Value {
    let mut out = Map::new();
    for a in assessments {
        if let Some(obj) = a.as_object() {
            out.extend(obj.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{StopReason, Timing, Usage};

    fn plan(g: Guardrail) -> Plan {
        Plan {
            id: None,
            model: "m".into(),
            created: None,
            blocks: vec![Block::Text("the model's answer".into())],
            stop: StopReason::EndTurn,
            usage: Usage {
                input: 1,
                output: 1,
                total: 2,
                ..Default::default()
            },
            timing: Timing::default(),
            system_fingerprint: None,
            guardrail: Some(Box::new(g)),
            guardrail_checks: None,
            speech: None,
        }
    }

    fn blocked(on_output: bool) -> Guardrail {
        Guardrail {
            intervened: true,
            output: Some("Sorry.".into()),
            on_output,
            assessments: vec![
                json!({"topicPolicy": {"topics": [{"name": "Finance", "type": "DENY", "action": "BLOCKED", "detected": true}]}}),
                json!({"wordPolicy": {"customWords": [], "managedWordLists": []}}),
            ],
            action_reason: None,
            usage: None,
            coverage: None,
        }
    }

    #[test]
    fn an_input_intervention_replaces_the_answer_and_traces_one_merged_assessment_by_id() {
        let p = plan(blocked(false));
        let guard = Guard::from_config(
            Some("arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"),
            Some("enabled"),
        );
        let v = verdict(Some(&guard), &p).expect("a verdict");
        assert_eq!(v.sent(&p).blocks, vec![Block::Text("Sorry.".into())]);
        assert_eq!(v.stop_reason(), Some("guardrail_intervened"));
        let t = v.trace(&p).expect("trace on");
        assert_eq!(
            t["inputAssessment"]["abc123"]["topicPolicy"]["topics"][0]["name"],
            "Finance"
        );
        assert!(t["inputAssessment"]["abc123"]["wordPolicy"].is_object());
        assert!(t.get("outputAssessments").is_none());
        let m = v.invoke_members();
        assert_eq!(m["amazon-bedrock-guardrailAction"], "INTERVENED");
        assert!(m["amazon-bedrock-trace"]["guardrail"]["input"]["abc123"]["topicPolicy"].is_object());
    }

    #[test]
    fn an_output_verdict_lists_its_assessments_beside_the_model_output() {
        let p = plan(blocked(true));
        let guard = Guard::from_config(Some("gr1"), Some("enabled_full"));
        let t = verdict(Some(&guard), &p).unwrap().trace(&p).unwrap();
        assert_eq!(t["modelOutput"], json!(["the model's answer"]));
        assert_eq!(t["outputAssessments"]["gr1"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn no_guardrail_in_the_request_or_no_trace_asked_means_no_verdict_or_no_trace() {
        let p = plan(blocked(false));
        assert!(verdict(None, &p).is_none());
        let quiet = Guard::from_config(Some("gr1"), None);
        assert!(verdict(Some(&quiet), &p).unwrap().trace(&p).is_none());
        let mut headers = HeaderMap::new();
        assert!(Guard::from_headers(&headers).is_none());
        headers.insert("x-amzn-bedrock-guardrailidentifier", "gr1".parse().unwrap());
        headers.insert("x-amzn-bedrock-trace", "ENABLED_FULL".parse().unwrap());
        assert_eq!(
            Guard::from_headers(&headers),
            Some(Guard {
                identifier: "gr1".into(),
                trace: true
            })
        );
    }
}
