//! A small YAML tree that remembers the line of every node.
//!
//! Built from `yaml-rust2`'s marked event parser so that rule load errors can
//! name the line that is wrong. Anchors and aliases are resolved; tags are
//! ignored (Sigma does not use them).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML value with the 1-based line on which it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

/// The value of a [`Node`]. Mappings keep their key order and key lines.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The string of a scalar key or value (numbers and booleans rendered).
    pub fn as_scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Look up a key of a mapping by its string form.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Convert to JSON (used for passing rule metadata on and for tests).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(s) => serde_json::Value::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.as_scalar_string().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

enum Frame {
    Seq(usize, usize, Vec<Node>),
    Map(usize, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    error: Option<YamlError>,
}

// Depth limit: rules are shallow; a hostile file must not overflow the stack
// of the recursive consumers (to_json, rule compiler).
const MAX_DEPTH: usize = 64;

fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    let looks_float = s.bytes().any(|b| b == b'.' || b == b'e' || b == b'E')
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && s.bytes().any(|b| b.is_ascii_digit());
    if looks_float {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

impl Builder {
    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn anchor(&mut self, id: usize, node: &Node) {
        if id > 0 {
            self.anchors.insert(id, node.clone());
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line().max(1);
        match ev {
            Event::Scalar(s, style, anchor, _tag) => {
                let value = if style == TScalarStyle::Plain {
                    resolve_plain(&s)
                } else {
                    Value::Str(s)
                };
                let node = Node { line, value };
                self.anchor(anchor, &node);
                self.push_node(node);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.error = Some(YamlError {
                        line,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                    return;
                }
                if matches!(ev, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq(line, anchor, Vec::new()));
                } else {
                    self.stack.push(Frame::Map(line, anchor, Vec::new(), None));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(l, a, items)) => {
                        let n = Node {
                            line: l,
                            value: Value::Seq(items),
                        };
                        self.anchor(a, &n);
                        n
                    }
                    Some(Frame::Map(l, a, entries, _)) => {
                        let n = Node {
                            line: l,
                            value: Value::Map(entries),
                        };
                        self.anchor(a, &n);
                        n
                    }
                    None => return,
                };
                self.push_node(node);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(n) => self.push_node(n),
                None => {
                    self.error = Some(YamlError {
                        line,
                        message: "alias to an unknown anchor".into(),
                    })
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Parse every document of a YAML stream.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder::default();
    let mut p = Parser::new_from_str(text);
    if let Err(e) = p.load(&mut b, true) {
        return Err(YamlError {
            line: e.marker().line().max(1),
            message: e.info().to_string(),
        });
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based_and_types_resolved() {
        let docs = parse_documents("a: 1\nb:\n  - x\n  - 'null'\n  - null\nc: 2.5\n").unwrap();
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d.get("a").unwrap().value, Value::Int(1));
        let b = d.get("b").unwrap();
        match &b.value {
            Value::Seq(items) => {
                assert_eq!(items[0].line, 3);
                assert_eq!(items[1].value, Value::Str("null".into()));
                assert_eq!(items[2].value, Value::Null);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.get("c").unwrap().value, Value::Float(2.5));
    }

    #[test]
    fn multi_document_and_errors() {
        let docs = parse_documents("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        let err = parse_documents("a: 1\n  b: [\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }

    #[test]
    fn anchors_resolve() {
        let docs = parse_documents("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(
            docs[0].get("a").unwrap().value,
            docs[0].get("b").unwrap().value
        );
    }
}
