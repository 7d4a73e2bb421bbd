//! Evaluation of a [`Node`] against a [`Scope`], with EL's coercion rules.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::ast::{BinOp, Lit, Node, ReqAccess, Root};
use crate::scope::{Obj, Scope};
use crate::value::Value;

/// Why an evaluation failed; it becomes `null` and a debug log, never a panic.
#[derive(Debug)]
pub(crate) struct EvalError(pub(crate) String);

pub(crate) type EvalResult<'a> = Result<Value<'a>, EvalError>;

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(msg.into()))
}

/// Evaluates `node`.
pub(crate) fn eval<'a>(node: &'a Node, s: &Scope<'a>) -> EvalResult<'a> {
    match node {
        Node::Lit(l) => Ok(lit(l)),
        Node::Root(r) => Ok(root(*r, s)),
        Node::Req(a) => Ok(s.request.map_or(Value::Null, |r| request_access(a, r))),
        Node::Prop(base, key) => Ok(property(eval(base, s)?, key)),
        Node::Index(base, index) => index_node(base, index, s),
        Node::Method(..) | Node::Call(..) => call_node(node, s),
        Node::Neg(a) => match to_number(&eval(a, s)?)? {
            Value::Int(i) => Ok(Value::Int(i.wrapping_neg())),
            Value::Float(f) => Ok(Value::Float(-f)),
            _ => err("cannot negate"),
        },
        Node::Not(a) => Ok(Value::Bool(!to_bool(&eval(a, s)?)?)),
        Node::Empty(a) => Ok(Value::Bool(is_empty(&eval(a, s)?))),
        Node::And(a, b) => Ok(Value::Bool(to_bool(&eval(a, s)?)? && to_bool(&eval(b, s)?)?)),
        Node::Or(a, b) => Ok(Value::Bool(to_bool(&eval(a, s)?)? || to_bool(&eval(b, s)?)?)),
        Node::Cond(c, yes, no) => {
            if to_bool(&eval(c, s)?)? {
                eval(yes, s)
            } else {
                eval(no, s)
            }
        }
        Node::Binary(op, a, b) => binary(*op, &eval(a, s)?, &eval(b, s)?),
    }
}

/// `base[index]`, kept out of line so that the hot recursion stays small.
#[inline(never)]
fn index_node<'a>(base: &'a Node, index: &'a Node, s: &Scope<'a>) -> EvalResult<'a> {
    let base = eval(base, s)?;
    let index = eval(index, s)?;
    index_value(base, &index)
}

/// Method and function calls, out of line: they collect their arguments.
#[inline(never)]
fn call_node<'a>(node: &'a Node, s: &Scope<'a>) -> EvalResult<'a> {
    match node {
        Node::Method(base, m, args, re) => {
            let base = eval(base, s)?;
            let args = args.iter().map(|a| eval(a, s)).collect::<Result<Vec<_>, _>>()?;
            crate::methods::call(base, *m, args, re.as_deref())
        }
        Node::Call(f, args, re) => {
            let args = args.iter().map(|a| eval(a, s)).collect::<Result<Vec<_>, _>>()?;
            crate::functions::call(*f, args, re.as_deref())
        }
        _ => err("not a call"),
    }
}

fn request_access<'a>(a: &ReqAccess, r: &'a gatehouse_core::Request) -> Value<'a> {
    match a {
        ReqAccess::Method => Value::Str(Cow::Borrowed(r.method().as_str())),
        ReqAccess::Uri(part) => crate::scope::uri_part(r.uri(), *part),
        ReqAccess::Header(name) => crate::scope::header_values(r.headers(), name),
        ReqAccess::HeaderFirst(name) => {
            r.headers().get(name).map_or(Value::Null, |v| Value::Str(String::from_utf8_lossy(v.as_bytes())))
        }
    }
}

fn lit(l: &Lit) -> Value<'_> {
    match l {
        Lit::Null => Value::Null,
        Lit::Bool(b) => Value::Bool(*b),
        Lit::Int(i) => Value::Int(*i),
        Lit::Float(f) => Value::Float(*f),
        Lit::Str(s) => Value::Str(Cow::Borrowed(s)),
        Lit::Json(j) => Value::from_json_ref(j),
    }
}

fn root<'a>(r: Root, s: &Scope<'a>) -> Value<'a> {
    match r {
        Root::Request => s.request.map_or(Value::Null, |r| Value::Obj(Obj::Request(r, s.body_wanted))),
        Root::Response => s.response.map_or(Value::Null, |r| Value::Obj(Obj::Response(r))),
        Root::Attributes => Value::Obj(Obj::Map(&s.cx.attributes)),
        Root::Session => Value::Obj(Obj::Map(s.cx.session.data())),
        Root::Contexts => Value::Obj(Obj::Contexts(s.cx, s.request)),
        Root::Env => Value::Obj(Obj::Env),
        Root::System => Value::Obj(Obj::System),
        Root::Unknown => Value::Null,
    }
}

/// `base.key`: maps by key, objects by property; anything else has no properties (null).
pub(crate) fn property<'a>(base: Value<'a>, key: &str) -> Value<'a> {
    match base {
        Value::Obj(o) => o.get(key),
        Value::Json(serde_json::Value::Object(m)) => m.get(key).map_or(Value::Null, Value::from_json_ref),
        Value::Owned(serde_json::Value::Object(mut m)) => m.remove(key).map_or(Value::Null, Value::from_json),
        Value::Json(_) | Value::Owned(_) | Value::List(_) => match key.parse::<i64>() {
            Ok(i) => index_value(base, &Value::Int(i)).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        },
        _ => Value::Null,
    }
}

/// `base[index]`: lists by position, maps by key.
fn index_value<'a>(base: Value<'a>, index: &Value<'_>) -> EvalResult<'a> {
    let position = |len: usize| -> Result<Option<usize>, EvalError> {
        match to_number(index)? {
            Value::Int(i) if i >= 0 && (i as u64) < len as u64 => Ok(Some(i as usize)),
            Value::Int(_) => Ok(None),
            _ => err("a list index must be an integer"),
        }
    };
    match base {
        Value::Null => Ok(Value::Null),
        Value::List(mut items) => Ok(position(items.len())?.map_or(Value::Null, |i| items.swap_remove(i))),
        Value::Json(serde_json::Value::Array(a)) => {
            Ok(position(a.len())?.and_then(|i| a.get(i)).map_or(Value::Null, Value::from_json_ref))
        }
        Value::Owned(serde_json::Value::Array(mut a)) => {
            Ok(position(a.len())?.map_or(Value::Null, |i| Value::from_json(a.swap_remove(i))))
        }
        base => Ok(property(base, &index.to_text())),
    }
}

/// EL coercion to boolean: null is false, strings are `"true"` case-insensitively.
pub(crate) fn to_bool(v: &Value<'_>) -> Result<bool, EvalError> {
    match v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Str(s) => Ok(s.eq_ignore_ascii_case("true")),
        _ => err("cannot coerce to a boolean"),
    }
}

/// EL coercion to a number: null and "" are 0, strings are parsed.
pub(crate) fn to_number<'b>(v: &Value<'_>) -> Result<Value<'b>, EvalError> {
    match v {
        Value::Null => Ok(Value::Int(0)),
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::Str(s) => parse_number(s.trim()),
        _ => err("cannot coerce to a number"),
    }
}

fn parse_number<'b>(s: &str) -> Result<Value<'b>, EvalError> {
    if s.is_empty() {
        return Ok(Value::Int(0));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    s.parse::<f64>().map(Value::Float).or_else(|_| err(format!("'{s}' is not a number")))
}

fn is_float(v: &Value<'_>) -> bool {
    match v {
        Value::Float(_) => true,
        Value::Str(s) => s.contains(['.', 'e', 'E']),
        _ => false,
    }
}

fn as_f64(v: &Value<'_>) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

/// `empty x`: null, "", and empty lists and maps.
pub(crate) fn is_empty(v: &Value<'_>) -> bool {
    match v {
        Value::Null => true,
        Value::Str(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Json(j) => json_is_empty(j),
        Value::Owned(j) => json_is_empty(j),
        Value::Obj(o) => o.is_empty(),
        _ => false,
    }
}

fn json_is_empty(j: &serde_json::Value) -> bool {
    match j {
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn binary<'a>(op: BinOp, a: &Value<'_>, b: &Value<'_>) -> EvalResult<'a> {
    match op {
        BinOp::Eq => Ok(Value::Bool(equals(a, b)?)),
        BinOp::Ne => Ok(Value::Bool(!equals(a, b)?)),
        BinOp::Lt => Ok(Value::Bool(compare(a, b)? == Some(Ordering::Less))),
        BinOp::Gt => Ok(Value::Bool(compare(a, b)? == Some(Ordering::Greater))),
        BinOp::Le => Ok(Value::Bool(matches!(compare(a, b)?, Some(Ordering::Less | Ordering::Equal)))),
        BinOp::Ge => Ok(Value::Bool(matches!(compare(a, b)?, Some(Ordering::Greater | Ordering::Equal)))),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => arithmetic(op, a, b),
    }
}

fn arithmetic<'a>(op: BinOp, a: &Value<'_>, b: &Value<'_>) -> EvalResult<'a> {
    if a.is_null() && b.is_null() {
        return Ok(Value::Int(0));
    }
    let (x, y) = (to_number(a)?, to_number(b)?);
    let float = op == BinOp::Div || is_float(a) || is_float(b) || is_float(&x) || is_float(&y);
    if float {
        let (x, y) = (as_f64(&x), as_f64(&y));
        return Ok(Value::Float(match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
            _ => x % y,
        }));
    }
    let (Value::Int(x), Value::Int(y)) = (x, y) else {
        return err("not a number");
    };
    Ok(Value::Int(match op {
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
        BinOp::Mul => x.wrapping_mul(y),
        _ => {
            if y == 0 {
                return err("division by zero");
            }
            x.wrapping_rem(y)
        }
    }))
}

/// EL equality: numbers numerically, then booleans, then strings, else structurally.
pub(crate) fn equals(a: &Value<'_>, b: &Value<'_>) -> Result<bool, EvalError> {
    use Value as V;
    match (a, b) {
        (V::Null, V::Null) => Ok(true),
        (V::Null, _) | (_, V::Null) => Ok(false),
        (V::Str(x), V::Str(y)) => Ok(x == y),
        (V::Float(_), _) | (_, V::Float(_)) => Ok(as_f64(&to_number(a)?) == as_f64(&to_number(b)?)),
        (V::Int(_), _) | (_, V::Int(_)) => match (to_number(a)?, to_number(b)?) {
            (V::Int(x), V::Int(y)) => Ok(x == y),
            (x, y) => Ok(as_f64(&x) == as_f64(&y)),
        },
        (V::Bool(_), _) | (_, V::Bool(_)) => Ok(to_bool(a)? == to_bool(b)?),
        (V::Str(_), _) | (_, V::Str(_)) => Ok(a.to_text() == b.to_text()),
        _ => Ok(a.to_json() == b.to_json()),
    }
}

/// EL ordering: `None` when either side is null (every comparison is then false).
fn compare(a: &Value<'_>, b: &Value<'_>) -> Result<Option<Ordering>, EvalError> {
    use Value as V;
    match (a, b) {
        (V::Null, _) | (_, V::Null) => Ok(None),
        (V::Str(x), V::Str(y)) => Ok(Some(x.cmp(y))),
        (V::Float(_) | V::Int(_), _) | (_, V::Float(_) | V::Int(_)) => match (to_number(a)?, to_number(b)?) {
            (V::Int(x), V::Int(y)) => Ok(Some(x.cmp(&y))),
            (x, y) => Ok(as_f64(&x).partial_cmp(&as_f64(&y))),
        },
        _ => err("values are not comparable"),
    }
}
