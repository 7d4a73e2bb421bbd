//! `Base64EncodedSecretStore`: secrets written in the configuration, base64 encoded.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};

use crate::format::Encoding;
use crate::provider::{SecretStore, SecretsProvider};
use crate::secret::{check_secret_id, SecretError, SecretValue, Versions};

/// Secrets decoded once at load.
pub struct Base64Store {
    describe: String,
    secrets: HashMap<String, Versions>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let describe = format!("{} (Base64EncodedSecretStore)", cx.name());
    let mut secrets = HashMap::new();
    for (key, value) in cx.object(config.require("secrets")?)? {
        check_secret_id(&key.name).map_err(|e| cx.err(value, e.0))?;
        let id = key.name.clone();
        let raw = crate::Secret::new(cx.string(value)?.into_bytes());
        let what = format!("secret '{id}' of {describe}");
        let bytes = Encoding::Base64.decode(raw.expose(), &what).map_err(|e| cx.err(value, e.0))?;
        secrets.insert(id, Arc::from(vec![SecretValue::Bytes(bytes)]));
    }
    config.finish()?;
    Ok(Object::Other(Arc::new(SecretsProvider::single(Arc::new(Base64Store { describe, secrets })))))
}

impl SecretStore for Base64Store {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn lookup(&self, id: &str) -> Result<Option<Versions>, SecretError> {
        Ok(self.secrets.get(id).cloned())
    }
}
