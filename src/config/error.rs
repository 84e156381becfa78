//! Errors and warnings of the configuration layer, with nats-server's texts.
//!
//! Owns only the shapes and their `Display`; the texts are nats-server's so
//! that `nats-server: <error>` printed by `main` is byte-identical. It never
//! prints, logs or exits: callers decide.

use std::fmt;

use super::value::Pos;

/// One semantic problem found while applying a parsed file to [`Options`]
/// (`processConfigFileLine` in nats-server), with the position of the key.
///
/// [`Options`]: super::Options
#[derive(Debug, Clone, PartialEq)]
pub struct Diag {
    /// Where; `None` when nats-server reports the reason alone.
    pub pos: Option<Pos>,
    pub kind: DiagKind,
}

/// What a [`Diag`] says.
#[derive(Debug, Clone, PartialEq)]
pub enum DiagKind {
    /// `unknown field "foo"`.
    UnknownField(String),
    /// Any other error, e.g. `interface conversion: interface {} is string, not int64`.
    Invalid(String),
    /// A warning: `invalid use of field "ping_interval": ping_interval should be converted to a duration`.
    Warning { field: String, reason: String },
    /// A key nats-server knows but this server does not implement
    /// (JetStream, leaf nodes, gateways, websocket, MQTT, …).
    Unsupported(String),
}

/// A warning is a [`Diag`] of kind [`DiagKind::Warning`] (or a positioned
/// notice such as the integer-duration one).
pub type Warning = Diag;

impl Diag {
    pub fn invalid(pos: &Pos, reason: impl Into<String>) -> Self {
        Diag {
            pos: Some(pos.clone()),
            kind: DiagKind::Invalid(reason.into()),
        }
    }

    pub fn unknown(pos: &Pos, field: &str) -> Self {
        Diag {
            pos: Some(pos.clone()),
            kind: DiagKind::UnknownField(field.to_string()),
        }
    }

    pub fn warning(pos: &Pos, field: &str, reason: impl Into<String>) -> Self {
        Diag {
            pos: Some(pos.clone()),
            kind: DiagKind::Warning {
                field: field.to_string(),
                reason: reason.into(),
            },
        }
    }

    pub fn is_warning(&self) -> bool {
        matches!(self.kind, DiagKind::Warning { .. })
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(pos) = &self.pos {
            write!(f, "{pos}: ")?;
        }
        match &self.kind {
            DiagKind::UnknownField(field) => write!(f, "unknown field \"{field}\""),
            DiagKind::Invalid(reason) => f.write_str(reason),
            DiagKind::Warning { field, reason } => {
                write!(f, "invalid use of field \"{field}\": {reason}")
            }
            DiagKind::Unsupported(field) => write!(
                f,
                "field \"{field}\" is not supported by this server (core NATS only)"
            ),
        }
    }
}

/// Why a configuration file could not be turned into options.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read: `open x.conf: no such file or directory`.
    #[error("{0}")]
    Io(String),
    /// The grammar rejected the text, e.g.
    /// `Parse error on line 2: 'Expected a top-level value …'`,
    /// `variable reference for 'X' on line 1 can not be found`,
    /// `error parsing include file 'x', …`, `config is invalid (f:1:4)`.
    #[error("{0}")]
    Parse(String),
    /// Semantic errors (and the warnings found with them). Displayed as
    /// nats-server does: warnings first, then errors, one per line, each
    /// followed by a newline.
    #[error("{}", render(.warnings, .errors))]
    Process {
        warnings: Vec<Warning>,
        errors: Vec<Diag>,
    },
    /// A cross-field check failed (nats-server's `validateOptions`), e.g.
    /// `max_payload (2000000) cannot be higher than max_pending (1000000)`.
    #[error("{0}")]
    Invalid(String),
}

fn render(warnings: &[Warning], errors: &[Diag]) -> String {
    let mut s = String::new();
    for d in warnings.iter().chain(errors) {
        s.push_str(&d.to_string());
        s.push('\n');
    }
    s
}

/// Renders warnings the way nats-server prints them when it continues
/// (each line followed by a newline).
pub fn render_warnings(warnings: &[Warning]) -> String {
    render(warnings, &[])
}
