//! Certificate verification as Java users expect it, on top of webpki, following the trust
//! stores when they change (autoRefresh).
//!
//! webpki refuses a certificate that is its own CA (`openssl req -x509` sets `CA:TRUE`)
//! when it is presented as the peer's certificate, while a Java trust manager accepts any
//! certificate that is itself in the truststore. Users migrate with exactly such self-signed
//! certificates, so a peer certificate that is byte for byte one of the trusted certificates
//! is accepted (a pinned certificate); every other certificate goes through webpki's path
//! validation unchanged. `ALLOW_ALL` forgives only a name mismatch.

use std::sync::Arc;

use gatehouse_secrets::{Fresh, SecretError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use crate::client::HostnameVerifier;
use crate::managers::{Anchors, TrustSource};

/// The handshake signature checks, the same for both verifiers: the crypto provider's.
macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.source.tls12(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.source.tls13(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.source.schemes()
        }
    };
}

/// webpki's verifier for the current trust material, and the same certificates for pinning.
struct Current<V: ?Sized> {
    webpki: Arc<V>,
    pinned: Arc<[CertificateDer<'static>]>,
}

impl<V: ?Sized> Current<V> {
    fn is_pinned(&self, cert: &CertificateDer<'_>) -> bool {
        self.pinned.iter().any(|p| p.as_ref() == cert.as_ref())
    }
}

/// What both verifiers share: the crypto provider and where trust comes from.
struct Source {
    crypto: Arc<CryptoProvider>,
    anchors: Anchors,
}

impl Source {
    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.crypto.signature_verification_algorithms)
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.crypto.signature_verification_algorithms)
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.crypto.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies upstream servers.
pub(crate) struct ServerVerifier {
    source: Source,
    hostname: HostnameVerifier,
    current: Fresh<Current<WebPkiServerVerifier>>,
}

impl ServerVerifier {
    /// A verifier over `anchors` as they are now, following their stores.
    pub(crate) fn new(
        crypto: Arc<CryptoProvider>,
        anchors: Anchors,
        hostname: HostnameVerifier,
    ) -> Result<Self, String> {
        let source = Source { crypto, anchors };
        let current = Fresh::load(source.anchors.provider(), || Self::build(&source)).map_err(|e| e.0)?;
        Ok(ServerVerifier { source, hostname, current })
    }

    fn build(source: &Source) -> Result<Current<WebPkiServerVerifier>, SecretError> {
        let trust = source.anchors.load()?;
        let webpki = WebPkiServerVerifier::builder_with_provider(trust.roots, source.crypto.clone())
            .build()
            .map_err(|e| SecretError::new(format!("cannot build the certificate verifier: {e}")))?;
        Ok(Current { webpki, pinned: trust.pinned })
    }

    fn current(&self) -> Arc<Current<WebPkiServerVerifier>> {
        self.current.get(|| Self::build(&self.source))
    }
}

fn is_name_error(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })
    )
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let current = self.current();
        match current.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(e) if is_name_error(&e) && self.hostname == HostnameVerifier::AllowAll => {
                Ok(ServerCertVerified::assertion())
            }
            Err(e) if current.is_pinned(end_entity) => {
                if self.hostname == HostnameVerifier::Strict {
                    let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| e.clone())?;
                    cert.verify_is_valid_for_subject_name(server_name)
                        .map_err(|_| Error::InvalidCertificate(CertificateError::NotValidForName))?;
                }
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    signature_checks!();
}

/// `TrustAllManager`'s verifier: any certificate is accepted; the handshake's signatures are
/// still checked with it.
pub(crate) struct TrustAllVerifier {
    source: Source,
}

impl TrustAllVerifier {
    pub(crate) fn new(crypto: Arc<CryptoProvider>) -> Self {
        TrustAllVerifier {
            source: Source { crypto, anchors: Anchors::System(Arc::new(rustls::RootCertStore::empty())) },
        }
    }
}

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

    signature_checks!();
}

/// Verifies client certificates (mutual TLS).
pub(crate) struct ClientVerifier {
    source: Source,
    required: bool,
    /// The CA names sent to clients, from the trust material at load.
    hints: Vec<DistinguishedName>,
    current: Fresh<Current<dyn ClientCertVerifier>>,
}

impl ClientVerifier {
    /// A verifier over the trust managers of `source` as they are now, following their stores.
    pub(crate) fn new(crypto: Arc<CryptoProvider>, source: TrustSource, required: bool) -> Result<Self, String> {
        let source = Source { crypto, anchors: Anchors::Stores(source) };
        let mut hints = Vec::new();
        let current = Fresh::load(source.anchors.provider(), || {
            let built = Self::build(&source, required)?;
            hints = built.webpki.root_hint_subjects().to_vec();
            Ok::<_, SecretError>(built)
        })
        .map_err(|e| e.0)?;
        Ok(ClientVerifier { source, required, hints, current })
    }

    fn build(source: &Source, required: bool) -> Result<Current<dyn ClientCertVerifier>, SecretError> {
        let trust = source.anchors.load()?;
        let builder = WebPkiClientVerifier::builder_with_provider(trust.roots, source.crypto.clone());
        let builder = if required { builder } else { builder.allow_unauthenticated() };
        let webpki = builder.build().map_err(|e| SecretError::new(format!("client authentication: {e}")))?;
        Ok(Current { webpki, pinned: trust.pinned })
    }

    fn current(&self) -> Arc<Current<dyn ClientCertVerifier>> {
        self.current.get(|| Self::build(&self.source, self.required))
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.required
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let current = self.current();
        match current.webpki.verify_client_cert(end_entity, intermediates, now) {
            Err(_) if current.is_pinned(end_entity) => Ok(ClientCertVerified::assertion()),
            other => other,
        }
    }

    signature_checks!();
}

impl std::fmt::Debug for TrustAllVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrustAllVerifier")
    }
}

impl std::fmt::Debug for ServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerVerifier").field("hostname", &self.hostname).finish()
    }
}

impl std::fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientVerifier").field("required", &self.required).finish()
    }
}
