//! Copies of the example instances, on free ports.

use super::tls::sh;
use super::TempInstance;

/// `examples/agent-server`.
pub const AGENT_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/agent-server");

/// A copy of the agent-server example's server on free ports (HTTP first, then HTTPS).
pub fn agent_server() -> TempInstance {
    let t = TempInstance::bare();
    sh(&t.dir, &format!("cp -r {AGENT_SERVER}/config {AGENT_SERVER}/server ."));
    let admin = std::fs::read_to_string(t.path("config/admin.json"))
        .unwrap()
        .replace("\"port\": 8080", "\"port\": 0")
        .replace("\"port\": 8443", "\"port\": 0");
    t.write("config/admin.json", &admin);
    t
}
