//! IG's `ThrottlingFilter`: at most `numberOfRequests` per `duration` for each partition
//! (`requestGroupingPolicy`, e.g. the client's address or user); beyond, 429 with a
//! `Retry-After` in whole seconds. The rate is fixed (`rate`) or chosen per request by a
//! `MappedThrottlingPolicy` (`throttlingRateMapper` into `throttlingRatesMapping`, else
//! `defaultRate`) or a `DefaultRateThrottlingPolicy` around one. Each partition is a token
//! bucket refilled continuously from the gateway's clock; partitions idle for
//! `cleaningInterval` are forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Filter, Next, Request, Response, Result};
use gatehouse_expr::{Expression, Scope};
use http::{HeaderValue, StatusCode};

/// A throttling rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    requests: u64,
    per: Duration,
}

/// Where a request's rate comes from.
pub enum RatePolicy {
    /// `rate`.
    Fixed(Rate),
    /// `MappedThrottlingPolicy`.
    Mapped { mapper: Expression, mapping: HashMap<String, Rate>, default: Option<Rate> },
    /// `DefaultRateThrottlingPolicy`: the delegate's rate, else `defaultRate`.
    Default { delegate: Arc<RatePolicy>, default: Rate },
}

impl RatePolicy {
    /// The rate and a key naming it (buckets of different rates never mix).
    fn rate(&self, scope: &Scope<'_>) -> Option<(Rate, String)> {
        match self {
            RatePolicy::Fixed(r) => Some((*r, String::new())),
            RatePolicy::Mapped { mapper, mapping, default } => {
                let key = mapper.eval_string(scope);
                match key.as_ref().and_then(|k| mapping.get(k).map(|r| (*r, k.clone()))) {
                    Some(found) => Some(found),
                    None => default.map(|d| (d, "\u{0}default".to_string())),
                }
            }
            RatePolicy::Default { delegate, default } => {
                delegate.rate(scope).or(Some((*default, "\u{0}default".to_string())))
            }
        }
    }
}

fn rate(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Rate, ConfigError> {
    let c = cx.config(node)?;
    let n_node = c.require("numberOfRequests")?;
    let requests = u64::try_from(cx.int(n_node)?)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| cx.err(n_node, "numberOfRequests must be a positive integer"))?;
    let d_node = c.require("duration")?;
    let per = cx
        .duration(d_node)?
        .filter(|d| !d.is_zero())
        .ok_or_else(|| cx.err(d_node, "duration must be a positive, limited duration"))?;
    c.finish()?;
    Ok(Rate { requests, per })
}

pub(crate) fn build_mapped(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let mapper = cx.expr(config.require("throttlingRateMapper")?)?;
    let mut mapping = HashMap::new();
    for (key, value) in cx.object(config.require("throttlingRatesMapping")?)? {
        mapping.insert(key.name.clone(), rate(cx, value)?);
    }
    let default = config.get("defaultRate").map(|d| rate(cx, d)).transpose()?;
    config.finish()?;
    Ok(Object::Other(Arc::new(RatePolicy::Mapped { mapper, mapping, default })))
}

pub(crate) fn build_default(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let delegate =
        cx.other::<RatePolicy>(config.require("delegateThrottlingRatePolicy")?, "a throttling rate policy")?;
    let default = rate(cx, config.require("defaultRate")?)?;
    config.finish()?;
    Ok(Object::Other(Arc::new(RatePolicy::Default { delegate, default })))
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The filter.
pub struct ThrottlingFilter {
    grouping: Option<Expression>,
    policy: Arc<RatePolicy>,
    cleaning: Duration,
    buckets: Mutex<(Buckets, Option<Instant>)>,
}

/// Buckets by (partition, rate key).
type Buckets = HashMap<(String, String), Bucket>;

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let grouping = config.get("requestGroupingPolicy").map(|g| cx.expr(g)).transpose()?;
    let policy = match (config.get("rate"), config.get("throttlingRatePolicy")) {
        (Some(r), None) => Arc::new(RatePolicy::Fixed(rate(cx, r)?)),
        (None, Some(p)) => {
            cx.other::<RatePolicy>(p, "a throttling rate policy (MappedThrottlingPolicy, DefaultRateThrottlingPolicy)")?
        }
        (Some(_), Some(p)) => return Err(cx.err(p, "set rate or throttlingRatePolicy, not both")),
        (None, None) => return Err(cx.err(node, "ThrottlingFilter needs 'rate' or 'throttlingRatePolicy'")),
    };
    let cleaning = match config.get("cleaningInterval") {
        Some(n) => cx.duration(n)?.unwrap_or(Duration::from_secs(5)),
        None => Duration::from_secs(5),
    };
    config.ignore(&["executor"]);
    config.finish()?;
    Ok(Object::Filter(Arc::new(ThrottlingFilter {
        grouping,
        policy,
        cleaning,
        buckets: Mutex::new((HashMap::new(), None)),
    })))
}

impl ThrottlingFilter {
    /// Takes a token for `key` at `now`: `Ok` to pass, else how long until one is there.
    fn take(&self, key: (String, String), rate: Rate, now: Instant) -> std::result::Result<(), Duration> {
        let mut guard = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let (buckets, cleaned) = &mut *guard;
        if cleaned.is_none_or(|c| now.saturating_duration_since(c) >= self.cleaning) {
            let horizon = self.cleaning.max(rate.per);
            buckets.retain(|_, b| now.saturating_duration_since(b.updated) < horizon);
            *cleaned = Some(now);
        }
        let capacity = rate.requests as f64;
        let per_token = rate.per.as_secs_f64() / capacity;
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: capacity, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed / per_token).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) * per_token))
        }
    }
}

impl Filter for ThrottlingFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let decision = {
                let scope = Scope::request(cx, &req);
                self.policy.rate(&scope).map(|(rate, rate_key)| {
                    let partition = self.grouping.as_ref().and_then(|g| g.eval_string(&scope)).unwrap_or_default();
                    self.take((partition, rate_key), rate, cx.clock.instant())
                })
            };
            match decision {
                Some(Err(wait)) => {
                    let mut resp = Response::new(Body::empty());
                    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                    Ok(resp)
                }
                _ => next.handle(cx, req).await,
            }
        })
    }
}
