//! The parsed configuration tree: [`Value`] nodes that remember where they
//! came from ([`Pos`]: file, line, column).
//!
//! This module owns only the data shape and small accessors. It never reads
//! files, never resolves variables and never interprets keys: that is the
//! parser's job (`parse.rs`) and the options layer's (`apply.rs` …).
//!
//! Positions follow nats-server's reporting convention so error texts match
//! byte for byte: `line` is 1-based, `col` is the byte offset from the newline
//! that ends the previous line — so it is 0-based on line 1 and 1-based on the
//! following lines (`bad.conf:1:0`, `bad.conf:2:1`). A value stored under a
//! map key carries the *key's* position, as nats-server reports errors there.

use std::fmt;
use std::sync::Arc;

/// Where a value (or the key it is stored under) was written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pos {
    /// The file as it was named (the `-c` argument, or the include path
    /// joined to the including file's directory); empty for strings parsed
    /// without a file (environment variables, tests).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// nats-server's column (see the module doc).
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A UTC date-time written as `2016-05-04T18:53:41Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datetime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl fmt::Display for Datetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// One key of a [`Map`]: the spelling used in the file and its lower-cased
/// form (option names are case-insensitive; variable names are not).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as written (variables are looked up by this spelling).
    pub key: String,
    /// `key` lower-cased, for option lookup.
    pub lower: String,
    pub value: Value,
    /// Set when some `$key` reference resolved to this entry: nats-server
    /// then does not report the key as unknown.
    pub used_as_variable: bool,
}

/// An ordered map. Re-assigning an identical key replaces the earlier entry
/// (nats-server keeps only the last assignment) and moves it to the end.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    pub entries: Vec<Entry>,
}

impl Map {
    /// Inserts or replaces `key` (exact spelling).
    pub fn insert(&mut self, key: String, value: Value) {
        self.entries.retain(|e| e.key != key);
        let lower = key.to_lowercase();
        self.entries.push(Entry {
            key,
            lower,
            value,
            used_as_variable: false,
        });
    }

    /// Case-insensitive lookup of the last entry named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let lower = name.to_lowercase();
        self.entries
            .iter()
            .rev()
            .find(|e| e.lower == lower)
            .map(|e| &e.value)
    }

    /// Exact (case-sensitive) lookup, used for variables.
    pub fn get_exact_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.key == key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

/// The payload of a [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Map(Map),
    Array(Vec<Value>),
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Datetime(Datetime),
}

/// A configuration value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub pos: Pos,
}

impl Value {
    pub fn new(kind: Kind, pos: Pos) -> Self {
        Value { kind, pos }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.kind {
            Kind::Integer(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            Kind::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            Kind::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The Go dynamic type name nats-server prints in type errors
    /// (`interface {} is string, not int64`).
    pub fn go_type(&self) -> &'static str {
        match self.kind {
            Kind::Map(_) => "map[string]interface {}",
            Kind::Array(_) => "[]interface {}",
            Kind::String(_) => "string",
            Kind::Integer(_) => "int64",
            Kind::Float(_) => "float64",
            Kind::Bool(_) => "bool",
            Kind::Datetime(_) => "time.Time",
        }
    }
}
