//! `Chain`: filters in order around a handler.

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
    config.finish()?;
    Ok(Object::Handler(Arc::new(Chain::new(filters, handler))))
}
