//! Where every node of a YAML document sits, keyed by its field path
//! (`instances[2].role.name`). serde tells *what* is wrong and at which path;
//! this index turns the path into the line and column a person can jump to.

use std::collections::{HashMap, HashSet};
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// The path of a node from the document root, printed as `instances[0].role.name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<PathSegment>);

impl FieldPath {
    /// The document root.
    pub(crate) fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path extended by a mapping key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Key(key.to_string()));
        FieldPath(segments)
    }

    /// This path extended by a sequence index.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Index(index));
        FieldPath(segments)
    }

    /// The path without its last segment.
    pub(crate) fn parent(&self) -> Self {
        let mut segments = self.0.clone();
        segments.pop();
        FieldPath(segments)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return formatter.write_str("(document)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if position == 0 => write!(formatter, "{key}")?,
                PathSegment::Key(key) => write!(formatter, ".{key}")?,
                PathSegment::Index(index) => write!(formatter, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Nesting beyond this is not indexed.
const MAX_INDEXED_DEPTH: usize = 256;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl From<Marker> for Position {
    fn from(marker: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Position {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct NodePositions {
    key: Option<Position>,
    value: Option<Position>,
}

/// Positions of the keys and values of one document.
#[derive(Debug, Default)]
pub struct LocationIndex {
    nodes: HashMap<FieldPath, NodePositions>,
    plain_scalars: HashSet<FieldPath>,
    written: Option<WrittenText>,
}

/// The text of scalars and keys as written, which a `serde_yaml::Value`
/// loses (`1.10` becomes the number 1.1, the key `~` becomes null).
/// Only reading a manifest value by value needs it (see `recover`), so only
/// [`LocationIndex::build_keeping_text`] keeps it: valid manifests do not
/// pay for it.
#[derive(Debug, Default)]
struct WrittenText {
    /// Unquoted scalars.
    plain_scalars: HashMap<FieldPath, String>,
    /// The keys of each mapping, in order.
    keys: HashMap<FieldPath, Vec<String>>,
}

impl LocationIndex {
    /// Indexes `source`; a document the scanner rejects yields an empty index
    /// (serde reports the syntax error with its own position).
    pub(crate) fn build(source: &str) -> Self {
        Self::index(source, None)
    }

    /// Indexes `source` and keeps the text of its plain scalars and keys.
    pub(crate) fn build_keeping_text(source: &str) -> Self {
        Self::index(source, Some(WrittenText::default()))
    }

    fn index(source: &str, written: Option<WrittenText>) -> Self {
        let mut builder = IndexBuilder {
            written,
            ..IndexBuilder::default()
        };
        let mut parser = Parser::new_from_str(source);
        // Event by event rather than `Parser::load`, which recurses and can
        // overflow the stack on hostile nesting; deeper than any manifest
        // needs, indexing stops (serde rejects such a document anyway).
        while let Ok((event, mark)) = parser.next_token() {
            let end = matches!(event, Event::StreamEnd);
            builder.on_event(event, mark);
            if end || builder.stack.len() > MAX_INDEXED_DEPTH {
                break;
            }
        }
        LocationIndex {
            nodes: builder.nodes,
            plain_scalars: builder.plain_scalars,
            written: builder.written,
        }
    }

    /// Whether the value at `path` is an unquoted scalar (YAML may read it as
    /// a number or boolean).
    pub(crate) fn is_plain_scalar(&self, path: &FieldPath) -> bool {
        self.plain_scalars.contains(path)
    }

    /// The text of the unquoted scalar at `path`, as written (`1.10`, not the
    /// number 1.1), when there is one and the text was kept.
    pub(crate) fn plain_text(&self, path: &FieldPath) -> Option<&str> {
        let written = self.written.as_ref()?;
        written.plain_scalars.get(path).map(String::as_str)
    }

    /// The keys of the mapping at `path` in document order, as written
    /// (`~`, not null), when it is indexed and the text was kept.
    pub(crate) fn keys(&self, path: &FieldPath) -> Option<&[String]> {
        let written = self.written.as_ref()?;
        written.keys.get(path).map(Vec::as_slice)
    }

    /// Where the value at `path` starts, or the closest ancestor that is known.
    pub(crate) fn value(&self, path: &FieldPath) -> Position {
        self.lookup(path, |node| node.value.or(node.key))
    }

    /// Where the key of the field at `path` starts (for unknown fields), falling
    /// back to its value or closest ancestor.
    pub(crate) fn key(&self, path: &FieldPath) -> Position {
        self.lookup(path, |node| node.key.or(node.value))
    }

    fn lookup(
        &self,
        path: &FieldPath,
        pick: impl Fn(&NodePositions) -> Option<Position>,
    ) -> Position {
        let mut current = path.clone();
        loop {
            if let Some(position) = self.nodes.get(&current).and_then(&pick) {
                return position;
            }
            if current.0.is_empty() {
                return Position { line: 1, column: 1 };
            }
            current = current.parent();
        }
    }
}

enum Frame {
    Mapping {
        path: FieldPath,
        pending_key: Option<(String, Marker)>,
        keys_seen: usize,
        /// The keys so far, when the text is kept.
        keys: Vec<String>,
    },
    Sequence {
        path: FieldPath,
        next_index: usize,
    },
}

#[derive(Default)]
struct IndexBuilder {
    stack: Vec<Frame>,
    nodes: HashMap<FieldPath, NodePositions>,
    plain_scalars: HashSet<FieldPath>,
    written: Option<WrittenText>,
    documents: usize,
}

impl IndexBuilder {
    /// Path of the node that starts now, or `None` when the node is a mapping key.
    fn next_node_path(&mut self, scalar_key: Option<&str>, mark: Marker) -> Option<FieldPath> {
        match self.stack.last_mut() {
            None => Some(FieldPath::root()),
            Some(Frame::Sequence { path, next_index }) => {
                let node_path = path.index(*next_index);
                *next_index += 1;
                Some(node_path)
            }
            Some(Frame::Mapping {
                path,
                pending_key,
                keys_seen,
                keys,
            }) => match pending_key.take() {
                Some((key, key_mark)) => {
                    let node_path = path.key(&key);
                    self.nodes.entry(node_path.clone()).or_default().key = Some(key_mark.into());
                    Some(node_path)
                }
                None => {
                    // yaml-rust2 marks a block mapping where its first `:` is; the
                    // mapping really starts at its first key.
                    if *keys_seen == 0 {
                        let first_key: Position = mark.into();
                        let node = self.nodes.entry(path.clone()).or_default();
                        if node
                            .value
                            .is_none_or(|v| (first_key.line, first_key.column) < (v.line, v.column))
                        {
                            node.value = Some(first_key);
                        }
                    }
                    *keys_seen += 1;
                    // Complex (non-scalar) keys are indexed under a placeholder.
                    let key = scalar_key.unwrap_or("?").to_string();
                    if self.written.is_some() {
                        keys.push(key.clone());
                    }
                    *pending_key = Some((key, mark));
                    None
                }
            },
        }
    }

    fn record_value(&mut self, path: &FieldPath, mark: Marker) {
        self.nodes.entry(path.clone()).or_default().value = Some(mark.into());
    }
}

impl MarkedEventReceiver for IndexBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::DocumentStart => {
                self.documents += 1;
            }
            // Only the first document is indexed: a manifest holds one.
            _ if self.documents > 1 => {}
            Event::Scalar(value, style, ..) => {
                if let Some(path) = self.next_node_path(Some(&value), mark) {
                    self.record_value(&path, mark);
                    if style == TScalarStyle::Plain {
                        if let Some(written) = &mut self.written {
                            written.plain_scalars.insert(path.clone(), value);
                        }
                        self.plain_scalars.insert(path);
                    }
                }
            }
            Event::Alias(..) => {
                if let Some(path) = self.next_node_path(Some("?"), mark) {
                    self.record_value(&path, mark);
                }
            }
            Event::MappingStart(..) => {
                let path = self
                    .next_node_path(None, mark)
                    .unwrap_or_else(|| FieldPath::root().key("?"));
                self.record_value(&path, mark);
                self.stack.push(Frame::Mapping {
                    path,
                    pending_key: None,
                    keys_seen: 0,
                    keys: Vec::new(),
                });
            }
            Event::SequenceStart(..) => {
                let path = self
                    .next_node_path(None, mark)
                    .unwrap_or_else(|| FieldPath::root().key("?"));
                self.record_value(&path, mark);
                self.stack.push(Frame::Sequence {
                    path,
                    next_index: 0,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let frame = self.stack.pop();
                if let (Some(written), Some(Frame::Mapping { path, keys, .. })) =
                    (&mut self.written, frame)
                {
                    written.keys.insert(path, keys);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "version: 1\ninstances:\n  - name: a\n    role:\n      name: r\n  - name: b\n    tags: {x: y}\n";

    #[test]
    fn finds_keys_and_values_by_path() {
        let index = LocationIndex::build(SOURCE);
        let role_name = FieldPath::root()
            .key("instances")
            .index(0)
            .key("role")
            .key("name");
        assert_eq!(
            index.value(&role_name),
            Position {
                line: 5,
                column: 13
            }
        );
        assert_eq!(index.key(&role_name), Position { line: 5, column: 7 });
        let second = FieldPath::root().key("instances").index(1).key("name");
        assert_eq!(
            index.value(&second),
            Position {
                line: 6,
                column: 11
            }
        );
        let flow = FieldPath::root()
            .key("instances")
            .index(1)
            .key("tags")
            .key("x");
        assert_eq!(
            index.value(&flow),
            Position {
                line: 7,
                column: 15
            }
        );
    }

    #[test]
    fn unknown_paths_fall_back_to_the_closest_ancestor() {
        let index = LocationIndex::build(SOURCE);
        let missing = FieldPath::root()
            .key("instances")
            .index(1)
            .key("role")
            .key("name");
        assert_eq!(index.value(&missing), Position { line: 6, column: 5 });
    }

    #[test]
    fn keeps_plain_scalars_and_keys_as_written() {
        let source = "version: 1.10\nname: \"1.10\"\ntags: {~: a, 0x1F: b, \"q\": c}\nempty:\n";
        assert_eq!(
            LocationIndex::build(source).plain_text(&FieldPath::root().key("version")),
            None
        );
        let index = LocationIndex::build_keeping_text(source);
        let root = FieldPath::root();
        assert_eq!(index.plain_text(&root.key("version")), Some("1.10"));
        assert_eq!(index.plain_text(&root.key("name")), None);
        assert_eq!(index.plain_text(&root.key("empty")), Some(""));
        assert_eq!(
            index.keys(&root.key("tags")),
            Some(&["~".to_string(), "0x1F".to_string(), "q".to_string()][..])
        );
        assert_eq!(
            index.keys(&root),
            Some(&["version", "name", "tags", "empty"].map(String::from)[..])
        );
    }

    #[test]
    fn displays_paths_like_a_reader_writes_them() {
        let path = FieldPath::root()
            .key("instances")
            .index(3)
            .key("role")
            .key("name");
        assert_eq!(path.to_string(), "instances[3].role.name");
    }
}
