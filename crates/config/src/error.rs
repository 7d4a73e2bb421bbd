//! Configuration errors: always a file, and a line and column when the error is in a value.

use std::fmt;
use std::sync::Arc;

use crate::json::Pos;

/// A configuration error: `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the error is in.
    pub file: Arc<str>,
    /// Where in the file, when known.
    pub pos: Option<Pos>,
    /// What is wrong. Never contains a secret value.
    pub message: String,
}

impl ConfigError {
    /// An error at `pos` in `file`.
    pub fn at(file: &Arc<str>, pos: Pos, message: impl Into<String>) -> Self {
        let pos = (pos != Pos::default()).then_some(pos);
        ConfigError { file: file.clone(), pos, message: message.into() }
    }

    /// An error about a whole file.
    pub fn file(file: &Arc<str>, message: impl Into<String>) -> Self {
        ConfigError { file: file.clone(), pos: None, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{}:{}: {}", self.file, p.line, p.col, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
