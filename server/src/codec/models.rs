//! `GET /v1/models`, which OpenAI and Anthropic both serve at the same path: the models fixtures
//! name (plus `mockmodel`), listed in OpenAI's shape, or in Anthropic's when the request carries
//! `anthropic-version` (every Anthropic SDK sends it; no OpenAI client does).
//!
//! One route answers both because a router cannot register the path twice; the choice lives here,
//! in shared code, so neither wire imports the other.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fixture::schema::TextMatch;
use crate::state::SharedState;

/// The header that marks an Anthropic client.
pub const ANTHROPIC_VERSION: &str = "anthropic-version";

/// The model ids fixtures match exactly, plus `mockmodel`, sorted.
pub fn ids(state: &SharedState) -> Vec<String> {
    let set = state.fixtures.load();
    let mut ids: Vec<String> = set
        .fixtures
        .iter()
        .filter_map(|f| match &f.fixture.match_.model {
            Some(TextMatch::Text(m)) => Some(m.clone()),
            _ => None,
        })
        .collect();
    ids.push("mockmodel".into());
    ids.sort();
    ids.dedup();
    ids
}

/// The list, in the shape the caller's API uses.
pub fn list(state: &SharedState, headers: &HeaderMap) -> Response {
    let ids = ids(state);
    let body = if headers.contains_key(ANTHROPIC_VERSION) {
        anthropic(&ids)
    } else {
        openai(&ids)
    };
    axum::Json(body).into_response()
}

/// OpenAI's `{"object": "list", "data": [Model]}`.
fn openai(ids: &[String]) -> Value {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "mockmodel"}))
        .collect();
    json!({"object": "list", "data": data})
}

/// Anthropic's page of `ModelInfo` (`{"data", "has_more", "first_id", "last_id"}`); the whole
/// list fits one page.
fn anthropic(ids: &[String]) -> Value {
    let data: Vec<Value> = ids
        .iter()
        .map(
            |id| json!({"type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z"}),
        )
        .collect();
    json!({"data": data, "has_more": false, "first_id": ids.first(), "last_id": ids.last()})
}
