//! Sessions around a handler: a [`SessionManager`] loads the session from the request before
//! the handler runs and writes it back into the response (a cookie) afterwards.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::{BoxFuture, Context, Handler, Request, Response, Result, Session};

/// What a manager remembers between loading a session and saving it.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// The request carried a valid, non-empty session.
    pub existed: bool,
    /// When the loaded session expires (seconds since the epoch), if the manager tracks it.
    pub expires_at: Option<u64>,
    /// A server-side session's id.
    pub id: Option<String>,
}

/// Loads and saves sessions (JwtSession, InMemorySession).
pub trait SessionManager: Send + Sync + 'static {
    /// The session the request carries; a missing or invalid one is empty.
    fn load(&self, headers: &HeaderMap) -> (Map<String, Value>, SessionState);

    /// Writes what the response needs (a cookie) when the session changed, must be
    /// refreshed, or was emptied. An `Err` fails the exchange.
    fn save(&self, state: SessionState, session: Session, headers: &mut HeaderMap) -> Result<()>;
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
        let (data, state) = self.manager.load(req.headers());
        let outer = std::mem::replace(&mut cx.session, Session::from_map(data));
        let result = self.inner.handle(cx, req).await;
        let session = std::mem::replace(&mut cx.session, outer);
        let mut resp = result?;
        self.manager.save(state, session, resp.headers_mut())?;
        Ok(resp)
    }
}

impl Handler for SessionHandler {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(self.run(cx, req))
    }
}
