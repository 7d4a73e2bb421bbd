//! Turns the tokens of one `${...}` into a [`Node`] tree.
//!
//! Precedence, lowest first (EL 2.2): `?:`, `|| or`, `&& and`, `== != eq ne`,
//! `< > <= >= lt gt le ge`, `+ -`, `* / div % mod`, unary `- ! not empty`, then `.` `[]` `()`.

use std::sync::Arc;

use crate::ast::{check_arity, compile_regex, fold_request_access, BinOp, Func, Lit, Method, Node, Root};
use crate::lexer::Tok;
use crate::{ParseEnv, ParseError};

/// How deeply parentheses, calls, conditionals and unary operators may nest.
const MAX_NESTING: usize = 64;
/// How deep the parsed tree may be (chains such as `a + b + c` or `x.y.z` add a level each).
const MAX_TREE_DEPTH: usize = 256;

pub(crate) struct Parser<'t, 'e> {
    toks: &'t [(Tok, usize)],
    pos: usize,
    env: &'e ParseEnv<'e>,
    nesting: usize,
    pub(crate) warnings: Vec<String>,
}

impl<'t, 'e> Parser<'t, 'e> {
    pub(crate) fn new(toks: &'t [(Tok, usize)], env: &'e ParseEnv<'e>) -> Self {
        Parser { toks, pos: 0, env, nesting: 0, warnings: Vec::new() }
    }

    /// Parses a whole expression and checks that the closing brace follows.
    pub(crate) fn parse_all(&mut self) -> Result<Node, ParseError> {
        let node = self.expr()?;
        match self.peek() {
            Tok::End if node.depth() > MAX_TREE_DEPTH => {
                Err(ParseError::new(0, format!("expression nested too deeply (more than {MAX_TREE_DEPTH} levels)")))
            }
            Tok::End => Ok(node),
            t => Err(self.err(format!("unexpected {} after the expression", describe(t)))),
        }
    }

    /// Enters one level of nesting; every recursive descent goes through here.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.err(format!("expression nested too deeply (more than {MAX_NESTING} levels)")));
        }
        Ok(())
    }

    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::End, |(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(0, |(_, o)| *o)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), ParseError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.err(format!("expected {what}, found {}", describe(self.peek()))))
        }
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.offset(), msg)
    }

    fn expr(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        let node = self.conditional();
        self.nesting -= 1;
        node
    }

    fn conditional(&mut self) -> Result<Node, ParseError> {
        let cond = self.or()?;
        if self.eat(&Tok::Question) {
            let yes = self.expr()?;
            self.expect(&Tok::Colon, "':' in a conditional expression")?;
            let no = self.expr()?;
            return Ok(Node::Cond(Box::new(cond), Box::new(yes), Box::new(no)));
        }
        Ok(cond)
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let mut left = self.and()?;
        while self.eat(&Tok::Or) {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut left = self.equality()?;
        while self.eat(&Tok::And) {
            left = Node::And(Box::new(left), Box::new(self.equality()?));
        }
        Ok(left)
    }

    fn binary_level(
        &mut self,
        ops: &[(Tok, BinOp)],
        next: fn(&mut Self) -> Result<Node, ParseError>,
    ) -> Result<Node, ParseError> {
        let mut left = next(self)?;
        'outer: loop {
            for (tok, op) in ops {
                if self.eat(tok) {
                    left = Node::Binary(*op, Box::new(left), Box::new(next(self)?));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn equality(&mut self) -> Result<Node, ParseError> {
        self.binary_level(&[(Tok::Eq, BinOp::Eq), (Tok::Ne, BinOp::Ne)], Self::relational)
    }

    fn relational(&mut self) -> Result<Node, ParseError> {
        self.binary_level(
            &[(Tok::Le, BinOp::Le), (Tok::Ge, BinOp::Ge), (Tok::Lt, BinOp::Lt), (Tok::Gt, BinOp::Gt)],
            Self::additive,
        )
    }

    fn additive(&mut self) -> Result<Node, ParseError> {
        self.binary_level(&[(Tok::Plus, BinOp::Add), (Tok::Minus, BinOp::Sub)], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Node, ParseError> {
        self.binary_level(&[(Tok::Star, BinOp::Mul), (Tok::Slash, BinOp::Div), (Tok::Percent, BinOp::Rem)], Self::unary)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        let node = self.unary_inner();
        self.nesting -= 1;
        node
    }

    fn unary_inner(&mut self) -> Result<Node, ParseError> {
        match self.peek() {
            Tok::Minus => {
                self.pos += 1;
                Ok(Node::Neg(Box::new(self.unary()?)))
            }
            Tok::Not => {
                self.pos += 1;
                Ok(Node::Not(Box::new(self.unary()?)))
            }
            Tok::Empty => {
                self.pos += 1;
                Ok(Node::Empty(Box::new(self.unary()?)))
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Node, ParseError> {
        let mut node = self.primary()?;
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.pos += 1;
                    let at = self.offset();
                    let name = match self.bump() {
                        Tok::Ident(n) => n,
                        // Keywords are fine as property names after a dot (`x.empty`).
                        t => keyword_text(&t)
                            .ok_or_else(|| ParseError::new(at, "expected a property name after '.'"))?
                            .to_string(),
                    };
                    if self.peek() == &Tok::LParen {
                        let method = Method::from_name(&name)
                            .ok_or_else(|| ParseError::new(at, format!("unknown method '{name}'")))?;
                        let args = self.args()?;
                        check_arity(&name, method.arity(), args.len()).map_err(|m| ParseError::new(at, m))?;
                        let re = literal_regex(method.regex_arg(), &args, at)?;
                        node = Node::Method(Box::new(node), method, args, re);
                    } else {
                        node = fold_request_access(Node::Prop(Box::new(node), name.into()));
                    }
                }
                Tok::LBracket => {
                    self.pos += 1;
                    let index = self.expr()?;
                    self.expect(&Tok::RBracket, "']'")?;
                    node = fold_request_access(match index {
                        Node::Lit(Lit::Str(s)) => Node::Prop(Box::new(node), s),
                        index => Node::Index(Box::new(node), Box::new(index)),
                    });
                }
                _ => return Ok(node),
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Node>, ParseError> {
        self.expect(&Tok::LParen, "'('")?;
        let mut args = Vec::new();
        if self.eat(&Tok::RParen) {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(&Tok::RParen) {
                return Ok(args);
            }
            self.expect(&Tok::Comma, "',' or ')'")?;
        }
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let at = self.offset();
        match self.bump() {
            Tok::Str(s) => Ok(Node::Lit(Lit::Str(s.into()))),
            Tok::Int(i) => Ok(Node::Lit(Lit::Int(i))),
            Tok::Float(f) => Ok(Node::Lit(Lit::Float(f))),
            Tok::True => Ok(Node::Lit(Lit::Bool(true))),
            Tok::False => Ok(Node::Lit(Lit::Bool(false))),
            Tok::Null => Ok(Node::Lit(Lit::Null)),
            Tok::LParen => {
                let inner = self.expr()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(inner)
            }
            Tok::Ident(name) => {
                if self.peek() == &Tok::LParen {
                    let func = Func::from_name(&name)
                        .ok_or_else(|| ParseError::new(at, format!("unknown function '{name}'")))?;
                    let args = self.args()?;
                    check_arity(&name, func.arity(), args.len()).map_err(|m| ParseError::new(at, m))?;
                    if matches!(func, Func::Read | Func::ReadProperties) {
                        return crate::files::read_at_load(func, &args, self.env.files)
                            .map_err(|m| ParseError::new(at, m));
                    }
                    let re = literal_regex(func.regex_arg(), &args, at)?;
                    return Ok(Node::Call(func, args, re));
                }
                Ok(self.root(&name))
            }
            t => Err(ParseError::new(at, format!("unexpected {}", describe(&t)))),
        }
    }

    fn root(&mut self, name: &str) -> Node {
        let root = match name {
            "request" => Root::Request,
            "response" => Root::Response,
            "attributes" => Root::Attributes,
            "session" => Root::Session,
            "contexts" => Root::Contexts,
            "env" => Root::Env,
            "system" => Root::System,
            _ => {
                if let Some(v) = self.env.constants.and_then(|c| c.get(name)) {
                    return Node::Lit(crate::value::lit_from_json(v));
                }
                self.warnings.push(format!("unknown name '{name}' evaluates to null"));
                Root::Unknown
            }
        };
        Node::Root(root)
    }
}

/// Compiles the regular-expression argument at compile time when it is a string literal.
fn literal_regex(
    spec: Option<(usize, bool)>,
    args: &[Node],
    at: usize,
) -> Result<Option<Arc<crate::pattern::Regex>>, ParseError> {
    let Some((index, whole)) = spec else { return Ok(None) };
    match args.get(index) {
        Some(Node::Lit(Lit::Str(p))) => compile_regex(p, whole)
            .map(|r| Some(Arc::new(r)))
            .map_err(|e| ParseError::new(at, format!("invalid regular expression '{p}': {}", first_line(&e)))),
        _ => Ok(None),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

fn keyword_text(t: &Tok) -> Option<&'static str> {
    Some(match t {
        Tok::And => "and",
        Tok::Or => "or",
        Tok::Not => "not",
        Tok::Eq => "eq",
        Tok::Ne => "ne",
        Tok::Lt => "lt",
        Tok::Gt => "gt",
        Tok::Le => "le",
        Tok::Ge => "ge",
        Tok::Empty => "empty",
        Tok::True => "true",
        Tok::False => "false",
        Tok::Null => "null",
        _ => return None,
    })
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(n) => format!("name '{n}'"),
        Tok::Str(_) => "string literal".into(),
        Tok::Int(_) | Tok::Float(_) => "number".into(),
        Tok::End => "end of expression".into(),
        t => format!("'{}'", symbol(t)),
    }
}

fn symbol(t: &Tok) -> &'static str {
    match t {
        Tok::Dot => ".",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Comma => ",",
        Tok::Question => "?",
        Tok::Colon => ":",
        Tok::Not => "!",
        Tok::Eq => "==",
        Tok::Ne => "!=",
        Tok::Lt => "<",
        Tok::Gt => ">",
        Tok::Le => "<=",
        Tok::Ge => ">=",
        Tok::And => "&&",
        Tok::Or => "||",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Empty => "empty",
        Tok::True => "true",
        Tok::False => "false",
        Tok::Null => "null",
        _ => "?",
    }
}
