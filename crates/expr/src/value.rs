//! Values an expression computes. Most borrow from the exchange or from the expression
//! itself, so that evaluating a condition usually allocates nothing.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::ast::Lit;
use crate::scope::Obj;

/// The result of evaluating an expression.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    /// EL `null`: a missing property or a failed evaluation.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer (EL `Long`).
    Int(i64),
    /// A double.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// A list built by the expression (headers, `split`, `array`, ...).
    List(Vec<Value<'a>>),
    /// A JSON array or object borrowed from attributes, the session or a constant.
    Json(&'a Json),
    /// A JSON array or object the expression produced (`entity.json`).
    Owned(Json),
    /// A view of part of the exchange.
    #[doc(hidden)]
    Obj(Obj<'a>),
}

impl<'a> Value<'a> {
    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A value borrowing a JSON node; scalars become scalar values.
    pub fn from_json_ref(v: &'a Json) -> Value<'a> {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => number(n),
            Json::String(s) => Value::Str(Cow::Borrowed(s)),
            Json::Array(_) | Json::Object(_) => Value::Json(v),
        }
    }

    /// A value owning a JSON node.
    pub fn from_json(v: Json) -> Value<'static> {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Number(n) => number(&n),
            Json::String(s) => Value::Str(Cow::Owned(s)),
            v @ (Json::Array(_) | Json::Object(_)) => Value::Owned(v),
        }
    }

    /// Converts to JSON, for storing in attributes or the session.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::Str(s) => Json::String(s.to_string()),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Json(j) => (*j).clone(),
            Value::Owned(j) => j.clone(),
            Value::Obj(o) => o.to_json(),
        }
    }

    /// The string form EL uses when a value meets text: `null` is the empty string.
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Value::Null => Cow::Borrowed(""),
            Value::Str(s) => Cow::Borrowed(s),
            other => {
                let mut out = String::new();
                other.write_text(&mut out);
                Cow::Owned(out)
            }
        }
    }

    /// Appends the string form to `out`.
    pub fn write_text(&self, out: &mut String) {
        match self {
            Value::Null => {}
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&float_text(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_text(out);
                }
                out.push(']');
            }
            Value::Json(j) => out.push_str(&j.to_string()),
            Value::Owned(j) => out.push_str(&j.to_string()),
            Value::Obj(o) => o.write_text(out),
        }
    }

    /// The string inside, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Detaches the value from what it borrows.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            other => Value::from_json(other.to_json()),
        }
    }
}

fn number(n: &serde_json::Number) -> Value<'static> {
    match n.as_i64() {
        Some(i) => Value::Int(i),
        None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// Java's `Double.toString` for the common cases: `1.0`, `0.5`, `1.0E10`.
pub(crate) fn float_text(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-3..1e7).contains(&abs) {
        let s = format!("{f:E}");
        return if s.contains('.') { s } else { s.replacen('E', ".0E", 1) };
    }
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// A literal for a constant taken from route properties.
pub(crate) fn lit_from_json(v: &Json) -> Lit {
    match v {
        Json::Null => Lit::Null,
        Json::Bool(b) => Lit::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Lit::Int(i),
            None => Lit::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Lit::Str(s.as_str().into()),
        other => Lit::Json(other.clone()),
    }
}
