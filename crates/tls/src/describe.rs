//! A peer's certificates as expressions see them: `${contexts.client.certificates[0].subjectDN.name}`,
//! with the property names of Java's `X509Certificate` that IG routes use.

use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

/// The certificates (leaf first) as a JSON list; unparsable ones are left out.
pub fn describe_certificates(chain: &[CertificateDer<'_>]) -> Value {
    Value::Array(chain.iter().filter_map(|c| describe(c.as_ref())).collect())
}

fn describe(der: &[u8]) -> Option<Value> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let names = |name: &X509Name<'_>| {
        let rdns = rdns(name);
        (json!({ "name": rdns.join(", ") }), json!({ "name": rdns.join(",") }))
    };
    let (subject_dn, subject_x500) = names(cert.subject());
    let (issuer_dn, issuer_x500) = names(cert.issuer());
    let alt_names = alt_names(&cert);
    Some(json!({
        "subjectDN": subject_dn,
        "subjectX500Principal": subject_x500,
        "issuerDN": issuer_dn,
        "issuerX500Principal": issuer_x500,
        "serialNumber": cert.tbs_certificate.serial.to_string(),
        "notBefore": cert.validity().not_before.to_rfc2822().ok(),
        "notAfter": cert.validity().not_after.to_rfc2822().ok(),
        "subjectAlternativeNames": alt_names,
    }))
}

fn alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) | GeneralName::RFC822Name(d) | GeneralName::URI(d) => Some(d.to_string()),
                    GeneralName::IPAddress(ip) => ip_text(ip),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the console lists of the leaf certificate `der`, loaded from `secret_id`.
pub(crate) fn in_use(secret_id: &str, der: &[u8]) -> Option<gatehouse_core::certificates::CertificateView> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(gatehouse_core::certificates::CertificateView {
        secret_id: secret_id.to_string(),
        subject: rdns(cert.subject()).join(", "),
        issuer: rdns(cert.issuer()).join(", "),
        names: alt_names(&cert),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// `CN=alice`, `O=Example`, ... most specific first, as Java prints a distinguished name.
fn rdns(name: &X509Name<'_>) -> Vec<String> {
    let registry = x509_parser::objects::oid_registry();
    let mut out: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let key = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                        .map(str::to_string)
                        .unwrap_or_else(|_| attr.attr_type().to_id_string());
                    let value = attr.as_str().map(str::to_string).unwrap_or_default();
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    out.reverse();
    out
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes).ok().map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}
