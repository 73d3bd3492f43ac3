//! Request validation generated from the services' own models, so the mock rejects what the real
//! service rejects: AWS requests against botocore's service models (`aws`).

pub mod aws;
