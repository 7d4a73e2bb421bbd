//! The agent's HTTPS client for `gatehouse agent token` and `call`: rustls with the system's
//! trust anchors (`SSL_CERT_FILE` honoured) or the certificates of `--cacert`.

use std::error::Error as _;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;

/// A client.
pub struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// An answer.
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// Why a call failed before an answer: `Unreachable` is the network, `Other` anything else.
#[derive(Debug)]
pub enum CallError {
    /// The server could not be reached (DNS, refused, TLS).
    Unreachable(String),
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(s) | CallError::Other(s) => f.write_str(s),
        }
    }
}

impl Http {
    /// A client trusting `cacert` (PEM certificates) or the system's anchors.
    pub fn new(cacert: Option<&Path>) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        match cacert {
            Some(path) => {
                let certs = crate::settings::server_certificates(path, "")?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!("{} holds no usable CA certificate", path.display()));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
            }
        }
        let config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build();
        Ok(Http { client: Client::builder(TokioExecutor::new()).build(https) })
    }

    /// One request.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, CallError> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.body(Full::new(body)).map_err(|e| CallError::Other(format!("{url}: {e}")))?;
        let resp = self.client.request(req).await.map_err(|e| {
            let mut why = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                why = s.to_string();
                source = s.source();
            }
            CallError::Unreachable(format!("cannot reach {url}: {why}"))
        })?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| CallError::Unreachable(format!("{url}: the answer broke off: {e}")))?
            .to_bytes();
        Ok(Answer { status: parts.status, headers: parts.headers, body })
    }
}
