//! One error vocabulary: a kind, a side and an optional cause. The edge picks the HTTP status
//! from the kind in one place; bodies never carry the cause.

use std::fmt;

/// A shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarse enough to choose a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The downstream request is malformed.
    BadRequest,
    /// A body was larger than the configured limit.
    PayloadTooLarge,
    /// Reading a body stream failed.
    BodyRead,
    /// The upstream could not be reached (refused, unreachable, DNS, TLS handshake).
    Connect,
    /// The upstream did not answer in time.
    Timeout,
    /// The upstream answered with something that is not HTTP.
    Protocol,
    /// Too many exchanges are already waiting for the upstream.
    Overloaded,
    /// The downstream went away before the exchange ended.
    Canceled,
    /// A bug or an unexpected state inside the gateway.
    Internal,
}

impl ErrorKind {
    /// The kind as a metrics label (`connect`, `timeout`, ...).
    pub fn metric_name(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::BodyRead => "body_read",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client side of the exchange.
    Downstream,
    /// The backend side of the exchange.
    Upstream,
    /// The gateway itself.
    Internal,
}

/// A failure of the gateway while handling an exchange.
pub struct Error {
    kind: ErrorKind,
    side: Side,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error without a cause.
    pub fn new(kind: ErrorKind, side: Side) -> Self {
        Error { kind, side, cause: None }
    }

    /// An error with the lower-level error that caused it.
    pub fn with_cause(kind: ErrorKind, side: Side, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error { kind, side, cause: Some(cause.into()) }
    }

    /// An internal error described by a message (for logs only).
    pub fn internal(msg: impl Into<String>) -> Self {
        Error::with_cause(ErrorKind::Internal, Side::Internal, msg.into())
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whose fault it is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The HTTP status the edge answers with for this error.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match (self.kind, self.side) {
            (ErrorKind::BadRequest, _) => S::BAD_REQUEST,
            (ErrorKind::PayloadTooLarge, Side::Downstream) => S::PAYLOAD_TOO_LARGE,
            (ErrorKind::BodyRead, Side::Downstream) => S::BAD_REQUEST,
            (ErrorKind::Timeout, Side::Upstream) => S::GATEWAY_TIMEOUT,
            (ErrorKind::Timeout, Side::Downstream) => S::REQUEST_TIMEOUT,
            (
                ErrorKind::Connect | ErrorKind::Protocol | ErrorKind::BodyRead | ErrorKind::PayloadTooLarge,
                Side::Upstream,
            ) => S::BAD_GATEWAY,
            (ErrorKind::Overloaded, Side::Upstream) => S::SERVICE_UNAVAILABLE,
            (ErrorKind::Canceled, _) => S::BAD_REQUEST,
            _ => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({:?})", self.kind, self.side)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}
