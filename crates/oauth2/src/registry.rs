//! The OpenID client registry: the `<OpenIdClient>` and `<ProfileContext>` declarations of
//! any number of XML files (or every `.xml` file of a directory), with the server's
//! `appsettings.json` overriding hashed secrets. A load checks everything and names file,
//! line and column; a reload that fails keeps the previous registry.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::appsettings::{self, AppSettings};
use crate::secret::parse_hashed;
use crate::xml;

/// A machine client.
#[derive(Debug)]
pub struct Client {
    /// `Identifier`.
    pub id: String,
    /// SHA-256 of the secret.
    pub hashed: [u8; 32],
    /// `DisplayName_L1`.
    pub display_name: String,
    /// `Profile`: its scope of responsibility.
    pub profile: String,
    /// The profile context that narrows the profile, if any.
    pub context: Option<ProfileContext>,
    /// After this, the client is refused.
    pub expires: Option<SystemTime>,
}

/// A `<ProfileContext>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileContext {
    /// `Id` (<= -2).
    pub id: i64,
    /// `Category`, `D0`..`D127`, `CompositeRole`, `SingleRole`, `ResourceType`,
    /// `IsAutomatic`, as written.
    pub attributes: BTreeMap<String, String>,
}

/// Where the registry comes from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// XML files, or directories whose `.xml` files are read.
    pub paths: Vec<PathBuf>,
    /// The server's `appsettings.json`.
    pub appsettings: Option<PathBuf>,
}

/// The clients by identifier.
#[derive(Debug, Default)]
pub struct Registry {
    clients: HashMap<String, Arc<Client>>,
}

impl Registry {
    /// The client `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Client>> {
        self.clients.get(id)
    }

    /// How many clients there are.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

impl Sources {
    /// The files a load reads, in order.
    pub fn files(&self) -> Result<Vec<PathBuf>, String> {
        let mut files = Vec::new();
        for path in &self.paths {
            if path.is_dir() {
                let mut xml: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| format!("{}: cannot list: {e}", path.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")))
                    .collect();
                xml.sort();
                files.extend(xml);
            } else {
                files.push(path.clone());
            }
        }
        files.extend(self.appsettings.iter().cloned());
        Ok(files)
    }

    /// What identifies the current version of every source (to notice changes).
    pub fn stamp(&self) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
        let files = self.files().unwrap_or_else(|_| self.paths.clone());
        files
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(&f).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
                (f, meta)
            })
            .collect()
    }

    /// Reads and checks every source.
    pub fn load(&self) -> Result<(Registry, AppSettings), String> {
        let settings = match &self.appsettings {
            Some(path) => appsettings::read(path)?,
            None => AppSettings::default(),
        };
        let mut clients: Vec<xml::XmlClient> = Vec::new();
        let mut contexts: HashMap<i64, xml::XmlContext> = HashMap::new();
        let xml_files: Vec<PathBuf> =
            self.files()?.into_iter().filter(|f| Some(f) != self.appsettings.as_ref()).collect();
        for file in &xml_files {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
            let decls = xml::parse(&file.display().to_string(), &text)?;
            for c in decls.contexts {
                if let Some(first) = contexts.get(&c.id) {
                    return Err(format!("{}: ProfileContext Id {} is already declared at {}", c.at, c.id, first.at));
                }
                contexts.insert(c.id, c);
            }
            clients.extend(decls.clients);
        }
        let mut registry = Registry::default();
        let mut declared_at: HashMap<String, xml::At> = HashMap::new();
        for c in clients {
            if let Some(first) = declared_at.get(&c.identifier) {
                return Err(format!("{}: OpenIdClient '{}' is already declared at {first}", c.at, c.identifier));
            }
            let hashed_text = settings.hashed_secrets.get(&c.identifier).unwrap_or(&c.hashed_secret);
            let hashed = parse_hashed(hashed_text).ok_or_else(|| {
                format!(
                    "{}: the HashedSecret of '{}' is not base64 of a SHA-256 (use gatehouse new-openid-secret)",
                    c.at, c.identifier
                )
            })?;
            let context = match c.context_id {
                Some(id) => {
                    let ctx = contexts.get(&id).ok_or_else(|| {
                        format!(
                            "{}: OpenIdClient '{}' names ContextId {id}, but no ProfileContext has that Id",
                            c.at, c.identifier
                        )
                    })?;
                    Some(ProfileContext { id, attributes: ctx.attributes.clone() })
                }
                None => None,
            };
            declared_at.insert(c.identifier.clone(), c.at.clone());
            let client = Client {
                id: c.identifier.clone(),
                hashed,
                display_name: c.display_name,
                profile: c.profile,
                context,
                expires: c.expires,
            };
            registry.clients.insert(c.identifier, Arc::new(client));
        }
        for id in settings.hashed_secrets.keys() {
            if !registry.clients.contains_key(id) {
                tracing::warn!("appsettings.json: OpenIdClients.{id} overrides no declared OpenIdClient");
            }
        }
        Ok((registry, settings))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gatehouse-registry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const JOB: &str = r#"<OpenIdClient Identifier="Job" HashedSecret="K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" DisplayName_L1="ClientId for Jobs" Profile="Administrator" />"#;

    #[test]
    fn files_of_a_directory_and_appsettings_overrides() {
        let d = dir("ok");
        std::fs::write(d.join("a.xml"), JOB).unwrap();
        std::fs::write(
            d.join("b.xml"),
            r#"<OpenIdClient Identifier="RoleOfficerByCategory" HashedSecret="K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" DisplayName_L1="Role Officer by Category" Profile="RoleOfficerByCategory" ContextId="-2" /><ProfileContext Id="-2" Category="IT Administration" D0="ORG0003" />"#,
        )
        .unwrap();
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let settings = d.join("appsettings.json");
        std::fs::write(
            &settings,
            format!(
                r#"{{ "OpenIdClients": {{ "Job": {{ "HashedSecret": "{}" }} }} }}"#,
                crate::secret::hash_secret("other")
            ),
        )
        .unwrap();
        let (reg, _) = Sources { paths: vec![d.clone()], appsettings: Some(settings) }.load().unwrap();
        assert_eq!(reg.len(), 2);
        assert!(crate::secret::matches("other", &reg.get("Job").unwrap().hashed), "appsettings wins");
        let ctx = reg.get("RoleOfficerByCategory").unwrap().context.clone().unwrap();
        assert_eq!(
            (ctx.id, ctx.attributes["Category"].as_str(), ctx.attributes["D0"].as_str()),
            (-2, "IT Administration", "ORG0003")
        );
    }

    #[test]
    fn load_errors_name_the_declaration() {
        let d = dir("bad");
        let cases = [
            (format!("{JOB}\n{JOB}"), "a.xml:2:1: OpenIdClient 'Job' is already declared at"),
            (
                JOB.replace("Profile=\"Administrator\"", "Profile=\"A\" ContextId=\"-5\""),
                "a.xml:1:1: OpenIdClient 'Job' names ContextId -5, but no ProfileContext has that Id",
            ),
            (
                JOB.replace("K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", "secret"),
                "a.xml:1:1: the HashedSecret of 'Job' is not base64",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(d.join("a.xml"), &text).unwrap();
            let e = Sources { paths: vec![d.join("a.xml")], appsettings: None }.load().unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
    }
}
