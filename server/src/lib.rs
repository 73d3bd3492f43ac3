//! mockmodel-server: a wire-exact mock of model endpoints (OpenAI-compatible, Bedrock Runtime,
//! SageMaker Runtime) answering from aimock-compatible fixtures.
//!
//! The library exposes the fixture engine (also used by the operator to validate MockModels) and
//! `app(state) -> Router`, so tests drive the server in-process.

pub mod accept;
pub mod app;
pub mod auth;
pub mod bpe;
pub mod cli;
pub mod codec;
pub mod conversation;
pub mod ctx;
pub mod errors;
pub mod eventstream;
pub mod eventstream_decode;
pub mod faults;
pub mod fixture;
pub mod formats;
pub mod history;
pub mod ids;
pub mod jobs;
pub mod journal;
pub mod metrics;
pub mod objects;
pub mod packed;
pub mod plan;
pub mod proxy;
pub mod reload;
pub mod routes;
pub mod semantic;
pub mod serve;
pub mod state;
pub mod stream;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod track;
pub mod translate;
pub mod validate;
pub mod wire;

pub use app::app;
pub use state::{AppState, Config, SharedState};
