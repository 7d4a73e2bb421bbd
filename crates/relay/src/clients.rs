//! The relay's API clients: who may send commands (`X-Api-Key: base64(clientId:key)`, or
//! `Authorization: Basic` with the same value) and where their callbacks go. From the
//! relay configuration, or from the replaced product's `application.yml` read as it is
//! (`allowedClients` / `allowed-clients`, `clientId` / `client-id`, `callbackUrl` /
//! `callback-url`, `callbackBasicAuth`, `publicUrl` / `public-url`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::HeaderMap;

/// An API client.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// `clientId`.
    pub id: String,
    /// SHA-256 of the key.
    pub key_hash: [u8; 32],
    /// The callback base URL (`<callbackUrl>/callback/<type>`).
    pub callback_url: Option<String>,
    /// `user:password` for the callbacks' Basic authentication.
    pub callback_basic_auth: Option<String>,
}

/// SHA-256 of `key`.
pub fn hash_key(key: &str) -> [u8; 32] {
    gatehouse_core::credentials::sha256(key.as_bytes())
}

/// `hashedKey`: base64 of the key's SHA-256.
pub fn hashed_key_text(key: &str) -> String {
    STANDARD.encode(hash_key(key))
}

/// Parses a `hashedKey`.
pub fn parse_hashed_key(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text.trim()).ok()?.try_into().ok()
}

/// The client whose credentials the request carries, if they are right. The key is compared
/// in constant time, and an unknown client costs the same.
pub fn authenticate<'c>(clients: &'c [ApiClient], headers: &HeaderMap) -> Option<&'c ApiClient> {
    use gatehouse_core::credentials::{authorization, basic_pair, Credentials};
    let (id, key) = match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(token) => basic_pair(token.trim())?,
        None => match authorization(headers)? {
            Credentials::Basic { user, password } => (user, password),
            Credentials::Bearer(_) => return None,
        },
    };
    let client = clients.iter().find(|c| c.id == id);
    let expected = client.map_or([0u8; 32], |c| c.key_hash);
    let ok = gatehouse_core::credentials::hash_matches(key.as_bytes(), &expected);
    client.filter(|_| ok)
}

/// A new client entry: a fresh 64-hex-character key (256 bits), as the product's
/// `util/generateclient/<id>` prints it, with its `hashedKey` and `X-Api-Key` value.
pub fn generate(id: &str) -> Result<String, String> {
    let key = random_hex::<32>()?;
    let api_key = STANDARD.encode(format!("{id}:{key}"));
    Ok(format!(
        "# X-Api-Key: {api_key}\n- clientId: {id}\n  key: {key}\n  # or, to keep only its hash in the file:\n  # hashedKey: {}\n  callbackUrl: https://identity-manager.example.com/idm-operator/ws/hermod\n",
        hashed_key_text(&key)
    ))
}

/// `N` bytes from the system's random generator, as lowercase hex (keys and box ids).
pub(crate) fn random_hex<const N: usize>() -> Result<String, String> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "the system random generator failed".to_string())?;
    Ok(gatehouse_core::trace::hex(&bytes))
}

/// What `application.yml` says.
#[derive(Debug, Default)]
pub struct HermodConfig {
    /// `publicUrl`.
    pub public_url: Option<String>,
    /// The clients.
    pub clients: Vec<ApiClient>,
}

/// Reads the product's `application.yml` (either spelling of each key).
pub fn read_application_yml(text: &str) -> Result<HermodConfig, String> {
    use yaml_rust2::{Yaml, YamlLoader};
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let mut config = HermodConfig::default();
    // The keys may sit at the top or under `hermod:`.
    fn find<'y>(y: &'y Yaml, names: &[&str]) -> Option<&'y Yaml> {
        let hash = y.as_hash()?;
        for n in names {
            if let Some(v) = hash.get(&Yaml::String((*n).to_string())) {
                return Some(v);
            }
        }
        hash.get(&Yaml::String("hermod".into())).and_then(|h| find(h, names))
    }
    let text_of = |y: &Yaml| match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    };
    for doc in &docs {
        if let Some(url) = find(doc, &["publicUrl", "public-url"]).and_then(text_of) {
            config.public_url = Some(url);
        }
        let Some(list) = find(doc, &["allowedClients", "allowed-clients"]).and_then(Yaml::as_vec) else { continue };
        for (i, entry) in list.iter().enumerate() {
            let get = |names: &[&str]| {
                names.iter().find_map(|n| entry[*n].as_str().map(str::to_string).or_else(|| text_of(&entry[*n])))
            };
            let id = get(&["clientId", "client-id"]).ok_or_else(|| format!("allowedClients[{i}] needs clientId"))?;
            let key_hash = match (get(&["key"]), get(&["hashedKey", "hashed-key"])) {
                (Some(k), _) => hash_key(&k),
                (None, Some(h)) => parse_hashed_key(&h)
                    .ok_or_else(|| format!("allowedClients[{i}]: hashedKey is not base64 of a SHA-256"))?,
                (None, None) => return Err(format!("allowedClients[{i}] ({id}) needs key or hashedKey")),
            };
            config.clients.push(ApiClient {
                id,
                key_hash,
                callback_url: get(&["callbackUrl", "callback-url"]).map(|u| u.trim_end_matches('/').to_string()),
                callback_basic_auth: get(&["callbackBasicAuth", "callback-basic-auth"]),
            });
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn both_spellings_of_application_yml() {
        let yml = "server:\n  port: 20400\npublic-url: https://relay.example.com:20400/hermod/box\nallowed-clients:\n  - client-id: prime1\n    key: 079b6a64d75b4e9585bd0c24f36a7deba0ad03498ecf4d69b5766f24fa02e045\n    callback-url: https://im.example.com/idm-operator/ws/hermod/\n    callbackBasicAuth: hermod:s3cret\n";
        let c = read_application_yml(yml).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://relay.example.com:20400/hermod/box"));
        assert_eq!(c.clients[0].id, "prime1");
        assert_eq!(c.clients[0].callback_url.as_deref(), Some("https://im.example.com/idm-operator/ws/hermod"));
        assert_eq!(c.clients[0].callback_basic_auth.as_deref(), Some("hermod:s3cret"));
        let camel = "hermod:\n  publicUrl: https://r/box\n  allowedClients:\n    - clientId: a\n      hashedKey: "
            .to_string()
            + &hashed_key_text("k")
            + "\n";
        let c = read_application_yml(&camel).unwrap();
        assert_eq!(c.clients[0].key_hash, hash_key("k"));
        assert!(read_application_yml("allowedClients:\n  - clientId: a\n").unwrap_err().contains("needs key"));
    }

    #[test]
    fn the_reference_api_key_authenticates() {
        // The reference's token: base64("prime1:079b6a...e045").
        let token = "cHJpbWUxOjA3OWI2YTY0ZDc1YjRlOTU4NWJkMGMyNGYzNmE3ZGViYTBhZDAzNDk4ZWNmNGQ2OWI1NzY2ZjI0ZmEwMmUwNDU=";
        let clients = vec![ApiClient {
            id: "prime1".into(),
            key_hash: hash_key("079b6a64d75b4e9585bd0c24f36a7deba0ad03498ecf4d69b5766f24fa02e045"),
            callback_url: None,
            callback_basic_auth: None,
        }];
        let mut h = HeaderMap::new();
        h.insert("x-api-key", token.parse().unwrap());
        assert_eq!(authenticate(&clients, &h).map(|c| c.id.as_str()), Some("prime1"));
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, format!("Basic {token}").parse().unwrap());
        assert!(authenticate(&clients, &h).is_some());
        let mut h = HeaderMap::new();
        h.insert("x-api-key", STANDARD.encode("prime1:wrong").parse().unwrap());
        assert!(authenticate(&clients, &h).is_none());
        let entry = generate("prime2").unwrap();
        assert!(entry.contains("- clientId: prime2") && entry.contains("# X-Api-Key: "));
        let key = entry.lines().find_map(|l| l.trim().strip_prefix("key: ")).unwrap();
        assert_eq!(key.len(), 64);
    }
}
