//! The process-wide rustls crypto provider, chosen once at start.
//!
//! Both of rustls' providers end up compiled in (kube asks for `ring`, the S3 and proxy clients for
//! `aws-lc-rs`), and with two rustls cannot pick one itself: the first TLS client built from the
//! process default (kube's) would panic. Every binary calls [`install_crypto_provider`] first.

/// Installs aws-lc-rs as the process default; a no-op when a provider is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
