//! IG idioms that are rewritten into Gatehouse's shape before a file is built.

use crate::json::{Key, Kind, Node};

/// Why an IG type Gatehouse does not have is missing, and what to use instead.
pub fn unsupported_type(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
        "ScriptableFilter" | "ScriptableHandler" | "ScriptableThrottlingPolicy" | "ScriptableAccessTokenResolver"
        | "ScriptableResourceAccess" | "ScriptableResourceUriProvider" | "ScriptableIdentityAssertionPlugin"
        | "ScriptableJwtValidatorCustomizer" => {
            "Groovy scripts are not supported by Gatehouse; express the logic with conditions and the built-in \
             filters (AssignmentFilter, HeaderFilter, SwitchFilter, StaticResponseHandler, DispatchHandler)"
        }
        "AuthorizationCodeOAuth2ClientFilter" | "OAuth2ClientFilter" => {
            "OAuth 2.0 / OpenID Connect login for browsers is not supported yet; Gatehouse has the machine-to-machine side \
             (ClientCredentialsOAuth2ClientFilter, OAuth2ResourceServerFilter)"
        }
        "SingleSignOnFilter" | "CrossDomainSingleSignOnFilter" | "PolicyEnforcementFilter" | "AmService"
        | "CdSsoFilter" | "UserProfileFilter" | "TokenTransformationFilter" => {
            "the AM (Access Management) integration is not supported by Gatehouse"
        }
        "TokenIntrospectionAccessTokenResolver" => {
            "token introspection is not supported; verify JWT access tokens with StatelessAccessTokenResolver"
        }
        "PasswordReplayFilter" | "SamlFederationFilter" | "SamlFederationHandler" | "FileAttributesFilter"
        | "SqlAttributesFilter" | "LdapAttributesFilter" => "this IG type is not supported by Gatehouse",
        _ => return None,
    })
}

/// IG 7's config.json `"secrets": { "stores": [...] }`: the stores become the heap's
/// `SecretsService` (a `SecretsProvider` of those stores, asked in order), which every
/// `secretsProvider` left unset uses. The `secrets` key is removed.
pub fn ig7_secrets(node: &mut Node) -> Result<(), (crate::Pos, String)> {
    let Kind::Object(entries) = &mut node.kind else { return Ok(()) };
    let Some(i) = entries.iter().position(|(k, _)| k.name == "secrets") else { return Ok(()) };
    let (key, secrets) = entries.remove(i);
    let stores = match &secrets.kind {
        Kind::Object(inner) => inner.iter().find(|(k, _)| k.name == "stores").map(|(_, v)| v.clone()),
        _ => None,
    };
    let Some(stores) = stores else {
        return Err((secrets.pos, "'secrets' must be an object with 'stores' (IG 7's secret stores)".into()));
    };
    let at = key.pos;
    let k = |name: &str| Key { name: name.to_string(), pos: at };
    let decl = Node {
        pos: at,
        kind: Kind::Object(vec![
            (k("name"), Node { pos: at, kind: Kind::String("SecretsService".into()) }),
            (k("type"), Node { pos: at, kind: Kind::String("SecretsProvider".into()) }),
            (k("config"), Node { pos: at, kind: Kind::Object(vec![(k("stores"), stores)]) }),
        ]),
    };
    match entries.iter_mut().find(|(k, _)| k.name == "heap") {
        Some((_, Node { kind: Kind::Array(items), .. })) => items.push(decl),
        Some((_, other)) => return Err((other.pos, "'heap' must be an array".into())),
        None => entries.push((k("heap"), Node { pos: at, kind: Kind::Array(vec![decl]) })),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_stores_become_the_secrets_service() {
        let mut n = crate::json::parse(
            r#"{ "secrets": { "stores": [ { "type": "Base64EncodedSecretStore" } ] }, "heap": [] }"#,
        )
        .unwrap();
        super::ig7_secrets(&mut n).unwrap();
        assert_eq!(
            n.to_json(),
            serde_json::json!({ "heap": [ { "name": "SecretsService", "type": "SecretsProvider",
                "config": { "stores": [ { "type": "Base64EncodedSecretStore" } ] } } ] })
        );
        let mut bad = crate::json::parse(r#"{ "secrets": [] }"#).unwrap();
        assert!(super::ig7_secrets(&mut bad).is_err());
    }
}
