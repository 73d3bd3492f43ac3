//! `GET /v1/models`: the models fixtures name, plus `mockmodel`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::SharedState;

pub(super) async fn models(State(state): State<SharedState>) -> Response {
    let set = state.fixtures.load();
    let mut ids: Vec<String> = set
        .fixtures
        .iter()
        .filter_map(|f| match &f.fixture.match_.model {
            Some(crate::fixture::schema::TextMatch::Text(m)) => Some(m.clone()),
            _ => None,
        })
        .collect();
    ids.push("mockmodel".into());
    ids.sort();
    ids.dedup();
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "mockmodel"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}
