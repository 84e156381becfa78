//! JSON shape comparison for the differential monitoring tests: a value's
//! [`Shape`] (objects by key, arrays by the merged shape of their elements,
//! numbers as one type, since Go prints integral floats as ints), and
//! [`compare`], which lists every key present on one side only and every
//! type that differs, except where the caller allows it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The shape of a JSON value: objects by key, arrays by the merged shape of
/// their elements, numbers as one type (Go prints integral floats as ints).
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Null,
    Bool,
    Number,
    String,
    Array(Option<Box<Shape>>),
    Object(BTreeMap<String, Shape>),
    Mixed(Vec<Shape>),
}

pub fn shape(v: &Value) -> Shape {
    match v {
        Value::Null => Shape::Null,
        Value::Bool(_) => Shape::Bool,
        Value::Number(_) => Shape::Number,
        Value::String(_) => Shape::String,
        Value::Array(items) => Shape::Array(items.iter().map(shape).reduce(merge).map(Box::new)),
        Value::Object(map) => {
            Shape::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
    }
}

/// Merges two element shapes: objects by the union of their keys.
pub fn merge(a: Shape, b: Shape) -> Shape {
    match (a, b) {
        (Shape::Object(mut x), Shape::Object(y)) => {
            for (k, v) in y {
                let merged = match x.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                x.insert(k, merged);
            }
            Shape::Object(x)
        }
        (Shape::Array(x), Shape::Array(y)) => Shape::Array(match (x, y) {
            (Some(x), Some(y)) => Some(Box::new(merge(*x, *y))),
            (x, y) => x.or(y),
        }),
        (a, b) if a == b => a,
        (a, b) => Shape::Mixed(vec![a, b]),
    }
}

/// Compares shapes at `path` of `endpoint`, collecting unexplained
/// differences in `diffs`; `allowed(endpoint, path)` says which paths may
/// differ (a whole subtree when its root is allowed).
pub fn compare(
    endpoint: &str,
    path: &str,
    ours: &Shape,
    theirs: &Shape,
    diffs: &mut Vec<String>,
    allowed: &dyn Fn(&str, &str) -> bool,
) {
    if allowed(endpoint, path) {
        return;
    }
    match (ours, theirs) {
        (Shape::Object(a), Shape::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => compare(endpoint, &p, x, y, diffs, allowed),
                    (Some(_), None) if !allowed(endpoint, &p) => {
                        diffs.push(format!("{endpoint} {p}: only ours has it"))
                    }
                    (None, Some(_)) if !allowed(endpoint, &p) => {
                        diffs.push(format!("{endpoint} {p}: only nats-server has it"))
                    }
                    _ => {}
                }
            }
        }
        (Shape::Array(a), Shape::Array(b)) => {
            if let (Some(a), Some(b)) = (a, b) {
                compare(endpoint, &format!("{path}[]"), a, b, diffs, allowed);
            }
        }
        (a, b) if a == b => {}
        (a, b) => diffs.push(format!("{endpoint} {path}: ours {a:?}, nats-server {b:?}")),
    }
}
