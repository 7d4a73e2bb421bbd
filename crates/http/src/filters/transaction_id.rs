//! IG's `TransactionIdOutboundFilter`: outgoing calls carry `X-ForgeRock-TransactionId`, the
//! exchange's id and a sub-transaction number (`<request id>/<n>`), so that the services a
//! gateway calls can log the same id. `ForgeRockClientHandler`, IG's default handler for calls
//! to ForgeRock services, is a `ClientHandler` behind this filter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{BoxFuture, Chain, Context, Filter, Next, Request, Response, Result};
use http::HeaderValue;

/// The header IG's services read.
pub const TRANSACTION_ID: &str = "x-forgerock-transactionid";

/// Adds the transaction-id header.
#[derive(Default)]
pub struct TransactionIdOutboundFilter {
    sub: AtomicU64,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    cx.config(node)?.finish()?;
    Ok(Object::Filter(Arc::new(TransactionIdOutboundFilter::default())))
}

/// `ForgeRockClientHandler`: a `ClientHandler` (same properties) behind the filter.
pub(crate) fn build_forgerock_client(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let Object::Handler(client) = crate::proxy::build_client_handler(cx, node)? else {
        return Err(cx.err(node, "a ClientHandler is a handler"));
    };
    let filter: Arc<dyn Filter> = Arc::new(TransactionIdOutboundFilter::default());
    Ok(Object::Handler(Arc::new(Chain::new(vec![filter], client))))
}

impl Filter for TransactionIdOutboundFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let n = self.sub.fetch_add(1, Ordering::Relaxed);
            if let Ok(v) = HeaderValue::from_str(&format!("{}/{n}", cx.request_id)) {
                req.headers_mut().insert(TRANSACTION_ID, v);
            }
            next.handle(cx, req).await
        })
    }
}
