//! CMS `EnvelopedData` (RFC 5652) to one certificate: a fresh AES key encrypts the content
//! (AES-CBC), the certificate's RSA key wraps that key (RSA-OAEP or PKCS#1 v1.5 key
//! transport). What `openssl cms -encrypt` writes, this reads, and the other way round; both
//! directions stream, so a file of any size needs a few buffers of memory.
//!
//! `EnvelopedData` has no integrity check of its own: a wrong key or a damaged key block
//! fails to decrypt, and damage to the last blocks fails the padding check, but a change in
//! the middle of the content is not detected. The files encrypted here are the agent's own
//! logs and temporary files, protected against being read, as the reference asks.

use std::io::{self, BufRead, BufReader, Read, Write};

use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, StreamingDecryptingKey, StreamingEncryptingKey, UnboundCipherKey, AES_128,
    AES_192, AES_256,
};
use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
    OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
};
use gatehouse_secrets::TlsIdentity;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::ber::{
    self, Node, Reader, CONTEXT_0, CONTEXT_0_PRIMITIVE, CONTEXT_1, INTEGER, NULL, OCTET_STRING, SEQUENCE, SET,
};
use crate::pem_stream::{PemReader, PemWriter};

const ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
const DATA: &str = "1.2.840.113549.1.7.1";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const RSAES_OAEP: &str = "1.2.840.113549.1.1.7";
const MGF1: &str = "1.2.840.113549.1.1.8";
const SHA1: &str = "1.3.14.3.2.26";
const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const SHA384: &str = "2.16.840.1.101.3.4.2.2";
const SHA512: &str = "2.16.840.1.101.3.4.2.3";
const AES128_CBC: &str = "2.16.840.1.101.3.4.1.2";
const AES192_CBC: &str = "2.16.840.1.101.3.4.1.22";
const AES256_CBC: &str = "2.16.840.1.101.3.4.1.42";

const CHUNK: usize = 64 * 1024;

/// How the content key is wrapped with the certificate's RSA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTransport {
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 (the default).
    Oaep,
    /// RSAES-PKCS1-v1_5, what `openssl cms -encrypt` uses unless told otherwise.
    Pkcs1,
}

/// A failure, in words a user can act on; never key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmsError(pub String);

impl std::fmt::Display for CmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CmsError {}

fn io_err(e: io::Error) -> CmsError {
    CmsError(e.to_string())
}

fn oid_text(node: &Node) -> String {
    x509_parser::der_parser::oid::Oid::new(node.bytes().into()).to_id_string()
}

/// The parts of the recipient's certificate that CMS names.
struct Recipient {
    issuer: Vec<u8>,
    serial: Vec<u8>,
    spki: Vec<u8>,
    key_id: Option<Vec<u8>>,
}

fn recipient(cert_der: &[u8]) -> Result<Recipient, CmsError> {
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|_| CmsError("the file certificate is not an X.509 certificate".into()))?;
    let key_id = cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
        _ => None,
    });
    Ok(Recipient {
        issuer: cert.tbs_certificate.issuer.as_raw().to_vec(),
        serial: cert.tbs_certificate.raw_serial().to_vec(),
        spki: cert.tbs_certificate.subject_pki.raw.to_vec(),
        key_id,
    })
}

/// Encrypts `len` bytes of `input` to the certificate `cert_der`, writing DER (or PEM) to `out`.
pub fn encrypt(
    cert_der: &[u8],
    transport: KeyTransport,
    input: &mut impl Read,
    len: u64,
    out: impl Write,
    pem: bool,
) -> Result<(), CmsError> {
    let r = recipient(cert_der)?;
    let public = PublicEncryptingKey::from_der(&r.spki)
        .map_err(|_| CmsError("the file certificate's key is not an RSA key (CMS key transport needs RSA)".into()))?;
    let mut cek = [0u8; 32];
    let mut iv = [0u8; 16];
    aws_lc_rs::rand::fill(&mut cek).map_err(|_| CmsError("no randomness".into()))?;
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| CmsError("no randomness".into()))?;
    let (wrapped, algorithm) = match transport {
        KeyTransport::Oaep => {
            let k = OaepPublicEncryptingKey::new(public).map_err(|_| CmsError("unusable RSA key".into()))?;
            let mut buf = vec![0; k.ciphertext_size()];
            let n = k
                .encrypt(&OAEP_SHA256_MGF1SHA256, &cek, &mut buf, None)
                .map_err(|_| CmsError("RSA-OAEP failed".into()))?
                .len();
            buf.truncate(n);
            let sha256 = ber::seq(SEQUENCE, &[&ber::oid(SHA256), &ber::tlv(NULL, &[])]);
            let params = ber::seq(
                SEQUENCE,
                &[
                    &ber::tlv(CONTEXT_0, &sha256),
                    &ber::tlv(CONTEXT_1, &ber::seq(SEQUENCE, &[&ber::oid(MGF1), &sha256])),
                ],
            );
            (buf, ber::seq(SEQUENCE, &[&ber::oid(RSAES_OAEP), &params]))
        }
        KeyTransport::Pkcs1 => {
            let k = Pkcs1PublicEncryptingKey::new(public).map_err(|_| CmsError("unusable RSA key".into()))?;
            let mut buf = vec![0; k.ciphertext_size()];
            let n = k.encrypt(&cek, &mut buf).map_err(|_| CmsError("RSA PKCS#1 v1.5 failed".into()))?.len();
            buf.truncate(n);
            (buf, ber::seq(SEQUENCE, &[&ber::oid(RSA_ENCRYPTION), &ber::tlv(NULL, &[])]))
        }
    };
    let rid = ber::seq(SEQUENCE, &[&r.issuer, &ber::tlv(INTEGER, &r.serial)]);
    let ktri = ber::seq(SEQUENCE, &[&ber::tlv(INTEGER, &[0]), &rid, &algorithm, &ber::tlv(OCTET_STRING, &wrapped)]);
    let recipients = ber::tlv(SET, &ktri);
    let content_len = usize::try_from(len / 16 * 16 + 16).map_err(|_| CmsError("the file is too large".into()))?;
    let content_head = ber::header(CONTEXT_0_PRIMITIVE, content_len);
    let cipher = ber::seq(SEQUENCE, &[&ber::oid(AES256_CBC), &ber::tlv(OCTET_STRING, &iv)]);
    let eci_body = [ber::oid(DATA), cipher, content_head].concat();
    let eci_len = eci_body.len() + content_len;
    let eci_head = ber::header(SEQUENCE, eci_len);
    let version = ber::tlv(INTEGER, &[0]);
    let env_len = version.len() + recipients.len() + eci_head.len() + eci_len;
    let env_head = ber::header(SEQUENCE, env_len);
    let explicit_head = ber::header(CONTEXT_0, env_head.len() + env_len);
    let type_oid = ber::oid(ENVELOPED_DATA);
    let info_len = type_oid.len() + explicit_head.len() + env_head.len() + env_len;
    let head =
        [ber::header(SEQUENCE, info_len), type_oid, explicit_head, env_head, version, recipients, eci_head, eci_body]
            .concat();

    if pem {
        let mut p = PemWriter::new(out, "CMS").map_err(io_err)?;
        seal(&head, &cek, iv, input, len, &mut p)?;
        p.finish().map(|_| ()).map_err(io_err)
    } else {
        let mut out = out;
        seal(&head, &cek, iv, input, len, &mut out)?;
        out.flush().map_err(io_err)
    }
}

/// Writes `head`, then `len` bytes of `input` encrypted with AES-256-CBC under `cek` and `iv`.
fn seal(
    head: &[u8],
    cek: &[u8],
    iv: [u8; 16],
    input: &mut impl Read,
    len: u64,
    w: &mut impl Write,
) -> Result<(), CmsError> {
    w.write_all(head).map_err(io_err)?;
    let key = UnboundCipherKey::new(&AES_256, cek).map_err(|_| CmsError("AES key".into()))?;
    let mut enc = StreamingEncryptingKey::less_safe_cbc_pkcs7(key, EncryptionContext::Iv128(iv.into()))
        .map_err(|_| CmsError("AES-CBC".into()))?;
    let mut buf = vec![0u8; CHUNK];
    let mut outbuf = vec![0u8; CHUNK + 16];
    let mut seen: u64 = 0;
    loop {
        let n = input.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        seen += n as u64;
        if seen > len {
            return Err(CmsError("the file grew while it was encrypted".into()));
        }
        let u = enc.update(&buf[..n], &mut outbuf).map_err(|_| CmsError("AES-CBC".into()))?;
        w.write_all(u.written()).map_err(io_err)?;
    }
    if seen != len {
        return Err(CmsError("the file shrank while it was encrypted".into()));
    }
    let (_, last) = enc.finish(&mut outbuf).map_err(|_| CmsError("AES-CBC".into()))?;
    w.write_all(last.written()).map_err(io_err)
}

/// The content key, unwrapped with `identity`'s private key from the recipient that names its
/// certificate.
fn unwrap_key(recipients: &Node, identity: &TlsIdentity) -> Result<Vec<u8>, CmsError> {
    let cert = identity.chain.first().ok_or_else(|| CmsError("the file certificate is missing".into()))?;
    let me = recipient(cert)?;
    let mut found = None;
    for ri in recipients.children() {
        let parts = ri.children();
        if ri.tag() != SEQUENCE || parts.len() < 4 {
            continue; // another kind of recipient (key agreement, KEK, password)
        }
        let ours = match &parts[1] {
            Node::Constructed(SEQUENCE, ias) if ias.len() == 2 => {
                ias[0].to_der() == me.issuer && ias[1].bytes() == me.serial.as_slice()
            }
            Node::Primitive(CONTEXT_0_PRIMITIVE, ski) => me.key_id.as_deref() == Some(ski.as_slice()),
            _ => false,
        };
        if ours {
            found = Some(parts);
            break;
        }
    }
    let parts = found
        .ok_or_else(|| CmsError("the file is not encrypted to this file certificate (no recipient names it)".into()))?;
    let algorithm = parts[2].children();
    let wrapped = parts[3].bytes();
    let key_der = match identity.key() {
        rustls_pki_types::PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => return Err(CmsError("the file certificate's key must be a PKCS#8 RSA key (as in a .pfx)".into())),
    };
    let private = PrivateDecryptingKey::from_pkcs8(&key_der)
        .map_err(|_| CmsError("the file certificate's private key is not an RSA key".into()))?;
    let failed = || CmsError("cannot unwrap the content key: the file was damaged or is for another key".into());
    let alg_oid = algorithm.first().map(oid_text).unwrap_or_default();
    let mut out = vec![0u8; private.key_size_bytes()];
    let key = match alg_oid.as_str() {
        RSA_ENCRYPTION => Pkcs1PrivateDecryptingKey::new(private)
            .map_err(|_| failed())?
            .decrypt(wrapped, &mut out)
            .map_err(|_| failed())?
            .to_vec(),
        RSAES_OAEP => {
            let oaep = oaep_algorithm(algorithm.get(1))?;
            OaepPrivateDecryptingKey::new(private)
                .map_err(|_| failed())?
                .decrypt(oaep, wrapped, &mut out, None)
                .map_err(|_| failed())?
                .to_vec()
        }
        other => return Err(CmsError(format!("unsupported key transport {other} (RSA PKCS#1 v1.5 and RSA-OAEP are)"))),
    };
    Ok(key)
}

/// The OAEP hash from RSAES-OAEP-params (absent: SHA-1); MGF1 must use the same hash.
fn oaep_algorithm(params: Option<&Node>) -> Result<&'static OaepAlgorithm, CmsError> {
    let mut hash = SHA1.to_string();
    let mut mgf_hash = SHA1.to_string();
    for p in params.map(Node::children).unwrap_or_default() {
        match p.tag() {
            CONTEXT_0 => {
                if let Some(h) = p.children().first().and_then(|a| a.children().first()) {
                    hash = oid_text(h);
                }
            }
            CONTEXT_1 => {
                if let Some(h) =
                    p.children().first().and_then(|a| a.children().get(1)).and_then(|a| a.children().first())
                {
                    mgf_hash = oid_text(h);
                }
            }
            _ => {}
        }
    }
    if hash != mgf_hash {
        return Err(CmsError(format!("RSA-OAEP with hash {hash} and MGF1 hash {mgf_hash} is not supported")));
    }
    match hash.as_str() {
        SHA1 => Ok(&OAEP_SHA1_MGF1SHA1),
        SHA256 => Ok(&OAEP_SHA256_MGF1SHA256),
        SHA384 => Ok(&OAEP_SHA384_MGF1SHA384),
        SHA512 => Ok(&OAEP_SHA512_MGF1SHA512),
        other => Err(CmsError(format!("RSA-OAEP with hash {other} is not supported"))),
    }
}

/// Decrypts a CMS `EnvelopedData` (DER, BER or PEM) with `identity`, writing the content to
/// `out`; the number of bytes written. On an error part of the content may have been written:
/// callers writing a file write it aside and keep it only on success.
pub fn decrypt(identity: &TlsIdentity, input: impl Read, out: &mut impl Write) -> Result<u64, CmsError> {
    let mut input = BufReader::new(input);
    let pem = input.fill_buf().map_err(io_err)?.starts_with(b"-----BEGIN");
    if pem {
        decrypt_ber(identity, Reader::new(PemReader::new(input)), out)
    } else {
        decrypt_ber(identity, Reader::new(input), out)
    }
}

fn not_cms() -> CmsError {
    CmsError("not a CMS enveloped-data file".into())
}

fn decrypt_ber<R: Read>(identity: &TlsIdentity, mut r: Reader<R>, out: &mut impl Write) -> Result<u64, CmsError> {
    let (tag, _) = r.header().map_err(|_| not_cms())?;
    let kind = r.node().map_err(|_| not_cms())?;
    if tag != SEQUENCE || oid_text(&kind) != ENVELOPED_DATA {
        return Err(not_cms());
    }
    let (t, _) = r.header().map_err(io_err)?;
    let (t2, _) = r.header().map_err(io_err)?;
    if t != CONTEXT_0 || t2 != SEQUENCE {
        return Err(not_cms());
    }
    let _version = r.node().map_err(io_err)?;
    let mut recipients = r.node().map_err(io_err)?;
    if recipients.tag() == CONTEXT_0 {
        recipients = r.node().map_err(io_err)?; // originatorInfo, skipped
    }
    if recipients.tag() != SET {
        return Err(not_cms());
    }
    let cek = unwrap_key(&recipients, identity)?;
    let (t, _) = r.header().map_err(io_err)?;
    if t != SEQUENCE {
        return Err(not_cms());
    }
    let _content_type = r.node().map_err(io_err)?;
    let cipher = r.node().map_err(io_err)?;
    let alg = cipher.children().first().map(oid_text).unwrap_or_default();
    let iv: [u8; 16] = cipher
        .children()
        .get(1)
        .and_then(|n| n.bytes().try_into().ok())
        .ok_or_else(|| CmsError("the content cipher has no 16-byte IV".into()))?;
    let algorithm = match alg.as_str() {
        AES128_CBC => &AES_128,
        AES192_CBC => &AES_192,
        AES256_CBC => &AES_256,
        other => return Err(CmsError(format!("unsupported content cipher {other} (AES-CBC is)"))),
    };
    let key = UnboundCipherKey::new(algorithm, &cek)
        .map_err(|_| CmsError("the content key does not fit the cipher: the file was damaged".into()))?;
    let mut dec = StreamingDecryptingKey::cbc_pkcs7(key, DecryptionContext::Iv128(iv.into()))
        .map_err(|_| CmsError("AES-CBC".into()))?;
    let mut written = 0u64;
    let mut outbuf = vec![0u8; CHUNK + 16];
    let mut pipe = |data: &[u8], dec: &mut StreamingDecryptingKey| -> Result<(), CmsError> {
        for part in data.chunks(CHUNK) {
            let u = dec.update(part, &mut outbuf).map_err(|_| CmsError("AES-CBC".into()))?;
            out.write_all(u.written()).map_err(io_err)?;
            written += u.written().len() as u64;
        }
        Ok(())
    };
    let (tag, len) = r.header().map_err(io_err)?;
    let mut buf = vec![0u8; CHUNK];
    let mut copy = |r: &mut Reader<R>, mut n: usize, dec: &mut StreamingDecryptingKey| -> Result<(), CmsError> {
        while n > 0 {
            let want = n.min(CHUNK);
            r.inner().read_exact(&mut buf[..want]).map_err(|_| CmsError("the file ends early (truncated?)".into()))?;
            pipe(&buf[..want], dec)?;
            n -= want;
        }
        Ok(())
    };
    match (tag, len) {
        (CONTEXT_0_PRIMITIVE, Some(n)) => copy(&mut r, n, &mut dec)?,
        (CONTEXT_0, outer) => {
            let mut left = outer;
            loop {
                if left == Some(0) {
                    break;
                }
                let (t, l) = r.header().map_err(io_err)?;
                if t == 0 && l == Some(0) && outer.is_none() {
                    break;
                }
                let n = match (t, l) {
                    (OCTET_STRING, Some(n)) => n,
                    _ => return Err(CmsError("unexpected element in the encrypted content".into())),
                };
                copy(&mut r, n, &mut dec)?;
                if let Some(left) = left.as_mut() {
                    *left = left.checked_sub(n + ber::header(OCTET_STRING, n).len()).ok_or_else(not_cms)?;
                }
            }
        }
        _ => return Err(CmsError("the file has no encrypted content (detached content is not supported)".into())),
    }
    let last = dec
        .finish(&mut outbuf)
        .map_err(|_| CmsError("decryption failed: the file was damaged or tampered with (bad padding)".into()))?;
    out.write_all(last.written()).map_err(io_err)?;
    written += last.written().len() as u64;
    out.flush().map_err(io_err)?;
    Ok(written)
}
