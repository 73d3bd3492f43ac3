//! Request validation generated from the services' own models, so the mock rejects what the real
//! service rejects: AWS requests against botocore's service models (`aws`), InvokeModel bodies
//! against their model family's documented schema (`family`), OpenAI and Anthropic bodies against
//! their published parameters (`api`); `schema` is the JSON Schema interpreter the last two share.

pub mod api;
pub mod aws;
pub mod family;
pub mod schema;
pub mod text;
pub mod typed;
