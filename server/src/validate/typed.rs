//! A typed parse that checks a schema as it reads: the request type's own `Deserialize` drives
//! serde_json, and every value it reads passes the schema node it sits at on the way (members the
//! type skips are walked by the text verdict). One pass over a valid body both clears and reads
//! it (issue 12's hot path: a verdict pass then a typed pass read every body twice).
//!
//! It never clears what [`accepts_text`](super::text::accepts_text) would not; anything else (a
//! violation, a body the text verdict leaves undecided, a type error, a key the type sees twice)
//! is `None`, and the caller takes the full path, which decides and words the error. Property
//! tests hold the two paths' results equal.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::schema::{Schema, TypeMask};
use super::text::{
    Member, Node, Object, Scalar, Skip, only, plain_key, read_ahead, refused, reread, scalar_fits, verdict,
};

/// `T` read from `text` when the text is one JSON document that `schema` clears and `T` reads.
pub fn parse_checked<T: DeserializeOwned>(schema: &Schema, text: &str) -> Option<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let t = T::deserialize(Checked::new(&mut de, Some(schema), None)).ok()?;
    de.end().ok()?;
    Some(t)
}

/// `T` read from `text` with no schema, every value `T` skips still read as a `Value` would be
/// (see [`Skip`]): what `serde_json::from_str` returns exactly when the `Value` path reads it.
pub fn parse_strict<T: DeserializeOwned>(text: &str) -> Option<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let t = T::deserialize(Checked::new(&mut de, None, None)).ok()?;
    de.end().ok()?;
    Some(t)
}

/// Where the text of a case key's value goes (`role`, `type`), for the object to pick its case.
type Slot<'c, 'de> = Option<&'c mut Option<Cow<'de, str>>>;

/// A deserializer whose every value is checked against `node` (nothing when `None`).
struct Checked<'s, 'c, 'de, D> {
    de: D,
    node: Option<&'s Schema>,
    slot: Slot<'c, 'de>,
}

impl<'s, 'c, 'de, D> Checked<'s, 'c, 'de, D> {
    fn new(de: D, node: Option<&'s Schema>, slot: Slot<'c, 'de>) -> Self {
        Checked { de, node, slot }
    }

    fn guard<V>(node: Option<&'s Schema>, slot: Slot<'c, 'de>, inner: V) -> Guard<'s, 'c, 'de, V> {
        Guard { node, slot, inner }
    }
}

/// Forwards a `deserialize_*` method to serde_json with the visitor guarded.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.de.$method($($arg,)* Self::guard(self.node, self.slot, visitor))
        }
    )*};
}

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for Checked<'_, '_, 'de, D> {
    type Error = D::Error;

    forward! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    /// A member the type skips is still checked, by the text verdict, when the schema has it,
    /// and read to its end as a `Value` would be read when it has not (see [`Skip`]).
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        match self.node {
            // A case key the type skips (`type` of a chat tool): its text is still kept.
            _ if self.slot.is_some() => self
                .de
                .deserialize_any(Self::guard(self.node, self.slot, visitor)),
            Some(node) => {
                Node(node).deserialize(self.de)?;
                visitor.visit_unit()
            }
            None => {
                Skip.deserialize(self.de)?;
                visitor.visit_unit()
            }
        }
    }
}

/// A visitor that checks what serde_json hands it, then hands it on to the type's own visitor.
struct Guard<'s, 'c, 'de, V> {
    node: Option<&'s Schema>,
    slot: Slot<'c, 'de>,
    inner: V,
}

impl<'s, 'de, V> Guard<'s, '_, 'de, V> {
    fn scalar<E: de::Error>(&self, x: Scalar<'_>) -> Result<(), E> {
        verdict(self.node.is_none_or(|n| scalar_fits(n, x)))
    }

    /// Checks text `t`; a case key's is kept (`keep` copies it only then).
    fn text<E: de::Error>(&mut self, t: &str, keep: impl FnOnce() -> Cow<'de, str>) -> Result<(), E> {
        self.scalar(Scalar::Str(t))?;
        if let Some(slot) = self.slot.as_deref_mut() {
            *slot = Some(keep());
        }
        Ok(())
    }

    /// The schema a list or an object is read against: a union's one branch for its kind.
    fn compound<E: de::Error>(&self, kind: TypeMask) -> Result<Option<&'s Schema>, E> {
        // A case key's value must be text.
        verdict(self.slot.is_none())?;
        match self.node {
            Some(n) => match &n.any_of {
                Some(branches) => only(branches, kind).map(Some).ok_or_else(refused),
                None => Ok(Some(n)),
            },
            None => Ok(None),
        }
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Guard<'_, '_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<V::Value, E> {
        self.scalar(Scalar::Bool(b))?;
        self.inner.visit_bool(b)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<V::Value, E> {
        self.scalar(Scalar::I64(n))?;
        self.inner.visit_i64(n)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<V::Value, E> {
        self.scalar(Scalar::U64(n))?;
        self.inner.visit_u64(n)
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<V::Value, E> {
        self.scalar(Scalar::F64(x))?;
        self.inner.visit_f64(x)
    }

    fn visit_str<E: de::Error>(mut self, t: &str) -> Result<V::Value, E> {
        self.text(t, || Cow::Owned(t.to_string()))?;
        self.inner.visit_str(t)
    }

    fn visit_borrowed_str<E: de::Error>(mut self, t: &'de str) -> Result<V::Value, E> {
        self.text(t, || Cow::Borrowed(t))?;
        self.inner.visit_borrowed_str(t)
    }

    fn visit_string<E: de::Error>(mut self, t: String) -> Result<V::Value, E> {
        self.text(&t, || Cow::Owned(t.clone()))?;
        self.inner.visit_string(t)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.scalar(Scalar::Null)?;
        self.inner.visit_unit()
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.scalar(Scalar::Null)?;
        self.inner.visit_none()
    }

    fn visit_some<D2: de::Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        self.inner.visit_some(Checked::new(d, self.node, self.slot))
    }

    fn visit_newtype_struct<D2: de::Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        self.inner
            .visit_newtype_struct(Checked::new(d, self.node, self.slot))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let node = self.compound(TypeMask::ARRAY)?;
        if let Some(n) = node {
            verdict(n.admits(TypeMask::ARRAY) && n.enum_.is_none())?;
        }
        let mut count = 0u64;
        let items = node.and_then(|n| n.items.as_deref());
        let value = self.inner.visit_seq(Items {
            seq,
            item: items,
            count: &mut count,
        })?;
        verdict(node.and_then(|n| n.min_items).is_none_or(|min| count >= min))?;
        Ok(value)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let Some(node) = self.compound(TypeMask::OBJECT)? else {
            return self.inner.visit_map(Members::new(map, None));
        };
        let mut object = Object::new(node)?;
        let mut members = Members::new(map, Some(&mut object));
        let value = self.inner.visit_map(&mut members)?;
        // A type that stopped before the members read ahead were given to it left them unchecked.
        verdict(members.replay.len() == 0 && members.case.is_none() && members.raw.is_none())?;
        object.end()?;
        Ok(value)
    }

    /// An enum of the type's (a role): its variant's content read with nothing to check. Under a
    /// schema node it is undecided: no request schema here describes one.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        verdict(self.node.is_none() && self.slot.is_none())?;
        self.inner.visit_enum(Variants(data))
    }
}

/// An enum's variant, its content read as a `Value` would read it (see [`Skip`]).
struct Variants<A>(A);

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Variants<A> {
    type Error = A::Error;
    type Variant = Variants<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let (v, variant) = self.0.variant_seed(Seeded {
            seed,
            node: None,
            slot: None,
        })?;
        Ok((v, Variants(variant)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Variants<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.0.newtype_variant_seed(Seeded {
            seed,
            node: None,
            slot: None,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(
            len,
            Guard {
                node: None,
                slot: None,
                inner: visitor,
            },
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(
            fields,
            Guard {
                node: None,
                slot: None,
                inner: visitor,
            },
        )
    }
}

/// A list's elements, each checked against the node's `items`, counted for `minItems`.
struct Items<'s, 'n, A> {
    seq: A,
    item: Option<&'s Schema>,
    count: &'n mut u64,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Items<'_, '_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let got = self.seq.next_element_seed(Seeded {
            seed,
            node: self.item,
            slot: None,
        })?;
        *self.count += u64::from(got.is_some());
        Ok(got)
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

/// What the value after the key just read is checked against.
enum Next<'s, 'de> {
    Case(Option<&'s Schema>),
    Value(Option<&'s Schema>),
    /// The object's first key is not its case key: read ahead to it (see [`read_ahead`]).
    Ahead(&'s str),
    /// The case key read ahead: its value, already checked, is this name.
    Name(Cow<'de, str>),
}

/// Members read ahead to an object's case key, still to be given to the type: each key and its
/// text.
type Replay<'de> = std::vec::IntoIter<(Cow<'de, str>, &'de RawValue)>;

/// An object's members, each checked against the node's member of its name.
struct Members<'s, 'o, 'de, A> {
    map: A,
    object: Option<&'o mut Object<'s>>,
    next: Next<'s, 'de>,
    /// The key just read (its text, captured as the type reads it).
    key: Option<Cow<'de, str>>,
    /// Members read ahead, given to the type before the rest of the map.
    replay: Replay<'de>,
    /// The case key read ahead and the case it named, given to the type after `replay`.
    case: Option<(Cow<'de, str>, Cow<'de, str>)>,
    /// The text of the member just given from `replay`.
    raw: Option<&'de RawValue>,
}

impl<'s, 'o, 'de, A> Members<'s, 'o, 'de, A> {
    fn new(map: A, object: Option<&'o mut Object<'s>>) -> Self {
        Members {
            map,
            object,
            next: Next::Value(None),
            key: None,
            replay: Vec::new().into_iter(),
            case: None,
            raw: None,
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Members<'_, '_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        let Some(object) = self.object.as_deref_mut() else {
            return self.map.next_key_seed(seed);
        };
        if let Some((k, v)) = self.replay.next() {
            let got = text(&k, seed)?;
            let Member::Value(sub) = object.key(&k)? else {
                return Err(refused());
            };
            self.next = Next::Value(sub);
            self.raw = Some(v);
            return Ok(Some(got));
        }
        if let Some((k, name)) = self.case.take() {
            let got = text(&k, seed)?;
            self.next = Next::Name(name);
            return Ok(Some(got));
        }
        let got = self.map.next_key_seed(KeySeed {
            seed,
            key: &mut self.key,
        })?;
        if got.is_some() {
            let k = self.key.as_deref().ok_or_else(refused::<A::Error>)?;
            self.next = match object.awaits_case(k) {
                Some(by) => Next::Ahead(by),
                None => match object.key(k)? {
                    Member::Case(own) => Next::Case(own),
                    Member::Value(sub) => Next::Value(sub),
                },
            };
        }
        Ok(got)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let next = std::mem::replace(&mut self.next, Next::Value(None));
        if let Some(raw) = self.raw.take() {
            let Next::Value(node) = next else {
                return Err(refused());
            };
            return reread(raw, |d| seed.deserialize(Checked::new(d, node, None)));
        }
        match next {
            Next::Name(name) => text(&name, seed),
            Next::Ahead(by) => {
                let (Some(object), Some(k)) = (self.object.as_deref_mut(), self.key.as_deref()) else {
                    return Err(refused());
                };
                let ahead = read_ahead(&mut self.map, by)?;
                let name = ahead.decide(object)?;
                let Member::Value(node) = object.key(k)? else {
                    return Err(refused());
                };
                let value = reread(ahead.first, |d| seed.deserialize(Checked::new(d, node, None)))?;
                self.replay = ahead.between.into_iter();
                self.case = Some((ahead.case.0, name));
                Ok(value)
            }
            Next::Value(node) => self.map.next_value_seed(Seeded {
                seed,
                node,
                slot: None,
            }),
            Next::Case(own) => {
                let mut name = None;
                let value = self.map.next_value_seed(Seeded {
                    seed,
                    node: own,
                    slot: Some(&mut name),
                })?;
                let (Some(object), Some(k), Some(name)) =
                    (self.object.as_deref_mut(), self.key.as_deref(), name)
                else {
                    return Err(refused());
                };
                object.case(k, &name)?;
                Ok(value)
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Text already read (a key, a case's name), given to the type as serde_json gives it: borrowed
/// from the body where it had no escapes.
fn text<'de, T: DeserializeSeed<'de>, E: de::Error>(t: &Cow<'de, str>, seed: T) -> Result<T::Value, E> {
    match t {
        Cow::Borrowed(b) => seed.deserialize(BorrowedStrDeserializer::new(b)),
        Cow::Owned(o) => seed.deserialize(StrDeserializer::new(o)),
    }
}

/// A type's seed for a value, with the value's deserializer checked.
struct Seeded<'s, 'c, 'de, T> {
    seed: T,
    node: Option<&'s Schema>,
    slot: Slot<'c, 'de>,
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Seeded<'_, '_, 'de, T> {
    type Value = T::Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.seed.deserialize(Checked::new(d, self.node, self.slot))
    }
}

/// A type's seed for a key, with the key's text kept for the schema lookup.
struct KeySeed<'k, 'de, K> {
    seed: K,
    key: &'k mut Option<Cow<'de, str>>,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, 'de, K> {
    type Value = K::Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        self.seed.deserialize(KeyText { de: d, key: self.key })
    }
}

/// A key's deserializer: serde_json reads every key as text, whatever the type asks for, so each
/// request is served by `deserialize_any` with the text kept on the way.
struct KeyText<'k, 'de, D> {
    de: D,
    key: &'k mut Option<Cow<'de, str>>,
}

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for KeyText<'_, 'de, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(KeyVisitor {
            key: self.key,
            inner: visitor,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct KeyVisitor<'k, 'de, V> {
    key: &'k mut Option<Cow<'de, str>>,
    inner: V,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_borrowed_str<E: de::Error>(self, k: &'de str) -> Result<V::Value, E> {
        plain_key(k)?;
        *self.key = Some(Cow::Borrowed(k));
        self.inner.visit_borrowed_str(k)
    }

    fn visit_str<E: de::Error>(self, k: &str) -> Result<V::Value, E> {
        plain_key(k)?;
        *self.key = Some(Cow::Owned(k.to_string()));
        self.inner.visit_str(k)
    }

    fn visit_string<E: de::Error>(self, k: String) -> Result<V::Value, E> {
        plain_key(&k)?;
        *self.key = Some(Cow::Owned(k.clone()));
        self.inner.visit_string(k)
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::accepts_text;
    use super::*;
    use serde_json::{Value, json};

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Req {
        a: u64,
        #[serde(default)]
        parts: Vec<Value>,
    }

    fn compiled() -> Schema {
        Schema::compile(&json!({
            "type": "object", "required": ["a"],
            "properties": {
                "a": {"type": "integer", "minimum": 1},
                "skipped": {"type": "string"},
                "parts": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["type"],
                    "properties": {"type": {"enum": ["t", "n"]}},
                    "x-variants": {"by": "type", "cases": {
                        "t": {"required": ["text"], "properties": {"text": {"type": "string"}}},
                        "n": {"properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
                    }}
                }}
            }
        }))
    }

    #[test]
    fn a_valid_body_is_read_and_every_violation_is_refused() {
        let s = compiled();
        let ok =
            r#"{"a": 2, "skipped": "x", "parts": [{"type": "t", "text": "hi"}, {"type": "n", "n": null}]}"#;
        let req: Req = parse_checked(&s, ok).unwrap();
        assert_eq!(req.a, 2);
        assert_eq!(req.parts.len(), 2);
        for bad in [
            r#"{"a": 0}"#,
            r#"{"a": 1, "skipped": 5}"#,
            r#"{"a": 1, "parts": []}"#,
            r#"{"a": 1, "parts": [{"type": "t"}]}"#,
            r#"{"a": 1, "parts": [{"type": "t", "text": 5}]}"#,
            r#"{"a": 1, "parts": [{"type": "x"}]}"#,
            r#"{"a": 1, "parts": [{"type": "n", "n": "1"}]}"#,
            r#"{"skipped": "x"}"#,
            r#"{"a": 1} trailing"#,
        ] {
            assert!(parse_checked::<Req>(&s, bad).is_none(), "{bad}");
            assert!(!accepts_text(&s, bad), "{bad}");
        }
    }

    #[test]
    fn what_the_text_verdict_leaves_undecided_is_refused_too() {
        let s = compiled();
        // A key the type reads twice; a case key given twice.
        for undecided in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": 1, "parts": [{"text": "hi", "type": "t", "type": "t"}]}"#,
        ] {
            assert!(parse_checked::<Req>(&s, undecided).is_none(), "{undecided}");
        }
    }

    #[test]
    fn a_case_key_after_the_members_it_governs_is_read_ahead_to() {
        let s = compiled();
        // Sorted keys, as Go's maps, Python's `sort_keys` and serde_json's default `Map` write them.
        let sorted =
            r#"{"a": 2, "parts": [{"text": "hi", "type": "t"}, {"n": 1, "type": "n"}, {"type": "n"}]}"#;
        let first =
            r#"{"a": 2, "parts": [{"type": "t", "text": "hi"}, {"type": "n", "n": 1}, {"type": "n"}]}"#;
        let read: Req = parse_checked(&s, sorted).expect("read in one pass");
        assert_eq!(read, parse_checked::<Req>(&s, first).unwrap());
        assert_eq!(read.parts[0], json!({"text": "hi", "type": "t"}));
        assert!(accepts_text(&s, sorted));
        // The members before the key are checked against the case it names, and the case's
        // required members and the key's own value still count.
        let deep = format!(
            r#"{{"a": 1, "parts": [{{"x": {}{}, "type": "t", "text": "hi"}}]}}"#,
            "[".repeat(65),
            "]".repeat(65)
        );
        let escaped = r#"{"a": 1, "parts": [{"te\u0078t": "hi", "ty\u0070e": "t"}]}"#;
        for refused in [
            r#"{"a": 1, "parts": [{"text": 5, "type": "t"}]}"#,
            r#"{"a": 1, "parts": [{"x": 1, "type": "t"}]}"#,
            r#"{"a": 1, "parts": [{"text": "hi", "type": "x"}]}"#,
            r#"{"a": 1, "parts": [{"text": "hi", "type": 5}]}"#,
            r#"{"a": 1, "parts": [{"text": "hi"}]}"#,
            r#"{"a": 1, "parts": [{"n": "1", "x": 1e400, "type": "n"}]}"#,
            r#"{"a": 1, "parts": [{"n": 1, "x": 1e400, "type": "n"}]}"#,
            &deep,
        ] {
            assert!(parse_checked::<Req>(&s, refused).is_none(), "{refused}");
            assert!(!accepts_text(&s, refused), "{refused}");
        }
        let read: Req = parse_checked(&s, escaped).expect("escaped keys read ahead");
        assert_eq!(read.parts[0], json!({"text": "hi", "type": "t"}));
    }

    #[test]
    fn serde_jsons_raw_value_marker_key_is_left_to_the_full_path() {
        #[derive(serde::Deserialize, Debug)]
        struct Loose {
            #[allow(dead_code)]
            parts: Option<Value>,
        }
        let s = compiled();
        // A `Value` reads this object as its first member's raw text, then fails at the comma.
        let marker = r#"{"a": 1, "parts": [{"$serde_json::private::RawValue": "1", "type": "n"}]}"#;
        assert!(serde_json::from_str::<Value>(marker).is_err());
        assert!(parse_checked::<Req>(&s, marker).is_none());
        assert!(parse_checked::<Loose>(&s, marker).is_none());
        assert!(!accepts_text(&s, marker));
        let late = r#"{"a": 1, "parts": {"$serde_json::private::RawValue": "1", "x": 1e400, "type": "n"}}"#;
        assert!(parse_checked::<Loose>(&s, late).is_none());
    }

    /// Every `x-variants` node of every shipped schema, and how many levels of JSON nesting sit
    /// above it in a body: a member read ahead is read again on its own, so the two must stay
    /// under serde_json's 128 levels (see `AHEAD_DEPTH`).
    #[test]
    fn every_object_read_ahead_sits_less_than_64_levels_down() {
        fn deepest(s: &Schema, depth: usize) -> usize {
            let here = if s.variants.is_some() { depth } else { 0 };
            let branches = s.any_of.iter().flatten().map(|b| deepest(b, depth));
            let members = s
                .properties
                .iter()
                .flat_map(|p| p.values())
                .map(|m| deepest(m, depth + 1));
            let cases = s
                .variants
                .iter()
                .flat_map(|(_, c)| c.values())
                .map(|c| deepest(c, depth));
            let items = s.items.iter().map(|i| deepest(i, depth + 1));
            branches
                .chain(members)
                .chain(cases)
                .chain(items)
                .fold(here, usize::max)
        }
        let all = super::super::api::schemas();
        assert!(all.len() >= 4);
        for (name, s) in all {
            let d = deepest(s, 1);
            assert!(d < 64, "{name}: an x-variants node at depth {d}");
        }
    }
}
