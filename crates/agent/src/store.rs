//! `AgentSecretStore`: the clear client secrets of an agent's `appsettings.agent.json`
//! (`OpenId.OpenIdClients`) as secrets, by client name, so that an agent instance's
//! `ClientSecretBasicAuthenticationFilter` uses the file the agent already has. The file is
//! read at each lookup: a changed secret is used at the next token request. `directory` is
//! where the appsettings files are, relative to the instance directory.

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_secrets::{Secret, SecretError, SecretStore, SecretValue, SecretsProvider, Versions};

use crate::settings;

struct AgentStore {
    describe: String,
    dir: PathBuf,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let dir_node = config.require("directory")?;
    // Relative to the instance directory, as the token service's files are.
    let dir = cx.heap().loader().instance_dir.join(cx.string(dir_node)?);
    config.finish()?;
    let s = settings::load(&dir).map_err(|e| cx.err(dir_node, e))?;
    if s.client_names().next().is_none() {
        return Err(
            cx.err(dir_node, format!("{}: appsettings.agent.json names no OpenId.OpenIdClients", dir.display()))
        );
    }
    let store = AgentStore { describe: format!("{} (AgentSecretStore {})", cx.name(), dir.display()), dir };
    Ok(Object::Other(Arc::new(SecretsProvider::single(Arc::new(store)))))
}

impl SecretStore for AgentStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn lookup(&self, id: &str) -> Result<Option<Versions>, SecretError> {
        let s = settings::load(&self.dir).map_err(SecretError::new)?;
        Ok(s.client(Some(id))
            .ok()
            .map(|(_, secret)| Arc::from(vec![SecretValue::Bytes(Secret::new(secret.into_bytes()))])))
    }
}

/// Registers `AgentSecretStore`.
pub fn register(registry: &mut gatehouse_config::Registry) {
    registry.register(&["AgentSecretStore"], build);
}
