//! Methods called on values (`x.concat(y)`, `s.split(',')`, `status.isSuccessful()`), the
//! subset of Java's `String`, `List`, `Map` and IG's `Status` that route files use.

use std::borrow::Cow;

use crate::pattern::Regex;

use crate::ast::Method;
use crate::eval::{equals, err, property, to_number, EvalResult};
use crate::functions::{contains, java_split, length, with_regex};
use crate::scope::Obj;
use crate::value::Value;

/// Calls method `m` on `base`. A method on null fails, as in Java.
pub(crate) fn call<'a>(base: Value<'a>, m: Method, args: Vec<Value<'a>>, re: Option<&Regex>) -> EvalResult<'a> {
    if base.is_null() {
        return err(format!("{m:?}() called on null"));
    }
    if let Value::Obj(Obj::Status(s)) = &base {
        let class = s.as_u16() / 100;
        return Ok(Value::Bool(match m {
            Method::IsSuccessful => class == 2,
            Method::IsClientError => class == 4,
            Method::IsServerError => class == 5,
            Method::IsRedirection => class == 3,
            Method::IsInformational => class == 1,
            Method::ToString => return Ok(Value::Str(Cow::Owned(s.to_string()))),
            _ => return err(format!("{m:?}() is not a method of a status")),
        }));
    }
    match m {
        Method::ToString => Ok(Value::Str(Cow::Owned(base.to_text().into_owned()))),
        Method::Equals => Ok(Value::Bool(equals(&base, arg(&args, 0)?)?)),
        Method::Size | Method::Length if !matches!(base, Value::Str(_)) => {
            length(&base).map(|n| Value::Int(n as i64)).map_or_else(|| err("no size"), Ok)
        }
        Method::IsEmpty => Ok(Value::Bool(crate::eval::is_empty(&base))),
        Method::Contains if !matches!(base, Value::Str(_)) => Ok(Value::Bool(contains(&base, arg(&args, 0)?))),
        Method::ContainsKey => Ok(Value::Bool(!property(base, &arg(&args, 0)?.to_text()).is_null())),
        Method::Get => {
            let key = arg(&args, 0)?;
            match key {
                Value::Int(_) => Ok(property(base, &key.to_text())),
                _ => Ok(property(base, &key.to_text())),
            }
        }
        // IG's MultiValueMap (`request.queryParams`, `request.form`, headers): the first value.
        Method::GetFirst => match property(base, &arg(&args, 0)?.to_text()) {
            Value::List(items) => Ok(items.into_iter().next().unwrap_or(Value::Null)),
            other => Ok(other),
        },
        _ => match base {
            Value::Str(s) => string_method(&s, m, &args, re),
            _ => err(format!("{m:?}() is not a method of this value")),
        },
    }
}

fn arg<'v, 'a>(args: &'v [Value<'a>], i: usize) -> Result<&'v Value<'a>, crate::eval::EvalError> {
    args.get(i).map_or_else(|| err(format!("missing argument {}", i + 1)), Ok)
}

fn str_arg<'v>(args: &'v [Value<'_>], i: usize) -> Result<&'v str, crate::eval::EvalError> {
    match arg(args, i)? {
        Value::Str(s) => Ok(s),
        Value::Null => err("null argument"),
        _ => err("expected a string argument"),
    }
}

fn int_arg(args: &[Value<'_>], i: usize) -> Result<i64, crate::eval::EvalError> {
    match to_number(arg(args, i)?)? {
        Value::Int(n) => Ok(n),
        _ => err("expected an integer argument"),
    }
}

fn owned<'a>(s: String) -> EvalResult<'a> {
    Ok(Value::Str(Cow::Owned(s)))
}

/// Character index to byte index; `None` past the end.
fn byte_at(s: &str, chars: i64) -> Option<usize> {
    if chars < 0 {
        return None;
    }
    let chars = chars as usize;
    if chars == 0 {
        return Some(0);
    }
    s.char_indices().map(|(b, _)| b).chain(std::iter::once(s.len())).nth(chars)
}

fn string_method<'a>(s: &str, m: Method, args: &[Value<'a>], re: Option<&Regex>) -> EvalResult<'a> {
    match m {
        Method::Concat => owned(format!("{s}{}", str_arg(args, 0)?)),
        Method::Length | Method::Size => Ok(Value::Int(s.chars().count() as i64)),
        Method::ToLowerCase => owned(s.to_lowercase()),
        Method::ToUpperCase => owned(s.to_uppercase()),
        Method::Trim => owned(s.trim().to_string()),
        Method::StartsWith => Ok(Value::Bool(s.starts_with(str_arg(args, 0)?))),
        Method::EndsWith => Ok(Value::Bool(s.ends_with(str_arg(args, 0)?))),
        Method::Contains => Ok(Value::Bool(s.contains(str_arg(args, 0)?))),
        Method::EqualsIgnoreCase => Ok(Value::Bool(match arg(args, 0)? {
            Value::Str(o) => s.to_lowercase() == o.to_lowercase(),
            _ => false,
        })),
        Method::IndexOf | Method::LastIndexOf => {
            let sub = str_arg(args, 0)?;
            let found = if m == Method::IndexOf { s.find(sub) } else { s.rfind(sub) };
            Ok(Value::Int(found.map_or(-1, |b| s[..b].chars().count() as i64)))
        }
        Method::Substring => {
            let begin = byte_at(s, int_arg(args, 0)?);
            let end = if args.len() > 1 { byte_at(s, int_arg(args, 1)?) } else { Some(s.len()) };
            match (begin, end) {
                (Some(b), Some(e)) if b <= e => owned(s[b..e].to_string()),
                _ => err("substring index out of range"),
            }
        }
        Method::CharAt => {
            let i = int_arg(args, 0)?;
            match usize::try_from(i).ok().and_then(|i| s.chars().nth(i)) {
                Some(c) => owned(c.to_string()),
                None => err("charAt index out of range"),
            }
        }
        Method::Replace => owned(s.replace(str_arg(args, 0)?, str_arg(args, 1)?)),
        Method::ReplaceAll => {
            // Java and the regex crate both write groups as `$1`.
            let with = str_arg(args, 1)?;
            with_regex(re, arg(args, 0)?, false, |r| r.replace_all(s, with).into_owned())
                .map_or_else(|| err("invalid regular expression"), owned)
        }
        Method::Split => with_regex(re, arg(args, 0)?, false, |r| Value::List(java_split(r, s)))
            .map_or_else(|| err("invalid regular expression"), Ok),
        Method::Matches => with_regex(re, arg(args, 0)?, true, |r| Value::Bool(r.is_match(s)))
            .map_or_else(|| err("invalid regular expression"), Ok),
        _ => err(format!("{m:?}() is not a method of a string")),
    }
}
