//! mockmodel-operator: turns `MockModel` custom resources into running, reachable mock endpoints.
//!
//! The reconcile pipeline is `render (pure) -> apply (SSA) -> status (pure) -> patch status`;
//! builders and status computation are pure and unit-tested, the driver lives in `controller`.

pub mod apply;
pub mod cli;
pub mod controller;
pub mod crd;
#[cfg(test)]
pub mod fixtures;
pub mod lease;
pub mod metrics;
pub mod recording;
pub mod render;
pub mod resources;
pub mod status;
pub mod telemetry;
pub mod tls;
pub mod watches;

/// Everything that can fail in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes API error: {0}")]
    Kube(#[source] kube::Error),
    /// The object lacks a field every object should have.
    #[error("object has no {0}")]
    MissingObjectKey(&'static str),
    /// Rendering the fixtures ConfigMap failed.
    #[error("serializing fixtures: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The fixtures are invalid (reported in status; only a spec edit fixes it).
    #[error("invalid fixtures: {0}")]
    InvalidFixtures(String),
    /// A `fixturesFrom` ConfigMap or key does not exist (yet).
    #[error("missing fixtures source: {0}")]
    MissingSource(String),
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(e)
    }
}

impl Error {
    /// A short, static label for the `reason` of the failure metric (low cardinality).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 404 => "not_found",
            Error::Kube(_) => "kube",
            Error::MissingObjectKey(_) => "missing_object_key",
            Error::Serialize(_) => "serialize",
            Error::InvalidFixtures(_) => "invalid_fixtures",
            Error::MissingSource(_) => "missing_source",
        }
    }
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
