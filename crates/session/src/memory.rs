//! `InMemorySession`: the session stays in this process, found by a random cookie; it ends
//! after `sessionTimeout` without use. Behind a load balancer it needs sticky sessions.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::counters::Counter;
use gatehouse_core::{Clock, Result, Session, SessionManager, SessionManagerRef, SessionState};
use http::HeaderMap;
use serde_json::{Map, Value};

use crate::cookie::CookieConfig;
use crate::lru::Lru;

/// How many sessions one process keeps by default (`maxSessions`).
pub const MAX_SESSIONS: usize = 100_000;

/// Sessions pushed out of a full store to make room for new ones.
pub static SESSIONS_EVICTED: Counter = Counter::new(
    "gatehouse_sessions_evicted_total",
    "InMemorySession sessions evicted (least recently used first) to make room for new ones.",
);

/// Server-side sessions.
pub struct InMemorySession {
    cookie: CookieConfig,
    timeout: Duration,
    sessions: Mutex<Sessions>,
    clock: Clock,
}

struct Sessions {
    lru: Lru,
    max: usize,
    inserts: usize,
    /// When a full store was last reported, so that a flood writes one warning a minute.
    warned: Option<Instant>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    // The id means nothing upstream and would let an upstream replay the gateway's session:
    // it is not forwarded unless `cookie.forward` says so.
    let cookie = CookieConfig::from_config(cx, config.get("cookie"), "IG_SESSIONID", false)?;
    let timeout = match config.get("sessionTimeout") {
        Some(n) => cx.duration(n)?.unwrap_or(Duration::from_secs(3650 * 86400)),
        None => Duration::from_secs(30 * 60),
    };
    let max = match config.get("maxSessions") {
        Some(n) => usize::try_from(cx.int(n)?)
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| cx.err(n, "maxSessions must be a positive integer"))?,
        None => MAX_SESSIONS,
    };
    config.finish()?;
    let store = InMemorySession::new(cookie, timeout, max, cx.clock().clone());
    Ok(Object::Other(Arc::new(SessionManagerRef(Arc::new(store)))))
}

impl InMemorySession {
    fn new(cookie: CookieConfig, timeout: Duration, max: usize, clock: Clock) -> Self {
        let sessions = Sessions { lru: Lru::new(max), max, inserts: 0, warned: None };
        InMemorySession { cookie, timeout, sessions: Mutex::new(sessions), clock }
    }

    fn new_id() -> Option<String> {
        let mut bytes = [0u8; 18];
        aws_lc_rs::rand::fill(&mut bytes).ok()?;
        Some(B64.encode(bytes))
    }
}

impl SessionManager for InMemorySession {
    fn find<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.cookie.find(headers)
    }

    fn cookie_to_strip(&self) -> Option<&str> {
        self.cookie.to_strip()
    }

    fn decode(&self, id: &str) -> (Map<String, Value>, SessionState) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.instant();
        match sessions.lru.touch(id, now, now + self.timeout) {
            Some(data) => (data, SessionState { existed: true, expires_at: None, id: Some(id.to_string()) }),
            None => (Map::new(), SessionState::default()),
        }
    }

    fn save(&self, session: Session, headers: &mut HeaderMap, secure_channel: bool) -> Result<()> {
        if !session.is_dirty() {
            return Ok(());
        }
        let state = session.state().cloned().unwrap_or_default();
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let data = session.data().clone();
        if data.is_empty() {
            if let Some(id) = state.id {
                sessions.lru.remove(&id);
                self.cookie.clear(headers, secure_channel);
            }
            return Ok(());
        }
        let now = self.clock.instant();
        let expires = now + self.timeout;
        if let Some(id) = &state.id {
            if sessions.lru.update(id, data.clone(), expires) {
                return Ok(());
            }
        }
        sessions.inserts += 1;
        if sessions.inserts.is_multiple_of(1024) {
            sessions.lru.sweep(now);
        }
        let Some(id) = Self::new_id() else { return Ok(()) };
        CookieConfig::append(headers, &self.cookie.set_cookie(&id, None, secure_channel));
        let evicted = sessions.lru.insert(id, data, expires);
        if evicted > 0 {
            for _ in 0..evicted {
                SESSIONS_EVICTED.inc();
            }
            if sessions.warned.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60)) {
                sessions.warned = Some(now);
                tracing::warn!(
                    "InMemorySession: {} live sessions, the maximum: the least recently used are evicted (gatehouse_sessions_evicted_total; warned at most once a minute)",
                    sessions.max
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use http::header::{COOKIE, SET_COOKIE};
    use http::HeaderValue;

    fn store(timeout: Duration) -> InMemorySession {
        InMemorySession::new(CookieConfig::from_config_default("IG_SESSIONID"), timeout, MAX_SESSIONS, Clock::system())
    }

    fn changed(key: &str) -> Session {
        let mut s = Session::default();
        s.data_mut().insert(key.into(), Value::from(1));
        s
    }

    /// Saves a new session and returns the request headers that carry its cookie.
    fn create(store: &InMemorySession) -> HeaderMap {
        let mut resp = HeaderMap::new();
        store.save(changed("a"), &mut resp, false).unwrap();
        let cookie = resp.get(SET_COOKIE).unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
        let mut req = HeaderMap::new();
        req.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
        req
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_idles_out() {
        let live = store(Duration::from_secs(60));
        let req = create(&live);
        let (data, state) = live.decode(live.find(&req).unwrap());
        assert_eq!(data.get("a"), Some(&Value::from(1)));
        assert!(state.existed && state.id.is_some());

        let expired = store(Duration::ZERO);
        let req = create(&expired);
        assert!(expired.decode(expired.find(&req).unwrap()).0.is_empty(), "an idle session is gone");
        assert_eq!(expired.sessions.lock().unwrap().lru.len(), 0, "and forgotten");
    }

    #[test]
    fn unchanged_sessions_write_nothing_and_ids_are_unguessable() {
        let s = store(Duration::from_secs(60));
        let req = create(&s);
        let (manager, id) =
            (Arc::new(s), req.get(COOKIE).unwrap().to_str().unwrap().trim_start_matches("IG_SESSIONID=").to_string());
        let decoder = manager.clone();
        let session = Session::lazy(Box::new(move || decoder.decode(&id)));
        assert_eq!(session.data().get("a"), Some(&Value::from(1)));
        let mut resp = HeaderMap::new();
        manager.save(session, &mut resp, false).unwrap();
        let s = &*manager;
        assert!(resp.is_empty());
        let id = req.get(COOKIE).unwrap().to_str().unwrap().trim_start_matches("IG_SESSIONID=").to_string();
        assert_eq!(id.len(), 24, "144 random bits, base64url");
        assert_ne!(create(s).get(COOKIE), req.get(COOKIE));
    }

    #[test]
    fn the_number_of_sessions_is_bounded_and_new_users_still_get_one() {
        let s = InMemorySession::new(
            CookieConfig::from_config_default("IG_SESSIONID"),
            Duration::from_secs(60),
            100,
            Clock::system(),
        );
        let before = SESSIONS_EVICTED.get();
        for _ in 0..110 {
            let mut resp = HeaderMap::new();
            s.save(changed("x"), &mut resp, false).unwrap();
            assert!(resp.contains_key(SET_COOKIE), "every new user gets a session");
        }
        assert_eq!(s.sessions.lock().unwrap().lru.len(), 100);
        assert!(SESSIONS_EVICTED.get() >= before + 10);
    }
}
