//! `Chain`: filters in order around a handler. Decorator keys inside its config (`"capture"`)
//! decorate the chain, as IG files write them.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::Chain;

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let filters = match config.get("filters") {
        Some(f) => cx.all(cx.array(f)?.iter().map(|f| cx.filter(f)).collect::<Vec<_>>()),
        None => Ok(Vec::new()),
    };
    let handler = config.require("handler").and_then(|h| cx.handler(h));
    // Both are built before either error is returned, so a check lists both.
    let (filters, handler) = match (filters, handler) {
        (Ok(f), Ok(h)) => (f, h),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
        (Err(e), Err(other)) => {
            cx.heap().loader().report(other);
            return Err(e);
        }
    };
    // Decorators written inside the config (IG accepts them there) decorate the chain.
    config.decorate_rest(Object::Handler(Arc::new(Chain::new(filters, handler))), cx.name())
}
