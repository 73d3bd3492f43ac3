//! OpenAI and Anthropic request bodies checked against their published parameters
//! (`server/data/api-request-schemas.json`), reported as each API words its first violation:
//! OpenAI's `Invalid 'temperature': decimal above maximum value. …` with `param` and `code`,
//! Anthropic's pydantic-style `temperature: Input should be less than or equal to 1`. The words
//! are here; the error shapes are the codecs'.

use std::sync::LazyLock;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::schema::{self, Kind, Schema, Seg, Violation, dotted, joined, number};

static SCHEMAS: LazyLock<FxHashMap<String, Schema>> = LazyLock::new(|| {
    // Shipped inside the binary and loaded by a test: a broken file is a build bug.
    let all: Map<String, Value> =
        serde_json::from_str(include_str!("../../data/api-request-schemas.json")).expect("valid JSON");
    all.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), Schema::compile(v)))
        .collect()
});

/// An OpenAI request schema by name (`openai.chat.completions`, `openai.embeddings`,
/// `openai.responses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiSchema(pub &'static str);

/// An OpenAI 400: the message, the `param` it names and the `code`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiInvalid {
    /// The error's `message`.
    pub message: String,
    /// The error's `param` (`messages[0].content`).
    pub param: String,
    /// The error's `code` (`decimal_above_max_value`, `invalid_type`, …).
    pub code: &'static str,
}

/// Checks an OpenAI body against `schema`; the first violation, in OpenAI's words.
pub fn openai(schema: OpenAiSchema, body: &Value) -> Result<(), OpenAiInvalid> {
    let Some(s) = SCHEMAS.get(schema.0) else {
        return Ok(());
    };
    // A valid body (nearly every request) is cleared without building a violation.
    if schema::accepts(s, body) {
        return Ok(());
    }
    match schema::check(s, body).first() {
        None => Ok(()),
        Some(v) => Err(openai_words(v)),
    }
}

/// Every shipped schema by name, for tests that walk them all.
#[cfg(test)]
pub(super) fn schemas() -> &'static FxHashMap<String, Schema> {
    &SCHEMAS
}

/// An OpenAI body read into `T` and checked against `schema` in the same pass (no tree built),
/// when the schema clears it and `T` reads it: then [`openai`] would pass the parsed body. `None`
/// is no verdict: the body then takes `openai` on its parsed value, which decides and words the
/// error.
pub fn openai_parse<T: serde::de::DeserializeOwned>(schema: OpenAiSchema, text: &str) -> Option<T> {
    match SCHEMAS.get(schema.0) {
        Some(s) => super::typed::parse_checked(s, text),
        None => serde_json::from_str(text).ok(),
    }
}

/// Checks a Messages body (`count_tokens` needs no `max_tokens`); the first violation, in the
/// API's words (`loc: message`).
pub fn anthropic(body: &Value, count_tokens: bool) -> Result<(), String> {
    let Some(s) = SCHEMAS.get("anthropic.messages") else {
        return Ok(());
    };
    if schema::accepts(s, body) {
        return Ok(());
    }
    let first = schema::check(s, body)
        .into_iter()
        .find(|v| !(count_tokens && v.path.is_empty() && v.kind == Kind::Required("max_tokens".into())));
    match first {
        None => Ok(()),
        Some(v) => Err(anthropic_words(&v)),
    }
}

/// `an integer`, `a decimal`: OpenAI's names of JSON types (`an array of objects` for a union's
/// array branch).
fn openai_type(t: &str) -> &'static str {
    match t {
        "array:object" => "an array of objects",
        "array:string" => "an array of strings",
        "integer" => "an integer",
        "number" => "a decimal",
        "string" => "a string",
        "boolean" => "a boolean",
        "object" => "an object",
        t if t.starts_with("array") => "an array",
        _ => "null",
    }
}

fn openai_found(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        // Integer-valued but beyond 64 bits: still written as an integer.
        Value::Number(n) if n.as_f64().is_some_and(|x| x.fract() == 0.0) => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `'a', 'b', and 'c'`, as OpenAI lists supported values.
fn listed(values: &[Value]) -> String {
    let q: Vec<String> = values.iter().map(|v| format!("'{}'", plain(v))).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        2 => format!("{} and {}", q[0], q[1]),
        n => format!("{}, and {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

/// A value as the services quote it: strings without JSON quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n)
            if n.as_f64()
                .is_some_and(|x| x.fract() == 0.0 && !n.is_i64() && !n.is_u64()) =>
        {
            // 2^64 parses as a float; print it as the integer that was sent.
            format!("{:.0}", n.as_f64().unwrap_or_default())
        }
        other => other.to_string(),
    }
}

fn openai_words(v: &Violation) -> OpenAiInvalid {
    let param = dotted(&v.path);
    let integer = v.integer;
    let number = if integer { "integer" } else { "decimal" };
    let (message, code) = match &v.kind {
        Kind::Required(k) => {
            let mut p = v.path.clone();
            p.push(Seg::Key(k.clone()));
            let param = dotted(&p);
            return OpenAiInvalid {
                message: format!("Missing required parameter: '{param}'."),
                param,
                code: "missing_required_parameter",
            };
        }
        // An integer too large for 64 bits is an integer to the API, above its largest value.
        Kind::Type { expected }
            if expected.iter().any(|t| t == "integer")
                && v.value
                    .as_f64()
                    .is_some_and(|x| x.fract() == 0.0 && x.abs() >= 9.2e18) =>
        {
            let (dir, cmp, limit) = if v.value.as_f64().is_some_and(|x| x < 0.0) {
                ("below minimum", ">=", i64::MIN.to_string())
            } else {
                ("above maximum", "<=", i64::MAX.to_string())
            };
            (
                format!(
                    "Invalid '{param}': integer {dir} value. Expected a value {cmp} {limit}, but got {} instead.",
                    plain(&v.value)
                ),
                if dir == "below minimum" {
                    "integer_below_min_value"
                } else {
                    "integer_above_max_value"
                },
            )
        }
        Kind::Type { expected } => {
            let names: Vec<&str> = expected
                .iter()
                .filter(|t| *t != "null")
                .map(|t| openai_type(t))
                .collect();
            let want = match names.as_slice() {
                [one] => one.to_string(),
                // "expected one of a string or array of objects": the article once.
                [first, rest @ ..] => {
                    let rest: Vec<String> = rest
                        .iter()
                        .map(|n| n.split_once(' ').map_or(*n, |(_, t)| t).to_string())
                        .collect();
                    format!("one of {first} or {}", rest.join(" or "))
                }
                [] => "null".to_string(),
            };
            (
                format!(
                    "Invalid type for '{param}': expected {want}, but got {} instead.",
                    openai_found(&v.value)
                ),
                "invalid_type",
            )
        }
        Kind::Minimum(min) => (
            format!(
                "Invalid '{param}': {number} below minimum value. Expected a value >= {}, but got {} instead.",
                self::number(*min),
                plain(&v.value)
            ),
            if integer {
                "integer_below_min_value"
            } else {
                "decimal_below_min_value"
            },
        ),
        Kind::Maximum(max) => (
            format!(
                "Invalid '{param}': {number} above maximum value. Expected a value <= {}, but got {} instead.",
                self::number(*max),
                plain(&v.value)
            ),
            if integer {
                "integer_above_max_value"
            } else {
                "decimal_above_max_value"
            },
        ),
        Kind::Enum(allowed) => (
            format!(
                "Invalid value: '{}'. Supported values are: {}.",
                plain(&v.value),
                listed(
                    &allowed
                        .iter()
                        .filter(|a| !a.is_null())
                        .cloned()
                        .collect::<Vec<_>>()
                )
            ),
            "invalid_value",
        ),
        Kind::MinItems(n) => {
            let len = v.value.as_array().map_or(0, Vec::len);
            if len == 0 {
                (
                    format!(
                        "Invalid '{param}': empty array. Expected an array with minimum length {n}, but got an empty array instead."
                    ),
                    "empty_array",
                )
            } else {
                (
                    format!(
                        "Invalid '{param}': array too short. Expected an array with minimum length {n}, but got an array with length {len} instead."
                    ),
                    "array_below_min_length",
                )
            }
        }
    };
    OpenAiInvalid { message, param, code }
}

/// pydantic's names: `a valid integer`, `a valid dictionary`.
fn pydantic_type(t: &str) -> &'static str {
    match t {
        "integer" => "a valid integer",
        "number" => "a valid number",
        "string" => "a valid string",
        "boolean" => "a valid boolean",
        "object" => "a valid dictionary",
        t if t.starts_with("array") => "a valid list",
        _ => "None",
    }
}

fn anthropic_words(v: &Violation) -> String {
    let loc = |path: &[Seg]| joined(path, ".");
    let at = |what: String| {
        if v.path.is_empty() {
            what
        } else {
            format!("{}: {what}", loc(&v.path))
        }
    };
    match &v.kind {
        Kind::Required(k) => {
            let mut p = v.path.clone();
            p.push(Seg::Key(k.clone()));
            format!("{}: Field required", loc(&p))
        }
        // A union reports its structured branch (a list of blocks), as the API's message does.
        Kind::Type { expected } => at(format!(
            "Input should be {}",
            pydantic_type(expected.last().map_or("", String::as_str))
        )),
        Kind::Minimum(min) => at(format!(
            "Input should be greater than or equal to {}",
            number(*min)
        )),
        Kind::Maximum(max) => at(format!("Input should be less than or equal to {}", number(*max))),
        Kind::Enum(allowed) => {
            let q: Vec<String> = allowed.iter().map(|a| format!("'{}'", plain(a))).collect();
            let list = match q.len() {
                0 | 1 => q.join(""),
                n => format!("{} or {}", q[..n - 1].join(", "), q[n - 1]),
            };
            at(format!("Input should be {list}"))
        }
        Kind::MinItems(n) => at(format!(
            "List should have at least {n} item after validation, not {}",
            v.value.as_array().map_or(0, Vec::len)
        )),
    }
}

/// Generated request bodies for property tests (here and in the codecs): built from the shipped
/// schemas' own keys and `enum` words, repeated keys included.
#[cfg(test)]
pub(crate) mod generated {
    use serde_json::Value;

    /// Every property name and `enum` string of the shipped schemas, so generated bodies hit the
    /// schemas' own keys and values.
    pub(crate) fn vocabulary() -> (Vec<String>, Vec<String>) {
        fn gather(v: &Value, keys: &mut Vec<String>, words: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        if k == "properties" || k == "cases" {
                            keys.extend(x.as_object().into_iter().flat_map(|p| p.keys().cloned()));
                        }
                        if k == "enum" {
                            words.extend(
                                x.as_array()
                                    .into_iter()
                                    .flatten()
                                    .filter_map(Value::as_str)
                                    .map(String::from),
                            );
                        }
                        gather(x, keys, words);
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| gather(x, keys, words)),
                _ => {}
            }
        }
        let all: Value = serde_json::from_str(include_str!("../../data/api-request-schemas.json")).unwrap();
        let (mut keys, mut words) = (vec!["other".to_string()], vec!["x".to_string()]);
        gather(&all, &mut keys, &mut words);
        keys.sort();
        keys.dedup();
        words.sort();
        words.dedup();
        (keys, words)
    }

    /// The JSON text of `v` with the keys that name an `x-variants` case (`role`, `type`) first in
    /// every object, as clients write them.
    pub(crate) fn in_order(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let first = |k: &&String| !matches!(k.as_str(), "role" | "type");
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by_key(first);
                let members: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{}:{}", Value::from(k.as_str()), in_order(&m[*k])))
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            Value::Array(a) => format!("[{}]", a.iter().map(in_order).collect::<Vec<_>>().join(",")),
            other => other.to_string(),
        }
    }

    /// Whether no object in `v` has both `role` and `type` ([`in_order`] can put only one first,
    /// and which one names the case depends on the schema).
    pub(crate) fn one_case_key(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                !(m.contains_key("role") && m.contains_key("type")) && m.values().all(one_case_key)
            }
            Value::Array(a) => a.iter().all(one_case_key),
            _ => true,
        }
    }

    /// JSON text of a generated body, repeated keys and all (`Value` keeps the last).
    pub(crate) fn text(v: &Gen) -> String {
        match v {
            Gen::Leaf(t) => t.clone(),
            Gen::Array(items) => format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(",")),
            Gen::Object(members) => format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), text(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    #[derive(Debug, Clone)]
    pub(crate) enum Gen {
        /// A scalar's JSON text.
        Leaf(String),
        /// A list.
        Array(Vec<Gen>),
        /// An object's members in order, a key possibly repeated.
        Object(Vec<(String, Gen)>),
    }

    pub(crate) fn body() -> impl proptest::strategy::Strategy<Value = Gen> {
        use proptest::prelude::*;
        let (keys, words) = vocabulary();
        let numbers = [
            "0",
            "1",
            "2",
            "-1",
            "0.5",
            "3",
            "130",
            "-2.5",
            "1e20",
            "1.0",
            "18446744073709551616",
        ];
        // Rarely, text a `Value` refuses although serde_json's own skip passes it: a number beyond
        // an f64, a lone surrogate escape, nesting past serde_json's 128 levels.
        let refused = [
            "1e400".to_string(),
            r#""\ud800""#.to_string(),
            format!("{}{}", "[".repeat(129), "]".repeat(129)),
        ];
        let leaf = prop_oneof![
            4 => Just("null".to_string()),
            4 => any::<bool>().prop_map(|b| b.to_string()),
            8 => proptest::sample::select(numbers.map(String::from).to_vec()),
            8 => proptest::sample::select(words).prop_map(|w| Value::from(w).to_string()),
            1 => proptest::sample::select(refused.to_vec()),
        ]
        .prop_map(Gen::Leaf);
        leaf.prop_recursive(5, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Gen::Array),
                proptest::collection::vec((proptest::sample::select(keys.clone()), inner), 0..6)
                    .prop_map(Gen::Object),
            ]
        })
    }

    /// A valid body of each schema, with members replaced or added (generated members often fit).
    pub(crate) fn near_valid() -> impl proptest::strategy::Strategy<Value = (usize, Gen)> {
        use proptest::prelude::*;
        (
            0..4usize,
            proptest::collection::vec((proptest::sample::select(vocabulary().0), body()), 0..3),
        )
            .prop_map(|(i, extra)| {
                let leaf = |t: &str| Gen::Leaf(t.to_string());
                let msg = |role: &str, content: Gen| {
                    Gen::Object(vec![
                        ("role".into(), leaf(&format!("\"{role}\""))),
                        ("content".into(), content),
                    ])
                };
                let mut members: Vec<(String, Gen)> = match i {
                    0 => vec![
                        ("model".into(), leaf("\"gpt-4o\"")),
                        (
                            "messages".into(),
                            Gen::Array(vec![msg("system", leaf("\"s\"")), msg("user", leaf("\"hi\""))]),
                        ),
                    ],
                    1 => vec![("model".into(), leaf("\"e\"")), ("input".into(), leaf("\"hi\""))],
                    2 => vec![
                        ("model".into(), leaf("\"gpt-4o\"")),
                        ("input".into(), leaf("\"hi\"")),
                    ],
                    _ => vec![
                        ("model".into(), leaf("\"claude\"")),
                        ("max_tokens".into(), leaf("10")),
                        ("messages".into(), Gen::Array(vec![msg("user", leaf("\"hi\""))])),
                    ],
                };
                members.extend(extra);
                (i, Gen::Object(members))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::generated::{body, near_valid, text};
    use super::*;
    use serde_json::json;

    const CHAT: OpenAiSchema = OpenAiSchema("openai.chat.completions");

    fn chat(extra: Value) -> Result<(), OpenAiInvalid> {
        let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        openai(CHAT, &body)
    }

    fn claude(extra: Value) -> Result<(), String> {
        let mut body =
            json!({"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        anthropic(&body, false)
    }

    #[test]
    fn every_schema_loads() {
        for s in [
            "openai.chat.completions",
            "openai.embeddings",
            "openai.responses",
            "anthropic.messages",
        ] {
            assert!(SCHEMAS.contains_key(s), "{s}");
        }
    }

    #[test]
    fn openai_range_errors_are_the_apis_words() {
        assert!(chat(json!({"temperature": 2, "n": 1, "max_tokens": null})).is_ok());
        let e = chat(json!({"temperature": 5})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead."
        );
        assert_eq!(
            (e.param.as_str(), e.code),
            ("temperature", "decimal_above_max_value")
        );
        let e = chat(json!({"n": 130})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 130 instead."
        );
        assert_eq!(e.code, "integer_above_max_value");
        assert_eq!(
            chat(json!({"top_p": -0.5})).unwrap_err().code,
            "decimal_below_min_value"
        );
    }

    #[test]
    fn openai_type_and_structure_errors_name_the_param() {
        let e = chat(json!({"max_tokens": "100"})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid type for 'max_tokens': expected an integer, but got a string instead."
        );
        let big: Value = serde_json::from_str("18446744073709551616").unwrap();
        let e = chat(json!({"max_tokens": big})).unwrap_err();
        assert_eq!(e.code, "integer_above_max_value");
        assert!(
            e.message.contains("but got 18446744073709551616 instead"),
            "{}",
            e.message
        );
        let e = chat(json!({"messages": [{"role": "user", "content": 5}]})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid type for 'messages[0].content': expected one of a string or array of objects, but got an integer instead."
        );
        assert_eq!(e.param, "messages[0].content");
        let e = chat(json!({"messages": [{"role": "robot", "content": "x"}]})).unwrap_err();
        assert_eq!(e.param, "messages[0].role");
        assert!(
            e.message
                .starts_with("Invalid value: 'robot'. Supported values are: 'system', ")
        );
        let e = chat(json!({"messages": [{"role": "tool", "content": "x"}]})).unwrap_err();
        assert_eq!(
            e.message,
            "Missing required parameter: 'messages[0].tool_call_id'."
        );
        let e = chat(json!({"tool_choice": "sometimes"})).unwrap_err();
        assert_eq!(e.param, "tool_choice");
        let e = chat(json!({"response_format": {"type": "yaml"}})).unwrap_err();
        assert_eq!(e.param, "response_format.type");
        assert_eq!(chat(json!({"messages": []})).unwrap_err().code, "empty_array");
    }

    #[test]
    fn anthropic_errors_are_pydantic_lines() {
        assert!(claude(json!({"temperature": 1})).is_ok());
        assert_eq!(
            claude(json!({"temperature": 5})).unwrap_err(),
            "temperature: Input should be less than or equal to 1"
        );
        assert_eq!(
            claude(json!({"max_tokens": "x"})).unwrap_err(),
            "max_tokens: Input should be a valid integer"
        );
        assert_eq!(
            claude(json!({"messages": [{"role": "robot", "content": "x"}]})).unwrap_err(),
            "messages.0.role: Input should be 'user' or 'assistant'"
        );
        assert_eq!(
            claude(json!({"tool_choice": {"type": "tool"}})).unwrap_err(),
            "tool_choice.name: Field required"
        );
        let no_max = json!({"model": "c", "messages": [{"role": "user", "content": "x"}]});
        assert!(anthropic(&no_max, true).is_ok());
        assert_eq!(
            anthropic(&no_max, false).unwrap_err(),
            "max_tokens: Field required"
        );
    }

    const ALL: [&str; 4] = [
        "openai.chat.completions",
        "openai.embeddings",
        "openai.responses",
        "anthropic.messages",
    ];

    /// The verdict and the full check agree on `text` for `schema`.
    fn agree(schema: &str, text: &str) -> Result<bool, proptest::test_runner::TestCaseError> {
        let s = &SCHEMAS[schema];
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            // Not JSON a `Value` reads: the text verdict must not clear it either.
            proptest::prop_assert!(!super::super::text::accepts_text(s, text), "{} {}", schema, text);
            return Ok(false);
        };
        let full = schema::check(s, &value).is_empty();
        proptest::prop_assert_eq!(schema::accepts(s, &value), full, "{} {}", schema, text);
        // Read from the text, the verdict is never laxer (a repeated key is checked each time),
        // and it is the same on the text of the parsed value, where no key repeats: written with
        // each object's case key first, and with every key in sorted order (the case key read
        // ahead to).
        let from_text = super::super::text::accepts_text(s, text);
        proptest::prop_assert!(!from_text || full, "{} {}", schema, text);
        for once in [generated::in_order(&value), value.to_string()] {
            let cleared = super::super::text::accepts_text(s, &once);
            if generated::one_case_key(&value) {
                proptest::prop_assert_eq!(cleared, full, "{} {}", schema, once);
            } else {
                proptest::prop_assert!(!cleared || full, "{} {}", schema, once);
            }
        }
        Ok(full)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn the_verdict_is_the_full_checks(g in body(), (i, near) in near_valid()) {
            for schema in ALL {
                agree(schema, &text(&g))?;
            }
            agree(ALL[i], &text(&near))?;
        }
    }

    #[test]
    fn the_verdict_clears_valid_bodies_and_reads_a_repeated_key_as_its_last() {
        let chat = r#"{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],
            "temperature":0.5,"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}"#;
        assert!(agree("openai.chat.completions", chat).unwrap());
        // Valid only because the second `temperature` replaces the first, and the other way round.
        let twice =
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":9,"temperature":1}"#;
        assert!(agree("openai.chat.completions", twice).unwrap());
        let twice =
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1,"temperature":9}"#;
        assert!(!agree("openai.chat.completions", twice).unwrap());
        let role = r#"{"model":"m","messages":[{"role":"user","role":"bogus","content":"hi"}]}"#;
        assert!(!agree("openai.chat.completions", role).unwrap());
    }
}
