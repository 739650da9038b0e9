//! HTTPS with rustls: HTTP/2 and HTTP/1.1 on one port, told apart by ALPN (see
//! `examples/tls.rs`).
//!
//! - [`Identity::from_pem_files`] loads a certificate chain and its key;
//!   [`Identity::self_signed`] makes a throwaway one with `rcgen` for local development.
//! - [`server_config`] is a rustls configuration offering `h2` and `http/1.1`.
//! - [`serve_tls`] accepts TLS connections and serves them with hyper-util's `auto` builder:
//!   every SockJS transport over HTTP/2, websockets over HTTP/1.1 upgrades and, since the
//!   builder advertises RFC 8441, over HTTP/2 extended `CONNECT` too.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sockjs_hyper::SockJs;
use tokio_rustls::TlsAcceptor;

use crate::{route, Fallback};

/// A good default for how long a client may take from its TCP connection to its first
/// complete request head (the TLS handshake, the HTTP/2 preface, the first HTTP/1.1 request),
/// and for each later HTTP/1.1 request head.
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a certificate or key could not be used.
#[derive(Debug)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    Pem(String, rustls::pki_types::pem::Error),
    /// The certificate file holds no certificate.
    NoCertificate(String),
    /// Generating the self-signed certificate failed.
    Generate(rcgen::Error),
    /// rustls refused the certificate or key.
    Rustls(rustls::Error),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Pem(path, e) => write!(f, "{path}: {e}"),
            TlsError::NoCertificate(path) => write!(f, "{path}: no certificate in the file"),
            TlsError::Generate(e) => write!(f, "generating a self-signed certificate: {e}"),
            TlsError::Rustls(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct Identity {
    /// The chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Load a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let name = |p: &Path| p.display().to_string();
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::Pem(name(cert), e))?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate(name(cert)));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem(name(key), e))?;
        Ok(Identity { certs, key })
    }

    /// A self-signed certificate for `names` (DNS names or IP addresses), made now with a
    /// fresh key. Browsers warn about it: it is for development and tests only.
    pub fn self_signed(names: Vec<String>) -> Result<SelfSigned, TlsError> {
        let made = rcgen::generate_simple_self_signed(names).map_err(TlsError::Generate)?;
        Ok(SelfSigned {
            cert_pem: made.cert.pem(),
            key_pem: made.signing_key.serialize_pem(),
            identity: Identity {
                certs: vec![made.cert.der().clone()],
                key: PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()).into(),
            },
        })
    }
}

/// A self-signed certificate made by [`Identity::self_signed`], also as PEM text (for a client
/// to trust it, or to save it).
#[derive(Debug)]
pub struct SelfSigned {
    /// The certificate and key, ready for [`server_config`].
    pub identity: Identity,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
}

/// A rustls server configuration with rustls's default crypto provider, offering HTTP/2 and
/// HTTP/1.1 by ALPN (HTTP/2 preferred).
pub fn server_config(identity: Identity) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(identity.certs, identity.key)
        .map_err(TlsError::Rustls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The HTTP side of every connection: HTTP/1.1 with upgrades and `header_read_timeout`, and
/// HTTP/2 with RFC 8441 extended `CONNECT` advertised (websockets over HTTP/2).
pub fn http_builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Dead peers of long-lived streams are found by pings.
        .keep_alive_interval(Duration::from_secs(30))
        .enable_connect_protocol();
    builder
}

/// Serve `endpoints` (first match by prefix) and `fallback` for everything else over TLS on
/// `listener`, one task per connection, until the future is dropped. A connection without a
/// complete first request within `first_request_timeout` of its accept is dropped (see
/// [`FIRST_REQUEST_TIMEOUT`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    endpoints: Vec<SockJs>,
    fallback: Fallback,
    first_request_timeout: Duration,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let builder = Arc::new(http_builder(first_request_timeout));
    let endpoints = Arc::new(endpoints);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        crate::prepare(&tcp);
        let (acceptor, builder) = (acceptor.clone(), Arc::clone(&builder));
        let (endpoints, fallback) = (Arc::clone(&endpoints), Arc::clone(&fallback));
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + first_request_timeout;
            let tls = match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let requested = Arc::new(AtomicBool::new(false));
            let service = {
                let requested = Arc::clone(&requested);
                service_fn(move |req: Request<Incoming>| {
                    requested.store(true, Ordering::Relaxed);
                    let (endpoints, fallback) = (Arc::clone(&endpoints), Arc::clone(&fallback));
                    async move { Ok::<_, Infallible>(route(&endpoints, &fallback, peer, req).await) }
                })
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(conn);
            // Until a first request arrives nothing else bounds the connection (hyper's
            // header timeout starts once it knows the HTTP version).
            let outcome = tokio::select! {
                outcome = conn.as_mut() => Some(outcome),
                () = tokio::time::sleep_until(deadline) => None,
            };
            let outcome = match outcome {
                Some(outcome) => outcome,
                None if requested.load(Ordering::Relaxed) => conn.await,
                None => return tracing::debug!(%peer, "no request in time"),
            };
            if let Err(e) = outcome {
                tracing::debug!(error = %e, %peer, "connection error");
            }
        });
    }
}

/// The address a server bound to `addr` would be reached at by the names of a self-signed
/// certificate: `localhost` and the listening IP.
pub fn self_signed_names(addr: SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ip = addr.ip().to_string();
    if !addr.ip().is_unspecified() && !names.contains(&ip) {
        names.push(ip);
    }
    names
}
