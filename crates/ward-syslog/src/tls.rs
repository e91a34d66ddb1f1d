//! RFC 5425 syslog over TLS with client-certificate (mTLS) identification.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::resolver::CertIdentity;
use crate::{read_stream, ConnRefusal, Shared, Transport};

/// TLS listener settings. PEM text, not paths, so the server decides where
/// secrets live.
#[derive(Clone)]
pub struct TlsListenerConfig {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Server certificate chain (PEM).
    pub cert_chain_pem: String,
    /// Server private key (PEM).
    pub key_pem: String,
    /// CA certificates that issue members' client certificates (PEM). When
    /// absent, no client certificate is asked for and members are identified
    /// by source network only.
    pub client_ca_pem: Option<String>,
    /// Refuse clients without a certificate. When false, a client without one
    /// is identified by its registered source network.
    pub require_client_cert: bool,
    /// Handshake time limit in seconds.
    pub handshake_timeout_secs: u64,
}

impl std::fmt::Debug for TlsListenerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("TlsListenerConfig")
            .field("addr", &self.addr)
            .field("client_ca", &self.client_ca_pem.is_some())
            .field("require_client_cert", &self.require_client_cert)
            .finish()
    }
}

pub(crate) fn acceptor(cfg: &TlsListenerConfig) -> Result<TlsAcceptor, String> {
    // One process-wide provider; installing twice is harmless.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cfg.cert_chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("server certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("server certificate PEM holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(cfg.key_pem.as_bytes())
        .map_err(|e| format!("server key PEM: {e}"))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match &cfg.client_ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                let c = c.map_err(|e| format!("client CA PEM: {e}"))?;
                roots.add(c).map_err(|e| format!("client CA: {e}"))?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if !cfg.require_client_cert {
                v = v.allow_unauthenticated();
            }
            let verifier = v.build().map_err(|e| format!("client verifier: {e}"))?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(certs, key)
        }
        None => builder.with_no_client_auth().with_single_cert(certs, key),
    }
    .map_err(|e| format!("server certificate/key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub(crate) async fn accept_loop(
    l: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = Duration::from_secs(
        shared
            .cfg
            .tls
            .as_ref()
            .map_or(10, |t| t.handshake_timeout_secs.max(1)),
    );
    loop {
        let (stream, peer) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(_) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin; established connections carry on.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let stop = stop.clone();
        shared.metrics.connection(Transport::Tls);
        let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
            shared.metrics.refused(ConnRefusal::TooManyConnections);
            continue;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                _ => {
                    shared.metrics.refused(ConnRefusal::TlsHandshake);
                    return;
                }
            };
            // The organisation comes from the connection alone: the
            // certificate if there is one, else the registered network.
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| CertIdentity::from_der(c.as_ref()));
            let org = match &cert {
                Some(id) => match shared.resolver.org_for_cert(id) {
                    Some(o) => o,
                    None => {
                        shared.metrics.refused(ConnRefusal::UnknownCertificate);
                        return;
                    }
                },
                None => match shared.resolver.org_for_addr(peer.ip()) {
                    Some(o) => o,
                    None => {
                        shared.metrics.refused(ConnRefusal::UnknownNetwork);
                        return;
                    }
                },
            };
            read_stream(tls, org, Transport::Tls, &shared, stop).await;
        });
    }
}
