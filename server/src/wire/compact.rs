//! JSON bodies written with the bytes `serde_json::to_writer` writes, faster: a struct's field
//! names are written as they are, where `serde_json` escapes each one byte by byte on every
//! request (a third of a chat answer's serialization: issue 12's hot path, measured with
//! callgrind), and a string with nothing to escape is copied after one vectorized check. Numbers,
//! floats and strings that need escaping are still written by `serde_json`.

use serde::ser::{self, Serialize};

/// `value` as compact JSON appended to `out`: byte for byte `serde_json::to_writer`'s output.
pub fn to_writer<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    value.serialize(Writer(out))
}

/// `value` as compact JSON: byte for byte `serde_json::to_vec`'s output.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    to_writer(&mut out, value)?;
    Ok(out)
}

/// A string value. One with nothing to escape (a control character, a quote or a backslash) is
/// written as it is, found by a pass without early exit that the compiler vectorizes; any other
/// is escaped by `serde_json` (whose check is a byte-by-byte loop: issue 12's hot path).
fn string(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    let escape = s
        .bytes()
        .fold(false, |any, b| any | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if escape {
        return serde_json::to_writer(out, s);
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
    Ok(())
}

/// A struct field's or enum variant's name: a Rust identifier or a `serde(rename)`, neither of
/// which has a quote, a backslash or a control character to escape (`debug_assert`ed; the tests
/// write every body type).
fn name(out: &mut Vec<u8>, key: &'static str) {
    debug_assert!(key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'), "{key}");
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// The struct name `serde_json::value::RawValue` serializes as (serde_json's `raw.rs`), which its
/// serializer writes as the text it holds.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// A serializer's associated types: `()` written, `serde_json`'s error, `$compound` for every
/// compound value.
macro_rules! types {
    ($compound:ty) => {
        type Ok = ();
        type Error = serde_json::Error;
        type SerializeSeq = $compound;
        type SerializeTuple = $compound;
        type SerializeTupleStruct = $compound;
        type SerializeTupleVariant = $compound;
        type SerializeMap = $compound;
        type SerializeStruct = $compound;
        type SerializeStructVariant = $compound;
    };
}

/// Scalars and bytes, as `serde_json` writes them (its itoa and ryu output, `null` for a
/// non-finite float; a key's own rules for a key), through the serializer's `by_serde_json`.
macro_rules! scalars {
    () => {
        scalars!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
            serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
            serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
            serialize_f64: f64, serialize_char: char);

        fn serialize_bytes(self, v: &[u8]) -> serde_json::Result<()> {
            self.by_serde_json(v)
        }
    };
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, v: $ty) -> serde_json::Result<()> {
            self.by_serde_json(&v)
        }
    )*};
}

/// A variant with fields: `{"variant":` then its fields between `$open` and `$close`.
macro_rules! variant {
    ($method:ident, $open:expr, $close:expr) => {
        fn $method(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> serde_json::Result<Compound<'a>> {
            Ok(self.variant(variant, $open, $close))
        }
    };
}

/// The methods both serializers share: a string, a unit variant (its name, as a string) and a
/// newtype struct (what it wraps).
macro_rules! as_strings {
    () => {
        fn serialize_str(self, v: &str) -> serde_json::Result<()> {
            string(self.0, v)
        }

        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> serde_json::Result<()> {
            string(self.0, variant)
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> serde_json::Result<()> {
            value.serialize(self)
        }
    };
}

struct Writer<'a>(&'a mut Vec<u8>);

impl<'a> Writer<'a> {
    fn by_serde_json<T: Serialize + ?Sized>(self, v: &T) -> serde_json::Result<()> {
        serde_json::to_writer(self.0, v)
    }

    /// `{"variant":` then a compound opened with `open`, closed with `close` (which ends the
    /// outer object too).
    fn variant(self, variant: &'static str, open: &[u8], close: &'static [u8]) -> Compound<'a> {
        self.0.push(b'{');
        name(self.0, variant);
        Compound::open(self.0, open, close)
    }
}

/// A `[...]` or `{...}` being written: whether a member has been written yet, and the bytes
/// that close it (`}}` for a variant's `{"name":{...}}`).
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: &'static [u8],
    /// A `serde_json::value::RawValue`: its one field is JSON text, written as it is.
    raw: bool,
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut Vec<u8>, open: &[u8], close: &'static [u8]) -> Self {
        out.extend_from_slice(open);
        Compound {
            out,
            first: true,
            close,
            raw: false,
        }
    }

    fn comma(&mut self) {
        if !std::mem::replace(&mut self.first, false) {
            self.out.push(b',');
        }
    }

    fn end(self) -> serde_json::Result<()> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }

    /// A struct's (or a struct variant's) field.
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> serde_json::Result<()> {
        if self.raw {
            if let serde_json::Value::String(json) = serde_json::to_value(value)? {
                self.out.extend_from_slice(json.as_bytes());
            }
            return Ok(());
        }
        self.comma();
        name(self.out, key);
        value.serialize(Writer(&mut *self.out))
    }
}

impl<'a> ser::Serializer for Writer<'a> {
    types!(Compound<'a>);
    scalars!();
    as_strings!();

    fn serialize_none(self) -> serde_json::Result<()> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> serde_json::Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> serde_json::Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> serde_json::Result<()> {
        self.serialize_none()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        self.0.push(b'{');
        name(self.0, variant);
        value.serialize(Writer(&mut *self.0))?;
        self.0.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> serde_json::Result<Compound<'a>> {
        Ok(Compound::open(self.0, b"[", b"]"))
    }

    fn serialize_tuple(self, _: usize) -> serde_json::Result<Compound<'a>> {
        self.serialize_seq(None)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> serde_json::Result<Compound<'a>> {
        self.serialize_seq(None)
    }

    variant!(serialize_tuple_variant, b"[", b"]}");
    variant!(serialize_struct_variant, b"{", b"}}");

    fn serialize_map(self, _: Option<usize>) -> serde_json::Result<Compound<'a>> {
        Ok(Compound::open(self.0, b"{", b"}"))
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> serde_json::Result<Compound<'a>> {
        if name == RAW_VALUE {
            let mut raw = Compound::open(self.0, b"", b"");
            raw.raw = true;
            return Ok(raw);
        }
        self.serialize_map(None)
    }
}

/// `impl ser::$trait for Compound` with the given methods, and the `end` every compound shares.
macro_rules! compound {
    ($trait:ident { $($body:tt)* }) => {
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = serde_json::Error;

            $($body)*

            fn end(self) -> serde_json::Result<()> {
                Compound::end(self)
            }
        }
    };
}

/// The four list-like compounds (a sequence, a tuple, a tuple struct, a tuple variant's fields):
/// elements separated by commas.
macro_rules! list_like {
    ($($trait:ident :: $method:ident),*) => {$(
        compound!($trait {
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
                self.comma();
                value.serialize(Writer(&mut *self.out))
            }
        });
    )*};
}

list_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

compound!(SerializeMap {
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> serde_json::Result<()> {
        self.comma();
        key.serialize(Key(&mut *self.out))?;
        self.out.push(b':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        value.serialize(Writer(&mut *self.out))
    }
});

compound!(SerializeStruct {
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> serde_json::Result<()> {
        self.field(key, value)
    }
});

compound!(SerializeStructVariant {
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> serde_json::Result<()> {
        self.field(key, value)
    }
});

/// A map key. A string is escaped; any other key is written as `serde_json` writes it (numbers
/// and booleans quoted, anything else its "key must be a string" error), by writing a one-entry
/// map with `serde_json` and keeping the key's bytes.
struct Key<'a>(&'a mut Vec<u8>);

impl Key<'_> {
    fn by_serde_json<T: Serialize + ?Sized>(self, key: &T) -> serde_json::Result<()> {
        struct One<'k, K: ?Sized>(&'k K);
        impl<K: Serialize + ?Sized> Serialize for One<'_, K> {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(self.0, &())?;
                m.end()
            }
        }
        let map = serde_json::to_vec(&One(key))?;
        // `{` key `:null}`
        self.0.extend_from_slice(&map[1..map.len() - ":null}".len()]);
        Ok(())
    }
}

/// Every kind of key goes to `serde_json`'s own key rules except the common string.
impl<'a> ser::Serializer for Key<'a> {
    types!(ser::Impossible<(), serde_json::Error>);
    scalars!();
    as_strings!();

    fn serialize_none(self) -> serde_json::Result<()> {
        self.by_serde_json(&Option::<()>::None)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> serde_json::Result<()> {
        self.by_serde_json(&Some(value))
    }

    fn serialize_unit(self) -> serde_json::Result<()> {
        self.by_serde_json(&())
    }

    fn serialize_unit_struct(self, _: &'static str) -> serde_json::Result<()> {
        self.by_serde_json(&())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> serde_json::Result<()> {
        Err(not_a_key())
    }

    fn serialize_seq(self, _: Option<usize>) -> serde_json::Result<Self::SerializeSeq> {
        Err(not_a_key())
    }

    fn serialize_tuple(self, _: usize) -> serde_json::Result<Self::SerializeTuple> {
        Err(not_a_key())
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> serde_json::Result<Self::SerializeTupleStruct> {
        Err(not_a_key())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> serde_json::Result<Self::SerializeTupleVariant> {
        Err(not_a_key())
    }

    fn serialize_map(self, _: Option<usize>) -> serde_json::Result<Self::SerializeMap> {
        Err(not_a_key())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> serde_json::Result<Self::SerializeStruct> {
        Err(not_a_key())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> serde_json::Result<Self::SerializeStructVariant> {
        Err(not_a_key())
    }
}

/// `serde_json`'s own error for a key that is not a string.
fn not_a_key() -> serde_json::Error {
    serde_json::to_vec(&std::collections::BTreeMap::from([(vec![0u8], 0)])).expect_err("a list is no key")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// Both writers' output for `v`, errors as text.
    fn both<T: Serialize + ?Sized>(v: &T) -> (Result<Vec<u8>, String>, Result<Vec<u8>, String>) {
        let mut ours = Vec::new();
        let ours = to_writer(&mut ours, v).map(|()| ours).map_err(|e| e.to_string());
        (ours, serde_json::to_vec(v).map_err(|e| e.to_string()))
    }

    fn same<T: Serialize + ?Sized>(v: &T) {
        let (ours, theirs) = both(v);
        assert_eq!(
            ours,
            theirs,
            "{:?}",
            theirs.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
        );
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(i32, String),
        Struct {
            #[serde(rename = "a-b")]
            quoted: bool,
            c: Option<f64>,
        },
    }

    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(rename = "type")]
        type_: &'static str,
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u32>,
        none: Option<u32>,
        unit: (),
        shapes: Vec<Shape>,
        tuple: (u8, char, &'a [u8]),
        floats: [f64; 4],
        big: (i128, u128),
        #[serde(flatten)]
        extra: BTreeMap<String, Value>,
        raw: Box<serde_json::value::RawValue>,
    }

    #[test]
    fn typed_bodies_match_serde_json() {
        let extra = BTreeMap::from([("x-extra".to_string(), serde_json::json!({"k": [1, null]}))]);
        same(&Body {
            type_: "text",
            text: "quote \" slash \\ tab \t nul \u{0} é 🙂 \u{7f}",
            skipped: None,
            none: None,
            unit: (),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-1, "t".into()),
                Shape::Struct {
                    quoted: true,
                    c: Some(1.5e300),
                },
                Shape::Struct {
                    quoted: false,
                    c: None,
                },
            ],
            tuple: (1, '"', b"ab"),
            floats: [0.1, -0.0, f64::NAN, f64::INFINITY],
            big: (i128::MIN, u128::MAX),
            extra,
            raw: serde_json::value::RawValue::from_string(r#"{ "kept" : [1, 2] }"#.into()).unwrap(),
        });
    }

    #[test]
    fn map_keys_follow_serde_json() {
        same(&BTreeMap::from([(1i32, "a"), (-2, "b")]));
        same(&BTreeMap::from([(true, 1)]));
        same(&BTreeMap::from([('c', 1)]));
        same(&BTreeMap::from([("k\"\n", 1)]));
        // Not keys in JSON: both writers refuse them alike.
        let (ours, theirs) = both(&BTreeMap::from([(vec![1u8], 0)]));
        assert!(ours.is_err());
        assert_eq!(ours, theirs);
        let (ours, theirs) = both(&BTreeMap::from([(Option::<u8>::None, 0)]));
        assert_eq!(ours, theirs);
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_is_written_as_serde_json_writes_it(v in value()) {
            let (ours, theirs) = both(&v);
            prop_assert_eq!(ours, theirs);
        }
    }
}
