//! `store_dir` and `jetstream` (nats-server `parseJetStream`) for a server
//! without JetStream.
//!
//! Owns the keys that can leave JetStream off: a store directory
//! (`store_dir`, `storedir`, or `store`/`store_dir`/`storedir` inside the
//! block; both set is `Duplicate 'store_dir' configuration`) and a block
//! that disables it (`jetstream: false`, `"disabled"`, `{ enabled: false
//! … }`). These are accepted with nats-server's texts and have no effect,
//! as in nats-server with JetStream off. Everything that would enable
//! JetStream (`true`, `"enabled"`, a block without `enabled: false`) is
//! refused as unsupported (`field "jetstream" is not supported by this
//! server (core NATS only)`).
//!
//! Deliberate differences: the values of the other keys of a disabled
//! block (limits, sizes, keys…) are not checked, since nothing reads them;
//! a file that enables JetStream is refused even when `-js=false` would
//! turn it off again on the command line.

use super::apply::{type_err, Report, R};
use super::error::{Diag, DiagKind};
use super::options::Options;
use super::value::{Kind, Value};

/// Keys nats-server knows inside `jetstream {}` (besides `enabled`,
/// `strict` and the store directory, which are checked).
const OTHER_KEYS: &[&str] = &[
    "sync",
    "sync_interval",
    "max_memory_store",
    "max_mem_store",
    "max_mem",
    "max_file_store",
    "max_file",
    "domain",
    "key",
    "ek",
    "encryption_key",
    "prev_key",
    "prev_ek",
    "prev_encryption_key",
    "cipher",
    "extension_hint",
    "limits",
    "tpm",
    "unique_tag",
    "max_outstanding_catchup",
    "max_buffered_size",
    "max_buffered_msgs",
    "request_queue_limit",
    "info_queue_limit",
    "meta_compact",
    "meta_compact_size",
    "meta_compact_sync",
    "max_concurrent_io",
];

/// Top-level `store_dir`/`storedir`.
pub(super) fn apply_store_dir(o: &mut Options, v: &Value) -> R<()> {
    set_store_dir(o, v, v)
}

/// Sets the store directory from `mv`; a type error is reported at `at`
/// (nats-server reports it at the top-level key).
fn set_store_dir(o: &mut Options, mv: &Value, at: &Value) -> R<()> {
    if !o.store_dir.is_empty() {
        return Err(Diag::invalid(
            &mv.pos,
            "Duplicate 'store_dir' configuration",
        ));
    }
    o.store_dir = mv
        .as_str()
        .ok_or_else(|| type_err_at(mv, at, "string"))?
        .to_string();
    Ok(())
}

/// `jetstream`: a bool, `"enabled"`/`"disabled"`, or a block.
pub(super) fn apply_jetstream(o: &mut Options, key: &str, v: &Value, rep: &mut Report) -> R<()> {
    let enabled = match &v.kind {
        Kind::Bool(b) => *b,
        Kind::String(s) => match s.to_lowercase().as_str() {
            "enabled" | "enable" => true,
            "disabled" | "disable" => false,
            _ => {
                return Err(Diag::invalid(
                    &v.pos,
                    format!("Expected 'enabled' or 'disabled' for string value, got '{s}'"),
                ))
            }
        },
        Kind::Map(m) => {
            let mut enabled = true;
            for e in m.iter() {
                let mv = &e.value;
                match e.lower.as_str() {
                    "enabled" | "enable" => {
                        enabled = mv.as_bool().ok_or_else(|| type_err_at(mv, v, "bool"))?
                    }
                    "strict" => {
                        if mv.as_bool().is_none() {
                            return Err(Diag::invalid(
                                &mv.pos,
                                format!(
                                    "Expected 'true' or 'false' for bool value, got '{}'",
                                    go_percent_s(mv)
                                ),
                            ));
                        }
                    }
                    "store" | "store_dir" | "storedir" => set_store_dir(o, mv, v)?,
                    k if OTHER_KEYS.contains(&k) => {}
                    _ if e.used_as_variable => {}
                    _ => rep.errors.push(Diag::unknown(&mv.pos, &e.key)),
                }
            }
            enabled
        }
        _ => {
            return Err(Diag::invalid(
                &v.pos,
                format!(
                    "Expected map, bool or string to define JetStream, got {}",
                    v.go_type()
                ),
            ))
        }
    };
    if enabled {
        return Err(Diag {
            pos: Some(v.pos.clone()),
            kind: DiagKind::Unsupported(key.to_string()),
        });
    }
    Ok(())
}

/// Go's `interface conversion` error about `mv`, placed at `at`.
fn type_err_at(mv: &Value, at: &Value, want: &str) -> Diag {
    Diag {
        pos: Some(at.pos.clone()),
        ..type_err(mv, want)
    }
}

/// What Go's `%s` prints for a non-string value: `%!s(int64=5)`.
fn go_percent_s(v: &Value) -> String {
    match &v.kind {
        Kind::String(s) => s.clone(),
        _ => format!("%!s({}={})", v.go_type(), super::apply::go_v(v)),
    }
}
