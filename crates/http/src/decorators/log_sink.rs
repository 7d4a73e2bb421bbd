//! IG's log sinks (`ConsoleLogSink`, `FileLogSink`, `Slf4jLogSink`) and OpenIG's capture
//! `logSink`: accepted so that existing files load; what a `CaptureDecorator` captures goes to
//! Gatehouse's log (target `gatehouse::capture`, standard error, filtered by `RUST_LOG`),
//! wherever the sink pointed. Their properties are read and ignored with one warning.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};

/// A log sink: a name for Gatehouse's own log.
pub struct LogSink;

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    config.ignore(&["level", "stream", "file", "name", "rotationPolicy", "encoding", "base"]);
    config.finish()?;
    tracing::info!("{}: a log sink writes to Gatehouse's log (standard error, target gatehouse::capture)", cx.file());
    Ok(Object::Other(Arc::new(LogSink)))
}
