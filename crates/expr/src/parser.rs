//! The parser: text to [`Expr`], within the limits on length, depth and size. The grammar is in the crate docs.

use std::str::FromStr;

use crate::ast::{CompareOp, Expr, Position};
use crate::error::ExprError;
use crate::{MAX_DEPTH, MAX_EXPRESSION_LEN, MAX_NODES};

impl Expr {
    /// Parses an expression. Errors name the 1-based character position and what was expected there.
    pub fn parse(input: &str) -> Result<Expr, ExprError> {
        let length = input.chars().count();
        if length > MAX_EXPRESSION_LEN {
            return Err(ExprError::TooLong { length, max: MAX_EXPRESSION_LEN });
        }
        let mut parser = Parser { chars: input.chars().collect(), pos: 0, nodes: 0 };
        parser.skip_ws();
        let expr = parser.expression(1)?;
        parser.skip_ws();
        if parser.pos < parser.chars.len() {
            let expected = if matches!(expr, Expr::Compare { .. }) && parser.peek_op().is_some() {
                "the end of the expression (comparisons do not chain: nest IIF calls instead)"
            } else {
                "the end of the expression"
            };
            return Err(parser.unexpected(expected));
        }
        Ok(expr)
    }
}

impl FromStr for Expr {
    type Err = ExprError;

    fn from_str(s: &str) -> Result<Expr, ExprError> {
        Expr::parse(s)
    }
}

/// Characters that end a bare constant or a function name.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '"' | '=' | '<' | '>')
}

/// A function name: an ASCII letter or `_`, then ASCII letters, digits and `_`.
pub(crate) fn is_function_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An attribute name: not empty, no brackets, no control characters.
pub(crate) fn is_attribute_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c != '[' && c != ']' && !c.is_control())
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    nodes: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The 1-based character position of the next character.
    fn position(&self) -> usize {
        self.pos + 1
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("`{c}`"),
            None => "the end of the expression".to_string(),
        }
    }

    fn unexpected(&self, expected: &str) -> ExprError {
        ExprError::Syntax { position: self.position(), expected: expected.to_string(), found: self.found() }
    }

    fn node(&mut self, position: usize, depth: usize) -> Result<Position, ExprError> {
        if depth > MAX_DEPTH {
            return Err(ExprError::TooDeep { position: Some(position), max: MAX_DEPTH });
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(ExprError::TooManyNodes { max: MAX_NODES });
        }
        Ok(Position(Some(position)))
    }

    /// The comparison operator at the cursor, if any, without consuming it.
    fn peek_op(&self) -> Option<CompareOp> {
        let next = self.chars.get(self.pos + 1).copied();
        match (self.peek()?, next) {
            ('<', Some('>')) => Some(CompareOp::Ne),
            ('<', Some('=')) => Some(CompareOp::Le),
            ('>', Some('=')) => Some(CompareOp::Ge),
            ('<', _) => Some(CompareOp::Lt),
            ('>', _) => Some(CompareOp::Gt),
            ('=', _) => Some(CompareOp::Eq),
            _ => None,
        }
    }

    /// `expression = operand [compareOp operand]`
    fn expression(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let start = self.position();
        let left = self.operand(depth)?;
        self.skip_ws();
        let Some(op) = self.peek_op() else { return Ok(left) };
        // The comparison is the parent of `left`, which was parsed one level too shallow: count it again.
        if left.depth() + depth > MAX_DEPTH {
            return Err(ExprError::TooDeep { position: Some(start), max: MAX_DEPTH });
        }
        let at = self.node(start, depth)?;
        self.pos += op.symbol().chars().count();
        self.skip_ws();
        let right = self.operand(depth + 1)?;
        Ok(Expr::Compare { op, left: Box::new(left), right: Box::new(right), at })
    }

    /// `operand = attribute / string / call / bare`
    fn operand(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let start = self.position();
        match self.peek() {
            Some('[') => self.attribute(depth),
            Some('"') => self.string(depth),
            Some(c) if !is_delimiter(c) => {
                let begin = self.pos;
                while self.peek().is_some_and(|c| !is_delimiter(c)) {
                    self.pos += 1;
                }
                let token: String = self.chars[begin..self.pos].iter().collect();
                let after_token = self.pos;
                self.skip_ws();
                if self.peek() == Some('(') {
                    if !is_function_name(&token) {
                        return Err(ExprError::Syntax {
                            position: start,
                            expected: "a function name (letters, digits and `_`, starting with a letter)".to_string(),
                            found: format!("`{token}`"),
                        });
                    }
                    self.call(token, start, depth)
                } else {
                    self.pos = after_token;
                    Ok(Expr::Constant { value: token, at: self.node(start, depth)? })
                }
            }
            _ => Err(self.unexpected("an attribute `[name]`, a string `\"...\"`, a function call or a constant")),
        }
    }

    fn attribute(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let start = self.position();
        self.pos += 1;
        let begin = self.pos;
        while self.peek().is_some_and(|c| c != ']' && c != '[' && !c.is_control()) {
            self.pos += 1;
        }
        if self.pos == begin {
            return Err(self.unexpected("an attribute name"));
        }
        if self.peek() != Some(']') {
            return Err(self.unexpected("`]` closing the attribute name"));
        }
        let name: String = self.chars[begin..self.pos].iter().collect();
        self.pos += 1;
        Ok(Expr::Attribute { name, at: self.node(start, depth)? })
    }

    /// A double-quoted string. `\` escapes `\` and `"`; before any other character it stands for itself, so that
    /// `"\d"` and `"\\d"` both mean the two characters `\d` (regular expressions are written either way).
    fn string(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let start = self.position();
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ExprError::Syntax {
                        position: start,
                        expected: "a string closed by `\"`".to_string(),
                        found: "the end of the expression".to_string(),
                    });
                }
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    match self.chars.get(self.pos + 1).copied() {
                        Some(c @ ('\\' | '"')) => {
                            value.push(c);
                            self.pos += 2;
                        }
                        _ => {
                            value.push('\\');
                            self.pos += 1;
                        }
                    };
                }
                Some(c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(Expr::Constant { value, at: self.node(start, depth)? })
    }

    /// `call = name "(" [slot *("," slot)] ")"`, the cursor on `(`.
    fn call(&mut self, function: String, start: usize, depth: usize) -> Result<Expr, ExprError> {
        let at = self.node(start, depth)?;
        self.pos += 1;
        self.skip_ws();
        let mut args = Vec::new();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(Expr::Call { function, args, at });
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(',' | ')') => args.push(None),
                _ => args.push(Some(self.expression(depth + 1)?)),
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(Expr::Call { function, args, at });
                }
                _ => return Err(self.unexpected("`,` or `)`")),
            }
        }
    }
}
