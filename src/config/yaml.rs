//! YAML → a tree of nodes that remember where they came from.
//!
//! sandbot's config format shares anchors across its two YAML documents:
//! the conversation document aliases commands anchored in the RBAC
//! document. The YAML spec scopes anchors to one document, and so do
//! ready-made loaders, so we build the tree ourselves from
//! `saphyr-parser`'s event stream, which keeps anchors alive across
//! documents when driven event by event.
//!
//! A file whose documents come in the "wrong" order (an alias before its
//! anchor, in a later document) is retried with its documents swapped; the
//! positions in the resulting tree still point into the original text.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use super::Span;

/// One YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node appears; for an alias, where the alias is written.
    pub span: Span,
    /// The node's content.
    pub kind: NodeKind,
}

/// The content of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar; `plain` is false for quoted and block scalars, which are
    /// always strings.
    Scalar {
        /// The scalar's text.
        value: String,
        /// Whether it was written without quotes or block indicators.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// True for an empty plain scalar or `~`/`null`.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar { value, plain: true } => {
                matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// The value under `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short word for the node's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "null",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where.
    pub span: Span,
    /// What.
    pub message: String,
}

/// Parse every document in `text`, resolving aliases across documents.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let first = parse_in_order(text);
    let Err(err) = &first else { return first };
    if !err.message.starts_with("unknown alias") {
        return first;
    }
    // An alias may name an anchor from a later document. Retry with the
    // documents swapped; if that fails too, report the original error.
    match Reordered::swap_documents(text) {
        Some(reordered) => match parse_in_order(&reordered.text) {
            Ok(mut docs) => {
                docs.iter_mut().for_each(|d| reordered.remap(d));
                Ok(docs)
            }
            Err(_) => first,
        },
        None => first,
    }
}

/// Parse the documents of `text` in file order.
fn parse_in_order(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| scan_error(text, &e))?;
        let at = Span {
            line: span.start.line(),
            col: span.start.col() + 1,
        };
        builder
            .event(event, at)
            .map_err(|message| YamlError { span: at, message })?;
    }
    Ok(builder.documents)
}

/// Turn a parser error into ours, naming the alias when one is unknown.
fn scan_error(text: &str, err: &ScanError) -> YamlError {
    let mark = err.marker();
    let span = Span {
        line: mark.line(),
        col: mark.col() + 1,
    };
    let message = if err.info().contains("unknown anchor") {
        let name = alias_name_at(text, mark.index());
        format!("unknown alias *{name}: no anchor &{name} is defined")
    } else {
        err.info().to_string()
    };
    YamlError { span, message }
}

/// The alias name written at character `index` (`*name`).
fn alias_name_at(text: &str, index: usize) -> String {
    text.chars()
        .skip(index)
        .skip_while(|c| *c == '*')
        .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
        .collect()
}

/// Builds nodes from parser events.
#[derive(Default)]
struct Builder {
    /// Open collections, innermost last.
    stack: Vec<Frame>,
    /// Anchored nodes by anchor id, with their size in nodes; never
    /// cleared between documents.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes made so far, counting each alias as a full copy.
    nodes: usize,
    /// Finished documents.
    documents: Vec<Node>,
}

/// A collection being built.
struct Frame {
    /// The collection so far.
    node: Node,
    /// Its anchor id, 0 for none.
    anchor: usize,
    /// In a mapping, a key still waiting for its value.
    key: Option<Node>,
}

impl Builder {
    /// Feed one event.
    fn event(&mut self, event: Event<'_>, at: Span) -> Result<(), String> {
        self.nodes += 1;
        match event {
            Event::Scalar(value, style, anchor, _) => {
                let plain = matches!(style, ScalarStyle::Plain);
                let kind = NodeKind::Scalar {
                    value: value.into_owned(),
                    plain,
                };
                self.finish(Node { span: at, kind }, anchor);
            }
            Event::Alias(id) => {
                // The parser only emits aliases whose anchor it has seen;
                // one that is not finished yet is an alias inside its own
                // anchored node.
                let Some((node, size)) = self.anchors.get(&id) else {
                    return Err("an alias cannot refer to the node that contains it".into());
                };
                // Each alias is a copy: count copies so that nested aliases
                // (an "alias bomb") cannot blow up memory.
                self.nodes += size;
                if self.nodes > MAX_NODES {
                    return Err(format!(
                        "aliases expand to more than {MAX_NODES} nodes; the config is too large"
                    ));
                }
                let mut node = node.clone();
                node.span = at;
                self.finish(node, 0);
            }
            Event::SequenceStart(anchor, _) => self.open(NodeKind::Seq(Vec::new()), anchor, at),
            Event::MappingStart(anchor, _) => self.open(NodeKind::Map(Vec::new()), anchor, at),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    self.finish(frame.node, frame.anchor);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Start a collection.
    fn open(&mut self, kind: NodeKind, anchor: usize, at: Span) {
        let node = Node { span: at, kind };
        self.stack.push(Frame {
            node,
            anchor,
            key: None,
        });
    }

    /// Attach a finished node to its parent, or end the document.
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = size_of(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.documents.push(node);
            return;
        };
        match &mut frame.node.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => match frame.key.take() {
                Some(key) => entries.push((key, node)),
                None => frame.key = Some(node),
            },
            NodeKind::Scalar { .. } => {}
        }
    }
}

/// The most nodes a config may expand to. Real configs have a few
/// thousand; this only stops alias bombs.
const MAX_NODES: usize = 1_000_000;

/// How many nodes a tree holds.
fn size_of(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(size_of).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size_of(k) + size_of(v))
                .sum::<usize>()
        }
    }
}

/// A two-document text with its documents swapped, and the way back to
/// the original positions.
struct Reordered {
    /// The swapped text.
    text: String,
    /// Pieces of the new text: (first new line, first original line,
    /// number of lines).
    pieces: Vec<(usize, usize, usize)>,
}

impl Reordered {
    /// Swap the two documents of `text`; `None` unless there are exactly
    /// two (documents are split at `---` lines in column 0).
    fn swap_documents(text: &str) -> Option<Reordered> {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let starts: Vec<usize> = (0..lines.len())
            .filter(|&i| is_doc_start(lines[i]))
            .collect();
        let second = match starts.as_slice() {
            [0, second] => *second,
            [second] if *second > 0 => *second,
            _ => return None,
        };
        let mut text = String::new();
        let mut pieces = Vec::new();
        let mut push = |from: usize, to: usize, text: &mut String| {
            let first_new = text.matches('\n').count() + 1;
            pieces.push((first_new, from + 1, to - from));
            lines[from..to].iter().for_each(|l| text.push_str(l));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        };
        push(second, lines.len(), &mut text);
        if starts[0] != 0 {
            text.push_str("---\n");
        }
        push(0, second, &mut text);
        Some(Reordered { text, pieces })
    }

    /// Map every span in `node` back to the original text.
    fn remap(&self, node: &mut Node) {
        node.span.line = self.original_line(node.span.line);
        match &mut node.kind {
            NodeKind::Seq(items) => items.iter_mut().for_each(|n| self.remap(n)),
            NodeKind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                self.remap(k);
                self.remap(v);
            }),
            NodeKind::Scalar { .. } => {}
        }
    }

    /// The original line of a line in the swapped text.
    fn original_line(&self, line: usize) -> usize {
        self.pieces
            .iter()
            .find(|(new, _, len)| line >= *new && line < new + len)
            .map(|(new, orig, _)| orig + (line - new))
            .unwrap_or(line)
    }
}

/// Whether a line is a `---` document marker.
fn is_doc_start(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> &str {
        node.as_str().expect("scalar")
    }

    #[test]
    fn aliases_resolve_across_documents() {
        let docs = parse("---\na: &x {id: one}\n---\nb: *x\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[1].get("b").unwrap();
        assert_eq!(scalar(b.get("id").unwrap()), "one");
        assert_eq!(b.span, Span { line: 4, col: 4 });
    }

    #[test]
    fn alias_before_its_anchor_in_a_later_document_is_resolved() {
        let text = "---\nb: *x\nc: 2\n---\n# rbac\na: &x {id: one}\n";
        let docs = parse(text).unwrap();
        let conversation = docs.iter().find(|d| d.get("b").is_some()).unwrap();
        let b = conversation.get("b").unwrap();
        assert_eq!(scalar(b.get("id").unwrap()), "one");
        assert_eq!(b.span.line, 2, "positions point into the original text");
        let rbac = docs.iter().find(|d| d.get("a").is_some()).unwrap();
        assert_eq!(rbac.get("a").unwrap().span.line, 6);
    }

    #[test]
    fn unknown_alias_names_itself_with_its_position() {
        let err = parse("a: 1\nb: *missing\n").unwrap_err();
        assert_eq!(err.span, Span { line: 2, col: 4 });
        assert!(err.message.contains("*missing"), "{}", err.message);
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.span.line >= 1);
        assert!(!err.message.is_empty());
    }

    #[test]
    fn an_alias_bomb_is_refused_with_a_position() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("too large"), "{}", err.message);
        assert!(err.span.line > 1 && err.span.line <= 10, "{:?}", err.span);
    }

    #[test]
    fn an_alias_inside_its_own_anchor_is_an_error() {
        let text = "users:\n- &u\n  id: \"42\"\n  name: *u\n  title: roles\n  admin: yes\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.span, Span { line: 4, col: 9 });
        assert!(err.message.contains("contains it"), "{}", err.message);
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let docs = parse("a: \"1\"\nb: 1\n").unwrap();
        let a = &docs[0].get("a").unwrap().kind;
        assert_eq!(
            a,
            &NodeKind::Scalar {
                value: "1".into(),
                plain: false
            }
        );
        assert!(matches!(
            docs[0].get("b").unwrap().kind,
            NodeKind::Scalar { plain: true, .. }
        ));
    }
}
