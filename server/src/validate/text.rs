//! A schema's verdict on a request's JSON text in one pass as it is read, building no tree: the
//! walk `typed.rs` runs on the members a request type skips, so a valid OpenAI body is read once,
//! straight into its typed request (issue 12's hot path).
//!
//! It is [`schema::accepts`](super::schema::accepts) read from text instead of a `Value`. It never
//! clears what `accepts` would refuse, but it leaves some bodies undecided, for the full path to
//! decide: a key that appears twice in an object (a `Value` keeps the last; here each is checked),
//! a union with two branches for the same kind of list or object, an `enum` of lists or objects.
//! On other bodies it equals `accepts` (property tests hold both). Nothing is rejected here.
//!
//! An `x-variants` object whose discriminating key (`role`, `type`) does not come first, as a
//! client that writes keys in sorted order sends it (`{"content": …, "role": "user"}`: Go's
//! `encoding/json` on maps, Python's `sort_keys`, serde_json's default `Map`), is read ahead to
//! that key (see [`read_ahead`]); the case is then known before any member is checked.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::schema::{Schema, TypeMask, member};

/// Whether `text` is one JSON document with no violation of `schema` (false also when it is not
/// JSON, or is one this walk leaves undecided). Text, not bytes: serde_json then checks no
/// string's UTF-8 again, which it does per string on bytes.
pub fn accepts_text(schema: &Schema, text: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    Node(schema).deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// Why the walk stopped: a violation, or a body it leaves to the full check.
pub(super) fn refused<E: de::Error>() -> E {
    E::custom("not cleared")
}

pub(super) fn verdict<E: de::Error>(ok: bool) -> Result<(), E> {
    if ok { Ok(()) } else { Err(refused()) }
}

/// One node of the walk: the value read next must satisfy this schema.
#[derive(Clone, Copy)]
pub(super) struct Node<'s>(pub(super) &'s Schema);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match &self.0.any_of {
            Some(branches) => d.deserialize_any(Union(branches)),
            None => d.deserialize_any(Walk(self.0)),
        }
    }
}

/// A scalar as read, so a union can try it against each branch.
#[derive(Clone, Copy)]
pub(super) enum Scalar<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(&'a str),
}

/// Whether a scalar satisfies `s` (a union when one of its branches does).
pub(super) fn scalar_fits(s: &Schema, x: Scalar<'_>) -> bool {
    if let Some(branches) = &s.any_of {
        return branches.iter().any(|b| scalar_fits(b, x));
    }
    let w = Walk(s);
    match x {
        Scalar::Null => w.visit_unit::<de::value::Error>(),
        Scalar::Bool(b) => w.visit_bool(b),
        Scalar::U64(n) => w.visit_u64(n),
        Scalar::I64(n) => w.visit_i64(n),
        Scalar::F64(f) => w.visit_f64(f),
        Scalar::Str(t) => w.visit_str(t),
    }
    .is_ok()
}

/// The only branch of a union admitting `kind`, if exactly one does and it is no union itself.
pub(super) fn only(branches: &[Schema], kind: TypeMask) -> Option<&Schema> {
    let mut admitting = branches.iter().filter(|b| b.any_of.is_some() || b.admits(kind));
    match (admitting.next(), admitting.next()) {
        (Some(b), None) if b.any_of.is_none() => Some(b),
        _ => None,
    }
}

/// `anyOf`: a scalar is tried against every branch; a list or an object is read against the one
/// branch that admits its kind (the others refuse it by type), or left undecided when several do.
struct Union<'s>(&'s [Schema]);

impl<'s> Union<'s> {
    fn scalar<E: de::Error>(&self, x: Scalar<'_>) -> Result<(), E> {
        verdict(self.0.iter().any(|b| scalar_fits(b, x)))
    }

    fn only(&self, kind: TypeMask) -> Option<Walk<'s>> {
        only(self.0, kind).map(Walk)
    }
}

impl<'de> Visitor<'de> for Union<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.scalar(Scalar::Bool(b))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.scalar(Scalar::U64(n))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.scalar(Scalar::I64(n))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<(), E> {
        self.scalar(Scalar::F64(x))
    }

    fn visit_str<E: de::Error>(self, t: &str) -> Result<(), E> {
        self.scalar(Scalar::Str(t))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.only(TypeMask::ARRAY).ok_or_else(refused)?.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.only(TypeMask::OBJECT).ok_or_else(refused)?.visit_map(map)
    }
}

/// The checks of a node without `anyOf` (that is [`Union`]'s), on one value.
#[derive(Clone, Copy)]
struct Walk<'s>(&'s Schema);

impl Walk<'_> {
    fn kind<E: de::Error>(&self, t: TypeMask) -> Result<(), E> {
        verdict(self.0.admits(t))
    }

    fn number<E: de::Error>(&self, t: TypeMask, x: f64, v: impl FnOnce() -> Value) -> Result<(), E> {
        self.kind(t)?;
        let s = self.0;
        verdict(!(s.minimum.is_some_and(|min| x < min) || s.maximum.is_some_and(|max| x > max)))?;
        self.allowed(v)
    }

    /// `enum`, for a scalar (`v` builds it only when the node has an `enum`).
    fn allowed<E: de::Error>(&self, v: impl FnOnce() -> Value) -> Result<(), E> {
        verdict(self.0.enum_.as_ref().is_none_or(|allowed| allowed.contains(&v())))
    }
}

/// The `required` members of one schema seen so far in an object, as bits.
struct Required<'s> {
    names: &'s [String],
    seen: u64,
}

impl<'s> Required<'s> {
    fn of<E: de::Error>(s: &'s Schema) -> Result<Self, E> {
        verdict(s.required.len() <= 64)?;
        Ok(Required {
            names: &s.required,
            seen: 0,
        })
    }

    fn saw(&mut self, k: &str) {
        if let Some(i) = self.names.iter().position(|r| r == k) {
            self.seen |= 1 << i;
        }
    }

    fn all(&self) -> bool {
        self.seen.count_ones() as usize == self.names.len()
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.kind(TypeMask::NULL)?;
        self.allowed(|| Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.kind(TypeMask::BOOLEAN)?;
        self.allowed(|| Value::Bool(b))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.number(TypeMask::INTEGER, n as f64, || Value::from(n))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.number(TypeMask::INTEGER, n as f64, || Value::from(n))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<(), E> {
        self.number(TypeMask::NUMBER, x, || Value::from(x))
    }

    fn visit_str<E: de::Error>(self, t: &str) -> Result<(), E> {
        self.kind(TypeMask::STRING)?;
        verdict(
            self.0
                .enum_
                .as_ref()
                .is_none_or(|allowed| allowed.iter().any(|a| a.as_str() == Some(t))),
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.kind(TypeMask::ARRAY)?;
        let s = self.0;
        // An `enum` of lists is left to the full check.
        verdict(s.enum_.is_none())?;
        let mut n = 0u64;
        match &s.items {
            Some(item) => {
                while seq.next_element_seed(Node(item))?.is_some() {
                    n += 1;
                }
            }
            None => {
                while seq.next_element_seed(Skip)?.is_some() {
                    n += 1;
                }
            }
        }
        verdict(s.min_items.is_none_or(|min| n >= min))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut object = Object::new(self.0)?;
        while let Some(Key(k)) = map.next_key()? {
            if let Some(by) = object.awaits_case(&k) {
                let ahead = read_ahead(&mut map, by)?;
                ahead.decide(&mut object)?;
                for (k, v) in std::iter::once((k, ahead.first)).chain(ahead.between) {
                    match object.key(&k)? {
                        Member::Case(_) => return Err(refused()),
                        Member::Value(Some(sub)) => reread(v, |d| Node(sub).deserialize(d))?,
                        Member::Value(None) => reread(v, |d| Skip.deserialize(d))?,
                    }
                }
                continue;
            }
            match object.key(&k)? {
                Member::Case(own) => {
                    // A key that is not text names no case; the full check words it.
                    let Text(name) = map.next_value()?;
                    object.named(&k, own, &name)?;
                }
                Member::Value(Some(sub)) => map.next_value_seed(Node(sub))?,
                Member::Value(None) => map.next_value_seed(Skip)?,
            }
        }
        object.end()
    }
}

/// An object being read against a node: which `required` members it has shown, and the
/// `x-variants` case its key named. The case applies to the whole object, so its key is read
/// first: where it comes first in the text, in the same pass; else ahead (see [`read_ahead`]).
pub(super) struct Object<'s> {
    node: &'s Schema,
    required: Required<'s>,
    case: Option<(&'s Schema, Required<'s>)>,
    first: bool,
}

/// What an object's member is to the walk.
pub(super) enum Member<'s> {
    /// The key naming the case: its value (checked against this schema, if any) is the case's name.
    Case(Option<&'s Schema>),
    /// A member checked against this schema, or not at all.
    Value(Option<&'s Schema>),
}

impl<'s> Object<'s> {
    /// Starts an object against `node`: one of its types must be `object`.
    pub(super) fn new<E: de::Error>(node: &'s Schema) -> Result<Self, E> {
        verdict(node.admits(TypeMask::OBJECT))?;
        // An `enum` of objects is left to the full check.
        verdict(node.enum_.is_none())?;
        Ok(Object {
            node,
            required: Required::of(node)?,
            case: None,
            first: true,
        })
    }

    /// The case key to read ahead to, when `k` is the object's first key and not its case key.
    pub(super) fn awaits_case(&self, k: &str) -> Option<&'s str> {
        let node: &'s Schema = self.node;
        let (by, _) = node.variants.as_ref()?;
        (self.first && self.case.is_none() && k != by).then_some(by.as_str())
    }

    /// The member named `k`.
    pub(super) fn key<E: de::Error>(&mut self, k: &str) -> Result<Member<'s>, E> {
        let first = std::mem::replace(&mut self.first, false);
        self.required.saw(k);
        if let Some((_, r)) = &mut self.case {
            r.saw(k);
        }
        let own = self.node.properties.as_ref().and_then(|p| member(p, k));
        if let Some((by, _)) = &self.node.variants
            && k == by
        {
            verdict(first)?;
            return Ok(Member::Case(own));
        }
        let theirs = self
            .case
            .as_ref()
            .and_then(|(c, _)| c.properties.as_ref()?.get(k));
        match (own, theirs) {
            (Some(_), Some(_)) => Err(refused()),
            (Some(sub), None) | (None, Some(sub)) => Ok(Member::Value(Some(sub))),
            (None, None) => Ok(Member::Value(None)),
        }
    }

    /// The case key `k`, whose value is `name`: checked against the key's own schema `own` (if
    /// any), then naming the case.
    pub(super) fn named<E: de::Error>(&mut self, k: &str, own: Option<&Schema>, name: &str) -> Result<(), E> {
        verdict(own.is_none_or(|sub| scalar_fits(sub, Scalar::Str(name))))?;
        self.case(k, name)
    }

    /// The case key `k` named `name` (its value, already checked).
    pub(super) fn case<E: de::Error>(&mut self, k: &str, name: &str) -> Result<(), E> {
        let Some(c) = self
            .node
            .variants
            .as_ref()
            .and_then(|(_, cases)| member(cases, name))
        else {
            return Ok(());
        };
        // A case is read as a plain object schema; any other is left undecided.
        let plain = c.any_of.is_none() && c.variants.is_none() && c.enum_.is_none();
        verdict(plain && c.admits(TypeMask::OBJECT))?;
        // The case may describe its own key too (`accepts` reads the whole object against it).
        let own = c.properties.as_ref().and_then(|p| member(p, k));
        verdict(own.is_none_or(|sub| scalar_fits(sub, Scalar::Str(name))))?;
        let mut r = Required::of(c)?;
        r.saw(k);
        self.case = Some((c, r));
        Ok(())
    }

    /// The object ended: every required member was there.
    pub(super) fn end<E: de::Error>(&self) -> Result<(), E> {
        verdict(self.required.all() && self.case.as_ref().is_none_or(|(_, r)| r.all()))
    }
}

/// Whether `k` is one of serde_json's own marker keys. A `Value` reads an object whose first key
/// is `$serde_json::private::RawValue` as the raw value of its member (the `raw_value` feature is
/// on in this build), so such an object is not the object the schema walk sees: undecided.
pub(super) fn plain_key<E: de::Error>(k: &str) -> Result<(), E> {
    verdict(!k.starts_with("$serde_json::private::"))
}

/// An object key, borrowed from the text unless it has escapes.
pub(super) struct Key<'de>(pub(super) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, k: &'de str) -> Result<Key<'de>, E> {
        plain_key(k)?;
        Ok(Key(Cow::Borrowed(k)))
    }

    fn visit_str<E: de::Error>(self, k: &str) -> Result<Key<'de>, E> {
        plain_key(k)?;
        Ok(Key(Cow::Owned(k.to_string())))
    }
}

/// A value that must be text (a case key's): anything else is an error, so the walk refuses.
pub(super) struct Text<'de>(pub(super) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text")
    }

    fn visit_borrowed_str<E: de::Error>(self, t: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(t)))
    }

    fn visit_str<E: de::Error>(self, t: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(t.to_string())))
    }
}

/// How deep a member read ahead may nest. Its text is read again on its own, where serde_json's
/// 128-level limit counts from the member, not from the body: at most 64 here, below an object
/// that itself sits fewer than 64 levels down (every schema's `x-variants` node does; a test
/// holds it), a body the walk clears is one a `Value` reads too.
const AHEAD_DEPTH: usize = 64;

/// An object's members read ahead to its case key: the first member's value, the members after
/// it, and the case key with its value, each as its text (borrowed, not copied).
pub(super) struct Ahead<'de> {
    pub(super) first: &'de RawValue,
    pub(super) between: Vec<(Cow<'de, str>, &'de RawValue)>,
    pub(super) case: (Cow<'de, str>, &'de RawValue),
}

/// Reads the value of the key just read, then each member up to the case key `by` and its value,
/// as text. Refused (undecided) when the object ends without the key, or a member nests deeper
/// than [`AHEAD_DEPTH`]. Only serde_json's own maps over borrowed text hand out raw values.
pub(super) fn read_ahead<'de, A: MapAccess<'de>>(map: &mut A, by: &str) -> Result<Ahead<'de>, A::Error> {
    let first = shallow(map.next_value()?)?;
    let mut between = Vec::new();
    while let Some(Key(k)) = map.next_key()? {
        let v = shallow(map.next_value()?)?;
        if k == by {
            return Ok(Ahead {
                first,
                between,
                case: (k, v),
            });
        }
        between.push((k, v));
    }
    Err(refused())
}

impl<'de> Ahead<'de> {
    /// Names the object's case from the case key's value, checked as [`Walk::visit_map`] checks
    /// it; the name, for the type to read.
    pub(super) fn decide<E: de::Error>(&self, object: &mut Object<'_>) -> Result<Cow<'de, str>, E> {
        let (k, v) = &self.case;
        let v: &'de RawValue = v;
        let Text(name) = reread(v, |d| <Text<'de> as de::Deserialize<'de>>::deserialize(d))?;
        let Member::Case(own) = object.key(k)? else {
            return Err(refused());
        };
        object.named(k, own, &name)?;
        Ok(name)
    }
}

fn shallow<E: de::Error>(v: &RawValue) -> Result<&RawValue, E> {
    verdict(nesting(v.get()) <= AHEAD_DEPTH)?;
    Ok(v)
}

/// The deepest nesting of arrays and objects in JSON `text` (strings skipped).
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_str, mut escaped) = (0usize, 0, false, false);
    for b in text.bytes() {
        match (in_str, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') => in_str = false,
            (true, _) => {}
            (false, b'"') => in_str = true,
            (false, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Reads a member's text read ahead, whole: the walk's verdict on it, or the type's value.
pub(super) fn reread<'de, T, E: de::Error>(
    v: &'de RawValue,
    read: impl FnOnce(&mut serde_json::Deserializer<serde_json::de::StrRead<'de>>) -> Result<T, serde_json::Error>,
) -> Result<T, E> {
    let mut de = serde_json::Deserializer::from_str(v.get());
    let t = read(&mut de).map_err(|_| refused())?;
    de.end().map_err(|_| refused())?;
    Ok(t)
}

/// A value nothing is checked in, read to its end as a `Value` would be read, keeping nothing:
/// serde_json's own skip (`IgnoredAny`) passes what a `Value` refuses (nesting past 128 levels, a
/// lone surrogate escape, a number beyond an f64), and a body must not pass here and fail there.
pub(super) struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema;
    use super::*;

    fn compiled(schema: Value) -> Schema {
        Schema::compile(&schema)
    }

    #[test]
    fn a_valid_body_is_cleared_and_a_violation_is_not() {
        let s = compiled(serde_json::json!({
            "type": "object", "required": ["a"],
            "properties": {"a": {"type": "integer", "minimum": 1}, "b": {"enum": ["x", 2]}}
        }));
        assert!(accepts_text(&s, r#"{"a": 3, "b": "x", "c": [1, {"d": null}]}"#));
        assert!(accepts_text(&s, r#"{"b": 2, "a": 1}"#));
        assert!(!accepts_text(&s, r#"{"a": 0}"#));
        assert!(!accepts_text(&s, r#"{"a": 1.5}"#));
        assert!(!accepts_text(&s, r#"{"b": "x"}"#));
        assert!(!accepts_text(&s, r#"{"a": 1, "b": "y"}"#));
        assert!(!accepts_text(&s, r#"{"a": 1} trailing"#));
        assert!(!accepts_text(&s, "{oops"));
    }

    #[test]
    fn a_repeated_key_is_checked_each_time_so_the_verdict_is_never_laxer() {
        let s = compiled(serde_json::json!({"properties": {"t": {"type": "number", "maximum": 2}}}));
        let twice = r#"{"t": 9, "t": 1}"#;
        // A `Value` keeps the last `t`, which is valid; the text walk refuses, and the full check
        // then decides.
        let value: Value = serde_json::from_str(twice).unwrap();
        assert!(schema::accepts(&s, &value));
        assert!(!accepts_text(&s, twice));
    }

    #[test]
    fn unions_and_cases_are_read_in_one_pass() {
        let s = compiled(serde_json::json!({
            "type": "object", "properties": {"kind": {"type": "string"}},
            "x-variants": {"by": "kind", "cases": {
                "n": {"required": ["v"], "properties": {"v": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
            }}
        }));
        assert!(accepts_text(&s, r#"{"kind": "n", "v": 1}"#));
        assert!(accepts_text(&s, r#"{"kind": "n", "v": null}"#));
        assert!(!accepts_text(&s, r#"{"kind": "n", "v": "1"}"#));
        assert!(!accepts_text(&s, r#"{"kind": "n"}"#));
        assert!(accepts_text(&s, r#"{"kind": "other", "v": "1"}"#));
        assert!(accepts_text(&s, r#"{"k\u0069nd": "n", "v": 2}"#));
        assert!(!accepts_text(&s, r#"{"kind": 5}"#));
        // The case's key after a member it governs: read ahead to, and the member checked
        // against the case it names.
        let late = r#"{"v": 1, "kind": "n"}"#;
        assert!(schema::accepts(&s, &serde_json::from_str(late).unwrap()));
        assert!(accepts_text(&s, late));
        for bad in [
            r#"{"v": "1", "kind": "n"}"#,
            r#"{"v": 1}"#,
            r#"{"v": 1, "kind": "n", "kind": "n"}"#,
        ] {
            assert!(!accepts_text(&s, bad), "{bad}");
        }
    }

    #[test]
    fn nesting_counts_arrays_and_objects_outside_strings() {
        assert_eq!(nesting("1"), 0);
        assert_eq!(nesting(r#"[{"a": [1]}, {}]"#), 3);
        assert_eq!(nesting(r#""[[[\"[""#), 0);
        assert_eq!(nesting(r#"{"k": "}}\"{{", "v": [[]]}"#), 3);
    }
}
