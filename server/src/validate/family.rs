//! InvokeModel bodies checked against their model family's documented request schema
//! (`server/data/bedrock-model-bodies.json`: JSON Schema's `type`, `required`, `minimum`, `maximum`,
//! `items`, `enum`, `properties`), answered in Bedrock's words, which are its JSON Schema
//! validator's: `#/max_tokens: expected type: Integer, found: String`, `#/temperature: 5 is not
//! less or equal to 1`, `#: required key [max_tokens] not found`, several as `#: N schema
//! violations found`.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::{Map, Value};

static SCHEMAS: LazyLock<HashMap<String, Value>> = LazyLock::new(|| {
    // Shipped inside the binary and loaded by a test: a broken file is a build bug.
    let all: Map<String, Value> =
        serde_json::from_str(include_str!("../../data/bedrock-model-bodies.json")).expect("valid JSON");
    all.into_iter().filter(|(k, _)| !k.starts_with('$')).collect()
});

/// Checks `body` against the schema of `family` (`anthropic`, `titan`, `llama`, `mistral`,
/// `cohere`; others are not checked). `Err` is Bedrock's whole message.
pub fn check(family: &str, body: &Value) -> Result<(), String> {
    let Some(schema) = SCHEMAS.get(family) else {
        return Ok(());
    };
    let mut out = Vec::new();
    walk(schema, body, "#", &mut out);
    let what = match out.len() {
        0 => return Ok(()),
        1 => out.remove(0),
        n => format!("#: {n} schema violations found"),
    };
    Err(format!(
        "Malformed input request: {what}, please reformat your input and try again."
    ))
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

fn fits(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        // An integer beyond 64 bits parses as a float here and is no Integer to Bedrock either.
        "integer" => v.is_i64() || v.is_u64(),
        _ => true,
    }
}

fn walk(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| fits(t, v)) {
        let want: Vec<String> = types.iter().map(|t| capitalized(t)).collect();
        out.push(format!(
            "{path}: expected type: {}, found: {}",
            want.join(" or "),
            type_name(v)
        ));
        return;
    }
    if let (Some(min), Some(x)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64())
        && x < min
    {
        out.push(format!("{path}: {v} is not greater or equal to {}", number(min)));
    }
    if let (Some(max), Some(x)) = (schema.get("maximum").and_then(Value::as_f64), v.as_f64())
        && x > max
    {
        out.push(format!("{path}: {v} is not less or equal to {}", number(max)));
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(v)
    {
        out.push(format!("{path}: {v} is not a valid enum value"));
    }
    if let Value::Object(obj) = v {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = key.as_str()
                && !obj.contains_key(k)
            {
                out.push(format!("{path}: required key [{k}] not found"));
            }
        }
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (k, sub) in props {
                if let Some(child) = obj.get(k) {
                    walk(sub, child, &format!("{path}/{k}"), out);
                }
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (v, schema.get("items")) {
        for (i, child) in items.iter().enumerate() {
            walk(item, child, &format!("{path}/{i}"), out);
        }
    }
}

fn capitalized(t: &str) -> String {
    match t {
        "object" => "JSONObject".into(),
        "array" => "JSONArray".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
    }
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        x.to_string()
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
        for f in ["anthropic", "titan", "llama", "mistral", "cohere"] {
            assert!(SCHEMAS.contains_key(f), "{f}");
        }
        assert!(
            check("nova", &json!({})).is_ok(),
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
}
