//! `Chain`: filters in order around a handler. Decorator keys inside its config (`"capture"`)
//! decorate the chain, as IG files write them.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::Chain;

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let filters = match config.get("filters") {
        Some(f) => cx.array(f)?.iter().map(|f| cx.filter(f)).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let handler = cx.handler(config.require("handler")?)?;
    // Decorators written inside the config (IG accepts them there) decorate the chain.
    config.decorate_rest(Object::Handler(Arc::new(Chain::new(filters, handler))), cx.name())
}
