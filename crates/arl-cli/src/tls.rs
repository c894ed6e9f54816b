//! HTTPS for the command line as a client (`--server https://…`): rustls (ring, TLS 1.2 and
//! 1.3) under ureq, trusting the certificates of `--ca-cert FILE` (PEM), else the system's
//! roots (`$SSL_CERT_FILE`, else the usual bundle files). Nothing is fetched from the network.

use crate::failure;
use anyhow::Result;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where Linux distributions keep their bundle of trusted roots.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The roots to trust: `ca_cert`, else the system's bundle.
fn roots(ca_cert: Option<&Path>) -> Result<RootCertStore> {
    let file: PathBuf = match ca_cert {
        Some(file) => file.to_path_buf(),
        None => std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .or_else(|| {
                SYSTEM_BUNDLES
                    .iter()
                    .map(PathBuf::from)
                    .find(|p| p.is_file())
            })
            .ok_or_else(|| {
                failure::usage(
                    "no system bundle of trusted roots found: give the server's CA with --ca-cert FILE",
                )
            })?,
    };
    let bad = |why: String| failure::usage(format!("--ca-cert {}: {why}", file.display()));
    let certs = CertificateDer::pem_file_iter(&file)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad("no certificate in it".into()));
    }
    Ok(store)
}

/// The TLS connector of an https client.
pub fn connector(ca_cert: Option<&Path>) -> Result<Arc<Connector>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failure::error(format!("TLS: {e}")))?
        .with_root_certificates(roots(ca_cert)?)
        .with_no_client_auth();
    Ok(Arc::new(Connector(Arc::new(config))))
}

/// rustls as ureq's TLS connector.
pub struct Connector(Arc<ClientConfig>);

/// A TLS stream over ureq's connection.
struct Tls(StreamOwned<ClientConnection, Box<dyn ureq::ReadWrite>>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl std::io::Read for Tls {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::io::Write for Tls {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl ureq::ReadWrite for Tls {
    fn socket(&self) -> Option<&std::net::TcpStream> {
        self.0.sock.socket()
    }
}

impl ureq::TlsConnector for Connector {
    fn connect(
        &self,
        dns_name: &str,
        mut io: Box<dyn ureq::ReadWrite>,
    ) -> Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        let name = ServerName::try_from(dns_name.to_string())
            .map_err(|e| invalid(format!("server name {dns_name:?}: {e}")))?;
        let mut connection = ClientConnection::new(self.0.clone(), name)
            .map_err(|e| invalid(format!("TLS: {e}")))?;
        // The handshake now, so that a certificate the roots do not trust is the
        // connection's error, named as such.
        while connection.is_handshaking() {
            connection.complete_io(&mut io).map_err(|e| {
                std::io::Error::new(e.kind(), format!("TLS handshake with {dns_name}: {e}"))
            })?;
        }
        Ok(Box::new(Tls(StreamOwned::new(connection, io))))
    }
}
