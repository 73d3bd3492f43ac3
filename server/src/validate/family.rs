//! InvokeModel bodies checked against their model family's documented request schema
//! (`server/data/bedrock-model-bodies.json`: JSON Schema's `type`, `required`, `minimum`, `maximum`,
//! `items`, `enum`, `properties`), answered in Bedrock's words, which are its JSON Schema
//! validator's: `#/max_tokens: expected type: Integer, found: String`, `#/temperature: 5 is not
//! less or equal to 1`, `#: required key [max_tokens] not found`, several as `#: N schema
//! violations found`.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::schema::{self, Kind, Schema, Violation, joined, number};

static SCHEMAS: LazyLock<HashMap<String, Schema>> = LazyLock::new(|| {
    // Shipped inside the binary and loaded by a test: a broken file is a build bug.
    let all: Map<String, Value> =
        serde_json::from_str(include_str!("../../data/bedrock-model-bodies.json")).expect("valid JSON");
    all.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), Schema::compile(v)))
        .collect()
});

/// Checks `body` against the schema of `family` (`anthropic`, `nova`, `titan`, `llama`, `mistral`,
/// `cohere`; others are not checked). `Err` is Bedrock's whole message.
pub fn check(family: &str, body: &Value) -> Result<(), String> {
    let Some(schema) = SCHEMAS.get(family) else {
        return Ok(());
    };
    let mut out: Vec<String> = schema::check(schema, body).iter().map(worded).collect();
    let what = match out.len() {
        0 => return Ok(()),
        1 => out.remove(0),
        n => format!("#: {n} schema violations found"),
    };
    Err(format!(
        "Malformed input request: {what}, please reformat your input and try again."
    ))
}

/// One violation in the words of Bedrock's validator (Everit JSON Schema's).
fn worded(v: &Violation) -> String {
    let path = if v.path.is_empty() {
        "#".to_string()
    } else {
        format!("#/{}", joined(&v.path, "/"))
    };
    let value = &v.value;
    match &v.kind {
        Kind::Type { expected } => {
            let want: Vec<String> = expected.iter().map(|t| capitalized(t)).collect();
            format!(
                "{path}: expected type: {}, found: {}",
                want.join(" or "),
                type_name(value)
            )
        }
        Kind::Minimum(min) => format!("{path}: {value} is not greater or equal to {}", number(*min)),
        Kind::Maximum(max) => format!("{path}: {value} is not less or equal to {}", number(*max)),
        Kind::Enum(_) => format!("{path}: {value} is not a valid enum value"),
        Kind::Required(k) => format!("{path}: required key [{k}] not found"),
        Kind::MinItems(n) => format!(
            "{path}: expected minimum item count: {n}, found: {}",
            value.as_array().map_or(0, Vec::len)
        ),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "BigDecimal",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

fn capitalized(t: &str) -> String {
    match t {
        "object" => "JSONObject".into(),
        t if t.starts_with("array") => "JSONArray".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claude(extra: Value) -> Result<(), String> {
        let mut body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        check("anthropic", &body)
    }

    #[test]
    fn every_family_schema_loads() {
        for f in ["anthropic", "nova", "titan", "llama", "mistral", "cohere"] {
            assert!(SCHEMAS.contains_key(f), "{f}");
        }
        assert!(
            check("ai21", &json!({})).is_ok(),
            "unlisted families are not checked"
        );
    }

    #[test]
    fn the_probe_cases_are_rejected_in_bedrocks_words() {
        assert!(claude(json!({})).is_ok());
        assert_eq!(
            claude(json!({"max_tokens": "100"})).unwrap_err(),
            "Malformed input request: #/max_tokens: expected type: Integer, found: String, please reformat your input and try again."
        );
        assert!(
            claude(json!({"max_tokens": 18446744073709551616.0}))
                .unwrap_err()
                .contains("#/max_tokens: expected type: Integer")
        );
        assert!(
            claude(json!({"max_tokens": 0}))
                .unwrap_err()
                .contains("#/max_tokens: 0 is not greater or equal to 1")
        );
        assert!(
            claude(json!({"temperature": 5}))
                .unwrap_err()
                .contains("#/temperature: 5 is not less or equal to 1")
        );
        assert!(
            claude(json!({"temperature": 5, "top_p": 2}))
                .unwrap_err()
                .contains("#: 2 schema violations found")
        );
        assert!(
            claude(json!({"messages": [{"role": "robot", "content": "x"}]}))
                .unwrap_err()
                .contains("#/messages/0/role")
        );
        let e = check("anthropic", &json!({"anthropic_version": "v", "messages": []})).unwrap_err();
        assert!(e.contains("#: required key [max_tokens] not found"), "{e}");
    }

    #[test]
    fn nova_bodies_follow_messages_v1() {
        let ok = json!({"schemaVersion": "messages-v1", "system": [{"text": "brief"}],
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"max_new_tokens": 10, "temperature": 0.5, "top_p": 0.9, "top_k": 20}});
        assert!(check("nova", &ok).is_ok());
        let mut bad = ok.clone();
        bad["inferenceConfig"]["temperature"] = json!(5);
        assert!(
            check("nova", &bad)
                .unwrap_err()
                .contains("#/inferenceConfig/temperature: 5 is not less or equal to 1")
        );
        let mut bad = ok.clone();
        bad["messages"][0]["content"] = json!("hi");
        assert!(
            check("nova", &bad)
                .unwrap_err()
                .contains("#/messages/0/content: expected type: JSONArray, found: String")
        );
        let e = check("nova", &json!({})).unwrap_err();
        assert!(e.contains("#: required key [messages] not found"), "{e}");
    }
}
