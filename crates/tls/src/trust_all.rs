//! IG's `TrustAllManager`: trusts any server certificate. Only for tests and migrations; it
//! turns TLS into encryption without authentication (anyone on the path can answer in the
//! server's place), so every load says so, loudly. Signatures of the handshake are still
//! checked, so the connection is at least with whoever holds the presented certificate's key.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};

/// The marker object `TrustAllManager` builds.
pub struct TrustAll;

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    cx.config(node)?.finish()?;
    tracing::warn!(
        "{}:{}: TrustAllManager: upstream certificates are NOT verified; any server, or anyone in between, is trusted. Use a SecretsTrustManager in production",
        cx.file(),
        node.pos
    );
    Ok(Object::Other(Arc::new(TrustAll)))
}

/// Accepts any certificate; checks the handshake signatures with it.
#[derive(Debug)]
pub(crate) struct TrustAllVerifier(pub(crate) Arc<CryptoProvider>);

impl ServerCertVerifier for TrustAllVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
