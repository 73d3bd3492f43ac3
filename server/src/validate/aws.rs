//! AWS request validation interpreted from botocore's service models (`server/data/botocore/`,
//! refreshed by `scripts/refresh-service-models.sh`; the version is in `VERSION` there): required
//! members, `min`/`max` lengths and ranges, enums, patterns and unions, in URI, header and JSON body
//! members, reported in AWS's words ("1 validation error detected: Value '5.0' at
//! 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or
//! equal to 1"; several are counted and joined with "; "). Nothing is hand-written per field.
//!
//! What the model cannot say is left to the wire: a value of the wrong JSON type is reported by the
//! typed decoder that follows (it names the field). Patterns must match the whole value, as AWS's
//! Java validation layer matches them (`Matcher.matches`: SageMaker rejects the endpoint name `a_b`
//! although `^[a-zA-Z0-9](-*[a-zA-Z0-9])*` finds a match in it); a Java pattern the regex crate
//! cannot compile is not checked, so it never rejects what the service would accept.

mod text;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Bedrock Runtime's model.
pub static BEDROCK_RUNTIME: LazyLock<ServiceModel> =
    LazyLock::new(|| ServiceModel::parse(include_str!("../../data/botocore/bedrock-runtime.json")));

/// SageMaker Runtime's model.
pub static SAGEMAKER_RUNTIME: LazyLock<ServiceModel> =
    LazyLock::new(|| ServiceModel::parse(include_str!("../../data/botocore/sagemaker-runtime.json")));

#[derive(Deserialize)]
struct RawModel {
    operations: HashMap<String, RawOperation>,
    shapes: HashMap<String, RawShape>,
}

#[derive(Deserialize)]
struct RawOperation {
    input: Option<RawRef>,
}

#[derive(Deserialize)]
struct RawRef {
    shape: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawShape {
    #[serde(rename = "type")]
    type_: String,
    #[serde(default)]
    members: HashMap<String, RawMember>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    union: bool,
    #[serde(default)]
    document: bool,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    enum_: Option<Vec<String>>,
    member: Option<RawRef>,
    value: Option<RawRef>,
    #[serde(default)]
    eventstream: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMember {
    shape: String,
    location: Option<String>,
    location_name: Option<String>,
}

/// A service model reduced to what validation reads.
pub struct ServiceModel {
    inputs: FxHashMap<String, String>,
    /// Shape indices by name, with the Fx hash: every value the full check visits looks its shape
    /// up here (SipHash of the name was a measurable share of a Converse request: issue 12).
    index: FxHashMap<String, usize>,
    /// The shapes; members and items also hold their shape's index, so the verdict walk looks no
    /// name up.
    list: Vec<Shape>,
}

struct Shape {
    kind: Kind,
    members: Vec<Member>,
    /// `members` by their name in the body, for the verdict walk ([`ServiceModel::fits_shape`]), which
    /// visits a request's few keys instead of looking each of the shape's members up.
    by_key: FxHashMap<String, usize>,
    /// The indices of the required members.
    required: Vec<usize>,
    union: bool,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<Pattern>,
    enum_: Option<Vec<String>>,
    item: Option<String>,
    /// `item`'s index in the model.
    item_target: Option<usize>,
}

/// A member's `pattern`, with the verdicts on the texts it has seen: the same few model ids come
/// on every request, and Bedrock's model-id pattern takes about a thousand instructions to run
/// (issue 12's hot path).
struct Pattern {
    /// As the model writes it (the message quotes it).
    source: String,
    regex: Regex,
    /// Texts of up to [`Pattern::KEPT_LEN`] bytes and whether they matched; emptied when it holds
    /// [`Pattern::KEPT`] of them, so a client sending ever new values cannot grow it.
    seen: Mutex<FxHashMap<Box<str>, bool>>,
}

impl Pattern {
    const KEPT: usize = 256;
    const KEPT_LEN: usize = 256;

    fn matches(&self, text: &str) -> bool {
        if text.len() > Self::KEPT_LEN {
            return self.regex.is_match(text);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&m) = seen.get(text) {
            return m;
        }
        let m = self.regex.is_match(text);
        if seen.len() >= Self::KEPT {
            seen.clear();
        }
        seen.insert(text.into(), m);
        m
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Structure,
    List,
    Map,
    String,
    Integer,
    Float,
    Other,
}

struct Member {
    /// Its name as AWS's messages spell it (lower camel case).
    name: String,
    /// Whether the model lists it as required (decided on the model's own spelling of the name).
    required: bool,
    shape: String,
    /// `shape`'s index in the model.
    target: Option<usize>,
    /// Where the member travels: `None` in the JSON body, else `uri`, `header`, `querystring`, …
    location: Option<String>,
    /// Its name there (the URI label or header name).
    location_name: String,
}

/// Where one request's members are.
pub struct Request<'a> {
    /// URI labels (`modelId`) and query-string parameters (`maxResults`) with their decoded values.
    pub uri: &'a [(&'a str, &'a str)],
    /// Request headers.
    pub headers: &'a http::HeaderMap,
    /// The JSON body, when the operation's body is JSON members (not a blob payload).
    pub body: Option<&'a Value>,
}

/// The text of a URI label, query parameter or header member `m` in `req`.
fn text_at<'v>(m: &Member, req: &Request<'v>) -> Option<&'v str> {
    match m.location.as_deref() {
        Some("header") => req
            .headers
            .get(m.location_name.as_str())
            .and_then(|v| v.to_str().ok()),
        _ => req
            .uri
            .iter()
            .find(|(k, _)| *k == m.location_name)
            .map(|(_, v)| *v),
    }
}

/// Where a request carries a member: a value (or none) at its location, or a location the
/// check does not read (a blob payload).
enum Located<'v> {
    Elsewhere,
    Value(Option<Cow<'v, Value>>),
}

impl ServiceModel {
    fn parse(json: &str) -> Self {
        // The model ships inside the binary and is checked by a test: a broken file is a build bug.
        let raw: RawModel = serde_json::from_str(json).expect("a valid botocore service model");
        let (names, mut list): (Vec<String>, Vec<Shape>) = raw
            .shapes
            .into_iter()
            .map(|(name, s)| (name, Shape::from_raw(s)))
            .unzip();
        let index: FxHashMap<String, usize> = names.into_iter().enumerate().map(|(i, n)| (n, i)).collect();
        for s in &mut list {
            for m in &mut s.members {
                m.target = index.get(&m.shape).copied();
            }
            s.item_target = s.item.as_ref().and_then(|n| index.get(n).copied());
        }
        let inputs = raw
            .operations
            .into_iter()
            .filter_map(|(op, o)| o.input.map(|i| (op, i.shape)))
            .collect();
        ServiceModel { inputs, index, list }
    }

    /// The shape named `name`.
    fn shape(&self, name: &str) -> Option<&Shape> {
        self.index.get(name).map(|&i| &self.list[i])
    }

    /// [`ServiceModel::fits_shape`] by the shape's index (`None`: a shape the model lacks, unchecked).
    fn fits_at(&self, target: Option<usize>, v: &Value) -> bool {
        target.is_none_or(|i| self.fits_shape(&self.list[i], v))
    }

    /// Validates a request to `operation`; `Err` holds AWS's message for every violation found.
    pub fn validate(&self, operation: &str, req: &Request<'_>) -> Result<(), String> {
        let Some(input) = self.inputs.get(operation).and_then(|n| self.shape(n)) else {
            return Ok(());
        };
        // A valid request (nearly every one) is cleared by the verdict walk, which builds no
        // message and visits the body's keys, not every member of every shape (issue 12).
        if self.request_fits(input, req) {
            return Ok(());
        }
        let out = self.violations(input, req);
        match out.len() {
            0 => Ok(()),
            n => Err(format!(
                "{n} validation error{} detected: {}",
                if n == 1 { "" } else { "s" },
                out.join("; ")
            )),
        }
    }

    /// Where a request carries input member `m`, and its value there.
    fn located<'v>(&self, m: &Member, req: &Request<'v>) -> Located<'v> {
        Located::Value(match m.location.as_deref() {
            Some("uri" | "querystring" | "header") => {
                text_at(m, req).map(|v| Cow::Owned(self.typed_text(&m.shape, v)))
            }
            Some(_) => return Located::Elsewhere,
            // Body members are borrowed: a clone of `messages` per request was most of the cost.
            None => match req.body {
                Some(Value::Object(body)) => body.get(&m.location_name).map(Cow::Borrowed),
                _ => return Located::Elsewhere,
            },
        })
    }

    /// Every violation in a request to `input`, in AWS's words and order.
    fn violations(&self, input: &Shape, req: &Request<'_>) -> Vec<String> {
        let mut out = Vec::new();
        for m in &input.members {
            let value = match self.located(m, req) {
                Located::Elsewhere => continue,
                Located::Value(v) => v,
            };
            match value.as_deref() {
                Some(Value::Null) | None if m.required => {
                    out.push(format!(
                        "Value null at '{}' failed to satisfy constraint: Member must not be null",
                        m.name
                    ));
                }
                Some(v) if !v.is_null() => self.check(&m.shape, v, &Path::Root(&m.name), &mut out),
                _ => {}
            }
        }
        out
    }

    /// The verdict on a whole request: what `validate`'s member loop finds nothing in. The body
    /// is walked by its own keys; URI and header members are checked as text (no `Value` made).
    fn request_fits(&self, input: &Shape, req: &Request<'_>) -> bool {
        let body = match req.body {
            Some(Value::Object(b)) => Some(b),
            _ => None,
        };
        let located = input.members.iter().all(|m| {
            let text = match m.location.as_deref() {
                Some("uri" | "querystring" | "header") => text_at(m, req),
                Some(_) => return true,
                // A body member: its presence here, its value in the walk below.
                None => {
                    return !m.required
                        || body.is_none_or(|b| b.get(&m.location_name).is_some_and(|v| !v.is_null()));
                }
            };
            match text {
                None => !m.required,
                Some(t) => self.text_fits(&m.shape, t),
            }
        });
        located
            && body.is_none_or(|b| {
                b.iter().all(|(k, v)| {
                    v.is_null()
                        || input.by_key.get(k).is_none_or(|&i| {
                            let m = &input.members[i];
                            m.location.is_some() || self.fits_at(m.target, v)
                        })
                })
            })
    }

    /// [`ServiceModel::fits_shape`] for the value `typed_text` makes of a URI or header text.
    fn text_fits(&self, shape: &str, text: &str) -> bool {
        match self.shape(shape) {
            // Text that is no integer stays a string, which an integer shape does not check.
            Some(s) if s.kind == Kind::Integer => match text.parse::<i64>() {
                Ok(n) => self.fits_shape(s, &Value::from(n)),
                Err(_) => true,
            },
            Some(s) if s.kind == Kind::String => s.string_fits(text),
            _ => true,
        }
    }

    /// [`ServiceModel::fits_shape`] by the shape's name (the property tests').
    #[cfg(test)]
    fn fits(&self, shape: &str, v: &Value) -> bool {
        self.shape(shape).is_none_or(|s| self.fits_shape(s, v))
    }

    /// Whether `v` breaks no constraint of shape `s`: [`ServiceModel::check`] finding nothing,
    /// decided without a message or a path. Follows `check` rule for rule; a property test holds
    /// the two equal.
    fn fits_shape(&self, s: &Shape, v: &Value) -> bool {
        match (s.kind, v) {
            (Kind::Structure, Value::Object(obj)) => {
                if s.union {
                    let set = obj
                        .iter()
                        .filter(|(k, v)| s.by_key.contains_key(*k) && !v.is_null())
                        .count();
                    if set > 1 || (set == 0 && obj.is_empty()) {
                        return false;
                    }
                }
                s.required
                    .iter()
                    .all(|&i| obj.get(&s.members[i].location_name).is_some_and(|v| !v.is_null()))
                    && obj.iter().all(|(k, v)| {
                        v.is_null()
                            || s.by_key
                                .get(k)
                                .is_none_or(|&i| self.fits_at(s.members[i].target, v))
                    })
            }
            (Kind::List, Value::Array(items)) => {
                s.length_fits(items.len())
                    && items
                        .iter()
                        .all(|i| i.is_null() || self.fits_at(s.item_target, i))
            }
            (Kind::Map, Value::Object(obj)) => {
                s.length_fits(obj.len()) && obj.values().all(|i| self.fits_at(s.item_target, i))
            }
            (Kind::String, Value::String(text)) => s.string_fits(text),
            (Kind::Integer | Kind::Float, Value::Number(n)) => n.as_f64().is_none_or(|x| s.range_fits(x)),
            _ => true,
        }
    }

    /// Checks a value a fixture supplies for one of the model's shapes (a response member such as
    /// `GuardrailAssessment`): the constraints a request gets, plus wrongly typed values and members
    /// the shape does not have, which a fixture author would otherwise never hear about.
    pub fn check_shape(&self, shape: &str, v: &Value, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.check(shape, v, &Path::Root(path), &mut out);
        self.check_members(shape, v, path, &mut out);
        out
    }

    /// The type and member-name half of [`ServiceModel::check_shape`].
    fn check_members(&self, shape: &str, v: &Value, path: &str, out: &mut Vec<String>) {
        let Some(s) = self.shape(shape) else { return };
        let wrong = |want: &str, out: &mut Vec<String>| out.push(format!("Value at '{path}' must be {want}"));
        match (s.kind, v) {
            (Kind::Structure, Value::Object(obj)) => {
                for (k, item) in obj {
                    match s.members.iter().find(|m| m.location_name == *k) {
                        Some(m) => self.check_members(&m.shape, item, &format!("{path}.{k}"), out),
                        None => out.push(format!("'{path}' has no member '{k}'")),
                    }
                }
            }
            (Kind::List, Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(member) = &s.item {
                        self.check_members(member, item, &format!("{path}[{i}]"), out);
                    }
                }
            }
            (Kind::Map, Value::Object(obj)) => {
                for (k, item) in obj {
                    if let Some(value) = &s.item {
                        self.check_members(value, item, &format!("{path}.{k}"), out);
                    }
                }
            }
            (Kind::Structure | Kind::Map, _) => wrong("an object", out),
            (Kind::List, _) => wrong("a list", out),
            (Kind::String, v) if !v.is_string() => wrong("a string", out),
            (Kind::Integer, v) if !(v.is_i64() || v.is_u64()) => wrong("an integer", out),
            (Kind::Float, v) if !v.is_number() => wrong("a number", out),
            _ => {}
        }
    }

    /// A URI label's, query parameter's or header's text as the JSON value its shape holds: a number for an
    /// integer shape when it reads as one (else the text, which the typed decoder then names).
    fn typed_text(&self, shape: &str, text: &str) -> Value {
        match self.shape(shape).map(|s| s.kind) {
            Some(Kind::Integer) => text
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(text.into())),
            _ => Value::String(text.into()),
        }
    }

    fn check(&self, shape: &str, v: &Value, path: &Path<'_>, out: &mut Vec<String>) {
        let Some(s) = self.shape(shape) else { return };
        match (s.kind, v) {
            (Kind::Structure, Value::Object(obj)) => self.check_structure(s, obj, path, out),
            (Kind::List, Value::Array(items)) => {
                s.check_length(items.len(), || summary(v), path, out);
                for (i, item) in items.iter().enumerate() {
                    if let Some(member) = &s.item
                        && !item.is_null()
                    {
                        self.check(member, item, &Path::Item(path, i + 1), out);
                    }
                }
            }
            (Kind::Map, Value::Object(obj)) => {
                s.check_length(obj.len(), || summary(v), path, out);
                for (k, item) in obj {
                    if let Some(value) = &s.item {
                        self.check(value, item, &Path::Member(path, k), out);
                    }
                }
            }
            (Kind::String, Value::String(text)) => s.check_string(text, path, out),
            (Kind::Integer | Kind::Float, Value::Number(n)) => {
                if let Some(x) = n.as_f64() {
                    let shown = || {
                        if s.kind == Kind::Float {
                            java_float(x)
                        } else {
                            n.to_string()
                        }
                    };
                    s.check_range(x, shown, path, out);
                }
            }
            // A wrongly typed value: the typed decoder that follows names it.
            _ => {}
        }
    }

    fn check_structure(&self, s: &Shape, obj: &Map<String, Value>, path: &Path<'_>, out: &mut Vec<String>) {
        if s.union {
            let set = s
                .members
                .iter()
                .filter(|m| obj.get(&m.location_name).is_some_and(|v| !v.is_null()))
                .count();
            // Unknown members are a newer client's: only known ones count (none at all is an error).
            if set > 1 || (set == 0 && obj.is_empty()) {
                out.push(format!(
                    "Value at '{path}' failed to satisfy constraint: Member must have exactly one member set, found {set}"
                ));
            }
        }
        for m in &s.members {
            let child = Path::Member(path, &m.name);
            match obj.get(&m.location_name) {
                Some(Value::Null) | None if m.required => out.push(format!(
                    "Value null at '{child}' failed to satisfy constraint: Member must not be null"
                )),
                Some(v) if !v.is_null() => self.check(&m.shape, v, &child, out),
                _ => {}
            }
        }
    }
}

impl Shape {
    fn from_raw(s: RawShape) -> Self {
        let kind = match s.type_.as_str() {
            "structure" if s.document || s.eventstream => Kind::Other,
            "structure" => Kind::Structure,
            "list" => Kind::List,
            "map" => Kind::Map,
            "string" => Kind::String,
            "integer" | "long" => Kind::Integer,
            "float" | "double" => Kind::Float,
            _ => Kind::Other,
        };
        let pattern = s.pattern.and_then(|p| {
            // A Java pattern the regex crate cannot compile is not checked (never a false rejection).
            Regex::new(&format!("^(?:{p})$")).ok().map(|regex| Pattern {
                source: p,
                regex,
                seen: Mutex::default(),
            })
        });
        let members: Vec<Member> = {
            let mut members: Vec<_> = s.members.into_iter().collect();
            // Reported in a stable order: by member name.
            members.sort_by(|a, b| a.0.cmp(&b.0));
            members
        }
        .into_iter()
        .map(|(name, m)| Member {
            location_name: m.location_name.unwrap_or_else(|| name.clone()),
            required: s.required.contains(&name),
            name: lower_first(&name),
            shape: m.shape,
            target: None,
            location: m.location,
        })
        .collect();
        Shape {
            kind,
            by_key: members
                .iter()
                .enumerate()
                .map(|(i, m)| (m.location_name.clone(), i))
                .collect(),
            required: (0..members.len()).filter(|&i| members[i].required).collect(),
            members,
            union: s.union,
            min: s.min,
            max: s.max,
            pattern,
            enum_: s.enum_,
            item: s.member.or(s.value).map(|r| r.shape),
            item_target: None,
        }
    }

    /// [`Shape::check_string`] finding nothing.
    fn string_fits(&self, text: &str) -> bool {
        self.length_fits(text.chars().count())
            && self
                .enum_
                .as_ref()
                .is_none_or(|values| values.iter().any(|v| v == text))
            && self.pattern.as_ref().is_none_or(|p| p.matches(text))
    }

    /// [`Shape::check_length`] finding nothing.
    fn length_fits(&self, len: usize) -> bool {
        self.range_fits(len as f64)
    }

    /// [`Shape::check_range`] finding nothing (lengths share the bounds: `min`/`max`).
    fn range_fits(&self, x: f64) -> bool {
        self.min.is_none_or(|min| x >= min) && self.max.is_none_or(|max| x <= max)
    }

    fn check_length(&self, len: usize, shown: impl Fn() -> String, path: &Path<'_>, out: &mut Vec<String>) {
        let len = len as f64;
        if let Some(min) = self.min
            && len < min
        {
            out.push(format!(
                "Value '{}' at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {}",
                shown(),
                min as i64
            ));
        }
        if let Some(max) = self.max
            && len > max
        {
            out.push(format!(
                "Value '{}' at '{path}' failed to satisfy constraint: Member must have length less than or equal to {}",
                shown(),
                max as i64
            ));
        }
    }

    fn check_string(&self, text: &str, path: &Path<'_>, out: &mut Vec<String>) {
        self.check_length(text.chars().count(), || text.to_string(), path, out);
        if let Some(values) = &self.enum_
            && !values.iter().any(|v| v == text)
        {
            out.push(format!(
                "Value '{text}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                values.join(", ")
            ));
        }
        if let Some(p) = &self.pattern
            && !p.matches(text)
        {
            out.push(format!(
                "Value '{text}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {}",
                p.source
            ));
        }
    }

    fn check_range(&self, x: f64, shown: impl Fn() -> String, path: &Path<'_>, out: &mut Vec<String>) {
        if let Some(min) = self.min
            && x < min
        {
            out.push(format!(
                "Value '{}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {}",
                shown(),
                number(min)
            ));
        }
        if let Some(max) = self.max
            && x > max
        {
            out.push(format!(
                "Value '{}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {}",
                shown(),
                number(max)
            ));
        }
    }
}

/// Member names as AWS's messages spell them: lower camel case (`EndpointName` -> `endpointName`).
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// A bound as the model writes it (`1`, `0.5`).
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// A float as Java prints it, which is what AWS's messages show (`5.0`, `0.25`).
fn java_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e7 {
        format!("{x:.1}")
    } else {
        x.to_string()
    }
}

/// Where a value is, as AWS's messages spell it (`messages.1.member.content`), written only into a
/// violation: formatting every member's path as the walk passed it was most of a request's
/// validation cost (issue 12's hot path).
#[derive(Clone, Copy)]
enum Path<'a> {
    /// A top-level member.
    Root(&'a str),
    /// A structure's member or a map's key: `parent.name`.
    Member(&'a Path<'a>, &'a str),
    /// A list's element, counted from 1: `parent.n.member`.
    Item(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Member(parent, name) => write!(f, "{parent}.{name}"),
            Path::Item(parent, n) => write!(f, "{parent}.{n}.member"),
        }
    }
}

/// A list or map in a message: its JSON, cut short.
fn summary(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn converse(body: Value) -> Result<(), String> {
        let headers = http::HeaderMap::new();
        BEDROCK_RUNTIME.validate(
            "Converse",
            &Request {
                uri: &[("modelId", "anthropic.claude-3-haiku-20240307-v1:0")],
                headers: &headers,
                body: Some(&body),
            },
        )
    }

    #[test]
    fn a_fixture_value_is_checked_against_a_shape_with_its_member_names_and_types() {
        let ok = json!({"topicPolicy": {"topics": [{"name": "Finance", "type": "DENY", "action": "BLOCKED", "detected": true}]}});
        assert!(
            BEDROCK_RUNTIME
                .check_shape("GuardrailAssessment", &ok, "a")
                .is_empty()
        );
        let bad = json!({"topicPolicy": {"topics": [{"name": 5, "type": "ALLOW", "action": "BLOCKED"}]}, "wordPolicies": {}});
        let out = BEDROCK_RUNTIME.check_shape("GuardrailAssessment", &bad, "a");
        assert!(
            out.iter()
                .any(|m| m.contains("'a.topicPolicy.topics.1.member.type'") && m.contains("enum value set")),
            "{out:?}"
        );
        assert!(
            out.contains(&"Value at 'a.topicPolicy.topics[0].name' must be a string".to_string()),
            "{out:?}"
        );
        assert!(
            out.contains(&"'a' has no member 'wordPolicies'".to_string()),
            "{out:?}"
        );
    }

    #[test]
    fn both_service_models_load_with_their_operations() {
        assert!(BEDROCK_RUNTIME.inputs.contains_key("ConverseStream"));
        assert!(BEDROCK_RUNTIME.inputs.contains_key("CountTokens"));
        assert!(SAGEMAKER_RUNTIME.inputs.contains_key("InvokeEndpointAsync"));
    }

    #[test]
    fn a_valid_converse_request_passes() {
        converse(json!({
            "messages": [{"role": "user", "content": [{"text": "hi"}, {"cachePoint": {"type": "default"}}]}],
            "inferenceConfig": {"temperature": 0.5, "maxTokens": 100},
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]},
        }))
        .unwrap();
    }

    #[test]
    fn ranges_are_reported_in_aws_words() {
        let e = converse(json!({"messages": [], "inferenceConfig": {"temperature": 5}})).unwrap_err();
        assert_eq!(
            e,
            "1 validation error detected: Value '5.0' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"
        );
    }

    #[test]
    fn several_violations_are_counted_and_joined() {
        let e = converse(json!({
            "messages": [{"role": "robot", "content": [{"text": "hi"}]}, {"content": []}],
            "inferenceConfig": {"topP": -1, "maxTokens": 0},
        }))
        .unwrap_err();
        assert!(e.starts_with("4 validation errors detected: "), "{e}");
        assert!(e.contains("Value 'robot' at 'messages.1.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant, system]"), "{e}");
        assert!(
            e.contains(
                "Value null at 'messages.2.member.role' failed to satisfy constraint: Member must not be null"
            ),
            "{e}"
        );
        assert!(e.contains("Value '-1.0' at 'inferenceConfig.topP' failed to satisfy constraint: Member must have value greater than or equal to 0"), "{e}");
        assert!(e.contains("Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"), "{e}");
        assert!(e.contains("; "), "{e}");
    }

    #[test]
    fn a_union_with_two_members_is_rejected_and_unknown_members_are_tolerated() {
        let e = converse(json!({"messages": [{"role": "user", "content": [{"text": "a", "toolUse": {"toolUseId": "t", "name": "n", "input": {}}}]}]})).unwrap_err();
        assert!(e.contains("at 'messages.1.member.content.1.member'"), "{e}");
        converse(json!({"messages": [{"role": "user", "content": [{"text": "a", "futureMember": {}}]}]}))
            .unwrap();
    }

    #[test]
    fn required_members_spelled_in_pascal_case_are_still_required() {
        let headers = http::HeaderMap::new();
        let e = SAGEMAKER_RUNTIME
            .validate(
                "InvokeEndpointAsync",
                &Request {
                    uri: &[],
                    headers: &headers,
                    body: None,
                },
            )
            .unwrap_err();
        assert!(
            e.contains("Value null at 'endpointName' failed to satisfy constraint: Member must not be null"),
            "{e}"
        );
    }

    #[test]
    fn uri_and_header_members_are_checked() {
        let headers = http::HeaderMap::new();
        let long = "x".repeat(2049);
        let e = BEDROCK_RUNTIME
            .validate(
                "InvokeModel",
                &Request {
                    uri: &[("modelId", &long)],
                    headers: &headers,
                    body: None,
                },
            )
            .unwrap_err();
        assert!(e.contains("at 'modelId' failed to satisfy constraint: Member must have length less than or equal to 2048"), "{e}");
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amzn-bedrock-trace", http::HeaderValue::from_static("LOUD"));
        let e = BEDROCK_RUNTIME
            .validate(
                "InvokeModel",
                &Request {
                    uri: &[("modelId", "m.x")],
                    headers: &headers,
                    body: None,
                },
            )
            .unwrap_err();
        assert!(
            e.contains(
                "Value 'LOUD' at 'trace' failed to satisfy constraint: Member must satisfy enum value set"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_pattern_keeps_its_verdicts_and_stays_bounded() {
        let p = Pattern {
            source: "[a-z]+".into(),
            regex: Regex::new("^(?:[a-z]+)$").unwrap(),
            seen: Mutex::default(),
        };
        for _ in 0..2 {
            assert!(p.matches("abc"));
            assert!(!p.matches("ab1"));
        }
        for i in 0..1000 {
            assert!(!p.matches(&format!("x{i}")));
            assert!(p.seen.lock().unwrap().len() <= Pattern::KEPT);
        }
        let long = "a".repeat(Pattern::KEPT_LEN + 1);
        assert!(p.matches(&long));
        assert!(!p.seen.lock().unwrap().contains_key(long.as_str()));
    }

    #[test]
    fn member_names_are_unique_within_each_shape() {
        for model in [&*BEDROCK_RUNTIME, &*SAGEMAKER_RUNTIME] {
            for (name, &i) in &model.index {
                let shape = &model.list[i];
                assert_eq!(shape.by_key.len(), shape.members.len(), "{name}");
            }
        }
    }

    /// Member names and enum values of the Bedrock model, so generated values hit its shapes.
    fn vocabulary() -> (Vec<String>, Vec<String>) {
        let mut keys: Vec<String> = BEDROCK_RUNTIME
            .list
            .iter()
            .flat_map(|s| s.members.iter().map(|m| m.location_name.clone()))
            .collect();
        let mut words: Vec<String> = BEDROCK_RUNTIME
            .list
            .iter()
            .flat_map(|s| s.enum_.iter().flatten().cloned())
            .chain(["x".to_string(), String::new(), "é".repeat(300)])
            .collect();
        for v in [&mut keys, &mut words] {
            v.sort();
            v.dedup();
        }
        (keys, words)
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let (keys, words) = vocabulary();
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            proptest::sample::select(vec![0.0, 1.0, -1.0, 0.5, 2.0, 1e5, 1e10]).prop_map(|x| json!(x)),
            proptest::sample::select(vec![0i64, 1, -1, 3, 4096, 1 << 40]).prop_map(Value::from),
            proptest::sample::select(words).prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((proptest::sample::select(keys.clone()), inner), 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A valid Converse body with up to three members set to generated values.
    fn near_converse() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let places = [
            "/messages/0/content/0",
            "/messages/0",
            "/inferenceConfig",
            "/toolConfig/tools/0",
            "",
        ];
        (proptest::collection::vec(
            (
                proptest::sample::select(places.to_vec()),
                proptest::sample::select(vocabulary().0),
                value(),
            ),
            1..4,
        ),)
            .prop_map(|(edits,)| {
                // `modelId` travels in the URI, but the shape walked here requires it.
                let mut body = json!({
                    "modelId": "m",
                    "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                    "inferenceConfig": {"temperature": 0.5, "maxTokens": 100},
                    "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {}}}}]},
                });
                for (at, key, v) in edits {
                    if let Some(Value::Object(o)) = body.pointer_mut(at) {
                        o.insert(key, v);
                    }
                }
                body
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1500))]

        #[test]
        fn the_verdict_is_the_full_checks(v in value(), body in near_converse()) {
            let shapes = ["ConverseRequest", "Message", "ContentBlock", "InferenceConfiguration",
                "ToolConfiguration", "ApplyGuardrailRequest", "GuardrailConfiguration", "CountTokensRequest"];
            for shape in shapes {
                let mut out = Vec::new();
                BEDROCK_RUNTIME.check(shape, &v, &Path::Root("x"), &mut out);
                proptest::prop_assert_eq!(BEDROCK_RUNTIME.fits(shape, &v), out.is_empty(), "{} {}", shape, v);
            }
            // The whole request's verdict against its full check, body and URI alike.
            let headers = http::HeaderMap::new();
            for (op, model_id) in [("Converse", "m"), ("Converse", ""), ("CountTokens", "m"), ("ApplyGuardrail", "g")] {
                let input = BEDROCK_RUNTIME.shape(&BEDROCK_RUNTIME.inputs[op]).unwrap();
                for b in [&body, &v] {
                    let req = Request { uri: &[("modelId", model_id), ("guardrailIdentifier", model_id),
                        ("guardrailVersion", "1")], headers: &headers, body: Some(b) };
                    let fits = BEDROCK_RUNTIME.request_fits(input, &req);
                    proptest::prop_assert_eq!(fits, BEDROCK_RUNTIME.violations(input, &req).is_empty(), "{} {}", op, b);
                    // Read from the text, the verdict is the same on an object body (no key twice
                    // in a `Value`'s text), and never laxer on any other.
                    let from_text = BEDROCK_RUNTIME.request_fits_text(op, req.uri, &headers, &b.to_string());
                    if b.is_object() {
                        proptest::prop_assert_eq!(from_text, fits, "{} {}", op, b);
                    } else {
                        proptest::prop_assert!(!from_text, "{} {}", op, b);
                    }
                }
            }
            let mut out = Vec::new();
            BEDROCK_RUNTIME.check("ConverseRequest", &body, &Path::Root("x"), &mut out);
            proptest::prop_assert_eq!(BEDROCK_RUNTIME.fits("ConverseRequest", &body), out.is_empty(), "{}", body);
        }
    }
}
