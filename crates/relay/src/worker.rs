//! The relay's background work, as a service: timers that fire from the clock (session start,
//! timeout, lifespan) whether or not anyone asks, callbacks delivered at least once with
//! backoff until the command's lifespan, and alive checks of each client's callback URL.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::{BuildCtx, ConfigError, Node};
use gatehouse_core::{Body, BoxFuture, Context, Handler, Request, Service, Task};
use http::{header, Method};

use crate::clients::ApiClient;
use crate::metrics::{ALIVE, CALLBACK_ATTEMPTS, CALLBACK_FAILURES, COMMANDS, IN_BOXES};
use crate::relay::{callback_body, MessagingRelay};
use crate::store::{Command, State};

/// How callbacks are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    initial: Duration,
    max: Duration,
}

impl Retry {
    /// `callbackRetry: { "initialDelay": "1 second", "maxDelay": "1 minute" }`.
    pub fn from_config(cx: &BuildCtx<'_>, node: Option<&Node>) -> Result<Self, ConfigError> {
        let mut retry = Retry { initial: Duration::from_secs(1), max: Duration::from_secs(60) };
        if let Some(n) = node {
            let c = cx.config(n)?;
            if let Some(v) = c.get("initialDelay") {
                retry.initial = cx
                    .duration(v)?
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| cx.err(v, "initialDelay must be positive"))?;
            }
            if let Some(v) = c.get("maxDelay") {
                retry.max = cx.duration(v)?.unwrap_or(Duration::from_secs(3600)).max(retry.initial);
            }
            c.finish()?;
        }
        Ok(retry)
    }

    fn delay(&self, attempts: u32) -> Duration {
        self.initial.saturating_mul(1u32 << attempts.min(20)).min(self.max)
    }
}

/// The longest the worker sleeps, so that a moved (test) clock is seen soon.
const TICK: Duration = Duration::from_millis(250);
/// How often callback URLs are checked.
const ALIVE_EVERY: Duration = Duration::from_secs(60);
/// Callbacks in flight at once, per relay: enough to keep a receiver busy, few enough not to
/// overrun its accept queue. The others stay in the store until a slot frees.
const CALLBACKS_IN_FLIGHT: usize = 16;
/// Delivered callbacks are marked in the store together: when this many gathered, or this
/// long after the last such write. A crash in between only repeats those callbacks
/// (receivers deduplicate by id); a stop writes what gathered.
const DONE_BATCH: usize = 64;
const DONE_EVERY: Duration = Duration::from_millis(50);

/// The relay's worker.
pub struct Worker {
    relay: Arc<MessagingRelay>,
    handler: Arc<dyn Handler>,
    retry: Retry,
    name: String,
    task: Task,
    delivered: Delivered,
    /// Asks the loop to end: callbacks in flight finish first (see [`DRAIN`]).
    stopping: Arc<tokio::sync::Notify>,
    ended: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

/// How long a stop waits for the callbacks in flight: a receiver that answered before the
/// stop is not called again after the restart.
const DRAIN: Duration = Duration::from_secs(5);

impl Worker {
    pub(crate) fn new(relay: Arc<MessagingRelay>, handler: Arc<dyn Handler>, retry: Retry, name: &str) -> Self {
        Worker {
            relay,
            handler,
            retry,
            name: name.to_string(),
            task: Task::default(),
            delivered: Delivered::default(),
            stopping: Arc::new(tokio::sync::Notify::new()),
            ended: std::sync::Mutex::new(None),
        }
    }
}

impl Service for Worker {
    fn name(&self) -> String {
        format!("relay worker of '{}'", self.name)
    }

    fn start(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            // A shared store connects and listens now, before the connectors accept.
            self.relay.store.start(self.relay.stored.clone()).await.map_err(|e| e.to_string())?;
            let (relay, handler, retry) = (self.relay.clone(), self.handler.clone(), self.retry);
            let (ended, on_end) = tokio::sync::oneshot::channel();
            *self.ended.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(on_end);
            let stop = Stop { requested: self.stopping.clone(), _ended: ended };
            self.task.spawn(run(relay, handler, retry, self.delivered.clone(), stop));
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stopping.notify_one();
            let ended = self.ended.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(ended) = ended {
                let _ = tokio::time::timeout(DRAIN + Duration::from_secs(1), ended).await;
            }
            self.task.stop().await;
            let done = self.delivered.take();
            if !done.is_empty() {
                if let Err(e) = self.relay.store.callbacks_done(done).await {
                    tracing::warn!("relay store: {e}; those callbacks will be sent again");
                }
            }
            if let Err(e) = self.relay.store.flush().await {
                tracing::warn!("relay store: {e}");
            }
        })
    }
}

/// The loop's end: `requested` asks for it; `_ended` is dropped when the loop returned.
struct Stop {
    requested: Arc<tokio::sync::Notify>,
    _ended: tokio::sync::oneshot::Sender<()>,
}

/// The loop: fire due timers, claim due callbacks for the free slots and send them in the
/// background (a slow receiver never holds the timers back), then sleep until the next
/// deadline, an answer or a freed slot. An answer or a freed slot only claims callbacks;
/// the timers' pass (expire, box depth, next deadline) runs when the next deadline
/// is due and at least every tick, so busy traffic does not multiply it.
async fn run(relay: Arc<MessagingRelay>, handler: Arc<dyn Handler>, retry: Retry, delivered: Delivered, stop: Stop) {
    let mut last_alive: Option<tokio::time::Instant> = None;
    // Owned by the loop: a stop waits for what is in flight (at most DRAIN), then aborts the
    // rest (the lease brings it back).
    let mut in_flight = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(CALLBACKS_IN_FLIGHT));
    let freed = Arc::new(tokio::sync::Notify::new());
    let mut next: Option<u64> = None;
    let mut last_pass: Option<tokio::time::Instant> = None;
    let mut last_done = tokio::time::Instant::now();
    // Whether the last claim filled every free slot (more may be due); a freed slot claims
    // only then, so a finished callback does not cost a query when nothing is waiting.
    let mut backlog = true;
    let mut woke_by_freed = false;
    // Answers taken by this instance, their callbacks leased to it (see `MessagingRelay::handoff`).
    let mut handed = relay.handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    let mut waiting: std::collections::VecDeque<Command> = std::collections::VecDeque::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        if last_alive.is_none_or(|t| t.elapsed() >= ALIVE_EVERY) {
            last_alive = Some(tokio::time::Instant::now());
            for client in relay.clients.iter().filter(|c| c.callback_url.is_some()).cloned() {
                let handler = handler.clone();
                in_flight.spawn(async move {
                    let up = alive(&handler, &client).await;
                    ALIVE.set(&client.id, up);
                });
            }
        }
        while let Some(c) = handed.as_mut().and_then(|h| h.try_recv().ok()) {
            waiting.push_back(c);
        }
        let now = relay.now();
        let store = &relay.store;
        // Slots the hand-offs leave for claimed callbacks.
        let free = slots.available_permits().saturating_sub(waiting.len());
        let timers = next.is_none_or(|n| n <= now) || last_pass.is_none_or(|t| t.elapsed() >= TICK);
        let claim = free > 0 && (timers || !woke_by_freed || backlog);
        let gathered = delivered.len();
        let done = if gathered >= DONE_BATCH || (gathered > 0 && last_done.elapsed() >= DONE_EVERY) {
            last_done = tokio::time::Instant::now();
            delivered.take()
        } else {
            Vec::new()
        };
        let worked = async {
            if !done.is_empty() {
                if let Err(e) = store.callbacks_done(done.clone()).await {
                    // Kept for the next pass rather than sent again after their lease.
                    delivered.restore(done);
                    return Err(e);
                }
            }
            let pass = if timers {
                last_pass = Some(tokio::time::Instant::now());
                Some((store.expire(now).await?, store.in_boxes().await?))
            } else {
                None
            };
            let due = if claim { Some(store.claim_callbacks(now, free).await?) } else { None };
            let upcoming = if timers { store.next_deadline().await? } else { next };
            Ok::<_, crate::store::StoreError>((pass, due, upcoming))
        }
        .await;
        next = match worked {
            Ok((pass, due, upcoming)) => {
                if let Some((t, boxes)) = pass {
                    for (_, kind) in &t.session_start_failed {
                        COMMANDS.inc_labels(&[kind, State::FailedSessionStart.name()]);
                    }
                    for (_, kind) in &t.timed_out {
                        COMMANDS.inc_labels(&[kind, State::FailedTimeout.name()]);
                    }
                    IN_BOXES.set(boxes);
                }
                if let Some(due) = due {
                    backlog = due.len() >= free;
                    waiting.extend(due);
                }
                // Still due after the claim: callbacks waiting for a slot, which a freed slot
                // wakes; the timers' pass comes back within a tick.
                upcoming.map(|n| if n <= now { now + TICK.as_millis() as u64 } else { n })
            }
            Err(e) => {
                tracing::error!("relay store: {e}");
                None
            }
        };
        // Hand-offs and claimed callbacks go out through the same slots; what does not fit
        // waits here for a freed slot.
        while !waiting.is_empty() {
            let Ok(slot) = slots.clone().try_acquire_owned() else { break };
            let Some(c) = waiting.pop_front() else { break };
            let (call, freed) = (deliver(&relay, &handler, retry, c, delivered.clone()), freed.clone());
            in_flight.spawn(async move {
                call.await;
                drop(slot);
                freed.notify_one();
            });
        }
        let now = relay.now();
        let until_pass = last_pass.map_or(Duration::ZERO, |t| TICK.saturating_sub(t.elapsed()));
        let mut wait = next.map_or(TICK, |n| Duration::from_millis(n.saturating_sub(now))).min(until_pass);
        if delivered.len() > 0 {
            wait = wait.min(DONE_EVERY.saturating_sub(last_done.elapsed()));
        }
        let handed_off = async {
            match handed.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        woke_by_freed = tokio::select! {
            c = handed_off => {
                match c {
                    Some(c) => waiting.push_back(c),
                    None => handed = None,
                }
                // Only the hand-off to send: no claim unless a pass or a backlog asks for one.
                true
            }
            _ = freed.notified() => true,
            _ = tokio::time::sleep(wait) => false,
            _ = stop.requested.notified() => {
                // The callbacks in flight finish (or give up) before the loop ends; the
                // caller then writes the marks they gathered.
                let _ = tokio::time::timeout(DRAIN, async { while in_flight.join_next().await.is_some() {} }).await;
                return;
            }
        };
    }
}

fn request(client: &ApiClient, method: Method, url: &str, body: Option<String>) -> Option<Request> {
    let mut b = http::Request::builder().method(method).uri(url);
    if let Some(auth) = &client.callback_basic_auth {
        b = b.header(header::AUTHORIZATION, gatehouse_core::credentials::basic_authorization(auth));
    }
    let body = match body {
        Some(text) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(text)
        }
        None => Body::empty(),
    };
    b.body(body).ok()
}

async fn call(handler: &Arc<dyn Handler>, req: Request) -> bool {
    let mut cx = Context::detached();
    match tokio::time::timeout(Duration::from_secs(10), handler.handle(&mut cx, req)).await {
        Ok(Ok(resp)) => {
            let ok = resp.status().is_success();
            let _ = resp.into_body().collect(64 * 1024, gatehouse_core::Side::Upstream).await;
            ok
        }
        _ => false,
    }
}

async fn alive(handler: &Arc<dyn Handler>, client: &ApiClient) -> bool {
    let Some(base) = &client.callback_url else { return false };
    let Some(req) = request(client, Method::GET, &format!("{base}/callback/alive"), None) else { return false };
    let up = call(handler, req).await;
    if !up {
        tracing::warn!(client = %client.id, "the callback URL {base} does not answer its alive check");
    }
    up
}

/// Ids of delivered callbacks, gathered to be marked in one write (see [`DONE_BATCH`]). A
/// crash before that write only repeats those callbacks (receivers deduplicate by id).
#[derive(Clone, Default)]
struct Delivered(Arc<std::sync::Mutex<Vec<i64>>>);

impl Delivered {
    fn push(&self, id: i64) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(id);
    }

    fn take(&self) -> Vec<i64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Puts back ids whose write failed.
    fn restore(&self, ids: Vec<i64>) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(ids);
    }
}

/// One callback: `POST <callbackUrl>/callback/<type>`, idempotent by `commandId`.
fn deliver(
    relay: &Arc<MessagingRelay>,
    handler: &Arc<dyn Handler>,
    retry: Retry,
    c: Command,
    done: Delivered,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (relay, handler) = (relay.clone(), handler.clone());
    async move {
        let Some(client) = relay.clients.iter().find(|k| k.id == c.new.client).cloned() else { return };
        let Some(base) = client.callback_url.clone() else {
            done.push(c.id);
            return;
        };
        let url = format!("{base}/callback/{}", c.new.kind);
        let body = callback_body(&c);
        let delivered = match request(&client, Method::POST, &url, Some(body)) {
            Some(mut req) => {
                if let Ok(v) = http::HeaderValue::from_str(&c.id.to_string()) {
                    req.headers_mut().insert("idempotency-key", v);
                }
                CALLBACK_ATTEMPTS.inc();
                call(&handler, req).await
            }
            None => false,
        };
        if delivered {
            done.push(c.id);
            return;
        }
        CALLBACK_FAILURES.inc();
        tracing::warn!(command = c.id, "callback to {url} failed; retrying (attempt {})", c.callback_attempts + 1);
        let next = relay.now() + retry.delay(c.callback_attempts).as_millis() as u64;
        if let Err(e) = relay.store.callback_retry(c.id, next).await {
            tracing::error!("relay store: {e}");
        }
    }
}
