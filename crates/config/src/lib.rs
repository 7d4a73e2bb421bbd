//! Configuration loading: JSON that keeps positions, config tokens, durations, the heap of
//! named objects and the registry of types.
//!
//! The pipeline is *parse, don't validate*: a file is parsed with positions, its tokens are
//! resolved, and builders turn each `config` into a runtime object, parsing every expression
//! once. After a successful build nothing at runtime can be invalid.

mod build;
pub mod compat;
mod duration;
mod error;
mod heap;
pub mod json;
pub mod keys;
mod registry;
pub mod tokens;

use std::path::Path;
use std::sync::Arc;

pub use build::{BuildCtx, ObjConfig};
pub use duration::{parse_duration, IgDuration, MAX_DURATION};
pub use error::ConfigError;
pub use heap::{Decorator, Heap, Object};
pub use json::{Kind, Node, Pos};
pub use registry::{start_all, stop_all, Builder, Loader, Mode, Registry};

/// Reads and parses a JSON file; errors name the file, line and column.
pub fn read_json(path: &Path) -> Result<Node, ConfigError> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::file(&file, format!("cannot read: {e}")))?;
    let (node, warnings) = json::parse_with_warnings(&text).map_err(|e| ConfigError::at(&file, e.pos, e.message))?;
    for w in warnings {
        tracing::warn!("{file}:{}:{}: {}", w.pos.line, w.pos.col, w.message);
    }
    Ok(node)
}

/// The heap of built-in default objects (`ReverseProxyHandler`, `ClientHandler`, `capture`,
/// ...), the parent of every top-level heap.
pub fn defaults_heap(loader: &Arc<Loader>) -> Result<Arc<Heap>, ConfigError> {
    let decls: Vec<serde_json::Value> =
        loader.registry.defaults().iter().map(|(name, ty)| serde_json::json!({ "name": name, "type": ty })).collect();
    let node = Node::from_json(&serde_json::Value::Array(decls));
    Heap::new(None, loader.clone(), Arc::from("<defaults>"), Some(&node), Some(&loader.base_properties()))
}
