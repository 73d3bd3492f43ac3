//! JSON request bodies parsed once for every wire: a failure names the field that broke
//! (`messages[0].content[1].text`), and each wire words it in its own error shape.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a body did not parse into the request type.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError {
    /// The failing field as a path (`.` for the document itself).
    pub path: String,
    /// What serde said.
    pub message: String,
    /// The bytes are not JSON at all (as opposed to JSON of the wrong shape).
    pub syntax: bool,
}

impl JsonError {
    fn from_path(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = e.path().to_string();
        let inner = e.into_inner();
        JsonError {
            path,
            syntax: inner.is_syntax() || inner.is_eof(),
            message: inner.to_string(),
        }
    }
}

/// Parses bytes into `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    // Plain serde first: tracking the path allocates a string per key read, on every request
    // (issue 12's hot path). Only a body that fails is read again to name the field that broke;
    // the same deserializer fails at the same place.
    serde_json::from_slice(bytes).or_else(|_| {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(JsonError::from_path)
    })
}

/// Reads a JSON value already parsed (InvokeModel bodies are read once, then by family).
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, JsonError> {
    // As in `from_slice`: the path is tracked only to explain a failure.
    T::deserialize(value).or_else(|_| serde_path_to_error::deserialize(value).map_err(JsonError::from_path))
}

/// Reads a JSON value parsed from `bytes` by moving its strings into `T` (no copy of each, and no
/// drop of the tree after: issue 12's hot path). A failure is explained as [`from_value`] would,
/// from `bytes` parsed again, since the value is gone by then.
pub fn from_owned<T: DeserializeOwned>(value: Value, bytes: &[u8]) -> Result<T, JsonError> {
    T::deserialize(value).or_else(|_| from_value(&from_slice::<Value>(bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Req {
        messages: Vec<Msg>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Msg {
        content: String,
    }

    #[test]
    fn a_wrongly_typed_field_is_named_by_its_path() {
        let e = from_slice::<Req>(br#"{"messages":[{"content":"a"},{"content":5}]}"#).unwrap_err();
        assert_eq!(e.path, "messages[1].content");
        assert!(!e.syntax);
        let v: Value = serde_json::json!({"messages": [{"content": []}]});
        assert_eq!(from_value::<Req>(&v).unwrap_err().path, "messages[0].content");
        let bytes = br#"{"messages":[{"content":"a"},{"content":[]}]}"#;
        let owned = from_owned::<Req>(from_slice(bytes).unwrap(), bytes).unwrap_err();
        let borrowed = from_value::<Req>(&from_slice(bytes).unwrap()).unwrap_err();
        assert_eq!(owned, borrowed);
        assert_eq!(owned.path, "messages[1].content");
    }

    #[test]
    fn bytes_that_are_not_json_are_a_syntax_error() {
        assert!(from_slice::<Req>(b"{oops").unwrap_err().syntax);
        assert!(from_slice::<Req>(b"").unwrap_err().syntax);
    }
}
