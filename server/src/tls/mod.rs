//! TLS: the process-wide rustls crypto provider, and the server's own certificate (`--tls-cert`,
//! `--tls-key`) for the TLS listener (`listener.rs`).
//!
//! Both of rustls' providers end up compiled in (kube asks for `ring`, the S3 and proxy clients for
//! `aws-lc-rs`), and with two rustls cannot pick one itself: the first TLS client built from the
//! process default (kube's) would panic. Every binary calls [`install_crypto_provider`] first.

mod listener;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use listener::TlsListener;

/// Installs aws-lc-rs as the process default; a no-op when a provider is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The provider [`install_crypto_provider`] installed (installing it if nobody did).
fn provider() -> Arc<CryptoProvider> {
    install_crypto_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// The server's certificate files and the key pair loaded from them; [`ServerCert::reload`]
/// swaps in a new pair without touching open connections.
#[derive(Debug)]
pub struct ServerCert {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl ServerCert {
    /// Reads the PEM certificate chain and private key; the error names the file and what is wrong.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, String> {
        let pair = read_pair(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: ArcSwap::from_pointee(pair),
        }))
    }

    /// Re-reads both files; a bad pair keeps the one being served (the error says why).
    pub fn reload(&self) -> Result<(), String> {
        self.current.store(Arc::new(read_pair(&self.cert, &self.key)?));
        Ok(())
    }

    /// A rustls server configuration offering h2 and http/1.1 by ALPN (the JS SDK's Bedrock
    /// client speaks only h2, Python's clients only HTTP/1.1), serving whichever pair is current.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("invalid --tls-cert {}: {}", cert.display(), pem_error(e)))?;
    if chain.is_empty() {
        return Err(format!(
            "invalid --tls-cert {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "invalid --tls-key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
            key.display()
        ),
        e => format!("invalid --tls-key {}: {}", key.display(), pem_error(e)),
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| {
        format!(
            "--tls-key {} does not fit --tls-cert {}: {e}",
            key.display(),
            cert.display()
        )
    })
}

/// pki-types' errors, worded for a person (its `Io` error carries the OS's reason).
fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        e => format!("not valid PEM ({e:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn bad_files_are_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let junk = write(dir.path(), "junk.pem", "not a certificate\n");
        let missing = dir.path().join("missing.pem");
        let e = ServerCert::load(&junk, &junk).expect_err("junk");
        assert!(
            e.starts_with("invalid --tls-cert ") && e.contains("junk.pem"),
            "{e}"
        );
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = ServerCert::load(&missing, &junk).expect_err("missing");
        assert!(e.contains("missing.pem") && e.contains("No such file"), "{e}");
        let broken = write(dir.path(), "broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
        let e = ServerCert::load(&broken, &junk).expect_err("broken");
        assert!(e.contains("broken.pem") && e.contains("not valid PEM"), "{e}");
    }
}
