//! `gatehouse agent init DIR`: a new agent in one command. Writes the reference's two
//! `appsettings` files (mode 0600: they hold the file certificate's password and the client's
//! clear secret), a fresh file certificate (`identitymanager-Files.pfx`: RSA-2048, self-signed,
//! key usage for key and data encipherment), and returns the `<OpenIdClient>` line, with the
//! secret's hash, to paste into the server's XML.

use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use serde_json::json;

use crate::ber::{self, CONTEXT_0, INTEGER, NULL, SEQUENCE, SET};
use crate::files::write_private;

/// What to set up.
pub struct Init<'a> {
    /// The server's base URL (`ApplicationUri`).
    pub server: &'a str,
    /// The OpenID client's identifier.
    pub client: &'a str,
    /// Its profile on the server.
    pub profile: &'a str,
}

fn name(cn: &str) -> Vec<u8> {
    let atv = ber::seq(SEQUENCE, &[&ber::oid("2.5.4.3"), &ber::tlv(0x0c, cn.as_bytes())]);
    ber::seq(SEQUENCE, &[&ber::tlv(SET, &atv)])
}

/// `YYMMDDHHMMSSZ` for a time before 2050 (seconds since the epoch).
fn utc_time(secs: u64) -> Vec<u8> {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let text = format!("{:02}{m:02}{d:02}{:02}{:02}{:02}Z", y % 100, rem / 3600, rem % 3600 / 60, rem % 60);
    ber::tlv(0x17, text.as_bytes())
}

/// A self-signed certificate for `key` (DER).
fn self_signed(key: &KeyPair, cn: &str, now: u64) -> Result<Vec<u8>, String> {
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| "no randomness")?;
    serial[0] &= 0x7f;
    let sha256_rsa = ber::seq(SEQUENCE, &[&ber::oid("1.2.840.113549.1.1.11"), &ber::tlv(NULL, &[])]);
    let spki = key.public_key().as_der().map_err(|_| "cannot encode the public key")?;
    // keyUsage (critical): keyEncipherment and dataEncipherment.
    let key_usage = ber::seq(
        SEQUENCE,
        &[&ber::oid("2.5.29.15"), &ber::tlv(0x01, &[0xff]), &ber::tlv(0x04, &ber::tlv(0x03, &[0x04, 0x30]))],
    );
    let extensions = ber::tlv(0xA3, &ber::seq(SEQUENCE, &[&key_usage]));
    let validity = ber::seq(SEQUENCE, &[&utc_time(now - 60), &utc_time(now + 10 * 365 * 86_400)]);
    let tbs = ber::seq(
        SEQUENCE,
        &[
            &ber::tlv(CONTEXT_0, &ber::tlv(INTEGER, &[2])),
            &ber::tlv(INTEGER, &serial),
            &sha256_rsa,
            &name(cn),
            &validity,
            &name(cn),
            spki.as_ref(),
            &extensions,
        ],
    );
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), &tbs, &mut signature)
        .map_err(|_| "cannot sign the certificate")?;
    let mut bits = vec![0u8];
    bits.extend(signature);
    Ok(ber::seq(SEQUENCE, &[&tbs, &sha256_rsa, &ber::tlv(0x03, &bits)]))
}

/// A random password of 32 URL-safe characters.
fn password() -> Result<String, String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "no randomness")?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Sets up `dir`; the `<OpenIdClient>` line for the server's XML.
pub fn init(dir: &Path, what: &Init<'_>, now: u64) -> Result<String, String> {
    for f in ["appsettings.json", "appsettings.agent.json", "identitymanager-Files.pfx"] {
        if dir.join(f).exists() {
            return Err(format!("{} already exists: not overwriting an agent's files", dir.join(f).display()));
        }
    }
    let key = KeyPair::generate(KeySize::Rsa2048).map_err(|_| "cannot generate an RSA key")?;
    let cert = self_signed(&key, &format!("{} agent files", what.client), now)?;
    let pkcs8 = key.as_der().map_err(|_| "cannot encode the private key")?;
    let chain = PrivateKeyChain::new(
        b"files".to_vec(),
        PrivateKey::from_der(pkcs8.as_ref()).map_err(|e| e.to_string())?,
        [Certificate::from_der(&cert).map_err(|e| e.to_string())?],
    );
    let mut store = KeyStore::new();
    store.add_entry("files", KeyStoreEntry::PrivateKeyChain(chain));
    let pfx_password = password()?;
    let pfx = store.writer(&pfx_password).write().map_err(|e| e.to_string())?;
    let secret = gatehouse_oauth2::secret::generate_secret()?;
    let appsettings = json!({
        "ApplicationUri": what.server,
        "EncryptionCertificate": { "File": "./identitymanager-Files.pfx", "Password": pfx_password, "EncryptFile": true },
        "IdentityServer": { "X509KeyFilePath": "./identitymanager.cer.pem" },
        "TempFolderPath": "./tmp"
    });
    let agent = json!({ "OpenId": { "OpenIdClients": { what.client: secret }, "DefaultOpenIdClient": what.client } });
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).map(|s| s + "\n").map_err(|e| e.to_string());
    write_private(&dir.join("identitymanager-Files.pfx"), &pfx)?;
    write_private(&dir.join("appsettings.json"), pretty(&appsettings)?.as_bytes())?;
    write_private(&dir.join("appsettings.agent.json"), pretty(&agent)?.as_bytes())?;
    Ok(format!(
        "<OpenIdClient Identifier=\"{}\" HashedSecret=\"{}\" DisplayName_L1=\"Agent {}\" Profile=\"{}\" />",
        what.client,
        gatehouse_oauth2::secret::hash_secret(&secret),
        what.client,
        what.profile
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_times_are_civil_dates() {
        assert_eq!(super::utc_time(0), [&[0x17, 13][..], b"700101000000Z"].concat());
        assert_eq!(super::utc_time(1796042096), [&[0x17, 13][..], b"261130123456Z"].concat());
        assert_eq!(super::utc_time(951_782_400), [&[0x17, 13][..], b"000229000000Z"].concat(), "a leap day");
    }
}
