//! Protocol versions and cipher suites by their IG (JSSE/IANA) names.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::SupportedProtocolVersion;

/// The protocols Gatehouse speaks; anything older is refused at load.
pub(crate) fn versions(
    cx: &BuildCtx<'_>,
    node: Option<&Node>,
) -> Result<Vec<&'static SupportedProtocolVersion>, ConfigError> {
    let Some(node) = node else { return Ok(rustls::DEFAULT_VERSIONS.to_vec()) };
    let mut out = Vec::new();
    for item in cx.array(node)? {
        let name = cx.string(item)?;
        out.push(match name.to_ascii_uppercase().replace(['v', 'V'], "").as_str() {
            "TLS1.3" => &rustls::version::TLS13,
            "TLS1.2" => &rustls::version::TLS12,
            _ => {
                return Err(
                    cx.err(item, format!("'{name}' is not supported: Gatehouse speaks TLSv1.2 and TLSv1.3 only"))
                )
            }
        });
    }
    if out.is_empty() {
        return Err(cx.err(node, "at least one protocol is needed (TLSv1.2, TLSv1.3)"));
    }
    Ok(out)
}

/// The crypto provider, its suites narrowed to `node`'s list (in that order of preference)
/// when given. By default SHA-256 suites come before SHA-384 ones: AES-128-GCM is as safe in
/// practice, and its SHA-256 key schedule runs on the CPU's SHA extensions where SHA-512 has
/// none, which makes resumed handshakes much cheaper.
pub(crate) fn provider(cx: &BuildCtx<'_>, node: Option<&Node>) -> Result<Arc<CryptoProvider>, ConfigError> {
    let mut provider = aws_lc_rs::default_provider();
    provider.cipher_suites.sort_by_key(|s| format!("{:?}", s.suite()).ends_with("SHA384"));
    if let Some(node) = node {
        let mut suites = Vec::new();
        for item in cx.array(node)? {
            let name = cx.string(item)?;
            let wanted = normalize(&name);
            let suite = provider.cipher_suites.iter().find(|s| normalize(&format!("{:?}", s.suite())) == wanted);
            match suite {
                Some(s) => suites.push(*s),
                None => {
                    let known: Vec<String> = provider
                        .cipher_suites
                        .iter()
                        .map(|s| format!("{:?}", s.suite()).replace("TLS13_", "TLS_"))
                        .collect();
                    return Err(cx.err(
                        item,
                        format!("unknown or unsupported cipher suite '{name}'; supported: {}", known.join(", ")),
                    ));
                }
            }
        }
        if suites.is_empty() {
            return Err(cx.err(node, "at least one cipher suite is needed"));
        }
        provider.cipher_suites = suites;
    }
    Ok(Arc::new(provider))
}

/// IANA and rustls spell TLS 1.3 suites differently (`TLS_AES_128_GCM_SHA256` vs
/// `TLS13_AES_128_GCM_SHA256`).
fn normalize(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    match upper.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => upper,
    }
}
