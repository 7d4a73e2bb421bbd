//! The secret stores.

pub mod base64;
pub mod env;
pub mod filesystem;
pub mod keystore;
