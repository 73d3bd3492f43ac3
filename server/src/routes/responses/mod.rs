//! The OpenAI Responses API under `/v1/responses`: create (JSON or typed SSE events), retrieve and
//! delete stored responses, all served by the shared codec (`codec::responses`).

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};

use crate::codec::openai_error::OpenAiJson;
use crate::codec::responses::{ResponsesRequest, create, delete, retrieve};
use crate::conversation::Protocol;
use crate::state::SharedState;

/// The Responses routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/responses", post(create_response))
        .route("/v1/responses/{id}", get(retrieve).delete(delete))
}

async fn create_response(
    State(state): State<SharedState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<ResponsesRequest>,
) -> Response {
    create(&state, &headers, req, Protocol::OpenAi, "responses").await
}
