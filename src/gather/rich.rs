//! Rich (boolean) dependencies as rpm ≥ 4.13 writes them: `(A and B)`,
//! `(A or B)`, `(A if B)`, `(A if B else C)`, `(A unless B)`,
//! `(A unless B else C)`, `(A with B)`, `(A without B)`, nestable, each operand a
//! plain or versioned dependency (`foo >= 1.0`) or another parenthesised
//! expression.

use crate::rpm::{Evr, EvrError, sense};

/// A simple dependency: a name, optionally compared with a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simple {
    pub name: String,
    /// rpm sense bits (LESS/GREATER/EQUAL); 0 when unversioned
    pub flags: u32,
    pub evr: Option<Evr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rich {
    Simple(Simple),
    And(Vec<Rich>),
    Or(Vec<Rich>),
    If {
        then: Box<Rich>,
        cond: Box<Rich>,
        otherwise: Option<Box<Rich>>,
    },
    Unless {
        then: Box<Rich>,
        cond: Box<Rich>,
        otherwise: Option<Box<Rich>>,
    },
    With(Vec<Rich>),
    Without(Box<Rich>, Box<Rich>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rich dependency {dep:?}: {reason}")]
pub struct RichError {
    pub dep: String,
    pub reason: String,
}

impl From<EvrError> for RichError {
    fn from(e: EvrError) -> Self {
        RichError {
            dep: e.evr.clone(),
            reason: e.to_string(),
        }
    }
}

fn op_flags(op: &str) -> Option<u32> {
    Some(match op {
        "<" => sense::LESS,
        "<=" => sense::LESS | sense::EQUAL,
        "=" | "==" => sense::EQUAL,
        ">=" => sense::GREATER | sense::EQUAL,
        ">" => sense::GREATER,
        _ => return None,
    })
}

/// Tokens: `(`, `)`, and words (names, operators, versions, keywords).
fn tokenize(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match c {
            '(' | ')' => {
                if let Some(st) = start.take() {
                    out.push(&s[st..i]);
                }
                out.push(&s[i..i + 1]);
            }
            c if c.is_whitespace() => {
                if let Some(st) = start.take() {
                    out.push(&s[st..i]);
                }
            }
            _ => {
                if start.is_none() {
                    start = Some(i);
                }
            }
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

struct Parser<'a> {
    toks: Vec<&'a str>,
    pos: usize,
    src: &'a str,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: impl Into<String>) -> RichError {
        RichError {
            dep: self.src.to_owned(),
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<&'a str> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    /// An operand: a parenthesised expression, or `name [op version]`. Names
    /// may themselves contain parentheses (`libfoo.so.1()(64bit)`): a `(` right
    /// after a name (no space in the source) belongs to the name.
    fn operand(&mut self) -> Result<Rich, RichError> {
        match self.peek() {
            Some("(") => self.group(),
            Some(")") | None => Err(self.err("expected a dependency")),
            Some(_) => {
                let name = self.name()?;
                if let Some(flags) = self.peek().and_then(op_flags) {
                    self.next();
                    let v = self.next().ok_or_else(|| self.err("expected a version"))?;
                    Ok(Rich::Simple(Simple {
                        name,
                        flags,
                        evr: Some(Evr::parse(v)?),
                    }))
                } else {
                    Ok(Rich::Simple(Simple {
                        name,
                        flags: 0,
                        evr: None,
                    }))
                }
            }
        }
    }

    fn name(&mut self) -> Result<String, RichError> {
        // rebuild the name from the source text: everything up to whitespace,
        // keeping parenthesised parts glued to it
        let first = self.next().ok_or_else(|| self.err("expected a name"))?;
        let start = first.as_ptr() as usize - self.src.as_ptr() as usize;
        let mut end = start + first.len();
        let bytes = self.src.as_bytes();
        while end < bytes.len() && bytes[end] == b'(' {
            let close = self.src[end..]
                .find(')')
                .ok_or_else(|| self.err("unbalanced parenthesis in a name"))?;
            end += close + 1;
            // skip the tokens we swallowed
            while let Some(t) = self.peek() {
                let at = t.as_ptr() as usize - self.src.as_ptr() as usize;
                if at < end {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            // a name part may follow the parenthesis directly
            while end < bytes.len()
                && !bytes[end].is_ascii_whitespace()
                && bytes[end] != b'('
                && bytes[end] != b')'
            {
                end += 1;
            }
        }
        Ok(self.src[start..end].to_owned())
    }

    fn group(&mut self) -> Result<Rich, RichError> {
        if self.next() != Some("(") {
            return Err(self.err("expected '('"));
        }
        let first = self.operand()?;
        let result = match self.peek() {
            Some(")") => first,
            Some(kw @ ("and" | "or" | "with")) => {
                let mut items = vec![first];
                while self.peek() == Some(kw) {
                    self.next();
                    items.push(self.operand()?);
                }
                match kw {
                    "and" => Rich::And(items),
                    "or" => Rich::Or(items),
                    _ => Rich::With(items),
                }
            }
            Some("without") => {
                self.next();
                Rich::Without(Box::new(first), Box::new(self.operand()?))
            }
            Some(kw @ ("if" | "unless")) => {
                self.next();
                let cond = Box::new(self.operand()?);
                let otherwise = if self.peek() == Some("else") {
                    self.next();
                    Some(Box::new(self.operand()?))
                } else {
                    None
                };
                let then = Box::new(first);
                if kw == "if" {
                    Rich::If {
                        then,
                        cond,
                        otherwise,
                    }
                } else {
                    Rich::Unless {
                        then,
                        cond,
                        otherwise,
                    }
                }
            }
            Some(t) => return Err(self.err(format!("unexpected {t:?}"))),
            None => return Err(self.err("missing ')'")),
        };
        if self.next() != Some(")") {
            return Err(self.err("missing ')'"));
        }
        Ok(result)
    }
}

/// Parse a rich dependency (the whole string, starting with `(`).
pub fn parse(dep: &str) -> Result<Rich, RichError> {
    let mut p = Parser {
        toks: tokenize(dep),
        pos: 0,
        src: dep,
    };
    let r = p.group()?;
    if p.pos != p.toks.len() {
        return Err(p.err("trailing text after the expression"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple(name: &str) -> Rich {
        Rich::Simple(Simple {
            name: name.into(),
            flags: 0,
            evr: None,
        })
    }

    #[test]
    fn parses_every_operator_with_versions_and_nesting() {
        assert_eq!(
            parse("(a or b)").unwrap(),
            Rich::Or(vec![simple("a"), simple("b")])
        );
        let r = parse("(foo >= 1.0-2 and (bar or baz < 2:3))").unwrap();
        let Rich::And(items) = r else { panic!("{r:?}") };
        assert_eq!(
            items[0],
            Rich::Simple(Simple {
                name: "foo".into(),
                flags: sense::GREATER | sense::EQUAL,
                evr: Some(Evr::parse("1.0-2").unwrap())
            })
        );
        assert!(matches!(&items[1], Rich::Or(v) if v.len() == 2));
        assert!(matches!(
            parse("(a if b else c)").unwrap(),
            Rich::If {
                otherwise: Some(_),
                ..
            }
        ));
        assert!(matches!(
            parse("(a unless b)").unwrap(),
            Rich::Unless {
                otherwise: None,
                ..
            }
        ));
        assert!(matches!(parse("(a with b with c)").unwrap(), Rich::With(v) if v.len() == 3));
        assert!(matches!(parse("(a without b)").unwrap(), Rich::Without(..)));
    }

    #[test]
    fn names_keep_their_own_parentheses() {
        assert_eq!(
            parse("(libfoo.so.1()(64bit) or python3dist(requests) >= 2)").unwrap(),
            Rich::Or(vec![
                simple("libfoo.so.1()(64bit)"),
                Rich::Simple(Simple {
                    name: "python3dist(requests)".into(),
                    flags: sense::GREATER | sense::EQUAL,
                    evr: Some(Evr::parse("2").unwrap())
                })
            ])
        );
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for bad in ["(a or", "(a frob b)", "(a or b) c", "(", "(a >= )"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
