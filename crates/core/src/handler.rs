//! The two composable pieces of an exchange: handlers answer, filters wrap.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Context, Request, Response, Result};

/// A boxed, sendable future borrowing for `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Answers a request. A 401, 403 or redirect is a response; `Err` means the gateway failed.
pub trait Handler: Send + Sync + 'static {
    /// Handles one exchange.
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>>;

    /// The handler as `Any`, for handlers that other heap objects also use by name (a
    /// resource-server filter that verifies against a token service in the same process).
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        None
    }

    /// Whether this handler's answers may carry their upstream's header fields as bytes
    /// ([`crate::AnswerFields`]) rather than in the response's map: true only when nothing
    /// it runs reads or rewrites an answer's fields after the upstream gave them (a proxy,
    /// a decorator that acts on the request alone around one). Anything that may look at
    /// the response keeps the default.
    fn passes_answer_fields(&self) -> bool {
        false
    }
}

/// Wraps the rest of a chain. A filter short-circuits by answering without calling `next`.
pub trait Filter: Send + Sync + 'static {
    /// Filters one exchange; `next` runs the rest of the chain.
    fn filter<'a>(&'a self, cx: &'a mut Context, req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>>;
}

/// The rest of a chain: the filters still to run, then the handler (or, for a filter made of
/// filters such as `ChainOfFilters`, the rest of the chain it runs in).
#[derive(Clone, Copy)]
pub struct Next<'a> {
    filters: &'a [Arc<dyn Filter>],
    end: End<'a>,
}

#[derive(Clone, Copy)]
enum End<'a> {
    Handler(&'a dyn Handler),
    Then(&'a Next<'a>),
}

impl<'a> Next<'a> {
    /// The rest of a chain made of `filters` then `handler`.
    pub fn new(filters: &'a [Arc<dyn Filter>], handler: &'a dyn Handler) -> Self {
        Next { filters, end: End::Handler(handler) }
    }

    /// `filters`, then whatever `outer` runs: how a filter that is itself a list of filters
    /// puts them in front of the rest of its chain.
    pub fn then(filters: &'a [Arc<dyn Filter>], outer: &'a Next<'a>) -> Self {
        Next { filters, end: End::Then(outer) }
    }

    /// Runs the rest of the chain.
    pub fn handle<'b>(self, cx: &'b mut Context, req: Request) -> BoxFuture<'b, Result<Response>>
    where
        'a: 'b,
    {
        match self.filters.split_first() {
            Some((first, rest)) => first.filter(cx, req, Next { filters: rest, end: self.end }),
            None => match self.end {
                End::Handler(handler) => handler.handle(cx, req),
                End::Then(outer) => outer.handle(cx, req),
            },
        }
    }
}

/// Filters in order around a handler; itself a handler, so chains nest.
pub struct Chain {
    filters: Vec<Arc<dyn Filter>>,
    handler: Arc<dyn Handler>,
}

impl Chain {
    /// A chain of `filters` (run in order on the request, in reverse on the response).
    pub fn new(filters: Vec<Arc<dyn Filter>>, handler: Arc<dyn Handler>) -> Self {
        Chain { filters, handler }
    }
}

impl Handler for Chain {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Next::new(&self.filters, &*self.handler).handle(cx, req)
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        (**self).handle(cx, req)
    }

    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        (**self).as_any()
    }

    fn passes_answer_fields(&self) -> bool {
        (**self).passes_answer_fields()
    }
}
