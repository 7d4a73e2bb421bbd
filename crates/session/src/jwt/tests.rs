#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use http::header::{COOKIE, SET_COOKIE};
use http::HeaderValue;

fn session(timeout_secs: u64, skew_secs: u64) -> JwtSession {
    JwtSession {
        enc: Enc::A256CbcHs512,
        keys: Keys {
            current: Fresh::load(SecretsProvider::join([]), || {
                Ok::<_, SecretError>(vec![Secret::new((0..64).collect())])
            })
            .unwrap(),
            secret: None,
        },
        cookie: CookieConfig::from_config_default("IG"),
        timeout: Duration::from_secs(timeout_secs),
        persistent: false,
        skew: Duration::from_secs(skew_secs),
        compress: false,
        clock: Clock::system(),
    }
}

fn now() -> u64 {
    Clock::system().unix_secs()
}

fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// What the session handler does: find the cookie, decode it (here, at once).
fn load(s: &JwtSession, headers: &HeaderMap) -> (Map<String, Value>, SessionState) {
    match s.find(headers) {
        Some(v) => s.decode(v),
        None => (Map::new(), SessionState::default()),
    }
}

/// A session as the handler hands it to `save`: decoded with `state`, holding `data`.
fn used(data: Value, state: SessionState) -> Session {
    let data = map(data);
    let session = Session::lazy(Box::new(move || (data.clone(), state.clone())));
    let _ = session.data();
    session
}

fn request_with(cookie: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    h
}

#[test]
fn encode_decode_round_trip_and_expiry() {
    let s = session(1800, 0);
    let data = map(serde_json::json!({"authUsername": "Sam Carter", "n": 1, "list": [1, 2]}));
    let token = s.encode(&data, 2_000).unwrap();
    assert_eq!(s.decode_cookie(&token, 1_999), Some((data.clone(), 2_000)));
    assert_eq!(s.decode_cookie(&token, 2_000).map(|d| d.1), Some(2_000));
    assert_eq!(s.decode_cookie(&token, 2_001), None, "expired");
    assert!(session(1800, 5).decode_cookie(&token, 2_005).is_some(), "within the skew allowance");
}

#[test]
fn a_missing_tampered_or_truncated_cookie_is_an_empty_session() {
    let s = session(1800, 0);
    let token = s.encode(&map(serde_json::json!({"a": "b"})), now() + 100).unwrap();
    let (data, state) = load(&s, &request_with(&format!("x=1; IG={token}")));
    assert_eq!(data.get("a"), Some(&Value::from("b")));
    assert!(state.existed);
    let before = SESSION_COOKIES_REJECTED.get();
    for bad in [format!("IG={}", &token[..token.len() - 3]), format!("IG={token}x"), "IG=garbage".to_string()] {
        let (data, state) = load(&s, &request_with(&bad));
        assert!(data.is_empty(), "{bad}");
        assert!(state.existed && state.expires_at.is_none());
    }
    assert!(SESSION_COOKIES_REJECTED.get() >= before + 3);
    let (data, state) = load(&s, &HeaderMap::new());
    assert!(data.is_empty() && !state.existed);
}

#[test]
fn writes_only_when_changed_refreshes_late_and_clears_when_emptied() {
    let s = session(1800, 0);
    let mut out = HeaderMap::new();
    // Unchanged, fresh: nothing.
    let fresh = SessionState { existed: true, expires_at: Some(now() + 1700), id: None };
    s.save(used(serde_json::json!({"a": 1}), fresh.clone()), &mut out, false).unwrap();
    assert!(out.get(SET_COOKIE).is_none());
    // Never read at all: nothing, even when it would need a refresh.
    let stale = SessionState { existed: true, expires_at: Some(now() + 100), id: None };
    let unread = Session::lazy(Box::new(move || (Map::new(), stale.clone())));
    s.save(unread, &mut out, false).unwrap();
    assert!(out.get(SET_COOKIE).is_none());
    // Unchanged but past half its life: rewritten with a new expiry.
    let old = SessionState { existed: true, expires_at: Some(now() + 100), id: None };
    s.save(used(serde_json::json!({"a": 1}), old), &mut out, false).unwrap();
    let set = out.get(SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(set.starts_with("IG=") && set.ends_with("; Path=/; HttpOnly; SameSite=Lax"), "{set}");
    let value = set.trim_start_matches("IG=").split(';').next().unwrap();
    assert!(s.decode_cookie(value, now()).unwrap().1 >= now() + 1799);
    // Changed: written.
    let mut out = HeaderMap::new();
    let mut changed = Session::default();
    changed.data_mut().insert("x".into(), Value::from("y"));
    s.save(changed, &mut out, false).unwrap();
    assert!(out.get(SET_COOKIE).is_some());
    // Emptied: cleared.
    let mut out = HeaderMap::new();
    let mut emptied = used(serde_json::json!({"a": 1}), fresh);
    emptied.data_mut().clear();
    s.save(emptied, &mut out, false).unwrap();
    assert_eq!(out.get(SET_COOKIE).unwrap(), "IG=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
}

#[test]
fn a_session_over_the_browser_limit_fails_instead_of_being_dropped_silently() {
    let s = session(1800, 0);
    let mut big = Session::default();
    big.data_mut().insert("blob".into(), Value::from("x".repeat(5000)));
    let mut out = HeaderMap::new();
    assert!(s.save(big, &mut out, false).is_err());
    assert!(out.get(SET_COOKIE).is_none());
}
