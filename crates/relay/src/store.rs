//! What the relay keeps: commands, their boxes, their states and their callbacks, behind
//! one trait so that the embedded store and a shared database answer the same way. Every
//! method returns a future; which writes are durable when it completes is said on the trait.

use std::fmt;

/// Milliseconds since the Unix epoch (from the gateway's clock).
pub type Millis = u64;

/// The columns both stores select, in the order their row readers expect.
pub(crate) const COLUMNS: &str = "id, client, kind, external_id, bid, body, state, result, created, session_deadline, \
                                  timeout_at, expires_at, started_at, ended_at, callback_pending, callback_attempts";

/// Where a command is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// In its box, not yet fetched by a device.
    Queued,
    /// A device opened the box (the session started).
    Started,
    /// The device answered.
    Answered,
    /// The server cancelled it.
    Cancelled,
    /// No device opened the box within the session-start timeout.
    FailedSessionStart,
    /// No answer within the timeout.
    FailedTimeout,
}

impl State {
    /// The name in the API and the store.
    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Started => "started",
            State::Answered => "answered",
            State::Cancelled => "cancelled",
            State::FailedSessionStart => "failed_session_start",
            State::FailedTimeout => "failed_timeout",
        }
    }

    /// Parses a stored name.
    pub fn from_name(name: &str) -> Option<State> {
        [
            State::Queued,
            State::Started,
            State::Answered,
            State::Cancelled,
            State::FailedSessionStart,
            State::FailedTimeout,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    /// Whether the command is still in its box (a device may fetch or answer it).
    pub fn in_box(self) -> bool {
        matches!(self, State::Queued | State::Started)
    }
}

/// A command to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCommand {
    /// The API client that sent it.
    pub client: String,
    /// `provision`, `certificate`, `authenticate`, `sign`, `ping`.
    pub kind: String,
    /// The caller's reference.
    pub external_id: Option<String>,
    /// The box id devices use.
    pub bid: String,
    /// The command, opaque to the relay (JSON text).
    pub body: String,
    /// When it was accepted.
    pub created: Millis,
    /// A device must open the box before this.
    pub session_deadline: Millis,
    /// The device must answer before this; then the command leaves the box.
    pub timeout_at: Millis,
    /// Then it leaves the history.
    pub expires_at: Millis,
}

/// A stored command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The id (`commandId`).
    pub id: i64,
    /// What was stored.
    pub new: NewCommand,
    /// Its state.
    pub state: State,
    /// When a device opened the box.
    pub started_at: Option<Millis>,
    /// When the device answered (or the command failed or was cancelled).
    pub ended_at: Option<Millis>,
    /// The device's answer (JSON text).
    pub result: Option<String>,
    /// Whether a callback is still owed, and how many attempts were made.
    pub callback_pending: bool,
    /// Callback attempts so far.
    pub callback_attempts: u32,
}

impl Command {
    /// A command just stored with `id`: queued, nothing else happened to it yet (what an
    /// insert would read back, without reading it).
    pub fn queued(id: i64, new: NewCommand) -> Command {
        Command {
            id,
            new,
            state: State::Queued,
            started_at: None,
            ended_at: None,
            result: None,
            callback_pending: false,
            callback_attempts: 0,
        }
    }
}

/// A store failure (I/O, a broken database): the request fails, nothing is half-written.
#[derive(Debug, Clone)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// What an answer did.
#[derive(Debug, PartialEq, Eq)]
pub enum Answered {
    /// Stored; the callback is owed and already claimed for the caller (leased as by
    /// `claim_callbacks`), so the instance that took the answer sends it without a claim.
    Stored(Box<Command>),
    /// The command is no longer in its box (answered, failed, cancelled).
    Gone,
    /// No such box.
    Unknown,
}

/// Counts of what the timers did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Transitions {
    /// Commands failed because no session started in time.
    pub session_start_failed: Vec<(i64, String)>,
    /// Commands failed because no answer came in time.
    pub timed_out: Vec<(i64, String)>,
    /// Commands removed at the end of their lifespan.
    pub expired: usize,
}

/// An answer of the store, later.
pub type StoreFuture<'a, T> = gatehouse_core::BoxFuture<'a, Result<T, StoreError>>;

/// How long a claimed callback stays with the instance that claimed it before another may
/// try it (if that instance died while calling).
pub const CALLBACK_LEASE: Millis = 30_000;

/// The relay's storage. `insert`, `answer` and `cancel` are durable when their futures
/// complete (what a client was told is kept); the other writes are bookkeeping the relay can
/// redo and may be written lazily (see docs/relay.md, "Two durability tiers"). An embedded
/// store runs its file I/O off the request threads.
pub trait Store: Send + Sync + 'static {
    /// Connects (a shared database) and starts listening for other instances' changes,
    /// waking `wake`; the embedded store needs nothing. Called when the relay starts.
    fn start(&self, _wake: std::sync::Arc<tokio::sync::Notify>) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
    /// Writes what the store holds to write lazily (a stop calls it last).
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
    /// Stores a new command; returns it with its id once it is durable.
    fn insert(&self, new: NewCommand) -> StoreFuture<'_, Command>;
    /// The command `id`.
    fn get(&self, id: i64) -> StoreFuture<'_, Option<Command>>;
    /// A device opens box `bid` at `now`: a queued command becomes started. Returns the
    /// command whatever its state (the caller tells the device what it may do).
    fn open(&self, bid: String, now: Millis) -> StoreFuture<'_, Option<Command>>;
    /// A device answers box `bid` with `result`.
    fn answer(&self, bid: String, result: String, now: Millis) -> StoreFuture<'_, Answered>;
    /// The server cancels its command `id`; `false` when it was no longer in its box.
    fn cancel(&self, id: i64, client: String, now: Millis) -> StoreFuture<'_, bool>;
    /// Applies every deadline passed at `now`.
    fn expire(&self, now: Millis) -> StoreFuture<'_, Transitions>;
    /// The next deadline of any command (to sleep until), if any.
    fn next_deadline(&self) -> StoreFuture<'_, Option<Millis>>;
    /// Claims the commands whose callback is due at `now` (at most `limit`) for
    /// [`CALLBACK_LEASE`]: with several relay instances, one sends each callback.
    fn claim_callbacks(&self, now: Millis, limit: usize) -> StoreFuture<'_, Vec<Command>>;
    /// The callbacks of `ids` were delivered (the worker gathers them: one write for many).
    fn callbacks_done(&self, ids: Vec<i64>) -> StoreFuture<'_, ()>;
    /// The callback of `id` failed; try again at `next`.
    fn callback_retry(&self, id: i64, next: Millis) -> StoreFuture<'_, ()>;
    /// Commands in their boxes (queued or started).
    fn in_boxes(&self) -> StoreFuture<'_, i64>;
}
