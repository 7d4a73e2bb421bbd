//! `ReverseProxyHandler` and `ClientHandler`: send the request to its URI (set by a route's
//! or binding's `baseURI`) over pooled connections and stream the answer back.
//!
//! - `config`: the properties, with IG's names; `client`: the handler;
//! - `h1`, `h1_body`: the lean HTTP/1.1 upstream leg the units use for plain exchanges;
//! - `hop`: hop-by-hop and `X-Forwarded-*` headers; `limit`: connections per upstream;
//! - `guard`: idle and total timeouts on streamed bodies; `upgrade`: WebSocket passthrough;
//! - `spool`: request bodies read whole before an upstream slot is taken.

mod client;
mod config;
mod guard;
mod h1;
mod h1_body;
mod hop;
mod limit;
mod spool;
mod upgrade;

use gatehouse_config::Registry;

pub use client::{ProxyHandler, ProxyKind};
pub(crate) use guard::{is_stream_timeout, Guarded};
pub use hop::came_through_this_gateway;

/// The lean upstream leg's answer parser and body reader over `data` (for the fuzz target
/// `http1_response`): the status and body bytes read, `None` when no head was taken.
#[doc(hidden)]
pub fn parse_http1_answer(data: &[u8]) -> Option<(u16, u64)> {
    h1::parse_for_fuzzing(data)
}

/// Builds a `ClientHandler` (for types that wrap one).
pub(crate) fn build_client_handler(
    cx: &gatehouse_config::BuildCtx<'_>,
    node: &gatehouse_config::Node,
) -> Result<gatehouse_config::Object, gatehouse_config::ConfigError> {
    client::build_client(cx, node)
}

pub(crate) fn register(registry: &mut Registry) {
    registry.register(&["ReverseProxyHandler"], client::build_reverse_proxy);
    registry.register(&["ClientHandler"], client::build_client);
    registry.default_object("ReverseProxyHandler", "ReverseProxyHandler");
    registry.default_object("ClientHandler", "ClientHandler");
}
