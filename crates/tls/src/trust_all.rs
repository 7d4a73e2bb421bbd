//! IG's `TrustAllManager`: trusts any server certificate. Only for tests and migrations; it
//! turns TLS into encryption without authentication (anyone on the path can answer in the
//! server's place), so every load says so, loudly. Signatures of the handshake are still
//! checked, so the connection is at least with whoever holds the presented certificate's key.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};

/// The marker object `TrustAllManager` builds.
pub struct TrustAll;

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    cx.config(node)?.finish()?;
    tracing::warn!(
        "{}:{}: TrustAllManager: upstream certificates are NOT verified; any server, or anyone in between, is trusted. Use a SecretsTrustManager in production",
        cx.file(),
        node.pos
    );
    Ok(Object::Other(Arc::new(TrustAll)))
}
