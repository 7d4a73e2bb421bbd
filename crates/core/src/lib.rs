//! Core traits and types shared by every Gatehouse crate.
//!
//! An *exchange* is one request/response pair with its [`Context`]. Everything the gateway
//! serves is a [`Handler`]; [`Filter`]s wrap handlers and may short-circuit. Failures of the
//! gateway itself are [`Error`]s, mapped to an HTTP status in one place at the edge.

mod body;
pub mod certificates;
mod clock;
mod context;
pub mod counters;
pub mod credentials;
mod error;
mod handler;
pub mod histogram;
pub mod recent;
pub mod route_stats;
mod service;
mod session;
pub mod trace;
pub mod units;

pub use body::{Body, BodyError};
pub use clock::Clock;
pub use context::{AnswerFields, ClientInfo, Context, Decoder, Principal, RequestId, Session, SessionState};
pub use error::{Error, ErrorKind, Result, Side};
pub use handler::{BoxFuture, Chain, Filter, Handler, Next};
pub use service::{Service, Task};
pub use session::{find_session, SessionHandler, SessionManager, SessionManagerRef};

/// The request type every handler receives.
pub type Request = http::Request<Body>;
/// The response type every handler returns.
pub type Response = http::Response<Body>;
