//! A small JSON Schema interpreter for request bodies: it finds the violations and leaves the words
//! to each service (Bedrock's validator, OpenAI's `Invalid 'x'`, Anthropic's pydantic lines).
//!
//! Keywords: `type` (one or a list), `minimum`, `maximum`, `enum`, `required`, `properties`,
//! `items`, `minItems`, `anyOf` (valid if one branch is; otherwise the branch whose `type` fits
//! speaks), and `x-variants` `{"by": key, "cases": {value: schema}}` for unions discriminated by a
//! key (OpenAI's messages by `role`, content parts by `type`), which JSON Schema spells as a
//! `oneOf` of `const`s whose errors would name every branch. No recursion beyond the schema's own
//! depth: a deeply nested body costs no more than the schema.

use rustc_hash::FxHashMap;
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

/// A schema read once into typed keywords (at start, by `compile`): a request's walk then never
/// matches keyword names nor parses `type` lists, which was most of its cost on every request
/// (issue 12's hot path).
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// `anyOf`: when present, the node's other keywords are not read.
    pub(super) any_of: Option<Vec<Schema>>,
    /// `type`'s names in the schema's order (empty: any type).
    types: Vec<String>,
    /// `types` as a set of [`TypeMask`] bits (every bit for an unknown name).
    mask: TypeMask,
    /// The node asks for an integer.
    integer: bool,
    /// This node's types as a union branch names them (`array:string`; see `branch_types`).
    branch_types: Vec<String>,
    pub(super) minimum: Option<f64>,
    pub(super) maximum: Option<f64>,
    pub(super) enum_: Option<Vec<Value>>,
    pub(super) min_items: Option<u64>,
    pub(super) required: Vec<String>,
    /// `properties`, hashed by name (a `BTreeMap` scans each node's keys; a binary search over
    /// the chat root's properties is six string compares per key).
    pub(super) properties: Option<Members>,
    /// `x-variants`: the discriminating key and the schema of each of its values.
    pub(super) variants: Option<(String, Members)>,
    pub(super) items: Option<Box<Schema>>,
}

/// Named schemas by name, with the Fx hash (a few instructions for a short key).
type Members = FxHashMap<String, Schema>;

/// An object's members compiled.
fn members(m: &serde_json::Map<String, Value>) -> Members {
    m.iter().map(|(k, s)| (k.clone(), Schema::compile(s))).collect()
}

/// The schema named `k` among `m`.
pub(super) fn member<'s>(m: &'s Members, k: &str) -> Option<&'s Schema> {
    m.get(k)
}

/// JSON types as bits, so a node's `type` list is checked with one `&`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct TypeMask(u8);

impl TypeMask {
    const ANY: TypeMask = TypeMask(u8::MAX);
    /// The bits of each kind of JSON value (an integer within 64 bits is also a number).
    pub(super) const NULL: TypeMask = TypeMask(1);
    pub(super) const BOOLEAN: TypeMask = TypeMask(2);
    pub(super) const INTEGER: TypeMask = TypeMask(4 | 8);
    pub(super) const NUMBER: TypeMask = TypeMask(8);
    pub(super) const STRING: TypeMask = TypeMask(16);
    pub(super) const ARRAY: TypeMask = TypeMask(32);
    pub(super) const OBJECT: TypeMask = TypeMask(64);

    /// The bit of schema type `ty`; every bit for a name JSON Schema does not have (it accepts
    /// anything, as `fits` does).
    fn of_name(ty: &str) -> TypeMask {
        TypeMask(match ty {
            "null" => 1,
            "boolean" => 2,
            "integer" => 4,
            "number" => 8,
            "string" => 16,
            "array" => 32,
            "object" => 64,
            _ => u8::MAX,
        })
    }

    /// The bits `v` satisfies: an integer is also a number; an integer beyond 64 bits parses as a
    /// float and is only a number.
    fn of_value(v: &Value) -> TypeMask {
        match v {
            Value::Null => Self::NULL,
            Value::Bool(_) => Self::BOOLEAN,
            Value::Number(n) if n.is_i64() || n.is_u64() => Self::INTEGER,
            Value::Number(_) => Self::NUMBER,
            Value::String(_) => Self::STRING,
            Value::Array(_) => Self::ARRAY,
            Value::Object(_) => Self::OBJECT,
        }
    }
}

impl Schema {
    /// Reads a JSON Schema node and everything below it.
    pub fn compile(schema: &Value) -> Schema {
        let mut s = Schema {
            mask: TypeMask::ANY,
            ..Schema::default()
        };
        let Value::Object(node) = schema else {
            return s;
        };
        for (name, value) in node {
            match (name.as_str(), value) {
                ("anyOf", Value::Array(b)) => s.any_of = Some(b.iter().map(Schema::compile).collect()),
                ("type", Value::String(t)) => s.types = vec![t.clone()],
                ("type", Value::Array(ts)) => {
                    s.types = ts.iter().filter_map(Value::as_str).map(str::to_string).collect()
                }
                ("minimum", x) => s.minimum = x.as_f64(),
                ("maximum", x) => s.maximum = x.as_f64(),
                ("enum", Value::Array(allowed)) => s.enum_ = Some(allowed.clone()),
                ("minItems", x) => s.min_items = x.as_u64(),
                ("required", Value::Array(r)) => {
                    s.required = r.iter().filter_map(Value::as_str).map(str::to_string).collect()
                }
                ("properties", Value::Object(p)) => s.properties = Some(members(p)),
                ("x-variants", x) => {
                    if let (Some(by), Some(Value::Object(cases))) =
                        (x.get("by").and_then(Value::as_str), x.get("cases"))
                    {
                        let cases = members(cases);
                        s.variants = Some((by.to_string(), cases));
                    }
                }
                ("items", x) => s.items = Some(Box::new(Schema::compile(x))),
                _ => {}
            }
        }
        s.mask = if s.types.is_empty() {
            TypeMask::ANY
        } else {
            TypeMask(s.types.iter().fold(0, |m, t| m | TypeMask::of_name(t).0))
        };
        s.integer = s.types.iter().any(|t| t == "integer");
        let item = s.items.as_ref().and_then(|i| i.types.first().cloned());
        s.branch_types = s
            .types
            .iter()
            .map(|t| match (t.as_str(), &item) {
                ("array", Some(i)) => format!("array:{i}"),
                _ => t.clone(),
            })
            .collect();
        s
    }

    /// Whether `v` is of one of this node's types (any, when it names none).
    fn fits(&self, v: &Value) -> bool {
        self.admits(TypeMask::of_value(v))
    }

    /// Whether a value of kind `t` is of one of this node's types.
    pub(super) fn admits(&self, t: TypeMask) -> bool {
        self.mask.0 & t.0 != 0
    }
}

/// A step of the path the walk is at, borrowed from the body: it becomes a [`Seg`] only in a
/// violation (a `String` per member visited was a measurable share of a valid request).
#[derive(Clone, Copy)]
enum At<'v> {
    Key(&'v str),
    Index(usize),
}

fn owned(path: &[At<'_>]) -> Vec<Seg> {
    path.iter()
        .map(|a| match *a {
            At::Key(k) => Seg::Key(k.to_string()),
            At::Index(i) => Seg::Index(i),
        })
        .collect()
}

/// Every violation of `schema` in `v`, in document order.
pub fn check(schema: &Schema, v: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    walk(schema, v, &mut Vec::new(), &mut out);
    out
}

/// Whether `v` is of schema type `ty`.
pub fn fits(ty: &str, v: &Value) -> bool {
    TypeMask::of_name(ty).0 & TypeMask::of_value(v).0 != 0
}

fn walk<'v>(schema: &Schema, v: &'v Value, path: &mut Vec<At<'v>>, out: &mut Vec<Violation>) {
    if let Some(branches) = &schema.any_of {
        any_of(branches, v, path, out);
        return;
    }
    let integer = schema.integer;
    let mut push = |path: &Vec<At<'v>>, kind| {
        out.push(Violation {
            path: owned(path),
            kind,
            value: v.clone(),
            integer,
        })
    };
    if !schema.fits(v) {
        push(
            path,
            Kind::Type {
                expected: schema.types.clone(),
            },
        );
        return;
    }
    if let (Some(min), Some(x)) = (schema.minimum, v.as_f64())
        && x < min
    {
        push(path, Kind::Minimum(min));
    }
    if let (Some(max), Some(x)) = (schema.maximum, v.as_f64())
        && x > max
    {
        push(path, Kind::Maximum(max));
    }
    if let Some(allowed) = &schema.enum_
        && !allowed.contains(v)
    {
        push(path, Kind::Enum(allowed.clone()));
    }
    if let (Value::Array(items), Some(min)) = (v, schema.min_items)
        && (items.len() as u64) < min
    {
        push(path, Kind::MinItems(min));
    }
    if let Value::Object(obj) = v {
        for k in &schema.required {
            if !obj.contains_key(k) {
                push(path, Kind::Required(k.clone()));
            }
        }
        if let Some(props) = &schema.properties {
            // The request's few keys looked up among the schema's many (not the other way round);
            // both maps iterate in key order, so violations come out in the same order.
            for (k, child) in obj {
                if let Some(sub) = member(props, k) {
                    path.push(At::Key(k));
                    walk(sub, child, path, out);
                    path.pop();
                }
            }
        }
        if let Some((by, cases)) = &schema.variants
            && let Some(case) = obj.get(by).and_then(Value::as_str).and_then(|t| member(cases, t))
        {
            walk(case, v, path, out);
        }
    }
    if let (Value::Array(items), Some(item)) = (v, &schema.items) {
        for (i, child) in items.iter().enumerate() {
            path.push(At::Index(i));
            walk(item, child, path, out);
            path.pop();
        }
    }
}

/// Whether `v` has no violation of `schema`: `check(schema, v).is_empty()`, decided without
/// building a violation or a path (a valid request's walk: issue 12). Follows `walk` rule for
/// rule; a property test holds the two equal.
pub fn accepts(schema: &Schema, v: &Value) -> bool {
    if let Some(branches) = &schema.any_of {
        return branches.iter().any(|b| accepts(b, v));
    }
    if !schema.fits(v) {
        return false;
    }
    if let Some(x) = v.as_f64()
        && (schema.minimum.is_some_and(|min| x < min) || schema.maximum.is_some_and(|max| x > max))
    {
        return false;
    }
    if let Some(allowed) = &schema.enum_
        && !allowed.contains(v)
    {
        return false;
    }
    match v {
        Value::Array(items) => {
            schema.min_items.is_none_or(|min| items.len() as u64 >= min)
                && schema
                    .items
                    .as_ref()
                    .is_none_or(|item| items.iter().all(|i| accepts(item, i)))
        }
        Value::Object(obj) => {
            schema.required.iter().all(|k| obj.contains_key(k))
                && schema.properties.as_ref().is_none_or(|props| {
                    obj.iter()
                        .all(|(k, child)| member(props, k).is_none_or(|sub| accepts(sub, child)))
                })
                && schema.variants.as_ref().is_none_or(|(by, cases)| {
                    obj.get(by)
                        .and_then(Value::as_str)
                        .and_then(|t| member(cases, t))
                        .is_none_or(|case| accepts(case, v))
                })
        }
        _ => true,
    }
}

/// `anyOf`: nothing if a branch accepts `v`; else the violations of the first branch whose type
/// fits (a list of wrong parts is reported inside the list), else one type violation naming every
/// branch's types (an array branch with its items' type, `array:string`: OpenAI names a union's
/// array branch by what it holds, "one of a string or array of objects").
fn any_of<'v>(branches: &[Schema], v: &'v Value, path: &mut Vec<At<'v>>, out: &mut Vec<Violation>) {
    let mut fitting = None;
    for b in branches {
        let mut found = Vec::new();
        walk(b, v, path, &mut found);
        if found.is_empty() {
            return;
        }
        if fitting.is_none() && b.fits(v) {
            fitting = Some(found);
        }
    }
    match fitting {
        Some(found) => out.extend(found),
        None => out.push(Violation {
            path: owned(path),
            kind: Kind::Type {
                expected: branches
                    .iter()
                    .flat_map(|b| b.branch_types.iter().cloned())
                    .collect(),
            },
            value: v.clone(),
            integer: false,
        }),
    }
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
        assert!(check(&Schema::compile(&schema), &json!({"m": 1, "t": null})).is_empty());
        let v = check(&Schema::compile(&schema), &json!({"t": 5, "l": [{"r": "c"}]}));
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
        assert!(check(&Schema::compile(&schema), &json!("auto")).is_empty());
        assert!(matches!(
            check(&Schema::compile(&schema), &json!("x"))[0].kind,
            Kind::Enum(_)
        ));
        assert_eq!(
            check(&Schema::compile(&schema), &json!({}))[0].kind,
            Kind::Required("type".into())
        );
        assert_eq!(
            check(&Schema::compile(&schema), &json!(5))[0].kind,
            Kind::Type {
                expected: vec!["string".into(), "object".into()]
            }
        );
    }

    #[test]
    fn variants_apply_the_case_their_key_names() {
        let schema = json!({"type": "object", "x-variants": {"by": "role",
            "cases": {"tool": {"required": ["tool_call_id"]}}}});
        assert!(check(&Schema::compile(&schema), &json!({"role": "user"})).is_empty());
        assert_eq!(
            check(&Schema::compile(&schema), &json!({"role": "tool"}))[0].kind,
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
