//! Upgraded connections (WebSocket): once the upstream answers 101, the two connections are
//! joined and bytes are copied both ways until either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Joins the downstream and upstream connections once both have upgraded.
pub(crate) fn tunnel(downstream: OnUpgrade, upstream: OnUpgrade, request_id: gatehouse_core::RequestId) {
    tokio::spawn(async move {
        let (down, up) = match tokio::try_join!(downstream, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(%request_id, "upgrade failed: {e}");
                return;
            }
        };
        let (mut down, mut up) = (TokioIo::new(down), TokioIo::new(up));
        match tokio::io::copy_bidirectional(&mut down, &mut up).await {
            Ok((sent, received)) => tracing::debug!(%request_id, sent, received, "upgraded connection closed"),
            Err(e) => tracing::debug!(%request_id, "upgraded connection ended: {e}"),
        }
    });
}
