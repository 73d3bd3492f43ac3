//! Structured logging: `RUST_LOG` filter (default `info`), text or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `json` selects JSON lines.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // NB: try_init, so a second call (tests) is harmless.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}
