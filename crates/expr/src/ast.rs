//! The parsed form of an expression. Names are resolved at parse time: roots, functions and
//! methods are enums, literal regular expressions are compiled once.

use std::sync::Arc;

use crate::pattern::Regex;

/// An expression node.
#[derive(Debug)]
pub(crate) enum Node {
    Lit(Lit),
    Root(Root),
    /// A request property path folded at parse time (`request.uri.path`, `request.method`,
    /// `request.headers['X'][0]`): one step instead of a walk through generic properties.
    Req(ReqAccess),
    Prop(Box<Node>, Box<str>),
    Index(Box<Node>, Box<Node>),
    Method(Box<Node>, Method, Vec<Node>, Option<Arc<Regex>>),
    Call(Func, Vec<Node>, Option<Arc<Regex>>),
    Neg(Box<Node>),
    Not(Box<Node>),
    Empty(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
}

/// A literal, including constants folded from route properties.
#[derive(Debug)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    Json(serde_json::Value),
}

/// The top-level names an expression can start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Request,
    Response,
    Attributes,
    Session,
    Contexts,
    Env,
    System,
    /// A name nothing defines: evaluates to null.
    Unknown,
}

/// Request properties read in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReqAccess {
    Method,
    /// `request.uri.<part>`.
    Uri(crate::scope::UriPart),
    /// All values of a header, as a list.
    Header(http::HeaderName),
    /// The first value of a header.
    HeaderFirst(http::HeaderName),
}

impl ReqAccess {
    /// The property path below `request` this access stands for.
    pub(crate) fn path(&self) -> Vec<String> {
        match self {
            ReqAccess::Method => vec!["method".into()],
            ReqAccess::Uri(part) => vec!["uri".into(), part.name().into()],
            ReqAccess::Header(n) => vec!["headers".into(), n.as_str().to_string()],
            ReqAccess::HeaderFirst(n) => vec!["headers".into(), n.as_str().to_string(), "0".into()],
        }
    }
}

/// Binary operators other than the short-circuit ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name { $($variant),* }
        impl $name {
            pub(crate) fn from_name(name: &str) -> Option<Self> {
                match name { $($text => Some(Self::$variant),)* _ => None }
            }
            #[allow(dead_code)]
            pub(crate) fn name(self) -> &'static str {
                match self { $(Self::$variant => $text,)* }
            }
        }
    };
}

named_enum!(
    /// Built-in functions, called as `name(args)`.
    Func {
        Array = "array", Bool = "bool", Boolean = "boolean", Contains = "contains", EscapeJson = "escapeJson",
        Read = "read", ReadProperties = "readProperties", DecodeBase64 = "decodeBase64",
        DecodeBase64Url = "decodeBase64url", EncodeBase64 = "encodeBase64", EncodeBase64Url = "encodeBase64url",
        Find = "find", FindGroups = "findGroups", IndexOf = "indexOf", Integer = "integer",
        IntegerWithRadix = "integerWithRadix", Join = "join", KeyMatch = "keyMatch", Length = "length",
        Matches = "matches", MatchesWithRegex = "matchesWithRegex", MatchingGroups = "matchingGroups",
        Split = "split", ToLowerCase = "toLowerCase", ToString = "toString", ToUpperCase = "toUpperCase",
        Trim = "trim", UrlDecode = "urlDecode", UrlEncode = "urlEncode",
        UrlEncodeQueryParameterNameOrValue = "urlEncodeQueryParameterNameOrValue",
        UrlDecodeQueryParameterNameOrValue = "urlDecodeQueryParameterNameOrValue",
        UrlEncodePathElement = "urlEncodePathElement", UrlDecodePathElement = "urlDecodePathElement",
        FormEncodeParameterNameOrValue = "formEncodeParameterNameOrValue",
        FormDecodeParameterNameOrValue = "formDecodeParameterNameOrValue",
    }
);

named_enum!(
    /// Methods callable on values, as `value.name(args)`.
    Method {
        Concat = "concat", Length = "length", ToLowerCase = "toLowerCase", ToUpperCase = "toUpperCase",
        StartsWith = "startsWith", EndsWith = "endsWith", Contains = "contains", Substring = "substring",
        Split = "split", EqualsIgnoreCase = "equalsIgnoreCase", Equals = "equals", Trim = "trim",
        IndexOf = "indexOf", LastIndexOf = "lastIndexOf", Replace = "replace", ReplaceAll = "replaceAll",
        Matches = "matches", IsEmpty = "isEmpty", ToString = "toString", CharAt = "charAt",
        Size = "size", Get = "get", GetFirst = "getFirst", ContainsKey = "containsKey",
        IsSuccessful = "isSuccessful", IsClientError = "isClientError", IsServerError = "isServerError",
        IsRedirection = "isRedirection", IsInformational = "isInformational",
    }
);

impl Func {
    /// How many arguments the function takes: at least the first, at most the second.
    pub(crate) fn arity(self) -> (usize, usize) {
        match self {
            Func::Array => (0, usize::MAX),
            Func::Contains
            | Func::Find
            | Func::FindGroups
            | Func::IndexOf
            | Func::IntegerWithRadix
            | Func::Join
            | Func::KeyMatch
            | Func::Matches
            | Func::MatchesWithRegex
            | Func::MatchingGroups
            | Func::Split => (2, 2),
            _ => (1, 1),
        }
    }

    /// Which argument, if any, is a regular expression, and whether it must match whole.
    pub(crate) fn regex_arg(self) -> Option<(usize, bool)> {
        match self {
            Func::Find | Func::Matches | Func::MatchingGroups | Func::FindGroups | Func::Split => Some((1, false)),
            Func::KeyMatch | Func::MatchesWithRegex => Some((1, true)),
            _ => None,
        }
    }
}

impl Method {
    /// How many arguments the method takes: at least the first, at most the second (Java's
    /// overload `substring(begin[, end])`).
    pub(crate) fn arity(self) -> (usize, usize) {
        match self {
            Method::Length
            | Method::ToLowerCase
            | Method::ToUpperCase
            | Method::Trim
            | Method::IsEmpty
            | Method::ToString
            | Method::Size
            | Method::IsSuccessful
            | Method::IsClientError
            | Method::IsServerError
            | Method::IsRedirection
            | Method::IsInformational => (0, 0),
            Method::Substring => (1, 2),
            Method::Replace | Method::ReplaceAll => (2, 2),
            _ => (1, 1),
        }
    }

    /// Which argument, if any, is a regular expression, and whether it must match whole.
    pub(crate) fn regex_arg(self) -> Option<(usize, bool)> {
        match self {
            Method::Split | Method::ReplaceAll => Some((0, false)),
            Method::Matches => Some((0, true)),
            _ => None,
        }
    }
}

impl Node {
    /// The nodes directly below this one.
    fn children(&self) -> Vec<&Node> {
        match self {
            Node::Lit(_) | Node::Root(_) | Node::Req(_) => Vec::new(),
            Node::Prop(a, _) | Node::Neg(a) | Node::Not(a) | Node::Empty(a) => vec![a],
            Node::Index(a, b) | Node::Binary(_, a, b) | Node::And(a, b) | Node::Or(a, b) => vec![a, b],
            Node::Method(a, _, args, _) => std::iter::once(&**a).chain(args).collect(),
            Node::Call(_, args, _) => args.iter().collect(),
            Node::Cond(a, b, c) => vec![a, b, c],
        }
    }

    /// Calls `f` on this node and every node below it (without recursion).
    pub(crate) fn walk(&self, f: &mut dyn FnMut(&Node)) {
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            f(node);
            stack.extend(node.children());
        }
    }

    /// The depth of the tree below this node (1 for a leaf), computed without recursion so
    /// that it is safe on any tree the parser built.
    pub(crate) fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1)];
        while let Some((node, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            stack.extend(node.children().into_iter().map(|c| (c, depth + 1)));
        }
        deepest
    }
}

/// Compiles a regular expression, anchored at both ends when `whole` is set.
pub(crate) fn compile_regex(pattern: &str, whole: bool) -> Result<Regex, String> {
    if whole {
        Regex::new(&format!("^(?:{pattern})$"))
    } else {
        Regex::new(pattern)
    }
}

/// Folds `request.<...>` property paths that conditions use most into one [`Node::Req`].
pub(crate) fn fold_request_access(node: Node) -> Node {
    let access = match &node {
        Node::Prop(base, key) => match (&**base, &**key) {
            (Node::Root(Root::Request), "method") => Some(ReqAccess::Method),
            (Node::Prop(b, k), key) if matches!(&**b, Node::Root(Root::Request)) && &**k == "uri" => {
                crate::scope::UriPart::from_name(key).map(ReqAccess::Uri)
            }
            (Node::Prop(b, k), name) if matches!(&**b, Node::Root(Root::Request)) && &**k == "headers" => {
                http::HeaderName::from_bytes(name.as_bytes()).ok().map(ReqAccess::Header)
            }
            _ => None,
        },
        Node::Index(base, index) => match (&**base, &**index) {
            (Node::Req(ReqAccess::Header(name)), Node::Lit(Lit::Int(0))) => Some(ReqAccess::HeaderFirst(name.clone())),
            _ => None,
        },
        _ => None,
    };
    access.map_or(node, Node::Req)
}

/// Checks a call's argument count against `(min, max)`; the message names the call.
pub(crate) fn check_arity(name: &str, (min, max): (usize, usize), got: usize) -> Result<(), String> {
    if (min..=max).contains(&got) {
        return Ok(());
    }
    let wanted = match (min, max) {
        (n, m) if n == m => format!("{n} argument{}", if n == 1 { "" } else { "s" }),
        (n, usize::MAX) => format!("at least {n} arguments"),
        (n, m) => format!("{n} to {m} arguments"),
    };
    Err(format!("{name}() takes {wanted}, not {got}"))
}
