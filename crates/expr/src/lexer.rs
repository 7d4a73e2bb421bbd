//! Tokens of the expression language (JSR-245 EL, as IG uses it).

use crate::ParseError;

/// One token with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Dot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Question,
    Colon,
    Not,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    And,
    Or,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Empty,
    True,
    False,
    Null,
    /// The `}` that closes `${`.
    End,
}

/// Splits the inside of one `${...}` into tokens, stopping after its closing brace.
/// Returns the tokens (each with its offset in `src`) and the offset just past the brace.
/// The most tokens one `${...}` may have: far above any real condition, and low enough that
/// no expression can build a tree deep enough to exhaust a thread's stack.
pub(crate) const MAX_TOKENS: usize = 4096;

pub(crate) fn lex(src: &str, start: usize) -> Result<(Vec<(Tok, usize)>, usize), ParseError> {
    let bytes = src.as_bytes();
    let mut i = start;
    let mut out = Vec::new();
    loop {
        if out.len() > MAX_TOKENS {
            return Err(ParseError::new(start, format!("expression too long (more than {MAX_TOKENS} tokens)")));
        }
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let Some(&c) = bytes.get(i) else {
            return Err(ParseError::new(start, "missing '}' at the end of the expression"));
        };
        let at = i;
        let two = bytes.get(i + 1).copied();
        let (tok, len) = match (c, two) {
            (b'}', _) => {
                out.push((Tok::End, at));
                return Ok((out, i + 1));
            }
            (b'=', Some(b'=')) => (Tok::Eq, 2),
            (b'!', Some(b'=')) => (Tok::Ne, 2),
            (b'<', Some(b'=')) => (Tok::Le, 2),
            (b'>', Some(b'=')) => (Tok::Ge, 2),
            (b'&', Some(b'&')) => (Tok::And, 2),
            (b'|', Some(b'|')) => (Tok::Or, 2),
            (b'!', _) => (Tok::Not, 1),
            (b'<', _) => (Tok::Lt, 1),
            (b'>', _) => (Tok::Gt, 1),
            (b'.', Some(d)) if d.is_ascii_digit() => {
                let (t, n) = number(src, i)?;
                (t, n)
            }
            (b'.', _) => (Tok::Dot, 1),
            (b'[', _) => (Tok::LBracket, 1),
            (b']', _) => (Tok::RBracket, 1),
            (b'(', _) => (Tok::LParen, 1),
            (b')', _) => (Tok::RParen, 1),
            (b',', _) => (Tok::Comma, 1),
            (b'?', _) => (Tok::Question, 1),
            (b':', _) => (Tok::Colon, 1),
            (b'+', _) => (Tok::Plus, 1),
            (b'-', _) => (Tok::Minus, 1),
            (b'*', _) => (Tok::Star, 1),
            (b'/', _) => (Tok::Slash, 1),
            (b'%', _) => (Tok::Percent, 1),
            (b'\'' | b'"', _) => string(src, i)?,
            (d, _) if d.is_ascii_digit() => number(src, i)?,
            (d, _) if d.is_ascii_alphabetic() || d == b'_' || d == b'$' => {
                let mut j = i;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b'$') {
                    j += 1;
                }
                (keyword(&src[i..j]), j - i)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ParseError::new(at, format!("unexpected character '{ch}'")));
            }
        };
        out.push((tok, at));
        i += len;
    }
}

fn keyword(word: &str) -> Tok {
    match word {
        "and" => Tok::And,
        "or" => Tok::Or,
        "not" => Tok::Not,
        "eq" => Tok::Eq,
        "ne" => Tok::Ne,
        "lt" => Tok::Lt,
        "gt" => Tok::Gt,
        "le" => Tok::Le,
        "ge" => Tok::Ge,
        "div" => Tok::Slash,
        "mod" => Tok::Percent,
        "empty" => Tok::Empty,
        "true" => Tok::True,
        "false" => Tok::False,
        "null" => Tok::Null,
        _ => Tok::Ident(word.to_string()),
    }
}

fn string(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let quote = src.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '\'' | '"'))) => out.push(e),
                Some((_, e)) => {
                    out.push('\\');
                    out.push(e);
                }
                None => break,
            },
            c if c == quote => return Ok((Tok::Str(out), k + 2)),
            c => out.push(c),
        }
    }
    Err(ParseError::new(start, "unterminated string literal"))
}

fn number(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let bytes = src.as_bytes();
    let mut j = start;
    let mut float = false;
    while j < bytes.len() && bytes[j].is_ascii_digit() {
        j += 1;
    }
    if j < bytes.len() && bytes[j] == b'.' && bytes.get(j + 1).is_some_and(u8::is_ascii_digit) {
        float = true;
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
    }
    if j < bytes.len() && (bytes[j] == b'e' || bytes[j] == b'E') {
        let mut k = j + 1;
        if k < bytes.len() && (bytes[k] == b'+' || bytes[k] == b'-') {
            k += 1;
        }
        if k < bytes.len() && bytes[k].is_ascii_digit() {
            float = true;
            j = k;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
        }
    }
    let text = &src[start..j];
    let tok = if float {
        Tok::Float(text.parse().map_err(|_| ParseError::new(start, "invalid number"))?)
    } else {
        Tok::Int(text.parse().map_err(|_| ParseError::new(start, "integer literal out of range"))?)
    };
    Ok((tok, j - start))
}
