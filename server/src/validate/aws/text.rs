//! The verdict on a request read from its JSON text as it is parsed, building no tree: what lets
//! a valid Converse body be parsed once, straight into its typed request (issue 12's hot path).
//!
//! It is [`ServiceModel::request_fits`] on the text instead of a `Value`. It never clears what
//! that verdict refuses, but leaves some bodies undecided for the full path: a body that is not a
//! JSON object, a member given twice in one object (a `Value` keeps the last), a map with a key
//! twice or with more than 64 keys, a structure of more than 128 members. On other bodies the two
//! are equal (a property test holds it).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{Kind, Request, ServiceModel, Shape, text_at};
use crate::validate::text::{Key, Skip, verdict};

impl ServiceModel {
    /// [`ServiceModel::request_fits`] for `operation` with its JSON body given as text: true only
    /// when that verdict would clear the parsed body; false is no verdict (see the module docs).
    pub fn request_fits_text(
        &self,
        operation: &str,
        uri: &[(&str, &str)],
        headers: &http::HeaderMap,
        text: &str,
    ) -> bool {
        let Some(input) = self.inputs.get(operation).and_then(|n| self.shape(n)) else {
            return true;
        };
        let req = Request {
            uri,
            headers,
            body: None,
        };
        // URI and header members as `request_fits` reads them; the body's are the walk's.
        let located = input.members.iter().all(|m| match m.location.as_deref() {
            Some("uri" | "querystring" | "header") => match text_at(m, &req) {
                None => !m.required,
                Some(t) => self.text_fits(&m.shape, t),
            },
            _ => true,
        });
        if !located || !text.trim_start().starts_with('{') {
            return false;
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let walk = At {
            model: self,
            shape: Some(input),
            root: true,
        };
        walk.deserialize(&mut de).is_ok() && de.end().is_ok()
    }
}

/// The value read next, against a shape (`None`: a shape the model lacks, unchecked; blobs,
/// booleans, timestamps and documents have nothing to check either). At the root, body keys naming
/// URI or header members are not read and only body members are required.
#[derive(Clone, Copy)]
struct At<'m> {
    model: &'m ServiceModel,
    shape: Option<&'m Shape>,
    root: bool,
}

impl<'m> At<'m> {
    fn target(model: &'m ServiceModel, target: Option<usize>) -> Self {
        At {
            model,
            shape: target.map(|i| &model.list[i]),
            root: false,
        }
    }
}

/// Whether the value read was `null` (a null member counts as absent).
struct WasNull(bool);

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = WasNull;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<WasNull, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = WasNull;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    // A value of another JSON type than its shape's is not the model's to check (the typed
    // decoder names it), as in `fits_shape`.
    fn visit_unit<E: de::Error>(self) -> Result<WasNull, E> {
        Ok(WasNull(true))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<WasNull, E> {
        Ok(WasNull(false))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<WasNull, E> {
        self.number(n as f64)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<WasNull, E> {
        self.number(n as f64)
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<WasNull, E> {
        self.number(x)
    }

    fn visit_str<E: de::Error>(self, t: &str) -> Result<WasNull, E> {
        verdict(
            self.shape
                .is_none_or(|s| s.kind != Kind::String || s.string_fits(t)),
        )?;
        Ok(WasNull(false))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WasNull, A::Error> {
        let Some(s) = self.shape.filter(|s| s.kind == Kind::List) else {
            while seq.next_element_seed(Skip)?.is_some() {}
            return Ok(WasNull(false));
        };
        let item = At::target(self.model, s.item_target);
        let mut n = 0;
        while seq.next_element_seed(item)?.is_some() {
            n += 1;
        }
        verdict(s.length_fits(n))?;
        Ok(WasNull(false))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WasNull, A::Error> {
        match self.shape {
            Some(s) if s.kind == Kind::Structure => self.structure(s, map)?,
            Some(s) if s.kind == Kind::Map => {
                // Keys are counted once each, as a `Value` keeps them: a key twice is undecided,
                // and so is a map of more than 64 (the check for a repeat is a scan).
                let item = At::target(self.model, s.item_target);
                let mut keys: Vec<Cow<'de, str>> = Vec::new();
                while let Some(Key(k)) = map.next_key()? {
                    verdict(keys.len() < 64 && !keys.contains(&k))?;
                    keys.push(k);
                    map.next_value_seed(item)?;
                }
                verdict(s.length_fits(keys.len()))?;
            }
            _ => Skip.visit_map(map)?,
        }
        Ok(WasNull(false))
    }
}

impl At<'_> {
    fn number<E: de::Error>(self, x: f64) -> Result<WasNull, E> {
        verdict(
            self.shape
                .is_none_or(|s| !matches!(s.kind, Kind::Integer | Kind::Float) || s.range_fits(x)),
        )?;
        Ok(WasNull(false))
    }

    /// A structure's members: each checked against its shape, the required ones present and not
    /// null, a union's set to exactly one.
    fn structure<'de, A: MapAccess<'de>>(self, s: &Shape, mut map: A) -> Result<(), A::Error> {
        verdict(s.members.len() <= 128)?;
        let (mut seen, mut set, mut keys) = (0u128, 0u128, 0usize);
        while let Some(Key(k)) = map.next_key()? {
            keys += 1;
            let Some(&i) = s.by_key.get(&*k) else {
                map.next_value_seed(Skip)?;
                continue;
            };
            let bit = 1u128 << i;
            verdict(seen & bit == 0)?;
            seen |= bit;
            let m = &s.members[i];
            if self.root && m.location.is_some() {
                // A URI or header member: read where it travels, not here.
                map.next_value_seed(Skip)?;
                continue;
            }
            if !map.next_value_seed(At::target(self.model, m.target))?.0 {
                set |= bit;
            }
        }
        let required = s
            .required
            .iter()
            .filter(|&&i| !(self.root && s.members[i].location.is_some()))
            .all(|&i| set & (1u128 << i) != 0);
        let union = !s.union || (set.count_ones() <= 1 && !(set == 0 && keys == 0));
        verdict(required && union)
    }
}

#[cfg(test)]
mod tests {
    use super::super::BEDROCK_RUNTIME;

    fn fits(body: &str) -> bool {
        BEDROCK_RUNTIME.request_fits_text("Converse", &[("modelId", "m")], &http::HeaderMap::new(), body)
    }

    #[test]
    fn a_valid_body_is_cleared_and_what_a_value_reads_differently_is_not() {
        let ok =
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":10}}"#;
        assert!(fits(ok));
        // A violation: a range, an enum, a union with two members set, an empty union.
        assert!(!fits(r#"{"messages":[],"inferenceConfig":{"maxTokens":0}}"#));
        assert!(!fits(
            r#"{"messages":[{"role":"robot","content":[{"text":"hi"}]}]}"#
        ));
        assert!(!fits(
            r#"{"messages":[{"role":"user","content":[{"text":"hi","image":{}}]}]}"#
        ));
        assert!(!fits(r#"{"messages":[{"role":"user","content":[{}]}]}"#));
        // A required member given as null is absent.
        assert!(!fits(r#"{"messages":[{"role":"user","content":null}]}"#));
        // Undecided: a member twice (a `Value` keeps the last), a body that is no object.
        assert!(!fits(
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"messages":[]}"#
        ));
        assert!(!fits("[]"));
        // A value of another type than its shape's is the typed decoder's to name.
        assert!(fits(
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":"x"}"#
        ));
    }
}
