//! Agent/server protection, the agent side (`../shared/reference/agent-server-protection.md`):
//! the agent's `appsettings.json` and `appsettings.agent.json`, its files encrypted to its file
//! certificate as CMS (which `openssl cms` opens), and what `gatehouse agent` is built from.

mod ber;
pub mod cms;
pub mod files;
pub mod http_client;
pub mod init;
mod pem_stream;
pub mod settings;
mod store;
pub mod token;

pub use store::register;
