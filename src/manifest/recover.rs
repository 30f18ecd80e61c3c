//! Reading a manifest that serde could not read whole, value by value, so a
//! wrong type or value in one field hides nothing else.
//!
//! serde stops at the first value it cannot read: one wrong type (`kind:
//! lambda`, `maxSessionDuration: one hour`, `tags` written as a list) would
//! hide every other problem of the file. When the strict read in `load`
//! fails, the file is read again here. The YAML is parsed into a
//! `serde_yaml::Value` and the spec types are deserialized from it through
//! [`Node`], a deserializer that checks each value against what the spec
//! type asks for — serde's own `deserialize_*` hint: a string, an integer in
//! range, one of an enum's variants, a sequence, a map of known fields —
//! *before* handing it over. A value that does not fit becomes a [`Problem`]
//! at its field path and is replaced by a placeholder (the type's empty or
//! first value), so the other fields of the same instance and the other
//! instances are still read and checked. Its path is marked [`Unread`] so
//! that no check runs on the placeholder, and no "missing field" is reported
//! for a field that is there but mistyped.
//!
//! Why not validate against the JSON Schema with the `jsonschema` crate: it
//! would find the same violations with paths, but even without default
//! features (0.61.2) it brings 63 crates, 35 of them new to fnctl (two regex
//! engines, big-number arithmetic, e-mail and URI parsers, parking_lot, …)
//! against this one module and no new dependency; it can disagree with serde
//! at YAML's edges (`name: 123` is the string `123` for serde_yaml); and the
//! spec types would still have to be built around the violations by a
//! serde-aware step like this one. Here the types say what they accept; the
//! schema schemars generates from the same types supplies the one thing
//! serde keeps to itself until it fails: which fields of a struct are
//! required. The lenient read runs only on files that failed the strict
//! one, so valid manifests cost nothing extra.
//!
//! It follows serde_yaml's reading of YAML (a property test holds it to
//! that): any scalar is a string, as written (`1.10` stays `1.10`); an empty
//! value is an empty list or map, `~` or `null` is not; a YAML tag is
//! ignored except by `settings` and `conditions`, which refuse it. Where the
//! two reads still disagree (a quoted number tagged `!!int` is an integer
//! here, not for serde_yaml), `load` keeps the strict read's error as well:
//! none is ever lost.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_yaml::Value;

use super::location::{FieldPath, LocationIndex};
use super::spec::ManifestFile;

/// What is wrong with one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The value has the wrong type: a list where a map belongs, text where a number does.
    WrongType,
    /// The type is right, the value is not allowed: an unknown enum variant, an integer out of range.
    InvalidValue,
    /// A required field is not there; the path names the field.
    MissingField,
    /// A field the spec type does not have; it is skipped.
    UnknownField,
    /// A key that is not text (a list or a map used as a key); the path
    /// names the map, as serde does, and the entry is skipped.
    KeyNotText,
}

/// One value the lenient read could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// Where: the value (or the missing or unknown field).
    pub path: FieldPath,
    /// Why, in serde's words: `invalid type: string "one hour", expected an integer`.
    pub message: String,
}

/// A manifest read value by value: its content, with placeholders where a
/// value could not be read, and the problems found.
#[derive(Debug)]
pub struct Recovered {
    /// The manifest; a placeholder stands at every unread path.
    pub manifest: ManifestFile,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

impl Recovered {
    /// The paths where a placeholder stands.
    pub(crate) fn unread(&self) -> Unread {
        let mut unread = Unread::default();
        for problem in &self.problems {
            match problem.kind {
                ProblemKind::WrongType | ProblemKind::InvalidValue | ProblemKind::MissingField => {
                    unread.insert(problem.path.clone());
                }
                // Skipped entries: the rest of their map is read.
                ProblemKind::UnknownField | ProblemKind::KeyNotText => {}
            }
        }
        unread
    }
}

/// Field paths whose values were not read (a placeholder stands there):
/// checks of anything at or under them would judge the placeholder.
#[derive(Debug, Clone, Default)]
pub struct Unread(HashSet<FieldPath>);

impl Unread {
    /// Marks `path` as not read.
    pub(crate) fn insert(&mut self, path: FieldPath) {
        self.0.insert(path);
    }

    /// Whether anything at, above or below `path` was not read.
    pub(crate) fn touches(&self, path: &FieldPath) -> bool {
        self.covers(path) || self.0.iter().any(|unread| unread.0.starts_with(&path.0))
    }

    /// Whether `path` or one of its ancestors was not read.
    pub(crate) fn covers(&self, path: &FieldPath) -> bool {
        if self.0.is_empty() {
            return false;
        }
        (0..=path.0.len()).any(|length| self.0.contains(&FieldPath(path.0[..length].to_vec())))
    }
}

/// Reads a manifest value by value. `None` when the text is not a YAML
/// mapping at all, or breaks a limit of the parser (the strict read's error
/// says why).
pub fn read_manifest(text: &str) -> Option<Recovered> {
    let value: Value = serde_yaml::from_str(text).ok()?;
    if !value.is_mapping() {
        return None;
    }
    let index = LocationIndex::build_keeping_text(text);
    let reader = Reader {
        problems: RefCell::new(Vec::new()),
        index: &index,
    };
    let node = Node {
        reader: &reader,
        value: &value,
        path: FieldPath::root(),
    };
    let manifest = ManifestFile::deserialize(node).ok()?;
    Some(Recovered {
        manifest,
        problems: reader.problems.into_inner(),
    })
}

/// The required fields of each struct of the manifest, by type name, taken
/// from the JSON Schema schemars derives from the same types (serde's
/// `deserialize_struct` names the struct and its fields, not which of them
/// have no default).
fn required_fields(struct_name: &str) -> &'static [String] {
    static TABLE: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let schema = schemars::schema_for!(ManifestFile);
        let root = schema.as_value();
        let required = |schema: &serde_json::Value| -> Vec<String> {
            schema
                .get("required")
                .and_then(serde_json::Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|name| name.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut table = HashMap::new();
        table.insert(ManifestFile::schema_name().into_owned(), required(root));
        if let Some(definitions) = root.get("$defs").and_then(serde_json::Value::as_object) {
            for (name, definition) in definitions {
                table.insert(name.clone(), required(definition));
            }
        }
        table
    });
    table.get(struct_name).map_or(&[], Vec::as_slice)
}

/// An error that ends the lenient read (it should not happen: every value
/// that does not fit is replaced before serde sees it).
#[derive(Debug)]
struct Unreadable(String);

impl fmt::Display for Unreadable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Unreadable {}

impl de::Error for Unreadable {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Unreadable(message.to_string())
    }
}

/// State shared by every node of one read.
struct Reader<'a> {
    problems: RefCell<Vec<Problem>>,
    /// The text of plain scalars, which a `Value` keeps only as numbers or booleans.
    index: &'a LocationIndex,
}

impl Reader<'_> {
    fn record(&self, kind: ProblemKind, path: FieldPath, message: String) {
        self.problems.borrow_mut().push(Problem {
            kind,
            path,
            message,
        });
    }
}

/// One value of the document at its path.
struct Node<'a> {
    reader: &'a Reader<'a>,
    value: &'a Value,
    path: FieldPath,
}

/// The value under any YAML tags: serde_yaml reads `!tag 5` as `5` for typed fields.
fn untagged(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => untagged(&tagged.value),
        other => other,
    }
}

/// How serde names a value in `invalid type: …` messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(boolean) => format!("boolean `{boolean}`"),
        Value::Number(number) if number.is_f64() => format!("floating point `{number}`"),
        Value::Number(number) => format!("integer `{number}`"),
        Value::String(text) => format!("string {text:?}"),
        Value::Sequence(_) => "sequence".into(),
        Value::Mapping(_) => "map".into(),
        Value::Tagged(tagged) => format!("value tagged `{}`", tagged.tag),
    }
}

/// serde's way of listing enum variants.
fn one_of(variants: &[&str]) -> String {
    match variants {
        [] => "no value".into(),
        [only] => format!("`{only}`"),
        [first, second] => format!("`{first}` or `{second}`"),
        more => format!(
            "one of {}",
            more.iter()
                .map(|variant| format!("`{variant}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What an integer field of the given range takes, in words.
fn integer_words(min: i128, max: i128) -> String {
    if min == i128::from(i64::MIN) && max == i128::from(i64::MAX) {
        "an integer".into()
    } else if min == 0 && max == i128::from(u64::MAX) {
        "a non-negative integer".into()
    } else {
        format!("an integer from {min} to {max}")
    }
}

impl<'a> Node<'a> {
    fn child(&self, value: &'a Value, path: FieldPath) -> Node<'a> {
        Node {
            reader: self.reader,
            value,
            path,
        }
    }

    fn wrong_type(&self, expected: &str) {
        self.reader.record(
            ProblemKind::WrongType,
            self.path.clone(),
            format!(
                "invalid type: {}, expected {expected}",
                describe(self.value)
            ),
        );
    }

    fn invalid_value(&self, message: String) {
        self.reader
            .record(ProblemKind::InvalidValue, self.path.clone(), message);
    }

    /// The value as text, the way serde_yaml reads a scalar into a string:
    /// as written.
    fn scalar_text(&self) -> Option<Cow<'a, str>> {
        let value = untagged(self.value);
        let text = match value {
            Value::String(text) => return Some(Cow::Borrowed(text)),
            Value::Null => String::new(),
            Value::Bool(boolean) => boolean.to_string(),
            Value::Number(number) => number.to_string(),
            Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => return None,
        };
        Some(match self.reader.index.plain_text(&self.path) {
            Some(written) => Cow::Borrowed(written),
            None => Cow::Owned(text),
        })
    }

    /// The value as a number or boolean field reads it. serde_yaml reads
    /// those from any unquoted scalar, even one tagged `!!str`, which a
    /// `Value` keeps as a string.
    fn typed_scalar(&self) -> Cow<'a, Value> {
        let value = untagged(self.value);
        if let (Value::String(_), Some(written)) = (value, self.reader.index.plain_text(&self.path))
        {
            if let Ok(resolved) = serde_yaml::from_str::<Value>(written) {
                if !matches!(resolved, Value::String(_) | Value::Null) {
                    return Cow::Owned(resolved);
                }
            }
        }
        Cow::Borrowed(value)
    }

    /// Whether the value was written empty (`tags:`), which serde_yaml reads
    /// as an empty list or map, unlike an explicit `~` or `null`. Values
    /// the index does not know (behind an alias) are given the benefit.
    fn written_empty(&self) -> bool {
        self.reader
            .index
            .plain_text(&self.path)
            .is_none_or(str::is_empty)
    }

    /// A mapping key as text, as written (serde_yaml reads `~:` as the key
    /// `~`); a key that is not a scalar is reported and skipped.
    fn key_text(&self, key: &'a Value, written: Option<&str>) -> Option<String> {
        match untagged(key) {
            Value::String(text) => Some(text.clone()),
            scalar @ (Value::Null | Value::Bool(_) | Value::Number(_)) => Some(match written {
                Some(written) => written.to_string(),
                None if scalar.is_null() => String::new(),
                None => serde_yaml::to_string(scalar)
                    .map(|text| text.trim_end().to_string())
                    .unwrap_or_default(),
            }),
            other => {
                self.reader.record(
                    ProblemKind::KeyNotText,
                    self.path.clone(),
                    format!(
                        "invalid type: {} as a key, expected a string",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn entries(&self, mapping: &'a serde_yaml::Mapping) -> Vec<(String, Option<Node<'a>>)> {
        // The index has the keys as written, unless the mapping sits behind
        // an alias (then the counts differ, or there is no entry).
        let written = self
            .reader
            .index
            .keys(&self.path)
            .filter(|keys| keys.len() == mapping.len());
        mapping
            .iter()
            .enumerate()
            .filter_map(|(position, (key, value))| {
                let key = self.key_text(key, written.map(|keys| keys[position].as_str()))?;
                let path = self.path.key(&key);
                Some((key, Some(self.child(value, path))))
            })
            .collect()
    }

    fn integer<'de, V: Visitor<'de>>(
        self,
        visitor: V,
        min: i128,
        max: i128,
    ) -> Result<V::Value, Unreadable> {
        let expected = integer_words(min, max);
        if let Value::Number(number) = self.typed_scalar().as_ref() {
            let integer = number
                .as_i64()
                .map(i128::from)
                .or_else(|| number.as_u64().map(i128::from));
            match integer {
                Some(integer) if (min..=max).contains(&integer) => {
                    return match u64::try_from(integer) {
                        Ok(unsigned) => visitor.visit_u64(unsigned),
                        Err(_) => visitor.visit_i64(
                            i64::try_from(integer).map_err(|e| Unreadable(e.to_string()))?,
                        ),
                    };
                }
                Some(integer) => self.invalid_value(format!(
                    "invalid value: integer `{integer}`, expected {expected}"
                )),
                None => self.wrong_type(&expected),
            }
        } else {
            self.wrong_type(&expected);
        }
        Placeholder.deserialize_u64(visitor)
    }
}

macro_rules! integer_hints {
    ($($method:ident: $type:ty),*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
                self.integer(visitor, i128::from(<$type>::MIN), i128::from(<$type>::MAX))
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Node<'_> {
    type Error = Unreadable;

    /// Untyped values (`settings`, `conditions`): anything but a YAML tag.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(boolean) => visitor.visit_bool(*boolean),
            Value::Number(number) => match (number.as_u64(), number.as_i64(), number.as_f64()) {
                (Some(unsigned), _, _) => visitor.visit_u64(unsigned),
                (None, Some(signed), _) => visitor.visit_i64(signed),
                (None, None, float) => visitor.visit_f64(float.unwrap_or(f64::NAN)),
            },
            Value::String(text) => visitor.visit_str(text),
            Value::Sequence(_) => self.deserialize_seq(visitor),
            Value::Mapping(_) => self.deserialize_map(visitor),
            Value::Tagged(_) => {
                self.wrong_type("a value without a YAML tag");
                visitor.visit_unit()
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match self.typed_scalar().as_ref() {
            Value::Bool(boolean) => visitor.visit_bool(*boolean),
            _ => {
                self.wrong_type("a boolean");
                Placeholder.deserialize_bool(visitor)
            }
        }
    }

    integer_hints!(
        deserialize_i8: i8, deserialize_i16: i16, deserialize_i32: i32, deserialize_i64: i64,
        deserialize_u8: u8, deserialize_u16: u16, deserialize_u32: u32, deserialize_u64: u64
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match self.typed_scalar().as_ref() {
            Value::Number(number) => visitor.visit_f64(number.as_f64().unwrap_or(f64::NAN)),
            _ => {
                self.wrong_type("a number");
                Placeholder.deserialize_f64(visitor)
            }
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match self.scalar_text() {
            Some(text) => visitor.visit_str(&text),
            None => {
                self.wrong_type("a string");
                Placeholder.deserialize_str(visitor)
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Unreadable> {
        Err(Unreadable("a manifest holds no bytes".into()))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        self.deserialize_bytes(visitor)
    }

    /// Null is none; as for serde_yaml, a tagged empty value (`!tag`) is not.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        if !matches!(untagged(self.value), Value::Null) {
            self.wrong_type("null");
        }
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        visitor.visit_newtype_struct(self)
    }

    /// A sequence; an empty value reads as an empty one.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match untagged(self.value) {
            Value::Sequence(items) => visitor.visit_seq(Elements {
                parent: &self,
                items: items.iter().enumerate(),
            }),
            Value::Null if self.written_empty() => visitor.visit_seq(Nothing),
            _ => {
                self.wrong_type("a sequence");
                visitor.visit_seq(Nothing)
            }
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _length: usize,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _length: usize,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        self.deserialize_seq(visitor)
    }

    /// A map with any keys; an empty value reads as an empty one.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        match untagged(self.value) {
            Value::Mapping(mapping) => visitor.visit_map(Entries::new(self.entries(mapping))),
            Value::Null if self.written_empty() => visitor.visit_map(Nothing),
            _ => {
                self.wrong_type("a map");
                visitor.visit_map(Nothing)
            }
        }
    }

    /// A map of the struct's fields: unknown fields are reported and
    /// skipped, missing required ones reported and filled by placeholders.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        let mut entries = match untagged(self.value) {
            Value::Mapping(mapping) => self.entries(mapping),
            Value::Null if self.written_empty() => Vec::new(),
            _ => {
                self.wrong_type("a map");
                return Placeholder.deserialize_struct(name, fields, visitor);
            }
        };
        entries.retain(|(key, node)| {
            let known = fields.contains(&key.as_str());
            if let (false, Some(node)) = (known, node) {
                self.reader.record(
                    ProblemKind::UnknownField,
                    node.path.clone(),
                    format!("unknown field `{key}`"),
                );
            }
            known
        });
        for field in required_fields(name) {
            if !entries.iter().any(|(key, _)| key == field) {
                self.reader.record(
                    ProblemKind::MissingField,
                    self.path.key(field),
                    format!("missing field `{field}`"),
                );
                entries.push((field.clone(), None));
            }
        }
        visitor.visit_map(Entries::new(entries))
    }

    /// One of the enum's (unit) variants, written as a scalar.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        match self.scalar_text() {
            Some(text) if variants.contains(&text.as_ref()) => visitor.visit_enum(
                IntoDeserializer::<Unreadable>::into_deserializer(text.into_owned()),
            ),
            Some(text) => {
                self.invalid_value(format!(
                    "unknown variant `{text}`, expected {}",
                    one_of(variants)
                ));
                Placeholder.deserialize_enum(name, variants, visitor)
            }
            None => {
                self.wrong_type(&one_of(variants));
                Placeholder.deserialize_enum(name, variants, visitor)
            }
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_unit()
    }
}

/// Placeholder hints answered like another hint.
macro_rules! placeholder_as {
    ($($($method:ident)* => $target:ident);*) => {
        $($(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
                self.$target(visitor)
            }
        )*)*
    };
}

/// Stands where a value could not be read: the empty, zero or first value
/// of whatever type is asked for, and only the required fields of a struct.
struct Placeholder;

impl<'de> Deserializer<'de> for Placeholder {
    type Error = Unreadable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_bool(false)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_u64(0)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_u64(0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_f64(0.0)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_str("")
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_none()
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_seq(Nothing)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_map(Nothing)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        let entries = required_fields(name)
            .iter()
            .map(|field| (field.clone(), None))
            .collect();
        visitor.visit_map(Entries::new(entries))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        match variants.first() {
            Some(first) => {
                visitor.visit_enum(IntoDeserializer::<Unreadable>::into_deserializer(*first))
            }
            None => Err(Unreadable(format!("enum {name} has no variant"))),
        }
    }

    placeholder_as! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_u8 deserialize_u16
        deserialize_u32 => deserialize_u64;
        deserialize_f32 => deserialize_f64;
        deserialize_char deserialize_string deserialize_identifier => deserialize_str;
        deserialize_bytes deserialize_byte_buf deserialize_ignored_any => deserialize_unit
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        visitor.visit_unit()
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _length: usize,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        visitor.visit_seq(Nothing)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _length: usize,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        visitor.visit_seq(Nothing)
    }
}

/// The elements of a sequence, each at its index.
struct Elements<'p, 'a> {
    parent: &'p Node<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> SeqAccess<'de> for Elements<'_, '_> {
    type Error = Unreadable;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Unreadable> {
        match self.items.next() {
            Some((position, item)) => {
                let path = self.parent.path.index(position);
                seed.deserialize(self.parent.child(item, path)).map(Some)
            }
            None => Ok(None),
        }
    }
}

/// The entries of a map; `None` stands for a placeholder value.
struct Entries<'a> {
    entries: std::vec::IntoIter<(String, Option<Node<'a>>)>,
    value: Option<Option<Node<'a>>>,
}

impl<'a> Entries<'a> {
    fn new(entries: Vec<(String, Option<Node<'a>>)>) -> Self {
        Entries {
            entries: entries.into_iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Unreadable;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Unreadable> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(IntoDeserializer::<Unreadable>::into_deserializer(key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, Unreadable> {
        match self.value.take() {
            Some(Some(node)) => seed.deserialize(node),
            Some(None) => seed.deserialize(Placeholder),
            None => Err(Unreadable(
                "a map value was asked for before its key".into(),
            )),
        }
    }
}

/// An empty sequence or map.
struct Nothing;

impl<'de> SeqAccess<'de> for Nothing {
    type Error = Unreadable;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        _seed: T,
    ) -> Result<Option<T::Value>, Unreadable> {
        Ok(None)
    }
}

impl<'de> MapAccess<'de> for Nothing {
    type Error = Unreadable;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        _seed: K,
    ) -> Result<Option<K::Value>, Unreadable> {
        Ok(None)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        _seed: T,
    ) -> Result<T::Value, Unreadable> {
        Err(Unreadable("an empty map has no value".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FunctionKind;

    fn read(text: &str) -> Recovered {
        read_manifest(text).expect("a YAML mapping")
    }

    /// The problems found, by path.
    fn problems(recovered: &Recovered) -> Vec<(ProblemKind, String)> {
        let mut found: Vec<(ProblemKind, String)> = recovered
            .problems
            .iter()
            .map(|problem| (problem.kind, problem.path.to_string()))
            .collect();
        found.sort_by(|a, b| a.1.cmp(&b.1));
        found
    }

    #[test]
    fn the_schema_names_the_required_fields_of_every_struct() {
        assert_eq!(required_fields("ManifestFile"), ["version"]);
        assert_eq!(required_fields("InstanceSpec"), ["name", "kind"]);
        assert_eq!(required_fields("BucketSpec"), ["name", "region"]);
        assert_eq!(required_fields("PermissionSpec"), ["actions", "resources"]);
        for optional in ["Defaults", "SegmentAccounts", "RoleSpec", "ExternalIdSpec"] {
            assert!(required_fields(optional).is_empty(), "{optional}");
        }
    }

    #[test]
    fn a_wrong_value_is_replaced_and_the_rest_is_read() {
        let recovered = read(
            "version: 1\ninstances:\n  - name: a\n    kind: lambda\n    role:\n      name: r\n      maxSessionDuration: one hour\n  - name: b\n    kind: destination\n",
        );
        assert_eq!(
            problems(&recovered),
            [
                (ProblemKind::InvalidValue, "instances[0].kind".to_string()),
                (
                    ProblemKind::WrongType,
                    "instances[0].role.maxSessionDuration".to_string()
                ),
            ]
        );
        let instances = &recovered.manifest.instances;
        assert_eq!(instances.len(), 2);
        let role = instances[0].role.as_ref().expect("the role is read");
        assert_eq!(role.name.as_deref(), Some("r"));
        assert_eq!(instances[1].kind, FunctionKind::Destination);
        let unread = recovered.unread();
        let kind = FieldPath::root().key("instances").index(0).key("kind");
        assert!(unread.covers(&kind));
        assert!(!unread.covers(&FieldPath::root().key("instances").index(0).key("name")));
    }

    #[test]
    fn scalars_are_strings_as_written() {
        let recovered = read(
            "version: 1\ndefaults:\n  tags: { release: 1.10, enabled: True, hex: 0x1F }\ninstances: [{ name: 123, kind: source }, x]\n",
        );
        let tags = &recovered.manifest.defaults.as_ref().unwrap().tags;
        assert_eq!(tags["release"], "1.10");
        assert_eq!(tags["enabled"], "True");
        assert_eq!(tags["hex"], "0x1F");
        assert_eq!(recovered.manifest.instances[0].name, "123");
        // `x` is no instance: a wrong type, not two missing fields.
        assert_eq!(
            problems(&recovered),
            [(ProblemKind::WrongType, "instances[1]".to_string())]
        );
    }

    #[test]
    fn unknown_and_missing_fields_are_reported_without_hiding_the_rest() {
        let recovered = read(
            "version: 1\nbogus: 1\ninstances:\n  - kind: source\n    bucket: { region: us-west-2, colour: red }\n",
        );
        assert_eq!(
            problems(&recovered),
            [
                (ProblemKind::UnknownField, "bogus".to_string()),
                (
                    ProblemKind::UnknownField,
                    "instances[0].bucket.colour".to_string()
                ),
                (
                    ProblemKind::MissingField,
                    "instances[0].bucket.name".to_string()
                ),
                (ProblemKind::MissingField, "instances[0].name".to_string()),
            ]
        );
        let bucket = recovered.manifest.instances[0].bucket.as_ref().unwrap();
        assert_eq!(bucket.region, "us-west-2");
    }

    #[test]
    fn an_empty_value_is_an_empty_list_and_null_is_a_wrong_type() {
        let recovered = read(
            "version: 1\ndefaults:\n  tags:\ninstances:\n  - name: a\n    kind: source\n    managedPolicies: ~\n  - name: b\n    kind: source\n    permissions:\n",
        );
        assert_eq!(
            problems(&recovered),
            [(
                ProblemKind::WrongType,
                "instances[0].managedPolicies".to_string()
            )]
        );
        assert_eq!(recovered.manifest.instances.len(), 2);
    }

    #[test]
    fn integers_out_of_range_are_invalid_values() {
        let recovered = read(
            "version: 1\ninstances:\n  - name: a\n    kind: source\n    externalId: { rotateAfterDays: -5 }\n",
        );
        assert_eq!(
            recovered.problems[0].message,
            "invalid value: integer `-5`, expected an integer from 0 to 4294967295"
        );
        assert_eq!(recovered.problems[0].kind, ProblemKind::InvalidValue);
    }

    #[test]
    fn settings_take_any_value_but_a_tag() {
        let recovered = read(
            "version: 1\ninstances:\n  - name: a\n    kind: source\n    settings: { n: 1, list: [1, a, {b: null}], tagged: !custom x }\n",
        );
        assert_eq!(
            problems(&recovered),
            [(
                ProblemKind::WrongType,
                "instances[0].settings.tagged".to_string()
            )]
        );
        let settings = &recovered.manifest.instances[0].settings;
        assert_eq!(settings["list"], serde_json::json!([1, "a", {"b": null}]));
    }

    #[test]
    fn documents_that_are_not_mappings_are_left_to_the_strict_read() {
        for text in ["", "~", "- a\n- b\n", "just text", "a: [1\n"] {
            assert!(read_manifest(text).is_none(), "{text:?}");
        }
    }
}
