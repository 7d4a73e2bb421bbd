//! The built-in functions (`find(...)`, `split(...)`, ...), with IG's semantics:
//! `matches` finds anywhere, `urlEncode` is form encoding, null inputs give null or false.

use std::borrow::Cow;

use crate::pattern::Regex;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::ast::{compile_regex, Func};
use crate::eval::{equals, err, property, EvalResult};
use crate::scope::{cookies, Obj};
use crate::value::Value;

/// Characters kept as they are in a query parameter or path element (RFC 3986 unreserved).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// Characters a path element may also keep (sub-delims, ':' and '@').
const PATH_ELEMENT: &AsciiSet = &COMPONENT
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// Calls function `f`. `re` is the compiled literal regular expression, when there is one.
pub(crate) fn call<'a>(f: Func, mut args: Vec<Value<'a>>, re: Option<&Regex>) -> EvalResult<'a> {
    let arity = |n: usize| -> Result<(), crate::eval::EvalError> {
        if args.len() == n {
            Ok(())
        } else {
            err(format!("{f:?} takes {n} argument(s), got {}", args.len()))
        }
    };
    match f {
        Func::Array => {
            Ok(Value::List(args.into_iter().map(|a| Value::Str(Cow::Owned(a.to_text().into_owned()))).collect()))
        }
        Func::Bool | Func::Boolean => {
            arity(1)?;
            Ok(Value::Bool(args[0].as_str().is_some_and(|s| s.trim().eq_ignore_ascii_case("true"))))
        }
        Func::EscapeJson => {
            arity(1)?;
            // JSON string content: quotes, backslashes and control characters escaped.
            Ok(args[0].as_str().map_or(Value::Null, |s| {
                let quoted = serde_json::Value::String(s.to_string()).to_string();
                Value::Str(Cow::Owned(quoted[1..quoted.len() - 1].to_string()))
            }))
        }
        // Read at parse time (files.rs); a Call node of these never exists.
        Func::Read | Func::ReadProperties => Ok(Value::Null),
        Func::Contains => {
            arity(2)?;
            Ok(Value::Bool(contains(&args[0], &args[1])))
        }
        Func::Find | Func::Matches | Func::MatchesWithRegex => {
            arity(2)?;
            let (Some(s), Some(_)) = (args[0].as_str(), args[1].as_str()) else { return Ok(Value::Bool(false)) };
            Ok(Value::Bool(with_regex(re, &args[1], f == Func::MatchesWithRegex, |r| r.is_match(s)).unwrap_or(false)))
        }
        Func::MatchingGroups | Func::FindGroups => {
            arity(2)?;
            let Some(s) = args[0].as_str() else { return Ok(Value::Null) };
            let groups = with_regex(re, &args[1], false, |r| {
                r.captures(s).map(|c| {
                    c.into_iter().map(|m| m.map_or(Value::Null, |m| Value::Str(Cow::Owned(m)))).collect::<Vec<_>>()
                })
            });
            Ok(groups.flatten().map_or(Value::Null, Value::List))
        }
        Func::KeyMatch => {
            arity(2)?;
            let Some(keys) = keys(&args[0]) else { return Ok(Value::Null) };
            let found = with_regex(re, &args[1], true, |r| keys.into_iter().find(|k| r.is_match(k)));
            Ok(found.flatten().map_or(Value::Null, |k| Value::Str(Cow::Owned(k))))
        }
        Func::Split => {
            arity(2)?;
            let Some(s) = args[0].as_str() else { return Ok(Value::Null) };
            Ok(with_regex(re, &args[1], false, |r| Value::List(java_split(r, s))).unwrap_or(Value::Null))
        }
        Func::Join => {
            arity(2)?;
            let sep = args[1].to_text().into_owned();
            let items = match &args[0] {
                Value::Null => return Ok(Value::Null),
                Value::List(l) => l.iter().map(|v| v.to_text().into_owned()).collect::<Vec<_>>(),
                Value::Json(serde_json::Value::Array(a)) => {
                    a.iter().map(|v| Value::from_json_ref(v).to_text().into_owned()).collect()
                }
                other => vec![other.to_text().into_owned()],
            };
            Ok(Value::Str(Cow::Owned(items.join(&sep))))
        }
        Func::IndexOf => {
            arity(2)?;
            match (args[0].as_str(), args[1].as_str()) {
                (Some(s), Some(sub)) => Ok(Value::Int(s.find(sub).map_or(-1, |b| s[..b].chars().count() as i64))),
                _ => Ok(Value::Int(-1)),
            }
        }
        Func::Length => {
            arity(1)?;
            Ok(Value::Int(length(&args[0]).unwrap_or(0) as i64))
        }
        Func::Integer | Func::IntegerWithRadix => {
            let radix = if f == Func::IntegerWithRadix {
                arity(2)?;
                match args[1] {
                    Value::Int(r) if (2..=36).contains(&r) => r as u32,
                    _ => return Ok(Value::Null),
                }
            } else {
                arity(1)?;
                10
            };
            Ok(match &args[0] {
                Value::Int(i) => Value::Int(*i),
                Value::Str(s) => i32::from_str_radix(s.trim(), radix).map_or(Value::Null, |i| Value::Int(i64::from(i))),
                _ => Value::Null,
            })
        }
        Func::ToString => {
            arity(1)?;
            Ok(if args[0].is_null() { Value::Null } else { Value::Str(Cow::Owned(args[0].to_text().into_owned())) })
        }
        Func::ToLowerCase | Func::ToUpperCase | Func::Trim => {
            arity(1)?;
            let Some(s) = args[0].as_str() else { return Ok(Value::Null) };
            Ok(Value::Str(Cow::Owned(match f {
                Func::ToLowerCase => s.to_lowercase(),
                Func::ToUpperCase => s.to_uppercase(),
                _ => s.trim().to_string(),
            })))
        }
        Func::EncodeBase64 | Func::EncodeBase64Url => {
            arity(1)?;
            let Some(s) = args[0].as_str() else { return Ok(Value::Null) };
            let engine: &dyn Fn(&[u8]) -> String =
                if f == Func::EncodeBase64 { &|b| STANDARD.encode(b) } else { &|b| URL_SAFE_NO_PAD.encode(b) };
            Ok(Value::Str(Cow::Owned(engine(s.as_bytes()))))
        }
        Func::DecodeBase64 | Func::DecodeBase64Url => {
            arity(1)?;
            let Some(s) = args[0].as_str() else { return Ok(Value::Null) };
            let bytes = if f == Func::DecodeBase64 {
                STANDARD.decode(s.trim())
            } else {
                URL_SAFE_NO_PAD.decode(s.trim().trim_end_matches('='))
            };
            Ok(bytes.ok().and_then(|b| String::from_utf8(b).ok()).map_or(Value::Null, |s| Value::Str(Cow::Owned(s))))
        }
        Func::UrlEncode | Func::FormEncodeParameterNameOrValue => {
            encode(&mut args, |s| form_urlencoded::byte_serialize(s.as_bytes()).collect())
        }
        Func::UrlDecode | Func::FormDecodeParameterNameOrValue => encode(&mut args, |s| {
            form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
        }),
        Func::UrlEncodeQueryParameterNameOrValue => {
            encode(&mut args, |s| utf8_percent_encode(s, COMPONENT).to_string())
        }
        Func::UrlEncodePathElement => encode(&mut args, |s| utf8_percent_encode(s, PATH_ELEMENT).to_string()),
        Func::UrlDecodeQueryParameterNameOrValue | Func::UrlDecodePathElement => {
            encode(&mut args, |s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        }
    }
}

/// Applies a string-to-string function to the single argument; null stays null.
fn encode<'a>(args: &mut [Value<'a>], f: impl Fn(&str) -> String) -> EvalResult<'a> {
    if args.len() != 1 {
        return err("expected one argument");
    }
    Ok(args[0].as_str().map_or(Value::Null, |s| Value::Str(Cow::Owned(f(s)))))
}

/// Runs `f` with the literal regex, or compiles the dynamic one; an invalid regex gives `None`.
pub(crate) fn with_regex<T>(
    re: Option<&Regex>,
    pattern: &Value<'_>,
    whole: bool,
    f: impl FnOnce(&Regex) -> T,
) -> Option<T> {
    if let Some(r) = re {
        return Some(f(r));
    }
    let p = pattern.as_str()?;
    match compile_regex(p, whole) {
        Ok(r) => Some(f(&r)),
        Err(e) => {
            tracing::debug!(pattern = p, error = %e, "invalid regular expression in an expression");
            None
        }
    }
}

/// Java's `String.split`: trailing empty strings are dropped; no match gives the input.
pub(crate) fn java_split<'a>(r: &Regex, s: &str) -> Vec<Value<'a>> {
    if !r.is_match(s) {
        return vec![Value::Str(Cow::Owned(s.to_string()))];
    }
    let mut parts: Vec<&str> = r.split(s);
    // A zero-width match at the start does not produce a leading empty string in Java.
    if parts.first() == Some(&"") && r.find(s) == Some((0, 0)) {
        parts.remove(0);
    }
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.into_iter().map(|p| Value::Str(Cow::Owned(p.to_string()))).collect()
}

/// `contains(x, v)`: substring of a string, element of a list, key of a map.
pub(crate) fn contains(container: &Value<'_>, item: &Value<'_>) -> bool {
    match container {
        Value::Str(s) => item.as_str().is_some_and(|i| s.contains(i)),
        Value::List(l) => l.iter().any(|v| equals(v, item).unwrap_or(false)),
        Value::Json(serde_json::Value::Array(a)) => {
            a.iter().any(|v| equals(&Value::from_json_ref(v), item).unwrap_or(false))
        }
        Value::Owned(serde_json::Value::Array(a)) => {
            a.iter().any(|v| equals(&Value::from_json_ref(v), item).unwrap_or(false))
        }
        Value::Json(serde_json::Value::Object(_)) | Value::Owned(serde_json::Value::Object(_)) | Value::Obj(_) => {
            !property(container.clone(), &item.to_text()).is_null()
        }
        _ => false,
    }
}

/// The length of a string (in characters), list or map.
pub(crate) fn length(v: &Value<'_>) -> Option<usize> {
    match v {
        Value::Str(s) => Some(s.chars().count()),
        Value::List(l) => Some(l.len()),
        Value::Json(j) => json_len(j),
        Value::Owned(j) => json_len(j),
        Value::Obj(o) => o.len(),
        _ => None,
    }
}

fn json_len(j: &serde_json::Value) -> Option<usize> {
    match j {
        serde_json::Value::Array(a) => Some(a.len()),
        serde_json::Value::Object(m) => Some(m.len()),
        _ => None,
    }
}

/// The keys of a map value, in order. Header names come as received (lower case over
/// HTTP/2 and after hyper's parsing) and also in their canonical `Title-Case`, so that
/// `keyMatch(request.headers, '^X-Custom.*')` finds `x-custom-id` as IG finds `X-Custom-Id`.
fn keys(v: &Value<'_>) -> Option<Vec<String>> {
    match v {
        Value::Json(serde_json::Value::Object(m)) => Some(m.keys().cloned().collect()),
        Value::Owned(serde_json::Value::Object(m)) => Some(m.keys().cloned().collect()),
        Value::Obj(Obj::Headers(h)) => {
            Some(h.keys().flat_map(|k| [k.as_str().to_string(), title_case(k.as_str())]).collect())
        }
        Value::Obj(Obj::Cookies(h)) => {
            let mut names: Vec<String> = Vec::new();
            for (name, _) in cookies(h) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
            Some(names)
        }
        Value::Obj(o) => match o.to_json() {
            serde_json::Value::Object(m) => Some(m.keys().cloned().collect()),
            _ => None,
        },
        _ => None,
    }
}

/// `x-custom-id` as `X-Custom-Id`.
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}
