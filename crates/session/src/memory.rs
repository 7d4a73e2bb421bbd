//! `InMemorySession`: the session stays in this process, found by a random cookie; it ends
//! after `sessionTimeout` without use. Behind a load balancer it needs sticky sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Clock, Result, Session, SessionManager, SessionManagerRef, SessionState};
use http::HeaderMap;
use serde_json::{Map, Value};

use crate::cookie::CookieConfig;

/// How many sessions one process keeps at most; beyond, new sessions are not stored.
pub const MAX_SESSIONS: usize = 100_000;

/// Server-side sessions.
pub struct InMemorySession {
    cookie: CookieConfig,
    timeout: Duration,
    sessions: Mutex<Sessions>,
    clock: Clock,
}

#[derive(Default)]
struct Sessions {
    by_id: HashMap<String, (Map<String, Value>, Instant)>,
    inserts: usize,
    /// When expired sessions were last swept while the store was full.
    full_sweep: Option<Instant>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let cookie = CookieConfig::from_config(cx, config.get("cookie"), "IG_SESSIONID")?;
    let timeout = match config.get("sessionTimeout") {
        Some(n) => cx.duration(n)?.unwrap_or(Duration::from_secs(3650 * 86400)),
        None => Duration::from_secs(30 * 60),
    };
    config.finish()?;
    let store =
        InMemorySession { cookie, timeout, sessions: Mutex::new(Sessions::default()), clock: cx.clock().clone() };
    Ok(Object::Other(Arc::new(SessionManagerRef(Arc::new(store)))))
}

impl InMemorySession {
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

    fn decode(&self, id: &str) -> (Map<String, Value>, SessionState) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.instant();
        match sessions.by_id.get_mut(id) {
            Some((data, expires)) if *expires > now => {
                *expires = now + self.timeout;
                (data.clone(), SessionState { existed: true, expires_at: None, id: Some(id.to_string()) })
            }
            Some(_) => {
                sessions.by_id.remove(id);
                (Map::new(), SessionState::default())
            }
            None => (Map::new(), SessionState::default()),
        }
    }

    fn save(&self, session: Session, headers: &mut HeaderMap) -> Result<()> {
        if !session.is_dirty() {
            return Ok(());
        }
        let state = session.state().cloned().unwrap_or_default();
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let data = session.data().clone();
        if data.is_empty() {
            if let Some(id) = state.id {
                sessions.by_id.remove(&id);
                self.cookie.clear(headers);
            }
            return Ok(());
        }
        let expires = self.clock.instant() + self.timeout;
        if let Some(entry) = state.id.as_ref().and_then(|id| sessions.by_id.get_mut(id)) {
            *entry = (data, expires);
            return Ok(());
        }
        sessions.inserts += 1;
        let now = self.clock.instant();
        // Sweep expired sessions now and then; when full, at most once a second, so that a
        // flood of new sessions cannot make every request scan the whole store.
        let full = sessions.by_id.len() >= MAX_SESSIONS;
        let sweep_when_full =
            full && sessions.full_sweep.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if sessions.inserts.is_multiple_of(1024) || sweep_when_full {
            sessions.by_id.retain(|_, (_, e)| *e > now);
            if full {
                sessions.full_sweep = Some(now);
            }
        }
        if sessions.by_id.len() >= MAX_SESSIONS {
            tracing::warn!("InMemorySession: {MAX_SESSIONS} live sessions; this new session is not kept");
            return Ok(());
        }
        let Some(id) = Self::new_id() else { return Ok(()) };
        CookieConfig::append(headers, &self.cookie.set_cookie(&id, None));
        sessions.by_id.insert(id, (data, expires));
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
        InMemorySession {
            cookie: CookieConfig::from_config_default("IG_SESSIONID"),
            timeout,
            sessions: Mutex::new(Sessions::default()),
            clock: Clock::system(),
        }
    }

    fn changed(key: &str) -> Session {
        let mut s = Session::default();
        s.data_mut().insert(key.into(), Value::from(1));
        s
    }

    /// Saves a new session and returns the request headers that carry its cookie.
    fn create(store: &InMemorySession) -> HeaderMap {
        let mut resp = HeaderMap::new();
        store.save(changed("a"), &mut resp).unwrap();
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
        assert!(expired.sessions.lock().unwrap().by_id.is_empty(), "and forgotten");
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
        manager.save(session, &mut resp).unwrap();
        let s = &*manager;
        assert!(resp.is_empty());
        let id = req.get(COOKIE).unwrap().to_str().unwrap().trim_start_matches("IG_SESSIONID=").to_string();
        assert_eq!(id.len(), 24, "144 random bits, base64url");
        assert_ne!(create(s).get(COOKIE), req.get(COOKIE));
    }

    #[test]
    fn the_number_of_sessions_is_bounded() {
        let s = store(Duration::from_secs(60));
        for _ in 0..MAX_SESSIONS + 10 {
            let mut resp = HeaderMap::new();
            s.save(changed("x"), &mut resp).unwrap();
        }
        assert_eq!(s.sessions.lock().unwrap().by_id.len(), MAX_SESSIONS);
    }
}
