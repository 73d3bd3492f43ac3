//! A small JSON Schema interpreter for request bodies: it finds the violations and leaves the words
//! to each service (Bedrock's validator, OpenAI's `Invalid 'x'`, Anthropic's pydantic lines).
//!
//! Keywords: `type` (one or a list), `minimum`, `maximum`, `enum`, `required`, `properties`,
//! `items`, `minItems`, `anyOf` (valid if one branch is; otherwise the branch whose `type` fits
//! speaks), and `x-variants` `{"by": key, "cases": {value: schema}}` for unions discriminated by a
//! key (OpenAI's messages by `role`, content parts by `type`), which JSON Schema spells as a
//! `oneOf` of `const`s whose errors would name every branch. No recursion beyond the schema's own
//! depth: a deeply nested body costs no more than the schema.

use serde_json::Value;

/// One step of a path into the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// What is wrong at a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The value's JSON type is none of `expected` (schema type names; a union's array branch as
    /// `array:<item type>`).
    Type {
        /// The schema's type names, in the schema's order.
        expected: Vec<String>,
    },
    /// Below `minimum`.
    Minimum(f64),
    /// Above `maximum`.
    Maximum(f64),
    /// Not one of `enum`.
    Enum(Vec<Value>),
    /// The object lacks this required key (the path is the object's).
    Required(String),
    /// An array shorter than `minItems`.
    MinItems(u64),
}

/// A violation: where, what, and the offending value.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Path from the document root.
    pub path: Vec<Seg>,
    /// What is wrong.
    pub kind: Kind,
    /// The value found there (the object itself for [`Kind::Required`]).
    pub value: Value,
    /// The schema there asks for an integer (OpenAI words a range error as `integer` or `decimal`
    /// by the parameter's type, not the value's).
    pub integer: bool,
}

/// Every violation of `schema` in `v`, in document order.
pub fn check(schema: &Value, v: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    walk(schema, v, &mut Vec::new(), &mut out);
    out
}

/// The JSON type names of a schema's `type`.
fn types(schema: &Value) -> Types<'_> {
    match schema.get("type") {
        Some(Value::String(t)) => Types::One(t),
        Some(Value::Array(ts)) => Types::Many(ts),
        _ => Types::Many(&[]),
    }
}

/// A schema's `type` list, borrowed: walking a request visits every node, and a `Vec` per node
/// was a measurable share of a request's cost (issue 12).
#[derive(Clone, Copy)]
enum Types<'a> {
    One(&'a str),
    Many(&'a [Value]),
}

impl<'a> Types<'a> {
    fn iter(self) -> impl Iterator<Item = &'a str> {
        let (one, many) = match self {
            Types::One(t) => (Some(t), &[][..]),
            Types::Many(ts) => (None, ts),
        };
        one.into_iter().chain(many.iter().filter_map(Value::as_str))
    }

    fn is_empty(self) -> bool {
        self.iter().next().is_none()
    }

    fn fit(self, v: &Value) -> bool {
        self.iter().any(|t| fits(t, v))
    }
}

/// Whether `v` is of schema type `ty`.
pub fn fits(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "null" => v.is_null(),
        // An integer beyond 64 bits parses as a float here; `integer` rejects it.
        "integer" => v.is_i64() || v.is_u64(),
        _ => true,
    }
}

/// The keywords of one schema node, read in one pass over its few keys: looking each of ten
/// keywords up by name was most of the walk's cost on every request (issue 12's hot path).
#[derive(Default)]
struct Keywords<'a> {
    any_of: Option<&'a [Value]>,
    types: Option<Types<'a>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    enum_: Option<&'a Vec<Value>>,
    min_items: Option<u64>,
    required: Option<&'a [Value]>,
    properties: Option<&'a serde_json::Map<String, Value>>,
    variants: Option<&'a Value>,
    items: Option<&'a Value>,
}

impl<'a> Keywords<'a> {
    fn of(schema: &'a Value) -> Self {
        let mut k = Keywords::default();
        let Value::Object(node) = schema else {
            return k;
        };
        for (name, value) in node {
            match (name.as_str(), value) {
                ("anyOf", Value::Array(b)) => k.any_of = Some(b),
                ("type", Value::String(t)) => k.types = Some(Types::One(t)),
                ("type", Value::Array(ts)) => k.types = Some(Types::Many(ts)),
                ("minimum", x) => k.minimum = x.as_f64(),
                ("maximum", x) => k.maximum = x.as_f64(),
                ("enum", Value::Array(allowed)) => k.enum_ = Some(allowed),
                ("minItems", x) => k.min_items = x.as_u64(),
                ("required", Value::Array(r)) => k.required = Some(r),
                ("properties", Value::Object(p)) => k.properties = Some(p),
                ("x-variants", x) => k.variants = Some(x),
                ("items", x) => k.items = Some(x),
                _ => {}
            }
        }
        k
    }
}

fn walk(schema: &Value, v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Violation>) {
    let kw = Keywords::of(schema);
    if let Some(branches) = kw.any_of {
        any_of(branches, v, path, out);
        return;
    }
    let ts = kw.types.unwrap_or(Types::Many(&[]));
    let integer = ts.iter().any(|t| t == "integer");
    let mut push = |path: &Vec<Seg>, kind| {
        out.push(Violation {
            path: path.clone(),
            kind,
            value: v.clone(),
            integer,
        })
    };
    if !ts.is_empty() && !ts.fit(v) {
        push(
            path,
            Kind::Type {
                expected: ts.iter().map(|t| t.to_string()).collect(),
            },
        );
        return;
    }
    if let (Some(min), Some(x)) = (kw.minimum, v.as_f64())
        && x < min
    {
        push(path, Kind::Minimum(min));
    }
    if let (Some(max), Some(x)) = (kw.maximum, v.as_f64())
        && x > max
    {
        push(path, Kind::Maximum(max));
    }
    if let Some(allowed) = kw.enum_
        && !allowed.contains(v)
    {
        push(path, Kind::Enum(allowed.clone()));
    }
    if let (Value::Array(items), Some(min)) = (v, kw.min_items)
        && (items.len() as u64) < min
    {
        push(path, Kind::MinItems(min));
    }
    if let Value::Object(obj) = v {
        for key in kw.required.into_iter().flatten() {
            if let Some(k) = key.as_str()
                && !obj.contains_key(k)
            {
                push(path, Kind::Required(k.to_string()));
            }
        }
        if let Some(props) = kw.properties {
            // The request's few keys looked up among the schema's many (not the other way round);
            // both maps iterate in key order, so violations come out in the same order.
            for (k, child) in obj {
                if let Some(sub) = props.get(k) {
                    path.push(Seg::Key(k.clone()));
                    walk(sub, child, path, out);
                    path.pop();
                }
            }
        }
        if let Some(variants) = kw.variants
            && let (Some(by), Some(Value::Object(cases))) =
                (variants.get("by").and_then(Value::as_str), variants.get("cases"))
            && let Some(case) = obj.get(by).and_then(Value::as_str).and_then(|t| cases.get(t))
        {
            walk(case, v, path, out);
        }
    }
    if let (Value::Array(items), Some(item)) = (v, kw.items) {
        for (i, child) in items.iter().enumerate() {
            path.push(Seg::Index(i));
            walk(item, child, path, out);
            path.pop();
        }
    }
}

/// `anyOf`: nothing if a branch accepts `v`; else the violations of the first branch whose type
/// fits (a list of wrong parts is reported inside the list), else one type violation naming every
/// branch's types.
fn any_of(branches: &[Value], v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Violation>) {
    let mut fitting = None;
    for b in branches {
        let mut found = Vec::new();
        walk(b, v, path, &mut found);
        if found.is_empty() {
            return;
        }
        let ts = types(b);
        if fitting.is_none() && (ts.is_empty() || ts.fit(v)) {
            fitting = Some(found);
        }
    }
    match fitting {
        Some(found) => out.extend(found),
        None => out.push(Violation {
            path: path.clone(),
            kind: Kind::Type {
                expected: branches.iter().flat_map(branch_types).collect(),
            },
            value: v.clone(),
            integer: false,
        }),
    }
}

/// A branch's types, an array's with its items' type (`array:string`): OpenAI names a union's
/// array branch by what it holds ("one of a string or array of objects").
fn branch_types(b: &Value) -> Vec<String> {
    let item = b
        .get("items")
        .and_then(|i| types(i).iter().next().map(|t| t.to_string()));
    types(b)
        .iter()
        .map(|t| match (t, &item) {
            ("array", Some(i)) => format!("array:{i}"),
            _ => t.to_string(),
        })
        .collect()
}

/// `a.b[0].c`: OpenAI's spelling of a path (its `param`).
pub fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// `#/a/0/c` style segments joined by `sep` (`/` for Bedrock's validator, `.` for pydantic's).
pub fn joined(path: &[Seg], sep: &str) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(sep)
}

/// A limit as the services print it (`2`, not `2.0`).
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e18 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_carry_their_path_and_value() {
        let schema = json!({"type": "object", "required": ["m"], "properties": {
            "t": {"type": ["number", "null"], "maximum": 2},
            "l": {"type": "array", "minItems": 1, "items": {"type": "object",
                "properties": {"r": {"enum": ["a", "b"]}}}}}});
        assert!(check(&schema, &json!({"m": 1, "t": null})).is_empty());
        let v = check(&schema, &json!({"t": 5, "l": [{"r": "c"}]}));
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].kind, Kind::Required("m".into()));
        // Members in the schema's (sorted) key order.
        assert_eq!(dotted(&v[1].path), "l[0].r");
        assert_eq!(joined(&v[1].path, "."), "l.0.r");
        assert_eq!(v[1].value, json!("c"));
        assert_eq!(
            (dotted(&v[2].path), &v[2].kind),
            ("t".into(), &Kind::Maximum(2.0))
        );
    }

    #[test]
    fn any_of_reports_the_fitting_branch_or_every_type() {
        let schema = json!({"anyOf": [{"type": "string", "enum": ["auto", "none"]},
            {"type": "object", "required": ["type"]}]});
        assert!(check(&schema, &json!("auto")).is_empty());
        assert!(matches!(check(&schema, &json!("x"))[0].kind, Kind::Enum(_)));
        assert_eq!(check(&schema, &json!({}))[0].kind, Kind::Required("type".into()));
        assert_eq!(
            check(&schema, &json!(5))[0].kind,
            Kind::Type {
                expected: vec!["string".into(), "object".into()]
            }
        );
    }

    #[test]
    fn variants_apply_the_case_their_key_names() {
        let schema = json!({"type": "object", "x-variants": {"by": "role",
            "cases": {"tool": {"required": ["tool_call_id"]}}}});
        assert!(check(&schema, &json!({"role": "user"})).is_empty());
        assert_eq!(
            check(&schema, &json!({"role": "tool"}))[0].kind,
            Kind::Required("tool_call_id".into())
        );
    }

    #[test]
    fn an_integer_beyond_64_bits_is_no_integer() {
        let big: Value = serde_json::from_str("18446744073709551616").unwrap();
        assert!(!fits("integer", &big));
        assert!(fits("integer", &json!(u64::MAX)));
    }
}
