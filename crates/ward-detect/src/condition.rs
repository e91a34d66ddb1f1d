//! The Sigma condition language: `and`, `or`, `not`, parentheses,
//! `1 of`, `all of`, `N of` over identifiers, wildcards (`selection_*`) and `them`.
//!
//! Parsing yields a [`CondExpr`] that still names search identifiers; the rule
//! compiler resolves the names to selection indices.

use std::fmt;

/// How many of a set of selections must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    All,
    AtLeast(usize),
}

/// A parsed condition, identifiers unresolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CondExpr {
    Ident(String),
    Not(Box<CondExpr>),
    And(Vec<CondExpr>),
    Or(Vec<CondExpr>),
    /// `1 of selection_*`, `all of them`; `pattern == None` means `them`.
    Of(Quantity, Option<String>),
}

/// A condition syntax error, with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for CondError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    Pipe,
    Word(String),
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, CondError> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((i, Tok::LParen));
                i += 1
            }
            b')' => {
                out.push((i, Tok::RParen));
                i += 1
            }
            b'|' => {
                // Everything after a pipe is a legacy aggregation; the parser
                // refuses it with a message, so the rest is not lexed.
                out.push((i, Tok::Pipe));
                break;
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'*' || c == b'-' || c == b'.' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'*' | b'-' | b'.'))
                {
                    i += 1;
                }
                out.push((start, Tok::Word(s[start..i].to_string())));
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(CondError {
                    offset: i,
                    message: format!("unexpected character {ch:?}"),
                });
            }
        }
    }
    Ok(out)
}

// Nesting limit for parentheses / `not`: keeps the recursive descent bounded
// on hostile input.
const MAX_DEPTH: usize = 100;

struct P {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    depth: usize,
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.pos).map(|(o, _)| *o).unwrap_or(self.end)
    }
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, CondError> {
        Err(CondError {
            offset: self.offset(),
            message: msg.into(),
        })
    }

    fn or(&mut self) -> Result<CondExpr, CondError> {
        let mut items = vec![self.and()?];
        while self.peek().is_some_and(|t| is_kw(t, "or")) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            CondExpr::Or(items)
        })
    }

    fn and(&mut self) -> Result<CondExpr, CondError> {
        let mut items = vec![self.not()?];
        while self.peek().is_some_and(|t| is_kw(t, "and")) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            CondExpr::And(items)
        })
    }

    fn not(&mut self) -> Result<CondExpr, CondError> {
        if self.peek().is_some_and(|t| is_kw(t, "not")) {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.err("condition nested too deeply");
            }
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(CondExpr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<CondExpr, CondError> {
        let Some(tok) = self.peek().cloned() else {
            return self.err("condition ends where an identifier was expected");
        };
        match tok {
            Tok::LParen => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.err("condition nested too deeply");
                }
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("missing closing parenthesis");
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::RParen => self.err("unexpected ')'"),
            Tok::Pipe => self.err(
                "aggregation expressions ('| count() ...') are legacy Sigma; \
                 write a correlation rule instead",
            ),
            Tok::Word(w) => {
                let lw = w.to_ascii_lowercase();
                if matches!(lw.as_str(), "and" | "or" | "of") {
                    return self.err(format!("unexpected keyword '{w}'"));
                }
                // Quantifier?
                let next_is_of =
                    matches!(self.toks.get(self.pos + 1), Some((_, t)) if is_kw(t, "of"));
                if next_is_of {
                    let q = if lw == "all" {
                        Quantity::All
                    } else if let Ok(n) = lw.parse::<usize>() {
                        if n == 0 {
                            return self.err("'0 of' is not a valid quantifier");
                        }
                        Quantity::AtLeast(n)
                    } else if lw == "any" {
                        Quantity::AtLeast(1)
                    } else {
                        return self.err(format!("'{w}' is not a valid quantifier"));
                    };
                    self.pos += 2;
                    let Some(Tok::Word(target)) = self.peek().cloned() else {
                        return self.err("expected an identifier pattern or 'them' after 'of'");
                    };
                    self.pos += 1;
                    let pat = if target.eq_ignore_ascii_case("them") {
                        None
                    } else {
                        Some(target)
                    };
                    return Ok(CondExpr::Of(q, pat));
                }
                if w.contains('*') {
                    return self.err(format!(
                        "wildcard identifier '{w}' is only allowed after '1 of' / 'all of'"
                    ));
                }
                self.pos += 1;
                Ok(CondExpr::Ident(w))
            }
        }
    }
}

/// Parse one condition string.
pub fn parse_condition(s: &str) -> Result<CondExpr, CondError> {
    let toks = lex(s)?;
    let mut p = P {
        toks,
        pos: 0,
        end: s.len(),
        depth: 0,
    };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        if p.peek() == Some(&Tok::Pipe) {
            return p.err(
                "aggregation expressions ('| count() ...') are legacy Sigma; \
                 write a correlation rule instead",
            );
        }
        return p.err("unexpected trailing tokens");
    }
    Ok(e)
}

/// Match an identifier against a `selection_*` style pattern (`*` only).
pub fn ident_matches(pattern: &str, name: &str) -> bool {
    crate::pattern::simple_glob(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> CondExpr {
        CondExpr::Ident(s.into())
    }

    #[test]
    fn precedence_not_and_or() {
        let e = parse_condition("a or b and not c").unwrap();
        assert_eq!(
            e,
            CondExpr::Or(vec![
                id("a"),
                CondExpr::And(vec![id("b"), CondExpr::Not(Box::new(id("c")))])
            ])
        );
    }

    #[test]
    fn parentheses_and_quantifiers() {
        let e = parse_condition("(1 of sel* or all of them) and not 2 of filter_*").unwrap();
        assert_eq!(
            e,
            CondExpr::And(vec![
                CondExpr::Or(vec![
                    CondExpr::Of(Quantity::AtLeast(1), Some("sel*".into())),
                    CondExpr::Of(Quantity::All, None),
                ]),
                CondExpr::Not(Box::new(CondExpr::Of(
                    Quantity::AtLeast(2),
                    Some("filter_*".into())
                ))),
            ])
        );
    }

    #[test]
    fn errors_have_offsets() {
        let e = parse_condition("a and (b or c").unwrap_err();
        assert!(e.message.contains("parenthesis"), "{e}");
        let e = parse_condition("selection | count() > 5").unwrap_err();
        assert_eq!(e.offset, 10);
        assert!(e.message.contains("correlation"));
        assert!(parse_condition("a and").is_err());
        assert!(parse_condition("sel*").is_err());
        assert!(parse_condition("0 of them").is_err());
        assert!(parse_condition("a $ b").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let s = "(".repeat(10_000) + "a" + &")".repeat(10_000);
        assert!(parse_condition(&s).is_err());
        let s = "not ".repeat(10_000) + "a";
        assert!(parse_condition(&s).is_err());
    }
}
