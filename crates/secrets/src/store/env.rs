//! `SystemAndEnvSecretStore`: secret `keystore.secret.id` is the environment variable
//! `KEYSTORE_SECRET_ID`, base64 by default.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};

use crate::format::{mappings, Encoding, PropertyFormat};
use crate::provider::{SecretStore, SecretsProvider};
use crate::secret::{SecretError, Versions};

/// Secrets from environment variables.
pub struct EnvStore {
    describe: String,
    encoding: Encoding,
    mappings: HashMap<String, PropertyFormat>,
}

/// The variable that holds secret `id`: dots become underscores, letters upper case.
pub fn variable_name(id: &str) -> String {
    id.chars().map(|c| if c == '.' { '_' } else { c.to_ascii_uppercase() }).collect()
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let encoding = Encoding::from_config(cx, config.get("format"))?;
    let mappings = mappings(cx, config.get("mappings"))?;
    config.ignore(&["leaseExpiry"]);
    config.finish()?;
    let store = EnvStore { describe: format!("{} (SystemAndEnvSecretStore)", cx.name()), encoding, mappings };
    Ok(Object::Other(Arc::new(SecretsProvider::single(Arc::new(store)))))
}

impl SecretStore for EnvStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn lookup(&self, id: &str) -> Result<Option<Versions>, SecretError> {
        let var = variable_name(id);
        let Some(raw) = std::env::var_os(&var) else { return Ok(None) };
        let raw = crate::Secret::new(raw.into_encoded_bytes());
        let format = self.mappings.get(id).copied().unwrap_or(PropertyFormat::Encoded(self.encoding));
        let what = format!("secret '{id}' (environment variable {var}) in {}", self.describe);
        let value = format.decode(raw.expose(), &what)?;
        Ok(Some(Arc::from(vec![value])))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn variable_names() {
        assert_eq!(super::variable_name("keystore.secret.id"), "KEYSTORE_SECRET_ID");
        assert_eq!(super::variable_name("a-b.c"), "A-B_C");
    }
}
