//! `GET /v1/models`: the shared model list (`codec::models`), which also answers Anthropic clients
//! in their shape, as both APIs serve this path.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::codec::models;
use crate::state::SharedState;

pub(super) async fn models(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    models::list(&state, &headers)
}
