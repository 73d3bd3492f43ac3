//! Request validation generated from the services' own models, so the mock rejects what the real
//! service rejects: AWS requests against botocore's service models (`aws`), InvokeModel bodies
//! against their model family's documented schema (`family`).

pub mod aws;
pub mod family;
