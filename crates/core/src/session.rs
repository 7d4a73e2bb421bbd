//! Sessions around a handler: a [`SessionManager`] finds the session in the request before
//! the handler runs, decodes it only if the exchange uses it, and writes it back into the
//! response (a cookie) afterwards.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::{BoxFuture, Context, Handler, Request, Response, Result, Session, SessionState};

/// Finds, decodes and saves sessions (JwtSession, InMemorySession).
pub trait SessionManager: Send + Sync + 'static {
    /// The encoded session the request carries (its cookie value), if any.
    fn find<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str>;

    /// The name of the cookie that must not leave the gateway (the session is the gateway's,
    /// not the upstream's): proxies remove it from what they send. `None` to pass it on.
    fn cookie_to_strip(&self) -> Option<&str> {
        None
    }

    /// Decodes a found session; an invalid one is empty.
    fn decode(&self, encoded: &str) -> (Map<String, Value>, SessionState);

    /// Writes what the response needs (a cookie) when the session changed, must be
    /// refreshed, or was emptied. A session the exchange never used (see
    /// [`Session::state`]) needs nothing. `secure_channel` says whether the exchange came
    /// over HTTPS (cookies are then `Secure` unless configured otherwise). An `Err` fails
    /// the exchange.
    fn save(&self, session: Session, headers: &mut HeaderMap, secure_channel: bool) -> Result<()>;
}

/// A session manager as a heap object.
#[derive(Clone)]
pub struct SessionManagerRef(pub Arc<dyn SessionManager>);

/// Runs `inner` with the manager's session in [`Context::session`], then saves it. The
/// session it replaced (an outer one, from config.json) is restored afterwards.
pub struct SessionHandler {
    manager: Arc<dyn SessionManager>,
    inner: Arc<dyn Handler>,
}

impl SessionHandler {
    /// Wraps `inner` with `manager`'s sessions.
    pub fn new(manager: Arc<dyn SessionManager>, inner: Arc<dyn Handler>) -> Self {
        SessionHandler { manager, inner }
    }

    async fn run(&self, cx: &mut Context, req: Request) -> Result<Response> {
        let session = find_session(&self.manager, cx, req.headers());
        let outer = std::mem::replace(&mut cx.session, session);
        let result = self.inner.handle(cx, req).await;
        let session = std::mem::replace(&mut cx.session, outer);
        let mut resp = result?;
        self.manager.save(session, resp.headers_mut(), cx.client.secure)?;
        Ok(resp)
    }
}

/// The session `manager` finds in a request's `headers`, decoded only if the exchange uses
/// it; a cookie the gateway keeps to itself is marked private in `cx`. The gateway's own
/// session (config.json's) is found by the edge with this, without a handler around the
/// root; a route's by its [`SessionHandler`].
pub fn find_session(manager: &Arc<dyn SessionManager>, cx: &mut Context, headers: &HeaderMap) -> Session {
    match manager.find(headers) {
        Some(encoded) => {
            if let Some(name) = manager.cookie_to_strip() {
                cx.private_cookies.push(Arc::from(name));
            }
            let (manager, encoded) = (manager.clone(), encoded.to_string());
            Session::lazy(Box::new(move || manager.decode(&encoded)))
        }
        None => Session::default(),
    }
}

impl Handler for SessionHandler {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(self.run(cx, req))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counted(calls: &Arc<AtomicUsize>) -> Session {
        let calls = calls.clone();
        Session::lazy(Box::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            let mut m = Map::new();
            m.insert("user".into(), Value::from("sam"));
            (m, SessionState { existed: true, ..SessionState::default() })
        }))
    }

    #[test]
    fn a_lazy_session_is_decoded_once_and_only_when_used() {
        let calls = Arc::new(AtomicUsize::new(0));
        let unused = counted(&calls);
        assert!(unused.state().is_none() && !unused.is_dirty());
        assert_eq!(calls.load(Ordering::SeqCst), 0);

        let read = counted(&calls);
        assert_eq!(read.data().get("user"), Some(&Value::from("sam")));
        assert_eq!(read.data().len(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(read.state().is_some_and(|s| s.existed) && !read.is_dirty());

        let mut written = counted(&calls);
        written.data_mut().insert("role".into(), Value::from("admin"));
        assert_eq!(written.data().len(), 2, "writing keeps what was decoded");
        written.data_mut().remove("user");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(written.is_dirty() && written.state().is_some());
    }
}
