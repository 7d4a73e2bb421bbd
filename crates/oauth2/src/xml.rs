//! `<OpenIdClient>` and `<ProfileContext>` declarations from the identity manager's XML
//! configuration files. Other elements are ignored; a file may hold bare declarations (the
//! reference's snippets, which have no single root element) or a whole configuration.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Where a declaration is: file, line, column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// The file.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// An `<OpenIdClient>`.
#[derive(Debug, Clone)]
pub struct XmlClient {
    /// `Identifier`.
    pub identifier: String,
    /// `HashedSecret`, as written.
    pub hashed_secret: String,
    /// `DisplayName_L1`.
    pub display_name: String,
    /// `Profile`.
    pub profile: String,
    /// `ContextId` (or `Context`).
    pub context_id: Option<i64>,
    /// `ExpirationDate`.
    pub expires: Option<SystemTime>,
    /// Where it is declared.
    pub at: At,
}

/// A `<ProfileContext>`.
#[derive(Debug, Clone)]
pub struct XmlContext {
    /// `Id` (<= -2).
    pub id: i64,
    /// The other attributes (`Category`, `D0`..`D127`, `CompositeRole`, `SingleRole`,
    /// `ResourceType`, `IsAutomatic`), in order.
    pub attributes: BTreeMap<String, String>,
    /// Where it is declared.
    pub at: At,
}

/// The declarations of one file.
#[derive(Debug, Default)]
pub struct Declarations {
    /// The clients.
    pub clients: Vec<XmlClient>,
    /// The profile contexts.
    pub contexts: Vec<XmlContext>,
}

/// What the wrapper adds before the text, so that bare declarations parse as one document.
const OPEN: &str = "<_gatehouse>";

/// Parses the declarations of `text`, read from `file`. Errors are `file:line:column: ...`.
pub fn parse(file: &str, text: &str) -> Result<Declarations, String> {
    // The XML declaration must come first, so it is blanked (keeping every position) before
    // the text is wrapped in one root element.
    let mut body = text.trim_start_matches('\u{feff}').to_string();
    if let Some(start) = body.find("<?xml") {
        if body[..start].trim().is_empty() {
            if let Some(end) = body[start..].find("?>") {
                let blank: String =
                    body[start..start + end + 2].chars().map(|c| if c == '\n' { c } else { ' ' }).collect();
                body.replace_range(start..start + end + 2, &blank);
            }
        }
    }
    let wrapped = format!("{OPEN}{body}</_gatehouse>");
    let at = |doc: &roxmltree::Document<'_>, offset: usize| {
        let pos = doc.text_pos_at(offset);
        let col = if pos.row == 1 { pos.col.saturating_sub(OPEN.len() as u32) } else { pos.col };
        At { file: file.to_string(), line: pos.row, col: col.max(1) }
    };
    let doc = roxmltree::Document::parse(&wrapped).map_err(|e| {
        let pos = e.pos();
        let col = if pos.row == 1 { pos.col.saturating_sub(OPEN.len() as u32) } else { pos.col };
        format!("{file}:{}:{}: not well-formed XML: {e}", pos.row, col.max(1))
    })?;
    let mut out = Declarations::default();
    for node in doc.descendants().filter(roxmltree::Node::is_element) {
        let here = at(&doc, node.range().start);
        let attr = |name: &str| node.attribute(name).map(str::to_string);
        let required = |name: &str| {
            attr(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("{here}: <{}> needs the attribute {name}", node.tag_name().name()))
        };
        match node.tag_name().name() {
            "OpenIdClient" => {
                let context_id =
                    match attr("ContextId").or_else(|| attr("Context")) {
                        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
                            format!("{here}: ContextId '{v}' is not the integer Id of a ProfileContext")
                        })?),
                        None => None,
                    };
                let expires = match attr("ExpirationDate") {
                    Some(v) => Some(crate::date::parse(&v).map_err(|e| format!("{here}: ExpirationDate {e}"))?),
                    None => None,
                };
                out.clients.push(XmlClient {
                    identifier: required("Identifier")?,
                    hashed_secret: required("HashedSecret")?,
                    display_name: required("DisplayName_L1")?,
                    profile: required("Profile")?,
                    context_id,
                    expires,
                    at: here,
                });
            }
            "ProfileContext" => {
                let id_text = required("Id")?;
                let id: i64 = id_text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{here}: ProfileContext Id '{id_text}' is not an integer"))?;
                if id > -2 {
                    return Err(format!("{here}: a ProfileContext Id must be -2 or lower, not {id}"));
                }
                let attributes = node
                    .attributes()
                    .filter(|a| a.name() != "Id")
                    .map(|a| (a.name().to_string(), a.value().to_string()))
                    .collect();
                out.contexts.push(XmlContext { id, attributes, at: here });
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const REFERENCE: &str = r#"<OpenIdClient Identifier="Job" HashedSecret="K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" DisplayName_L1="ClientId for Jobs" Profile="Administrator" />
<OpenIdClient Identifier="RoleOfficerByCategory" HashedSecret="K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" DisplayName_L1="Role Officer by Category" Profile="RoleOfficerByCategory" ContextId="-2" /><ProfileContext Id="-2" Category="IT Administration" D0="ORG0003" />
"#;

    #[test]
    fn the_reference_lines_parse_verbatim() {
        let d = parse("clients.xml", REFERENCE).unwrap();
        assert_eq!(d.clients.len(), 2);
        assert_eq!(d.clients[0].identifier, "Job");
        assert_eq!(d.clients[0].profile, "Administrator");
        assert_eq!(d.clients[0].at.to_string(), "clients.xml:1:1");
        assert_eq!(d.clients[1].context_id, Some(-2));
        assert_eq!(d.clients[1].at.line, 2);
        assert_eq!(d.contexts[0].id, -2);
        assert_eq!(d.contexts[0].attributes["Category"], "IT Administration");
        assert_eq!(d.contexts[0].attributes["D0"], "ORG0003");
    }

    #[test]
    fn a_whole_configuration_file_with_other_elements_works_too() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ConfigurationFile xmlns=\"urn:x\">\n  <Language Code=\"en\" />\n  <OpenIdClient Identifier=\"A\" HashedSecret=\"x\" DisplayName_L1=\"a\" Profile=\"P\" Context=\"-3\" ExpirationDate=\"2030-01-01\" />\n  <ProfileContext Id=\"-3\" Category=\"C\" />\n</ConfigurationFile>\n";
        let d = parse("conf.xml", text).unwrap();
        assert_eq!(d.clients[0].at.to_string(), "conf.xml:4:3");
        assert_eq!(d.clients[0].context_id, Some(-3));
        assert!(d.clients[0].expires.is_some());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        for (text, expected) in [
            ("<OpenIdClient Identifier=\"A\" DisplayName_L1=\"a\" Profile=\"P\" />", "f.xml:1:1: <OpenIdClient> needs the attribute HashedSecret"),
            ("\n  <ProfileContext Id=\"-1\" />", "f.xml:2:3: a ProfileContext Id must be -2 or lower, not -1"),
            ("<OpenIdClient Identifier=\"A\" HashedSecret=\"x\" DisplayName_L1=\"a\" Profile=\"P\" ExpirationDate=\"soon\" />", "f.xml:1:1: ExpirationDate 'soon' is not a date"),
            ("<OpenIdClient Identifier=\"A\"", "f.xml:1:"),
        ] {
            let e = parse("f.xml", text).unwrap_err();
            assert!(e.starts_with(expected), "{e}");
        }
    }
}
