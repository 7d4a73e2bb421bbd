//! `TimerDecorator` (the default object `timer`): `"timer": true` logs the time spent in
//! the decorated object.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Decorator, Node, Object};
use gatehouse_core::{BoxFuture, Context, Handler, Request, Response, Result};

struct TimerDecorator {
    unit: Unit,
}

/// IG's `timeUnit`: the unit times are logged in.
#[derive(Clone, Copy)]
enum Unit {
    Nanos,
    Micros,
    Millis,
    Seconds,
}

impl Unit {
    fn show(self, took: std::time::Duration) -> String {
        match self {
            Unit::Nanos => format!("{} ns", took.as_nanos()),
            Unit::Micros => format!("{} us", took.as_micros()),
            Unit::Millis => format!("{:.3} ms", took.as_secs_f64() * 1e3),
            Unit::Seconds => format!("{:.6} s", took.as_secs_f64()),
        }
    }
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let unit = match config.get("timeUnit") {
        None => Unit::Millis,
        Some(n) => match cx.string(n)?.to_ascii_lowercase().as_str() {
            "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => Unit::Nanos,
            "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => Unit::Micros,
            "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => Unit::Millis,
            "s" | "sec" | "secs" | "second" | "seconds" => Unit::Seconds,
            other => {
                return Err(cx.err(
                    n,
                    format!("timeUnit must be nanoseconds, microseconds, milliseconds or seconds, not '{other}'"),
                ))
            }
        },
    };
    config.finish()?;
    Ok(Object::Decorator(Arc::new(TimerDecorator { unit })))
}

impl Decorator for TimerDecorator {
    fn decorate_handler(
        &self,
        handler: Arc<dyn Handler>,
        config: &Node,
        cx: &BuildCtx<'_>,
    ) -> Result<Arc<dyn Handler>, ConfigError> {
        if !cx.bool(config)? {
            return Ok(handler);
        }
        Ok(Arc::new(Timed { inner: handler, name: cx.name().to_string(), unit: self.unit }))
    }
}

struct Timed {
    inner: Arc<dyn Handler>,
    name: String,
    unit: Unit,
}

impl Handler for Timed {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let start = cx.clock.instant();
            let result = self.inner.handle(cx, req).await;
            let took = cx.clock.instant().saturating_duration_since(start);
            tracing::info!(target: "gatehouse::timer", request_id = %cx.request_id, "{} took {}", self.name, self.unit.show(took));
            result
        })
    }
}
