//! CMS round trips at the padding boundaries, both key transports, DER and PEM, with a file
//! certificate made by `init` (openssl interop is in crates/gatehouse/tests/agent.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gatehouse_agent::cms::{self, KeyTransport};

#[test]
fn every_size_round_trips_and_a_damaged_key_block_is_refused() {
    let dir = std::env::temp_dir().join(format!("gatehouse-cms-roundtrip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let what =
        gatehouse_agent::init::Init { server: "https://localhost:8443", client: "Job", profile: "Administrator" };
    gatehouse_agent::init::init(&dir, &what, 1_796_000_000).unwrap();
    let settings = gatehouse_agent::settings::load(&dir).unwrap();
    let identity = settings.file_identity().unwrap();
    let cert = identity.chain.first().unwrap().to_vec();
    for len in [0usize, 1, 15, 16, 17, 65_535, 65_536, 200_001] {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        for transport in [KeyTransport::Oaep, KeyTransport::Pkcs1] {
            for pem in [false, true] {
                let mut sealed = Vec::new();
                cms::encrypt(&cert, transport, &mut &data[..], len as u64, &mut sealed, pem).unwrap();
                if pem {
                    assert!(sealed.starts_with(b"-----BEGIN CMS-----\n"));
                }
                let mut opened = Vec::new();
                let n = cms::decrypt(&identity, &sealed[..], &mut opened).unwrap();
                assert_eq!((n as usize, opened == data), (len, true), "{len} bytes, {transport:?}, pem {pem}");
            }
        }
    }
    // A file that grew or shrank while it was read is refused rather than sealed wrong.
    let mut out = Vec::new();
    assert!(cms::encrypt(&cert, KeyTransport::Oaep, &mut &b"abc"[..], 2, &mut out, false).is_err());
    assert!(cms::encrypt(&cert, KeyTransport::Oaep, &mut &b"abc"[..], 4, &mut Vec::new(), false).is_err());
    // A damaged wrapped key fails as such.
    let mut sealed = Vec::new();
    cms::encrypt(&cert, KeyTransport::Oaep, &mut &b"secret log"[..], 10, &mut sealed, false).unwrap();
    // The wrapped key: an OCTET STRING of 256 bytes (RSA-2048).
    let at = sealed.windows(4).position(|w| w == [0x04, 0x82, 0x01, 0x00]).unwrap() + 4 + 100;
    sealed[at] ^= 0xff;
    let err = cms::decrypt(&identity, &sealed[..], &mut Vec::new()).unwrap_err();
    assert!(err.0.contains("damaged") || err.0.contains("content key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
