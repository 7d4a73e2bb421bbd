//! A JSON parser that remembers where every value and key starts, so that configuration
//! errors found long after parsing still name the file, line and column.

use std::fmt;

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A JSON value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub pos: Pos,
    /// The value.
    pub kind: Kind,
}

/// An object key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key.
    pub name: String,
    /// Where the key starts.
    pub pos: Pos,
}

/// The kinds of JSON value. Objects keep their keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Node>),
    /// An object.
    Object(Vec<(Key, Node)>),
}

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the error is.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

impl Node {
    /// A node with no meaningful position (built-in defaults).
    pub fn synthetic(kind: Kind) -> Self {
        Node { pos: Pos::default(), kind }
    }

    /// Converts from a `serde_json` value, for built-in declarations.
    pub fn from_json(v: &serde_json::Value) -> Self {
        let kind = match v {
            serde_json::Value::Null => Kind::Null,
            serde_json::Value::Bool(b) => Kind::Bool(*b),
            serde_json::Value::Number(n) => Kind::Number(n.clone()),
            serde_json::Value::String(s) => Kind::String(s.clone()),
            serde_json::Value::Array(a) => Kind::Array(a.iter().map(Node::from_json).collect()),
            serde_json::Value::Object(m) => Kind::Object(
                m.iter().map(|(k, v)| (Key { name: k.clone(), pos: Pos::default() }, Node::from_json(v))).collect(),
            ),
        };
        Node::synthetic(kind)
    }

    /// Converts to a `serde_json` value, dropping positions.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            Kind::Null => serde_json::Value::Null,
            Kind::Bool(b) => serde_json::Value::Bool(*b),
            Kind::Number(n) => serde_json::Value::Number(n.clone()),
            Kind::String(s) => serde_json::Value::String(s.clone()),
            Kind::Array(a) => serde_json::Value::Array(a.iter().map(Node::to_json).collect()),
            Kind::Object(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect())
            }
        }
    }

    /// The value of `key` when this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Object(m) => m.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The items when this is an array, else this one value: properties that take "a value
    /// or a list of them" (`port`, `secretsProvider`, `trustManager`, `capture`, `entity`).
    pub fn one_or_many(&self) -> &[Node] {
        match &self.kind {
            Kind::Array(items) => items,
            _ => std::slice::from_ref(self),
        }
    }

    /// The entries when this is an object.
    pub fn entries(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            Kind::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The string when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of value this is, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }
}

/// Parses one JSON document as IG's reader (Jackson, lenient) does: `//` and `/* */`
/// comments, single-quoted strings, raw line breaks and tabs inside strings, and any Unicode
/// white space between tokens are accepted; a duplicate key takes the last value.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    parse_with_warnings(text).map(|(node, _)| node)
}

/// [`parse`], with what a careful reader should be told: each duplicate key (the last value
/// wins, as in IG), at the position of the key that was dropped.
pub fn parse_with_warnings(text: &str) -> Result<(Node, Vec<SyntaxError>), SyntaxError> {
    let mut p = JsonParser { chars: text.char_indices().peekable(), text, line: 1, col: 1, warnings: Vec::new() };
    p.ws()?;
    let node = p.value(0)?;
    p.ws()?;
    match p.chars.peek() {
        None => Ok((node, p.warnings)),
        Some(_) => Err(p.err("unexpected text after the end of the JSON document")),
    }
}

const MAX_DEPTH: usize = 128;

struct JsonParser<'t> {
    chars: std::iter::Peekable<std::str::CharIndices<'t>>,
    text: &'t str,
    line: u32,
    col: u32,
    warnings: Vec<SyntaxError>,
}

impl JsonParser<'_> {
    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn err(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError { pos: self.pos(), message: message.into() }
    }

    fn next(&mut self) -> Option<char> {
        let (_, c) = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    /// Skips white space (any Unicode space, a byte-order mark, U+00A0) and comments.
    fn ws(&mut self) -> Result<(), SyntaxError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    self.next();
                }
                Some('/') => {
                    let start = self.pos();
                    let mut ahead = self.chars.clone();
                    ahead.next();
                    match ahead.next().map(|(_, c)| c) {
                        Some('/') => {
                            while self.peek().is_some_and(|c| c != '\n') {
                                self.next();
                            }
                        }
                        Some('*') => {
                            self.next();
                            self.next();
                            let mut last = ' ';
                            loop {
                                match self.next() {
                                    Some('/') if last == '*' => break,
                                    Some(c) => last = c,
                                    None => {
                                        return Err(SyntaxError {
                                            pos: start,
                                            message: "unterminated /* comment".into(),
                                        })
                                    }
                                }
                            }
                        }
                        _ => return Ok(()),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), SyntaxError> {
        match self.peek() {
            Some(got) if got == c => {
                self.next();
                Ok(())
            }
            Some(got) => Err(self.err(format!("expected {what}, found '{got}'"))),
            None => Err(self.err(format!("expected {what}, found the end of the file"))),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err("JSON nested too deeply"));
        }
        let pos = self.pos();
        let kind = match self.peek() {
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"' | '\'') => Kind::String(self.string()?),
            Some('t') => self.word("true", Kind::Bool(true))?,
            Some('f') => self.word("false", Kind::Bool(false))?,
            Some('n') => self.word("null", Kind::Null)?,
            Some(c) if c == '-' || c.is_ascii_digit() => self.number()?,
            Some(c) => return Err(self.err(format!("unexpected character '{c}'"))),
            None => return Err(self.err("unexpected end of the file")),
        };
        Ok(Node { pos, kind })
    }

    fn word(&mut self, word: &str, kind: Kind) -> Result<Kind, SyntaxError> {
        for expected in word.chars() {
            if self.peek() != Some(expected) {
                return Err(self.err(format!("invalid literal, expected '{word}'")));
            }
            self.next();
        }
        Ok(kind)
    }

    fn number(&mut self) -> Result<Kind, SyntaxError> {
        let start_pos = self.pos();
        let start = self.chars.peek().map_or(self.text.len(), |&(i, _)| i);
        while matches!(self.peek(), Some(c) if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')) {
            self.next();
        }
        let end = self.chars.peek().map_or(self.text.len(), |&(i, _)| i);
        let text = &self.text[start..end];
        serde_json::from_str::<serde_json::Number>(text)
            .map(Kind::Number)
            .map_err(|_| SyntaxError { pos: start_pos, message: format!("invalid number '{text}'") })
    }

    /// A string in double quotes, or in single quotes as IG's reader allows; raw line breaks
    /// and tabs are kept (multi-line conditions and scripts).
    fn string(&mut self) -> Result<String, SyntaxError> {
        let quote = match self.peek() {
            Some(q @ ('"' | '\'')) => q,
            _ => return Err(self.err("expected a string")),
        };
        self.next();
        let mut out = String::new();
        loop {
            let pos = self.pos();
            match self.next() {
                None => return Err(SyntaxError { pos, message: "unterminated string".into() }),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.next() {
                    Some('"') => out.push('"'),
                    Some('\'') => out.push('\''),
                    Some('\\') => out.push('\\'),
                    Some('/') => out.push('/'),
                    Some('b') => out.push('\u{8}'),
                    Some('f') => out.push('\u{c}'),
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('u') => out.push(self.unicode_escape(pos)?),
                    _ => return Err(SyntaxError { pos, message: "invalid escape in string".into() }),
                },
                Some(c @ ('\n' | '\r' | '\t')) => out.push(c),
                Some(c) if (c as u32) < 0x20 => {
                    return Err(SyntaxError { pos, message: format!("control character U+{:04X} in string", c as u32) })
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn hex4(&mut self, pos: Pos) -> Result<u32, SyntaxError> {
        let mut v = 0;
        for _ in 0..4 {
            let d = self.next().and_then(|c| c.to_digit(16));
            v = v * 16 + d.ok_or(SyntaxError { pos, message: "invalid \\u escape".into() })?;
        }
        Ok(v)
    }

    fn unicode_escape(&mut self, pos: Pos) -> Result<char, SyntaxError> {
        let hi = self.hex4(pos)?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if self.next() != Some('\\') || self.next() != Some('u') {
                return Err(SyntaxError { pos, message: "unpaired surrogate in \\u escape".into() });
            }
            let lo = self.hex4(pos)?;
            0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            hi
        };
        char::from_u32(code).ok_or(SyntaxError { pos, message: "invalid \\u escape".into() })
    }

    fn array(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.next();
        let mut items = Vec::new();
        self.ws()?;
        if self.peek() == Some(']') {
            self.next();
            return Ok(Kind::Array(items));
        }
        loop {
            self.ws()?;
            items.push(self.value(depth + 1)?);
            self.ws()?;
            match self.peek() {
                Some(',') => {
                    self.next();
                }
                Some(']') => {
                    self.next();
                    return Ok(Kind::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']' in array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.next();
        let mut entries: Vec<(Key, Node)> = Vec::new();
        self.ws()?;
        if self.peek() == Some('}') {
            self.next();
            return Ok(Kind::Object(entries));
        }
        loop {
            self.ws()?;
            let pos = self.pos();
            if !matches!(self.peek(), Some('"' | '\'')) {
                return Err(self.err("expected a quoted key in object"));
            }
            let name = self.string()?;
            if let Some(i) = entries.iter().position(|(k, _)| k.name == name) {
                let (dropped, _) = entries.remove(i);
                self.warnings.push(SyntaxError {
                    pos: dropped.pos,
                    message: format!("duplicate key '{name}': the value at line {} is used", pos.line),
                });
            }
            self.ws()?;
            self.expect(':', "':' after the key")?;
            self.ws()?;
            let value = self.value(depth + 1)?;
            entries.push((Key { name, pos }, value));
            self.ws()?;
            match self.peek() {
                Some(',') => {
                    self.next();
                }
                Some('}') => {
                    self.next();
                    return Ok(Kind::Object(entries));
                }
                _ => return Err(self.err("expected ',' or '}' in object")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_values_and_keys() {
        let n = parse("{\n  \"a\": [1, \"x\"],\n  \"b\": {\"c\": null}\n}").unwrap();
        let a = n.get("a").unwrap();
        assert_eq!(a.pos, Pos { line: 2, col: 8 });
        let Kind::Array(items) = &a.kind else { panic!() };
        assert_eq!(items[1].pos, Pos { line: 2, col: 12 });
        assert_eq!(n.entries().unwrap()[1].0.pos, Pos { line: 3, col: 3 });
        assert_eq!(n.to_json(), serde_json::json!({"a": [1, "x"], "b": {"c": null}}));
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = parse("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (3, 7));
        let e = parse("{\"a\": 1,}").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 9));
        assert!(parse("\"bell\u{7}\"").unwrap_err().message.contains("U+0007"));
        assert!(parse("{ /* never closed").unwrap_err().message.contains("unterminated /*"));
        assert!(parse("[1] x").is_err());
        assert_eq!(parse("\"\\u00e9\\ud83d\\ude00\"").unwrap().as_str(), Some("é😀"));
    }

    #[test]
    fn what_igs_reader_accepts_is_read_with_exact_positions() {
        let text =
            "// a route\n{ /* the condition */ \"condition\": '${a and\n\tb}',\n  'x': \"it's\", \"x\": 2 }\u{a0}\n";
        let (n, warnings) = parse_with_warnings(text).unwrap();
        assert_eq!(n.get("condition").unwrap().as_str(), Some("${a and\n\tb}"));
        assert_eq!(n.get("condition").unwrap().pos, Pos { line: 2, col: 36 });
        assert_eq!(n.to_json()["x"], serde_json::json!(2), "the last duplicate wins");
        assert_eq!(warnings.len(), 1);
        assert_eq!((warnings[0].pos.line, warnings[0].pos.col), (4, 3));
        assert!(warnings[0].message.contains("duplicate key 'x'"));
        let e = parse("{\n  // fine\n  \"a\": 1\n  \"b\": 2 }").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col, e.message.as_str()), (4, 3, "expected ',' or '}' in object"));
        assert_eq!(parse("'a\\'b'").unwrap().as_str(), Some("a'b"));
        assert_eq!(parse("[1, /* two */ 2] // end").unwrap().to_json(), serde_json::json!([1, 2]));
    }
}
