//! The `${...}` expression language, compatible with IG's (JSR-245 EL).
//!
//! An [`Expression`] is parsed once, when the configuration loads, and evaluated per exchange
//! against a read-only [`Scope`]. A string that mixes text and several `${...}` is a template
//! whose value is the concatenated text. Evaluation never fails: an error yields `null` and a
//! debug log. An [`LValue`] is an assignment target such as `${session.authUsername}`.

mod assign;
mod ast;
mod eval;
mod files;
mod functions;
mod lexer;
mod methods;
mod parser;
mod pattern;
mod scope;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;

pub use assign::{LValue, Target};
pub use scope::Scope;
pub use value::Value;

use ast::Node;

/// What names an expression may use beyond the exchange: route `properties` and the like,
/// folded into constants at parse time.
#[derive(Default, Clone, Copy)]
pub struct ParseEnv<'a> {
    /// Names that resolve to constant values (`${myProperty}`).
    pub constants: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// The instance directory: `read()` and `readProperties()` read files under it, once, when
    /// the expression is parsed. Without it they are errors.
    pub files: Option<&'a std::path::Path>,
}

/// A syntax error, with the byte offset in the source string where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the expression's source.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        ParseError { offset, message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {})", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug)]
enum Part {
    Text(Box<str>),
    Expr(Node),
}

/// A parsed expression or template.
#[derive(Debug)]
pub struct Expression {
    source: Box<str>,
    parts: Vec<Part>,
    request_entity: bool,
    response_entity: bool,
    warnings: Vec<String>,
}

impl Expression {
    /// Parses `source`: plain text, one `${...}`, or a template mixing both. `\${` is a
    /// literal `${`; `#{...}` (IG's deferred form) is read like `${...}`.
    pub fn parse(source: &str, env: &ParseEnv<'_>) -> Result<Self, ParseError> {
        let mut parts = Vec::new();
        let mut warnings = Vec::new();
        let mut text = String::new();
        let bytes = source.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' && matches!(bytes.get(i + 1), Some(b'$' | b'#')) && bytes.get(i + 2) == Some(&b'{') {
                text.push_str(&source[i + 1..i + 3]);
                i += 3;
                continue;
            }
            if matches!(bytes[i], b'$' | b'#') && bytes.get(i + 1) == Some(&b'{') {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text).into()));
                }
                let (toks, end) = lexer::lex(source, i + 2)?;
                let mut parser = parser::Parser::new(&toks, env);
                parts.push(Part::Expr(parser.parse_all()?));
                warnings.append(&mut parser.warnings);
                i = end;
                continue;
            }
            let ch_len = source[i..].chars().next().map_or(1, char::len_utf8);
            text.push_str(&source[i..i + ch_len]);
            i += ch_len;
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text.into()));
        }
        let (mut request_entity, mut response_entity) = (false, false);
        for part in &parts {
            if let Part::Expr(node) = part {
                node.walk(&mut |n| {
                    if let Node::Prop(base, key) = n {
                        match (&**base, &**key) {
                            (Node::Root(ast::Root::Request), "entity" | "form") => request_entity = true,
                            (Node::Root(ast::Root::Response), "entity") => response_entity = true,
                            _ => {}
                        }
                    }
                });
            }
        }
        Ok(Expression { source: source.into(), parts, request_entity, response_entity, warnings })
    }

    /// The source text, as written in the configuration.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Names the parser could not resolve (they evaluate to null); worth a load-time warning.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether evaluation reads the request body (`request.entity`, `request.form`), which
    /// must then be buffered first.
    pub fn needs_request_entity(&self) -> bool {
        self.request_entity
    }

    /// Whether evaluation reads the response body.
    pub fn needs_response_entity(&self) -> bool {
        self.response_entity
    }

    /// Whether the expression is plain text, without any `${...}`.
    pub fn is_constant(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Text(_)])
    }

    /// Evaluates the expression. A single `${...}` keeps its type; a template is a string.
    pub fn eval<'a>(&'a self, scope: &Scope<'a>) -> Value<'a> {
        match self.parts.as_slice() {
            [Part::Text(t)] => Value::Str(std::borrow::Cow::Borrowed(t)),
            [Part::Expr(node)] => self.eval_node(node, scope),
            parts => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Expr(node) => self.eval_node(node, scope).write_text(&mut out),
                    }
                }
                Value::Str(std::borrow::Cow::Owned(out))
            }
        }
    }

    fn eval_node<'a>(&'a self, node: &'a Node, scope: &Scope<'a>) -> Value<'a> {
        eval::eval(node, scope).unwrap_or_else(|e| {
            tracing::debug!(expression = %self.source, error = %e.0, "expression evaluated to null");
            Value::Null
        })
    }

    /// Evaluates a condition: only a boolean `true` holds; null and other types are false.
    pub fn eval_bool(&self, scope: &Scope<'_>) -> bool {
        matches!(self.eval(scope), Value::Bool(true))
    }

    /// Evaluates a condition on a request whose body may still be streaming. `None` means
    /// that evaluation reached `request.entity` (or the form body) before the body was read:
    /// buffer it and evaluate again. A condition that never gets there (`path == '/form' and
    /// request.form[...]` on another path) decides without the body.
    pub fn eval_condition(&self, cx: &gatehouse_core::Context, request: &gatehouse_core::Request) -> Option<bool> {
        let wanted = std::cell::Cell::new(false);
        let scope = Scope { body_wanted: Some(&wanted), ..Scope::request(cx, request) };
        let holds = self.eval_bool(&scope);
        (!wanted.get()).then_some(holds)
    }

    /// Evaluates to a string; `None` when the value is null.
    pub fn eval_string(&self, scope: &Scope<'_>) -> Option<String> {
        match self.eval(scope) {
            Value::Null => None,
            v => Some(v.to_text().into_owned()),
        }
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
