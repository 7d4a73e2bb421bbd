//! `CaptureDecorator` (the default object `capture`): logs the messages that pass through
//! the decorated object. Credentials and cookies are always redacted.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Decorator, Kind, Node, Object};
use gatehouse_core::{BoxFuture, Context, Handler, Request, Response, Result};
use http::HeaderMap;

/// Headers whose values never reach a log.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-forgerock-transactionid-secret",
];

/// Renders headers for a log line, with secret values replaced by `[redacted]`.
pub fn redacted(headers: &HeaderMap) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        let shown = if SECRET_HEADERS.contains(&name.as_str()) {
            "[redacted]".into()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        out.push_str(&format!("\n  {name}: {shown}"));
    }
    out
}

struct CaptureDecorator {
    capture_entity: bool,
    max_entity: usize,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let capture_entity = config.get("captureEntity").map(|n| cx.bool(n)).transpose()?.unwrap_or(false);
    let max_entity = config.get("maxEntityLength").map(|n| cx.int(n)).transpose()?.unwrap_or(524_288).max(0) as usize;
    config.ignore(&["captureContext", "captureExchange"]);
    // OpenIG's sink: a log sink object (or its name); captures go to Gatehouse's log.
    if let Some(sink) = config.get("logSink") {
        cx.other::<crate::decorators::log_sink::LogSink>(
            sink,
            "a log sink (ConsoleLogSink, FileLogSink, Slf4jLogSink)",
        )?;
    }
    config.finish()?;
    Ok(Object::Decorator(Arc::new(CaptureDecorator { capture_entity, max_entity })))
}

/// What to capture, from `"all"`, `"request"`, `"response"` or a list of them.
fn points(cx: &BuildCtx<'_>, config: &Node) -> Result<(bool, bool), ConfigError> {
    if let Kind::Bool(false) = config.kind {
        return Ok((false, false));
    }
    let (mut req, mut resp) = (false, false);
    for item in config.one_or_many() {
        match cx.string(item)?.to_ascii_lowercase().as_str() {
            "all" => (req, resp) = (true, true),
            "request" | "filtered_request" => req = true,
            "response" | "filtered_response" => resp = true,
            other => return Err(cx.err(item, format!("unknown capture point '{other}'"))),
        }
    }
    Ok((req, resp))
}

impl Decorator for CaptureDecorator {
    fn decorate_handler(
        &self,
        handler: Arc<dyn Handler>,
        config: &Node,
        cx: &BuildCtx<'_>,
    ) -> Result<Arc<dyn Handler>, ConfigError> {
        let (request, response) = points(cx, config)?;
        if !request && !response {
            return Ok(handler);
        }
        Ok(Arc::new(CaptureHandler {
            inner: handler,
            name: cx.name().to_string(),
            request,
            response,
            entity: self.capture_entity,
            max_entity: self.max_entity,
        }))
    }
}

struct CaptureHandler {
    inner: Arc<dyn Handler>,
    name: String,
    request: bool,
    response: bool,
    entity: bool,
    max_entity: usize,
}

impl CaptureHandler {
    /// The body when it is already in memory and entity capture is on.
    fn entity_text(&self, body: &gatehouse_core::Body) -> String {
        if !self.entity {
            return String::new();
        }
        match body.as_bytes() {
            Some(b) if !b.is_empty() => {
                let shown = &b[..b.len().min(self.max_entity)];
                format!("\n\n{}", String::from_utf8_lossy(shown))
            }
            Some(_) => String::new(),
            None => "\n\n[streamed entity not captured]".into(),
        }
    }
}

impl Handler for CaptureHandler {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if self.request {
                tracing::info!(
                    target: "gatehouse::capture",
                    "[{}] {} >>> {} {} {:?}{}{}",
                    cx.request_id, self.name, req.method(), req.uri(), req.version(), redacted(req.headers()), self.entity_text(req.body())
                );
            }
            let result = self.inner.handle(cx, req).await;
            if self.response {
                match &result {
                    Ok(resp) => tracing::info!(
                        target: "gatehouse::capture",
                        "[{}] {} <<< {}{}{}",
                        cx.request_id, self.name, resp.status(), redacted(resp.headers()), self.entity_text(resp.body())
                    ),
                    Err(e) => {
                        tracing::info!(target: "gatehouse::capture", "[{}] {} <<< error: {e}", cx.request_id, self.name)
                    }
                }
            }
            result
        })
    }
}
