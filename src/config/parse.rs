//! Turns the token stream of `lexer.rs` into a [`Map`] of [`Value`]s:
//! integer suffixes, floats, booleans, dates, `$variable` references,
//! `include` files (nats-server `conf/parse.go`, pedantic mode).
//!
//! Owns scoping (variables resolve in the enclosing maps, innermost first,
//! then in the environment, whose value is parsed with this same grammar)
//! and include resolution relative to the including file. It never
//! interprets option names: an unknown key is not its concern.
//!
//! Deliberate difference: includes nest at most [`MAX_INCLUDE_DEPTH`] deep
//! (nats-server recurses until its stack overflows).

use std::collections::HashSet;
use std::sync::Arc;

use super::error::ConfigError;
use super::go;
use super::lexer::{tokenize, TokKind, Token};
use super::value::{Datetime, Kind, Map, Pos, Value};

/// Includes nested deeper than this are refused.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// Where includes may be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Includes {
    /// Read them from the file system (normal operation).
    Read,
    /// Refuse them (fuzzing, parsing untrusted strings).
    Refuse,
}

/// Reads and parses a configuration file. `path` is used verbatim in
/// positions and messages, as nats-server does with its `-c` argument.
pub fn parse_file(path: &str) -> Result<Map, ConfigError> {
    let data = std::fs::read(path).map_err(|e| ConfigError::Io(go::os_error("open", path, &e)))?;
    let text = String::from_utf8_lossy(&data);
    let mut env_refs = HashSet::new();
    parse_with(&text, path, Includes::Read, 0, &mut env_refs)
}

/// Parses configuration text; `file` names it in positions, and includes
/// are resolved relative to its directory (when `includes` allows them).
pub fn parse_str(text: &str, file: &str, includes: Includes) -> Result<Map, ConfigError> {
    let mut env_refs = HashSet::new();
    parse_with(text, file, includes, 0, &mut env_refs)
}

fn parse_with(
    text: &str,
    file: &str,
    includes: Includes,
    depth: usize,
    env_refs: &mut HashSet<String>,
) -> Result<Map, ConfigError> {
    let mut p = Parser {
        file: Arc::from(file),
        dir: if file.is_empty() {
            String::new()
        } else {
            go::dir_of(file)
        },
        includes,
        depth,
        ctxs: vec![Ctx::Map(Map::default())],
        keys: Vec::new(),
        env_refs,
    };
    let tokens = tokenize(text);
    let mut prev: Option<&Token> = None;
    for tok in &tokens {
        if tok.kind == TokKind::Eof {
            if let Some(pk) = prev {
                if pk.kind == TokKind::Key && pk.val != "}" {
                    return Err(ConfigError::Parse(format!(
                        "config is invalid ({}:{}:{})",
                        file, tok.line, tok.col
                    )));
                }
            }
            break;
        }
        prev = Some(tok);
        p.process(tok)?;
    }
    match p.ctxs.into_iter().next() {
        Some(Ctx::Map(m)) => Ok(m),
        _ => Err(ConfigError::Parse(
            "BUG in parser, context stack empty".to_string(),
        )),
    }
}

enum Ctx {
    Map(Map),
    Array(Vec<Value>),
}

struct Parser<'e> {
    file: Arc<str>,
    dir: String,
    includes: Includes,
    depth: usize,
    ctxs: Vec<Ctx>,
    /// Pending keys with their positions.
    keys: Vec<(String, Pos)>,
    env_refs: &'e mut HashSet<String>,
}

impl Parser<'_> {
    fn pos(&self, tok: &Token) -> Pos {
        Pos {
            file: self.file.clone(),
            line: tok.line,
            col: tok.col,
        }
    }

    fn process(&mut self, tok: &Token) -> Result<(), ConfigError> {
        let pos = self.pos(tok);
        match tok.kind {
            TokKind::Error => {
                return Err(ConfigError::Parse(format!(
                    "Parse error on line {}: '{}'",
                    tok.line, tok.val
                )))
            }
            TokKind::Key => self.keys.push((tok.val.clone(), pos)),
            TokKind::MapStart => self.ctxs.push(Ctx::Map(Map::default())),
            TokKind::ArrayStart => self.ctxs.push(Ctx::Array(Vec::new())),
            TokKind::MapEnd | TokKind::ArrayEnd => {
                if self.ctxs.len() < 2 {
                    return Err(ConfigError::Parse(
                        "BUG in parser, context stack empty".into(),
                    ));
                }
                let kind = match self.ctxs.pop() {
                    Some(Ctx::Map(m)) => Kind::Map(m),
                    Some(Ctx::Array(a)) => Kind::Array(a),
                    None => unreachable!("checked above"),
                };
                self.set_value(Value::new(kind, pos))?;
            }
            TokKind::String => self.set_value(Value::new(Kind::String(tok.val.clone()), pos))?,
            TokKind::Integer => {
                if let Some(n) = parse_integer(&tok.val)? {
                    self.set_value(Value::new(Kind::Integer(n), pos))?;
                }
            }
            TokKind::Float => {
                let f: f64 = tok.val.parse().map_err(|_| {
                    ConfigError::Parse(format!("expected float, but got '{}'", tok.val))
                })?;
                if f.is_infinite() {
                    return Err(ConfigError::Parse(format!(
                        "float '{}' is out of the range",
                        tok.val
                    )));
                }
                self.set_value(Value::new(Kind::Float(f), pos))?;
            }
            TokKind::Bool => {
                let b = match tok.val.to_lowercase().as_str() {
                    "true" | "yes" | "on" => true,
                    "false" | "no" | "off" => false,
                    _ => {
                        return Err(ConfigError::Parse(format!(
                            "expected boolean value, but got '{}'",
                            tok.val
                        )))
                    }
                };
                self.set_value(Value::new(Kind::Bool(b), pos))?;
            }
            TokKind::Datetime => {
                let dt = parse_datetime(&tok.val).ok_or_else(|| {
                    ConfigError::Parse(format!(
                        "expected Zulu formatted DateTime, but got '{}'",
                        tok.val
                    ))
                })?;
                self.set_value(Value::new(Kind::Datetime(dt), pos))?;
            }
            TokKind::Variable => {
                let mut v = self.lookup_variable(&tok.val, tok.line)?;
                v.pos = pos;
                self.set_value(v)?;
            }
            TokKind::Include => self.include(&tok.val)?,
            TokKind::CommentStart | TokKind::Text | TokKind::Eof => {}
        }
        Ok(())
    }

    /// Stores `v` in the current context: appended to an array, or under the
    /// pending key of a map (taking the key's position).
    fn set_value(&mut self, mut v: Value) -> Result<(), ConfigError> {
        match self.ctxs.last_mut() {
            Some(Ctx::Array(a)) => a.push(v),
            Some(Ctx::Map(m)) => {
                let (key, kpos) = self
                    .keys
                    .pop()
                    .ok_or_else(|| ConfigError::Parse("BUG in parser, keys stack empty".into()))?;
                v.pos = kpos;
                m.insert(key, v);
            }
            None => {
                return Err(ConfigError::Parse(
                    "BUG in parser, context stack empty".into(),
                ))
            }
        }
        Ok(())
    }

    fn lookup_variable(&mut self, name: &str, line: usize) -> Result<Value, ConfigError> {
        let pos = Pos {
            file: self.file.clone(),
            line,
            col: 0,
        };
        // An unquoted bcrypt hash ($2a$…) is a string, not a reference.
        if name.starts_with("2a$") {
            return Ok(Value::new(Kind::String(format!("${name}")), pos));
        }
        for ctx in self.ctxs.iter_mut().rev() {
            if let Ctx::Map(m) = ctx {
                if let Some(e) = m.get_exact_mut(name) {
                    e.used_as_variable = true;
                    return Ok(e.value.clone());
                }
            }
        }
        let wrap = |e: ConfigError| {
            ConfigError::Parse(format!(
                "variable reference for '{name}' on line {line} could not be parsed: {e}"
            ))
        };
        if self.env_refs.contains(name) {
            return Err(wrap(ConfigError::Parse(format!(
                "variable reference cycle for '{name}'"
            ))));
        }
        let not_found = || {
            ConfigError::Parse(format!(
                "variable reference for '{name}' on line {line} can not be found"
            ))
        };
        let Some(env) = std::env::var_os(name) else {
            return Err(not_found());
        };
        let env = env.to_string_lossy().into_owned();
        self.env_refs.insert(name.to_string());
        let parsed = parse_with(
            &format!("pk={env}"),
            "",
            Includes::Refuse,
            self.depth,
            self.env_refs,
        );
        self.env_refs.remove(name);
        let map = parsed.map_err(wrap)?;
        map.get("pk").cloned().ok_or_else(not_found)
    }

    fn include(&mut self, name: &str) -> Result<(), ConfigError> {
        let path = go::join_path(&self.dir, name);
        let wrap =
            |msg: String| ConfigError::Parse(format!("error parsing include file '{name}', {msg}"));
        if self.includes == Includes::Refuse {
            return Err(wrap("includes are not allowed here".to_string()));
        }
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(wrap(format!(
                "includes nested more than {MAX_INCLUDE_DEPTH} deep"
            )));
        }
        let data = std::fs::read(&path).map_err(|e| wrap(go::os_error("open", &path, &e)))?;
        let text = String::from_utf8_lossy(&data);
        let included = parse_with(&text, &path, self.includes, self.depth + 1, self.env_refs)
            .map_err(|e| wrap(e.to_string()))?;
        for entry in included.entries {
            let key = entry.key.clone();
            let kpos = entry.value.pos.clone();
            self.keys.push((key, kpos));
            self.set_value(entry.value)?;
            if entry.used_as_variable {
                if let Some(Ctx::Map(m)) = self.ctxs.last_mut() {
                    if let Some(e) = m.get_exact_mut(&entry.key) {
                        e.used_as_variable = true;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses an integer token with its optional size suffix. `Ok(None)` for an
/// unrecognised suffix: nats-server then silently drops the value.
fn parse_integer(val: &str) -> Result<Option<i64>, ConfigError> {
    let n = val
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '-')
        .map_or(val.len(), |(i, _)| i);
    let digits = &val[..n];
    let num: i64 = match digits.parse::<i64>() {
        Ok(v) => v,
        Err(_) if go::atoi(digits).is_none() && !digits.is_empty() && is_decimal(digits) => {
            return Err(ConfigError::Parse(format!(
                "integer '{val}' is out of the range"
            )))
        }
        Err(_) => {
            return Err(ConfigError::Parse(format!(
                "expected integer, but got '{val}'"
            )))
        }
    };
    let k: i64 = 1000;
    let ki: i64 = 1024;
    let mul = match val[n..].trim().to_lowercase().as_str() {
        "" => 1,
        "k" => k,
        "kb" | "ki" | "kib" => ki,
        "m" => k.pow(2),
        "mb" | "mi" | "mib" => ki.pow(2),
        "g" => k.pow(3),
        "gb" | "gi" | "gib" => ki.pow(3),
        "t" => k.pow(4),
        "tb" | "ti" | "tib" => ki.pow(4),
        "p" => k.pow(5),
        "pb" | "pi" | "pib" => ki.pow(5),
        "e" => k.pow(6),
        "eb" | "ei" | "eib" => ki.pow(6),
        _ => return Ok(None),
    };
    // nats-server multiplies without overflow checks.
    Ok(Some(num.wrapping_mul(mul)))
}

/// A syntactically valid decimal integer (so a parse failure means range).
fn is_decimal(s: &str) -> bool {
    let d = s.strip_prefix('-').unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn parse_datetime(s: &str) -> Option<Datetime> {
    let b = s.as_bytes();
    if b.len() != 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> { s.get(r)?.parse().ok() };
    let dt = Datetime {
        year: num(0..4)?,
        month: num(5..7)? as u8,
        day: num(8..10)? as u8,
        hour: num(11..13)? as u8,
        minute: num(14..16)? as u8,
        second: num(17..19)? as u8,
    };
    let leap = dt.year % 4 == 0 && (dt.year % 100 != 0 || dt.year % 400 == 0);
    let days = match dt.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (dt.day >= 1 && dt.day <= days && dt.hour < 24 && dt.minute < 60 && dt.second < 60)
        .then_some(dt)
}
