//! What the tests share: a minimal expression checker standing in for the expression language.

use idplane_provisioning::schema::{ExpressionChecker, ExpressionNames, ExpressionSyntaxError};

/// Understands `[attribute]`, `"constant"`, `Function(argument, , argument)` and nothing else; knows the functions
/// the templates use and a few more.
pub struct MiniChecker;

const FUNCTIONS: &[&str] = &["Switch", "Join", "Not", "ToLower", "Append", "IIF", "IsPresent"];

impl ExpressionChecker for MiniChecker {
    fn check(&self, expression: &str) -> Result<ExpressionNames, ExpressionSyntaxError> {
        let mut parser = Parser { chars: expression.chars().collect(), at: 0, names: ExpressionNames::default() };
        parser.expression()?;
        parser.skip_spaces();
        if parser.at < parser.chars.len() {
            return Err(parser.error("unexpected text after the expression"));
        }
        Ok(parser.names)
    }

    fn knows_function(&self, name: &str) -> bool {
        FUNCTIONS.contains(&name)
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    names: ExpressionNames,
}

impl Parser {
    fn error(&self, message: &str) -> ExpressionSyntaxError {
        ExpressionSyntaxError { position: self.at, message: message.to_owned() }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn expression(&mut self) -> Result<(), ExpressionSyntaxError> {
        self.skip_spaces();
        match self.peek() {
            Some('[') => {
                self.at += 1;
                let start = self.at;
                while self.peek().is_some_and(|c| c != ']') {
                    self.at += 1;
                }
                if self.peek().is_none() {
                    return Err(self.error("missing ']'"));
                }
                self.names.attributes.push(self.chars[start..self.at].iter().collect());
                self.at += 1;
                Ok(())
            }
            Some('"') => {
                self.at += 1;
                while let Some(c) = self.peek() {
                    self.at += 1;
                    match c {
                        '\\' => self.at += 1,
                        '"' => return Ok(()),
                        _ => {}
                    }
                }
                Err(self.error("unterminated string"))
            }
            Some(c) if c.is_alphabetic() => {
                let start = self.at;
                while self.peek().is_some_and(char::is_alphanumeric) {
                    self.at += 1;
                }
                self.names.functions.push(self.chars[start..self.at].iter().collect());
                self.skip_spaces();
                if self.peek() != Some('(') {
                    return Err(self.error("expected '('"));
                }
                self.at += 1;
                self.arguments()
            }
            _ => Err(self.error("expected an attribute, a string or a function call")),
        }
    }

    fn arguments(&mut self) -> Result<(), ExpressionSyntaxError> {
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(')') => {
                    self.at += 1;
                    return Ok(());
                }
                // An empty argument slot.
                Some(',') => self.at += 1,
                None => return Err(self.error("missing ')'")),
                Some(_) => {
                    self.expression()?;
                    self.skip_spaces();
                    match self.peek() {
                        Some(',') => self.at += 1,
                        Some(')') => {}
                        _ => return Err(self.error("expected ',' or ')'")),
                    }
                }
            }
        }
    }
}

#[test]
fn the_mini_checker_reads_what_the_templates_write() {
    let names = MiniChecker.check("Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")").unwrap();
    assert_eq!(names.attributes, ["IsSoftDeleted"]);
    assert_eq!(names.functions, ["Switch"]);
    let names = MiniChecker.check("Join(\" \", [givenName], ToLower([surname]))").unwrap();
    assert_eq!(names.attributes, ["givenName", "surname"]);
    assert_eq!(names.functions, ["Join", "ToLower"]);
    assert_eq!(MiniChecker.check("Join(\" \", [givenName]").unwrap_err().position, 21);
}
