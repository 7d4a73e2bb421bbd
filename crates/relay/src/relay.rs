//! `MessagingRelay`: the API identity managers already speak (`POST
//! {basePath}/command/{type}`, `X-Api-Key`), the status and cancel calls beside it, and the
//! device side at `publicUrl/<bid>`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gatehouse_config::{BuildCtx, ConfigError, Kind, Node, Object};
use gatehouse_core::{Body, BoxFuture, Clock, Context, Error, Handler, Request, Response, Result};
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::clients::{self, ApiClient};
use crate::json::{self, Obj};
use crate::metrics::{COMMANDS, DELIVERY};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::store::{Answered, Command, Millis, NewCommand, State, Store};
use crate::worker::Worker;

/// The command types identity managers send.
const TYPES: [&str; 5] = ["provision", "certificate", "authenticate", "sign", "ping"];

/// The relay.
pub struct MessagingRelay {
    pub(crate) base_path: String,
    /// The public URL devices reach (`uri` points there), and its path.
    public_url: Option<String>,
    public_path: String,
    pub(crate) clients: Vec<ApiClient>,
    pub(crate) store: Arc<dyn Store>,
    max_payload: usize,
    session_start: Duration,
    clock: Clock,
    /// Woken when a command is stored or answered, here or on another instance (long polls).
    pub(crate) stored: Arc<Notify>,
    /// Answers taken here, their callbacks already leased to this instance: the worker sends
    /// them at once without a claim. (If this instance dies first, the lease runs out and
    /// any instance claims them.)
    pub(crate) handoff: tokio::sync::mpsc::UnboundedSender<Command>,
    pub(crate) handed: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Command>>>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let base_path = config.get("basePath").map(|n| cx.string(n)).transpose()?.unwrap_or_else(|| "/hermod/rest".into());
    let base_path = format!("/{}", base_path.trim_matches('/'));
    let mut api_clients = Vec::new();
    let mut public_url = config.get("publicUrl").map(|n| cx.string(n)).transpose()?;
    if let Some(n) = config.get("hermodConfig") {
        let path = cx.heap().loader().instance_dir.join(cx.string(n)?);
        let text =
            std::fs::read_to_string(&path).map_err(|e| cx.err(n, format!("cannot read {}: {e}", path.display())))?;
        let hermod = clients::read_application_yml(&text).map_err(|e| cx.err(n, format!("{}: {e}", path.display())))?;
        public_url = public_url.or(hermod.public_url);
        api_clients.extend(hermod.clients);
    }
    if let Some(list) = config.get("clients") {
        for item in cx.array(list)? {
            api_clients.push(client(cx, item)?);
        }
    }
    if api_clients.is_empty() {
        return Err(cx.err(node, "MessagingRelay needs clients (or a hermodConfig with allowedClients)"));
    }
    let public_path = match &public_url {
        Some(u) => {
            let uri: http::Uri = u.parse().map_err(|_| cx.err(node, format!("publicUrl '{u}' is not a URL")))?;
            uri.path().trim_end_matches('/').to_string()
        }
        None => "/hermod/box".to_string(),
    };
    let store = store(cx, config.get("store"))?;
    let max_payload = match config.get("maxPayloadSize") {
        Some(n) => usize::try_from(cx.int(n)?).map_err(|_| cx.err(n, "maxPayloadSize must be positive"))?,
        None => 64 * 1024,
    };
    let session_start = match config.get("sessionStartTimeout") {
        Some(n) => {
            cx.duration(n)?.filter(|d| !d.is_zero()).ok_or_else(|| cx.err(n, "sessionStartTimeout must be positive"))?
        }
        None => Duration::from_secs(10),
    };
    let callback_handler = match (config.get("tls"), config.get("callbackHandler")) {
        (Some(tls), _) => {
            let inline = Node::from_json(&json!({ "type": "ClientHandler", "config": { "tls": tls.to_json() } }));
            cx.handler(&inline)?
        }
        (None, Some(h)) => cx.handler(h)?,
        (None, None) => cx.handler(&Node::synthetic(Kind::String("ClientHandler".into())))?,
    };
    let retry = crate::worker::Retry::from_config(cx, config.get("callbackRetry"))?;
    config.finish()?;
    let (handoff, handed) = tokio::sync::mpsc::unbounded_channel();
    let relay = Arc::new(MessagingRelay {
        base_path,
        public_url,
        public_path,
        clients: api_clients,
        store,
        max_payload,
        session_start,
        clock: cx.clock().clone(),
        stored: Arc::new(Notify::new()),
        handoff,
        handed: std::sync::Mutex::new(Some(handed)),
    });
    cx.service(Arc::new(Worker::new(relay.clone(), callback_handler, retry, cx.name())));
    Ok(Object::Handler(relay))
}

/// `store`: the embedded SQLite file in `INSTANCE/data/` (`"relay.db"`, the default, or
/// `{ "sqlite": "relay.db" }`), or `{ "postgresql": "<connection string>", "schema": "relay" }`
/// for several relay instances sharing one database.
fn store(cx: &BuildCtx<'_>, n: Option<&Node>) -> std::result::Result<Arc<dyn Store>, ConfigError> {
    let sqlite = |file: String, at: &Node| -> std::result::Result<Arc<dyn Store>, ConfigError> {
        if file.contains("..") || file.starts_with('/') {
            return Err(cx.err(at, "the store file is a name inside the instance's data/ directory"));
        }
        if cx.heap().loader().mode == gatehouse_config::Mode::Check {
            return Ok(Arc::new(SqliteStore::in_memory().map_err(|e| cx.err(at, e.to_string()))?));
        }
        let path = cx.heap().loader().data_dir.join(&file);
        Ok(Arc::new(SqliteStore::open(&path).map_err(|e| cx.err(at, e.to_string()))?))
    };
    let Some(n) = n else {
        let default = Node::synthetic(Kind::String("relay.db".into()));
        return sqlite("relay.db".into(), &default);
    };
    match &n.kind {
        Kind::String(_) => sqlite(cx.string(n)?, n),
        Kind::Object(_) => {
            let c = cx.config(n)?;
            let store: Arc<dyn Store> = match (c.get("postgresql"), c.get("sqlite")) {
                (Some(pg), None) => {
                    let schema =
                        c.get("schema").map(|s| cx.string(s)).transpose()?.unwrap_or_else(|| "gatehouse_relay".into());
                    Arc::new(PgStore::new(&cx.string(pg)?, &schema).map_err(|e| cx.err(pg, e.to_string()))?)
                }
                (None, Some(file)) => sqlite(cx.string(file)?, file)?,
                _ => return Err(cx.err(n, "store needs one of sqlite or postgresql")),
            };
            c.finish()?;
            Ok(store)
        }
        _ => Err(cx.err(n, "store must be a file name, { \"sqlite\": file } or { \"postgresql\": connection }")),
    }
}

fn client(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<ApiClient, ConfigError> {
    let c = cx.config(node)?;
    let get = |names: &[&str]| -> std::result::Result<Option<String>, ConfigError> {
        for n in names {
            if let Some(v) = c.get(n) {
                return Ok(Some(cx.string(v)?));
            }
        }
        Ok(None)
    };
    let id = get(&["clientId", "client-id"])?.ok_or_else(|| cx.err(node, "a relay client needs clientId"))?;
    let key_hash = match (get(&["key"])?, get(&["hashedKey"])?) {
        (Some(k), _) => clients::hash_key(&k),
        (None, Some(h)) => {
            clients::parse_hashed_key(&h).ok_or_else(|| cx.err(node, "hashedKey is not base64 of a SHA-256"))?
        }
        (None, None) => return Err(cx.err(node, format!("relay client '{id}' needs key or hashedKey"))),
    };
    let callback_url = get(&["callbackUrl", "callback-url"])?.map(|u| u.trim_end_matches('/').to_string());
    let callback_basic_auth = get(&["callbackBasicAuth"])?;
    c.finish()?;
    Ok(ApiClient { id, key_hash, callback_url, callback_basic_auth })
}

/// A JSON answer.
fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A JSON answer written with [`Obj`].
fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn status(s: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = s;
    r
}

/// A 400 naming the field at fault.
fn bad(field: &str, message: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": message, "field": field }))
}

/// A store failure fails the exchange (500); nothing was half-written.
fn store_err(e: crate::store::StoreError) -> Error {
    Error::internal(e.to_string())
}

impl MessagingRelay {
    pub(crate) fn now(&self) -> Millis {
        self.clock.unix_millis()
    }

    /// A new box id: 128 random bits.
    fn new_bid() -> Result<String> {
        let h = clients::random_hex::<16>().map_err(Error::internal)?;
        Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
    }

    async fn body(&self, req: Request) -> std::result::Result<Bytes, Response> {
        match req.into_body().collect(self.max_payload, gatehouse_core::Side::Downstream).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == gatehouse_core::ErrorKind::PayloadTooLarge => {
                Err(status(StatusCode::PAYLOAD_TOO_LARGE))
            }
            Err(_) => Err(status(StatusCode::BAD_REQUEST)),
        }
    }

    /// `POST {basePath}/command/{type}`.
    async fn post_command(&self, client: &ApiClient, kind: &str, req: Request) -> Result<Response> {
        let origin = format!(
            "{}://{}",
            req.uri().scheme_str().unwrap_or("https"),
            req.uri().authority().map_or("localhost", |a| a.as_str())
        );
        let body = match self.body(req).await {
            Ok(b) => b,
            Err(r) => return Ok(r),
        };
        // The command object is opaque: checked as JSON and kept as its text, not parsed into
        // values; only the header is read.
        let Ok(mut doc) = serde_json::from_slice::<BTreeMap<String, &RawValue>>(&body) else {
            return Ok(bad("", "the body is not a JSON object"));
        };
        let header = doc.remove("commandHeader").and_then(|h| serde_json::from_str::<Value>(h.get()).ok());
        let Some(Value::Object(header)) = header else {
            return Ok(bad("commandHeader", "commandHeader is missing or not an object"));
        };
        // `Err(name)`: the field is there but not a positive number of seconds.
        let seconds = |name: &'static str| -> std::result::Result<Option<u64>, &'static str> {
            match header.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().filter(|s| *s > 0).map(Some).ok_or(name),
            }
        };
        let (lifespan, timeout, start) = match (seconds("lifespan"), seconds("timeout"), seconds("sessionStartTimeout"))
        {
            (Ok(l), Ok(t), Ok(s)) => (l, t, s),
            (Err(name), _, _) | (_, Err(name), _) | (_, _, Err(name)) => {
                return Ok(bad(
                    &format!("commandHeader.{name}"),
                    &format!("{name} must be a positive number of seconds"),
                ))
            }
        };
        let Some(lifespan) = lifespan else { return Ok(bad("commandHeader.lifespan", "lifespan is required")) };
        let Some(timeout) = timeout else { return Ok(bad("commandHeader.timeout", "timeout is required")) };
        let start = start.unwrap_or(self.session_start.as_secs().max(1));
        if start >= timeout {
            return Ok(bad("commandHeader.sessionStartTimeout", "the rule is 0 < sessionStartTimeout < timeout <= lifespan: sessionStartTimeout must be shorter than timeout"));
        }
        if timeout > lifespan {
            return Ok(bad(
                "commandHeader.timeout",
                "the rule is 0 < sessionStartTimeout < timeout <= lifespan: timeout must not exceed lifespan",
            ));
        }
        let external_id = match header.get("externalId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Ok(bad("commandHeader.externalId", "externalId must be a string")),
        };
        if doc.is_empty() {
            return Ok(bad("", "the body has no command object besides commandHeader"));
        }
        let now = self.now();
        let bid = Self::new_bid()?;
        let new = NewCommand {
            client: client.id.clone(),
            kind: kind.to_string(),
            external_id,
            bid: bid.clone(),
            body: doc.iter().fold(Obj::new(), |o, (k, v)| o.raw(k, v.get())).finish_string(),
            created: now,
            session_deadline: now + start * 1000,
            timeout_at: now + timeout * 1000,
            expires_at: now + lifespan * 1000,
        };
        // Accepted means durable: the answer goes out once the store has the command.
        let stored = self.store.insert(new).await.map_err(store_err)?;
        COMMANDS.inc_labels(&[kind, State::Queued.name()]);
        self.stored.notify_waiters();
        let public = self.public_url.clone().unwrap_or_else(|| format!("{origin}{}", self.public_path));
        let target = format!("{}/{bid}", public.trim_end_matches('/'));
        let encoded = percent_encoding::utf8_percent_encode(&target, percent_encoding::NON_ALPHANUMERIC).to_string();
        let destination = Obj::new()
            .str("bid", &bid)
            .str("to", "@tmp")
            .str("uri", &format!("com.nexusgroup.plugout:///?url={encoded}"))
            .finish_string();
        Ok(json_bytes(
            StatusCode::OK,
            Obj::new()
                .str("commandId", &stored.id.to_string())
                .raw("destinations", &format!("[{destination}]"))
                .finish(),
        ))
    }

    /// What the server may read of its command (the result once there is one).
    fn describe(c: &Command) -> Vec<u8> {
        let o = Obj::new()
            .str("commandId", &c.id.to_string())
            .num("created", c.new.created)
            .opt_num("ended", c.ended_at)
            .num("expiresAt", c.new.expires_at)
            .opt_str("externalId", c.new.external_id.as_deref());
        let o = if c.result.is_some() { o.result("result", c.result.as_deref()) } else { o };
        o.num("sessionStartDeadline", c.new.session_deadline)
            .opt_num("started", c.started_at)
            .str("state", c.state.name())
            .num("timeoutAt", c.new.timeout_at)
            .str("type", &c.new.kind)
            .finish()
    }

    async fn server_api(&self, cx: &Context, req: Request, rest: &str) -> Result<Response> {
        if rest == "alive" || rest.is_empty() {
            return Ok(status(StatusCode::OK));
        }
        if let Some(id) = rest.strip_prefix("util/generateclient/") {
            if !cx.client.remote_addr.ip().is_loopback() || id.is_empty() || id.contains('/') {
                return Ok(status(StatusCode::FORBIDDEN));
            }
            let entry = clients::generate(id).map_err(Error::internal)?;
            let mut r = Response::new(Body::from(entry));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            return Ok(r);
        }
        let Some(client) = clients::authenticate(&self.clients, req.headers()) else {
            let mut r = status(StatusCode::UNAUTHORIZED);
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"relay\""));
            return Ok(r);
        };
        let Some(what) = rest.strip_prefix("command/") else { return Ok(status(StatusCode::NOT_FOUND)) };
        match (req.method().clone(), what) {
            (Method::POST, kind) if TYPES.contains(&kind) => self.post_command(client, kind, req).await,
            (Method::GET | Method::DELETE, id) => {
                let Ok(id) = id.parse::<i64>() else { return Ok(status(StatusCode::NOT_FOUND)) };
                let found = self.store.get(id).await.map_err(store_err)?;
                // Another client's command does not exist for this one.
                let Some(c) = found.filter(|c| c.new.client == client.id) else {
                    return Ok(status(StatusCode::NOT_FOUND));
                };
                if req.method() == Method::GET {
                    return Ok(json_bytes(StatusCode::OK, Self::describe(&c)));
                }
                let cancelled = self.store.cancel(id, client.id.clone(), self.now()).await.map_err(store_err)?;
                if !cancelled {
                    return Ok(json_response(
                        StatusCode::CONFLICT,
                        &json!({ "error": "the command is no longer in its box", "state": c.state.name() }),
                    ));
                }
                COMMANDS.inc_labels(&[&c.new.kind, State::Cancelled.name()]);
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "commandId": id.to_string(), "state": State::Cancelled.name() }),
                ))
            }
            _ => Ok(status(StatusCode::NOT_FOUND)),
        }
    }

    async fn device(&self, req: Request, bid: &str) -> Result<Response> {
        let bid = bid.to_string();
        match *req.method() {
            Method::GET => {
                let wait = req
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("wait=")))
                    .and_then(|w| w.parse::<u64>().ok())
                    .unwrap_or(0)
                    .min(60);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
                loop {
                    // Registered before the look, so a command stored meanwhile wakes us.
                    let stored = self.stored.notified();
                    let now = self.now();
                    let found = self.store.open(bid.clone(), now).await.map_err(store_err)?;
                    match found {
                        Some(c) if c.state.in_box() => {
                            if c.state == State::Started && c.started_at == Some(now) {
                                COMMANDS.inc_labels(&[&c.new.kind, State::Started.name()]);
                                DELIVERY.observe(std::time::Duration::from_millis(now.saturating_sub(c.new.created)));
                            }
                            let body = Obj::new()
                                .raw("command", json::valid(&c.new.body).unwrap_or("null"))
                                .str("commandId", &c.id.to_string())
                                .opt_str("externalId", c.new.external_id.as_deref())
                                .str("type", &c.new.kind)
                                .finish();
                            return Ok(json_bytes(StatusCode::OK, body));
                        }
                        Some(c) => {
                            return Ok(json_response(
                                StatusCode::GONE,
                                &json!({ "error": "the command left its box", "state": c.state.name() }),
                            ))
                        }
                        None if tokio::time::Instant::now() < deadline => {
                            let _ = tokio::time::timeout_at(deadline, stored).await;
                        }
                        None => return Ok(status(StatusCode::NOT_FOUND)),
                    }
                }
            }
            Method::POST => {
                let body = match self.body(req).await {
                    Ok(b) => b,
                    Err(r) => return Ok(r),
                };
                if serde_json::from_slice::<&RawValue>(&body).is_err() {
                    return Ok(bad("", "the answer is not JSON"));
                }
                let text = String::from_utf8_lossy(&body).into_owned();
                let outcome = self.store.answer(bid.clone(), text, self.now()).await.map_err(store_err)?;
                match outcome {
                    Answered::Stored(c) => {
                        self.stored.notify_waiters();
                        COMMANDS.inc_labels(&[&c.new.kind, State::Answered.name()]);
                        let id = c.id;
                        // The worker is gone only while the relay stops: the lease brings it back.
                        let _ = self.handoff.send(*c);
                        Ok(json_bytes(
                            StatusCode::OK,
                            Obj::new().str("commandId", &id.to_string()).str("state", State::Answered.name()).finish(),
                        ))
                    }
                    Answered::Gone => {
                        Ok(json_response(StatusCode::GONE, &json!({ "error": "the command left its box" })))
                    }
                    Answered::Unknown => Ok(status(StatusCode::NOT_FOUND)),
                }
            }
            _ => {
                let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
                r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
                Ok(r)
            }
        }
    }
}

impl Handler for MessagingRelay {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let path = req.uri().path().to_string();
            if let Some(rest) = path.strip_prefix(&self.base_path) {
                if rest.is_empty() || rest.starts_with('/') {
                    return self.server_api(cx, req, rest.trim_start_matches('/')).await;
                }
            }
            if let Some(bid) = path.strip_prefix(&self.public_path).and_then(|r| r.strip_prefix('/')) {
                if !bid.is_empty() && !bid.contains('/') {
                    return self.device(req, bid).await;
                }
            }
            Ok(status(StatusCode::NOT_FOUND))
        })
    }
}

/// The relay's command object, as a callback body: id, externalId, type, state, result.
pub(crate) fn callback_body(c: &Command) -> String {
    Obj::new()
        .str("commandId", &c.id.to_string())
        .opt_str("externalId", c.new.external_id.as_deref())
        .result("result", c.result.as_deref())
        .str("state", c.state.name())
        .str("type", &c.new.kind)
        .finish_string()
}
