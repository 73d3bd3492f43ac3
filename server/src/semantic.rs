//! Semantic faults: the answer arrives intact, but says what a misbehaving model says.
//!
//! Transport faults (`faults.rs`) break the bytes; these change the neutral [`Plan`] once, before
//! any wire encodes it, so every wire shows the same misbehaviour in its own words (an OpenAI
//! `refusal`, a Bedrock `content_filtered`, an Anthropic `stop_reason: refusal`, a stream cut at
//! `length` inside a tool call's arguments).
//!
//! Sources, the first present deciding: `X-Mockmodel-Fault: <kind>` (always, never counted against
//! `times`), the fixture's `semanticFault`, then the server's `--semantic-fault` defaults (tried in
//! order; the first that is drawn, applicable and within its `times` wins). One fault per answer.
//! Draws use `X-Mockmodel-Seed` when sent, so a seeded request is decided the same way every time.
//!
//! A fault that needs something the answer lacks is *not applicable*: the answer goes out unchanged
//! and nothing is counted (tool faults on an answer without tool calls, `toolArgsSchemaViolation`
//! when the request declared no schema with a property or requirement to break).

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::conversation::Conversation;
use crate::fixture::schema::{SemanticFault, SemanticFaultKind};
use crate::plan::{Block, Plan, StopReason};

/// The text of an injected refusal.
pub const REFUSAL_TEXT: &str = "I'm sorry, but I can't help with that request.";

/// Reasoning sent by `reasoningOnly` when the answer had neither reasoning nor text to think with.
const REASONING_TEXT: &str = "Let me think about how to answer this.";

/// Mixed into `X-Mockmodel-Seed` so the semantic draw is independent of the chaos draw.
const SEED_SALT: u64 = 0x5e3a_471c_0dd5_eed5;

/// Suffix that turns a declared tool name into an undeclared one (`toolUnknownName`).
const UNKNOWN_SUFFIX: &str = "_unknown";

impl SemanticFaultKind {
    /// Every kind, in documentation order.
    pub const ALL: [SemanticFaultKind; 9] = [
        SemanticFaultKind::ToolArgsInvalidJson,
        SemanticFaultKind::ToolArgsSchemaViolation,
        SemanticFaultKind::ToolUnknownName,
        SemanticFaultKind::ToolCallIdDuplicate,
        SemanticFaultKind::StopAtMaxTokensMidTool,
        SemanticFaultKind::EmptyResponse,
        SemanticFaultKind::Refusal,
        SemanticFaultKind::ContentFilter,
        SemanticFaultKind::ReasoningOnly,
    ];

    /// The fixture, header, flag and metric label spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SemanticFaultKind::ToolArgsInvalidJson => "toolArgsInvalidJson",
            SemanticFaultKind::ToolArgsSchemaViolation => "toolArgsSchemaViolation",
            SemanticFaultKind::ToolUnknownName => "toolUnknownName",
            SemanticFaultKind::ToolCallIdDuplicate => "toolCallIdDuplicate",
            SemanticFaultKind::StopAtMaxTokensMidTool => "stopAtMaxTokensMidTool",
            SemanticFaultKind::EmptyResponse => "emptyResponse",
            SemanticFaultKind::Refusal => "refusal",
            SemanticFaultKind::ContentFilter => "contentFilter",
            SemanticFaultKind::ReasoningOnly => "reasoningOnly",
        }
    }

    /// The kind a name spells, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Parses a `--semantic-fault` value: `KIND[=RATE][@TIMES]`, e.g. `refusal`, `emptyResponse=0.1`,
/// `toolUnknownName=0.5@3`.
pub fn parse_flag(s: &str) -> Result<SemanticFault, String> {
    let (rest, times) = match s.split_once('@') {
        Some((rest, t)) => (
            rest,
            Some(
                t.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("{t:?} is not a count of times"))?,
            ),
        ),
        None => (s, None),
    };
    let (kind, rate) = match rest.split_once('=') {
        Some((k, r)) => match r.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => (k, Some(v)),
            _ => return Err(format!("{r:?} is not a probability between 0 and 1")),
        },
        None => (rest, None),
    };
    let kind = SemanticFaultKind::parse(kind.trim()).ok_or_else(|| {
        let names: Vec<_> = SemanticFaultKind::ALL.iter().map(|k| k.as_str()).collect();
        format!(
            "unknown semantic fault {kind:?}; expected one of {}",
            names.join(", ")
        )
    })?;
    Ok(SemanticFault { kind, rate, times })
}

/// The `--semantic-fault` value for a fault (what [`parse_flag`] reads back).
pub fn to_flag(f: &SemanticFault) -> String {
    let mut s = f.kind.as_str().to_string();
    if let Some(r) = f.rate {
        s.push_str(&format!("={r}"));
    }
    if let Some(t) = f.times {
        s.push_str(&format!("@{t}"));
    }
    s
}

/// How many times each fixture's or default's fault has been injected, for `times`.
#[derive(Debug, Default)]
pub struct TimesCounters(Mutex<HashMap<String, u32>>);

impl TimesCounters {
    /// Runs `inject` if `key` is still within `times`, counting it when it injected.
    fn within(&self, key: &str, times: Option<u32>, inject: impl FnOnce() -> bool) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let used = m.get(key).copied().unwrap_or(0);
        if times.is_some_and(|t| used >= t) || !inject() {
            return false;
        }
        m.insert(key.to_string(), used + 1);
        true
    }

    /// Forgets every count (fixtures were reloaded).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Where the fault candidates come from: the matched fixture (`key` names it) or the defaults.
pub struct Sources<'a> {
    /// The matched fixture's id (`file#index`) and its `semanticFault`.
    pub fixture: Option<(&'a str, &'a SemanticFault)>,
    /// The server's defaults.
    pub defaults: &'a [SemanticFault],
}

/// Decides and injects this answer's semantic fault, if any; returns the kind injected.
pub fn apply(
    plan: &mut Plan,
    c: &Conversation,
    sources: Sources<'_>,
    counters: &TimesCounters,
    seed: Option<u64>,
) -> Option<SemanticFaultKind> {
    if let Some(kind) = c
        .headers
        .control("x-mockmodel-fault")
        .and_then(|v| SemanticFaultKind::parse(v.trim()))
    {
        return inject(kind, plan, c).then_some(kind);
    }
    let candidates: Vec<(String, &SemanticFault)> = match sources.fixture {
        Some((key, f)) => vec![(format!("fixture {key}"), f)],
        None => sources
            .defaults
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("default {i}"), f))
            .collect(),
    };
    if candidates.is_empty() {
        return None;
    }
    let mut rng = crate::ids::rng(seed.map(|s| s ^ SEED_SALT));
    for (key, f) in candidates {
        let drawn = rng.random_bool(f.rate.unwrap_or(1.0).clamp(0.0, 1.0));
        if drawn && counters.within(&key, f.times, || inject(f.kind, plan, c)) {
            return Some(f.kind);
        }
    }
    None
}

/// Changes `plan` to show `kind`; false (and `plan` untouched) when it is not applicable.
pub fn inject(kind: SemanticFaultKind, plan: &mut Plan, c: &Conversation) -> bool {
    let first_call = plan
        .blocks
        .iter()
        .position(|b| matches!(b, Block::ToolCall { .. }));
    match kind {
        SemanticFaultKind::ToolArgsInvalidJson => {
            let Some(Block::ToolCall { arguments, .. }) = first_call.map(|i| &mut plan.blocks[i]) else {
                return false;
            };
            // A trailing comma before the closing brace: a classic model slip no JSON parser takes.
            *arguments = match arguments.strip_suffix('}') {
                Some(head) => format!("{head},}}"),
                None => format!("{arguments},"),
            };
        }
        SemanticFaultKind::ToolArgsSchemaViolation => {
            let broken = plan.blocks.iter_mut().find_map(|b| match b {
                Block::ToolCall { name, arguments, .. } => {
                    let schema = c.tool_schemas.get(name.as_str())?;
                    violate(schema, arguments).map(|a| (arguments, a))
                }
                _ => None,
            });
            let Some((arguments, violating)) = broken else {
                return false;
            };
            *arguments = violating;
        }
        SemanticFaultKind::ToolUnknownName => {
            let Some(Block::ToolCall { name, .. }) = first_call.map(|i| &mut plan.blocks[i]) else {
                return false;
            };
            let mut unknown = format!("{name}{UNKNOWN_SUFFIX}");
            while c.tools.contains(&unknown) {
                unknown.push_str(UNKNOWN_SUFFIX);
            }
            *name = unknown;
        }
        SemanticFaultKind::ToolCallIdDuplicate => {
            let calls: Vec<usize> = (0..plan.blocks.len())
                .filter(|&i| matches!(plan.blocks[i], Block::ToolCall { .. }))
                .collect();
            let (Some(&first), second) = (calls.first(), calls.get(1).copied()) else {
                return false;
            };
            let Block::ToolCall { id: first_id, .. } = plan.blocks[first].clone() else {
                return false;
            };
            match second {
                Some(i) => {
                    if let Block::ToolCall { id, .. } = &mut plan.blocks[i] {
                        *id = first_id;
                    }
                }
                // One call: the model emits it twice under one id.
                None => {
                    let copy = plan.blocks[first].clone();
                    plan.blocks.insert(first + 1, copy);
                }
            }
        }
        SemanticFaultKind::StopAtMaxTokensMidTool => {
            let Some(last) = plan
                .blocks
                .iter()
                .rposition(|b| matches!(b, Block::ToolCall { .. }))
            else {
                return false;
            };
            plan.blocks.truncate(last + 1);
            if let Block::ToolCall { arguments, .. } = &mut plan.blocks[last] {
                let keep = (arguments.chars().count() / 2).max(1);
                *arguments = arguments.chars().take(keep).collect();
            }
            plan.stop = StopReason::MaxTokens;
        }
        SemanticFaultKind::EmptyResponse => {
            plan.blocks.clear();
            plan.stop = StopReason::EndTurn;
        }
        SemanticFaultKind::Refusal => {
            plan.blocks = vec![Block::Text(REFUSAL_TEXT.to_string())];
            plan.stop = StopReason::Refusal;
        }
        SemanticFaultKind::ContentFilter => {
            // The filter cuts in half-way through the answer's text; tool calls never go out.
            let text: String = plan
                .blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            let kept: String = text.chars().take(text.chars().count() / 2).collect();
            plan.blocks = if kept.is_empty() {
                Vec::new()
            } else {
                vec![Block::Text(kept)]
            };
            plan.stop = StopReason::ContentFilter;
        }
        SemanticFaultKind::ReasoningOnly => {
            let reasoning: Vec<Block> = plan
                .blocks
                .iter()
                .filter(|b| matches!(b, Block::Reasoning { .. }))
                .cloned()
                .collect();
            let text: String = plan
                .blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            plan.blocks = if !reasoning.is_empty() {
                reasoning
            } else {
                // The answer the model thought through but never gave.
                let thought = if text.is_empty() {
                    REASONING_TEXT.to_string()
                } else {
                    text
                };
                vec![Block::Reasoning {
                    text: thought,
                    signature: None,
                }]
            };
            plan.stop = StopReason::EndTurn;
        }
    }
    true
}

/// Arguments (compact JSON) that break `schema`: the first required property left out, else the
/// first typed property given a value of another type; `None` when the schema has neither.
fn violate(schema: &Value, arguments: &str) -> Option<String> {
    let mut args: Map<String, Value> = serde_json::from_str(arguments).ok()?;
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for name in required {
        if args.remove(name).is_some() {
            return Some(Value::Object(args).to_string());
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object)?;
    let (name, wrong) = properties.iter().find_map(|(name, p)| {
        let type_ = match p.get("type")? {
            Value::String(t) => t.as_str(),
            Value::Array(ts) => ts.first()?.as_str()?,
            _ => return None,
        };
        Some((name, wrong_value(type_)))
    })?;
    args.insert(name.clone(), wrong);
    Some(Value::Object(args).to_string())
}

/// A value that is not of JSON Schema type `type_`.
fn wrong_value(type_: &str) -> Value {
    match type_ {
        "string" => json!(12345),
        _ => json!(format!("not a {type_}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Protocol;
    use crate::plan::{Timing, Usage};

    fn plan(blocks: Vec<Block>) -> Plan {
        Plan {
            id: None,
            model: "m".into(),
            created: None,
            blocks,
            stop: StopReason::ToolUse,
            usage: Usage {
                input: 1,
                output: 1,
                total: 2,
                ..Default::default()
            },
            timing: Timing::default(),
            system_fingerprint: None,
            guardrail: None,
            guardrail_checks: None,
            speech: None,
        }
    }

    fn call(id: &str, args: &str) -> Block {
        Block::ToolCall {
            id: id.into(),
            name: "get_weather".into(),
            arguments: args.into(),
        }
    }

    fn convo() -> Conversation {
        let mut c = Conversation::new(Protocol::OpenAi, "m");
        c.tools.push("get_weather".into());
        c.tool_schemas.insert(
            "get_weather".into(),
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        );
        c
    }

    fn injected(kind: SemanticFaultKind, blocks: Vec<Block>) -> Option<Plan> {
        let mut p = plan(blocks);
        inject(kind, &mut p, &convo()).then_some(p)
    }

    #[test]
    fn tool_faults_break_the_call_the_way_models_do() {
        use SemanticFaultKind::*;
        let weather = || vec![call("c1", r#"{"city":"Paris"}"#)];
        let p = injected(ToolArgsInvalidJson, weather()).unwrap();
        assert_eq!(p.blocks, vec![call("c1", r#"{"city":"Paris",}"#)]);
        assert!(serde_json::from_str::<Value>(r#"{"city":"Paris",}"#).is_err());

        let p = injected(ToolArgsSchemaViolation, weather()).unwrap();
        assert_eq!(p.blocks, vec![call("c1", "{}")]);

        let p = injected(ToolUnknownName, weather()).unwrap();
        assert!(matches!(&p.blocks[0], Block::ToolCall { name, .. } if name == "get_weather_unknown"));

        let p = injected(ToolCallIdDuplicate, weather()).unwrap();
        assert_eq!(p.blocks, vec![weather()[0].clone(), weather()[0].clone()]);
        let p = injected(ToolCallIdDuplicate, vec![call("a", "{}"), call("b", "{}")]).unwrap();
        assert_eq!(p.blocks, vec![call("a", "{}"), call("a", "{}")]);

        let p = injected(
            StopAtMaxTokensMidTool,
            vec![Block::Text("Checking".into()), call("c1", r#"{"city":"Paris"}"#)],
        )
        .unwrap();
        assert_eq!(p.stop, StopReason::MaxTokens);
        assert_eq!(p.blocks[1], call("c1", r#"{"city":"#));
    }

    #[test]
    fn a_schema_without_requirements_gets_a_wrongly_typed_property() {
        let mut c = convo();
        c.tool_schemas.insert(
            "get_weather".into(),
            json!({"properties": {"days": {"type": "integer"}}}),
        );
        let mut p = plan(vec![call("c1", r#"{"days":3}"#)]);
        assert!(inject(SemanticFaultKind::ToolArgsSchemaViolation, &mut p, &c));
        assert_eq!(p.blocks, vec![call("c1", r#"{"days":"not a integer"}"#)]);
    }

    #[test]
    fn tool_faults_on_a_text_answer_are_not_applicable() {
        for kind in &SemanticFaultKind::ALL[..5] {
            assert!(
                injected(*kind, vec![Block::Text("hi".into())]).is_none(),
                "{kind:?}"
            );
        }
        // No schema declared for the called tool: nothing to violate.
        let mut p = plan(vec![call("c1", "{}")]);
        let bare = Conversation::new(Protocol::OpenAi, "m");
        assert!(!inject(SemanticFaultKind::ToolArgsSchemaViolation, &mut p, &bare));
    }

    #[test]
    fn answer_faults_replace_the_content() {
        use SemanticFaultKind::*;
        let text = || vec![Block::Text("abcdef".into())];
        assert!(injected(EmptyResponse, text()).unwrap().blocks.is_empty());
        let p = injected(Refusal, text()).unwrap();
        assert_eq!(
            (p.blocks, p.stop),
            (vec![Block::Text(REFUSAL_TEXT.into())], StopReason::Refusal)
        );
        let p = injected(ContentFilter, text()).unwrap();
        assert_eq!(
            (p.blocks, p.stop),
            (vec![Block::Text("abc".into())], StopReason::ContentFilter)
        );
        let p = injected(ReasoningOnly, text()).unwrap();
        assert_eq!(
            p.blocks,
            vec![Block::Reasoning {
                text: "abcdef".into(),
                signature: None
            }]
        );
    }

    #[test]
    fn header_beats_fixture_and_times_limits_injections() {
        let c = convo();
        let counters = TimesCounters::default();
        let once = SemanticFault {
            kind: SemanticFaultKind::EmptyResponse,
            rate: None,
            times: Some(1),
        };
        let run = |c: &Conversation| {
            let mut p = plan(vec![Block::Text("hi".into())]);
            let sources = Sources {
                fixture: Some(("f.yaml#0", &once)),
                defaults: &[],
            };
            apply(&mut p, c, sources, &counters, None)
        };
        assert_eq!(run(&c), Some(SemanticFaultKind::EmptyResponse));
        assert_eq!(run(&c), None);
        let mut with_header = c.clone();
        with_header.headers.insert("x-mockmodel-fault", "refusal");
        assert_eq!(run(&with_header), Some(SemanticFaultKind::Refusal));
        counters.clear();
        assert_eq!(run(&c), Some(SemanticFaultKind::EmptyResponse));
    }

    #[test]
    fn seeded_draws_repeat_and_defaults_skip_what_does_not_apply() {
        let c = convo();
        let counters = TimesCounters::default();
        let defaults = [
            SemanticFault {
                kind: SemanticFaultKind::ToolUnknownName,
                rate: None,
                times: None,
            },
            SemanticFault {
                kind: SemanticFaultKind::Refusal,
                rate: Some(0.5),
                times: None,
            },
        ];
        let decide = |seed| {
            let mut p = plan(vec![Block::Text("hi".into())]);
            let sources = Sources {
                fixture: None,
                defaults: &defaults,
            };
            apply(&mut p, &c, sources, &counters, Some(seed))
        };
        let mut seen = std::collections::HashSet::new();
        for seed in 0..40 {
            assert_eq!(decide(seed), decide(seed));
            seen.insert(decide(seed));
        }
        // The tool fault never applies to text; the refusal is drawn for some seeds only.
        assert_eq!(
            seen,
            [None, Some(SemanticFaultKind::Refusal)].into_iter().collect()
        );
    }

    #[test]
    fn flags_round_trip() {
        let f = parse_flag("toolUnknownName=0.5@3").unwrap();
        assert_eq!(
            (f.kind, f.rate, f.times),
            (SemanticFaultKind::ToolUnknownName, Some(0.5), Some(3))
        );
        assert_eq!(to_flag(&f), "toolUnknownName=0.5@3");
        assert_eq!(to_flag(&parse_flag("refusal").unwrap()), "refusal");
        assert!(parse_flag("refusal=2").is_err());
        assert!(parse_flag("nonsense").is_err());
        assert!(parse_flag("emptyResponse@x").is_err());
    }
}
