//! The agent's two files, as the identity manager's agents have them:
//! - `appsettings.json`: `ApplicationUri` (the server), `EncryptionCertificate` (`File`,
//!   `Password`, `EncryptFile`, default true: the agent's file certificate, a `.pfx`),
//!   `IdentityServer` (`X509KeyFilePath` and `X509KeyFilePassword`: the server's `.pfx`, or a
//!   file holding just the server's certificate, PEM or DER: "at least the server's public
//!   key"), `TempFolderPath`;
//! - `appsettings.agent.json`: `"OpenId": { "OpenIdClients": { "Job": "<clear secret>" },
//!   "DefaultOpenIdClient": "Job", "AgentIdentifier": ... }`.
//!
//! Keys are case-insensitive and comments allowed, as .NET reads them. Paths are relative to
//! the file's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatehouse_oauth2::appsettings::{get, read_json};
use gatehouse_secrets::store::keystore::read_pkcs12_identities;
use gatehouse_secrets::{looks_like_pem, parse_pem, SecretValue, TlsIdentity};
use rustls_pki_types::CertificateDer;
use serde_json::Value;

/// The agent's file certificate.
#[derive(Debug, Clone)]
pub struct FileCertificate {
    /// The `.pfx`.
    pub path: PathBuf,
    password: String,
    /// Whether logs and temporary files are encrypted (default true).
    pub encrypt_file: bool,
}

/// What the agent's two files say.
#[derive(Debug, Clone, Default)]
pub struct AgentSettings {
    /// The directory the files are in.
    pub dir: PathBuf,
    /// `ApplicationUri`: the server's base URL.
    pub application_uri: Option<String>,
    /// `EncryptionCertificate`.
    pub file_certificate: Option<FileCertificate>,
    /// `IdentityServer`: the server's key file (or certificate) and its password.
    server_key: Option<(PathBuf, String)>,
    /// `OpenId.OpenIdClients`: name to clear secret.
    clients: BTreeMap<String, String>,
    /// `OpenId.DefaultOpenIdClient`.
    pub default_client: Option<String>,
    /// `TempFolderPath` (default `tmp` beside the files' instance).
    pub temp_folder: Option<PathBuf>,
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// Reads `dir/appsettings.json` and `dir/appsettings.agent.json` (either may be missing,
/// not both).
pub fn load(dir: &Path) -> Result<AgentSettings, String> {
    let (main, agent) = (dir.join("appsettings.json"), dir.join("appsettings.agent.json"));
    if !main.exists() && !agent.exists() {
        return Err(format!("{}: no appsettings.json or appsettings.agent.json here", dir.display()));
    }
    let mut s = AgentSettings { dir: dir.to_path_buf(), ..Default::default() };
    if main.exists() {
        let root = read_json(&main)?;
        s.application_uri = string(get(&root, "ApplicationUri"));
        s.temp_folder = string(get(&root, "TempFolderPath")).map(|p| dir.join(p));
        if let Some(ec) = get(&root, "EncryptionCertificate").and_then(Value::as_object) {
            match string(get(ec, "File")) {
                Some(file) => {
                    s.file_certificate = Some(FileCertificate {
                        path: dir.join(file),
                        password: string(get(ec, "Password")).unwrap_or_default(),
                        encrypt_file: get(ec, "EncryptFile").and_then(Value::as_bool).unwrap_or(true),
                    })
                }
                None if get(ec, "Thumbprint").is_some() || get(ec, "DistinguishedName").is_some() => {
                    return Err(format!(
                        "{}: EncryptionCertificate names a Windows certificate store; Gatehouse reads the certificate from a file: set File and Password",
                        main.display()
                    ))
                }
                None => {}
            }
        }
        if let Some(server) = get(&root, "IdentityServer").and_then(Value::as_object) {
            if let Some(file) = string(get(server, "X509KeyFilePath")) {
                s.server_key = Some((dir.join(file), string(get(server, "X509KeyFilePassword")).unwrap_or_default()));
            } else if get(server, "X509Thumbprint").is_some() || get(server, "X509StoreLocation").is_some() {
                return Err(format!(
                    "{}: IdentityServer names a Windows certificate store; Gatehouse reads the server's key from a file: set X509KeyFilePath",
                    main.display()
                ));
            }
        }
    }
    if agent.exists() {
        let root = read_json(&agent)?;
        if let Some(openid) = get(&root, "OpenId").and_then(Value::as_object) {
            if let Some(clients) = get(openid, "OpenIdClients").and_then(Value::as_object) {
                for (name, secret) in clients {
                    let secret = secret
                        .as_str()
                        .ok_or_else(|| format!("{}: OpenId.OpenIdClients.{name} must be a string", agent.display()))?;
                    s.clients.insert(name.clone(), secret.to_string());
                }
            }
            s.default_client = string(get(openid, "DefaultOpenIdClient"));
        }
    }
    Ok(s)
}

impl AgentSettings {
    /// The client to use (`name`, else `DefaultOpenIdClient`, else the only one) and its secret.
    pub fn client(&self, name: Option<&str>) -> Result<(String, String), String> {
        let name = match name.map(str::to_string).or_else(|| self.default_client.clone()) {
            Some(n) => n,
            None if self.clients.len() == 1 => self.clients.keys().next().cloned().unwrap_or_default(),
            None => {
                return Err("appsettings.agent.json names no DefaultOpenIdClient: choose one with --client".into());
            }
        };
        let secret = self.clients.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)).map(|(_, v)| v.clone());
        match secret {
            Some(s) => Ok((name, s)),
            None => Err(format!("appsettings.agent.json has no OpenId.OpenIdClients.{name}")),
        }
    }

    /// The names of the configured clients.
    pub fn client_names(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }

    /// The file certificate with its private key.
    pub fn file_identity(&self) -> Result<Arc<TlsIdentity>, String> {
        let fc = self
            .file_certificate
            .as_ref()
            .ok_or_else(|| "appsettings.json has no EncryptionCertificate with a File".to_string())?;
        let ids = read_pkcs12_identities(&fc.path, &fc.password).map_err(|e| e.0)?;
        ids.into_iter().next().ok_or_else(|| format!("{} holds no private key", fc.path.display()))
    }

    /// Whether `IdentityServer` names the server's key file.
    pub fn has_server_key(&self) -> bool {
        self.server_key.is_some()
    }

    /// The server's certificates (to verify its tokens): from its `.pfx`, or from a file that
    /// holds just the certificate (PEM or DER).
    pub fn server_certificates(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        let (path, password) = self.server_key.as_ref().ok_or_else(|| {
            "appsettings.json has no IdentityServer.X509KeyFilePath (the server's certificate)".to_string()
        })?;
        server_certificates(path, password)
    }
}

/// Certificates from a PEM or DER certificate file, or from a PKCS#12 file.
pub fn server_certificates(path: &Path, password: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if looks_like_pem(&bytes) {
        return match parse_pem(&bytes, &path.display().to_string()).map_err(|e| e.0)? {
            SecretValue::Certificates(c) => Ok(c),
            SecretValue::Identity(id) => Ok(id.chain.clone()),
            SecretValue::Bytes(_) => Err(format!("{} holds no certificate", path.display())),
        };
    }
    if x509_parser::parse_x509_certificate(&bytes).is_ok() {
        return Ok(vec![CertificateDer::from(bytes)]);
    }
    let ids = read_pkcs12_identities(path, password).map_err(|e| e.0)?;
    Ok(ids.iter().flat_map(|id| id.chain.first().cloned()).collect())
}
