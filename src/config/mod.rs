//! Configuration: the NATS configuration-file language and the typed
//! server [`Options`] built from it.
//!
//! Data flows one way: text → `lexer` (tokens) → `parse` (a [`Value`] tree
//! with positions, variables and includes resolved) → `apply` + `auth`,
//! `cluster`, `tls` (typed [`Options`], nats-server's semantics and texts)
//! → `validate` (cross-field rules) and `reload` (diff of two option sets).
//! Command-line flags live in [`crate::process::cli`], which layers them over this.
//!
//! It mirrors nats-server 2.x `conf/` and `server/opts.go` for core NATS:
//! the user sees nats-server's texts. It never starts listeners, never logs
//! and never exits the process; every difference from nats-server is listed
//! in the doc of the file that makes it (`apply.rs`, `auth.rs`, `cluster.rs`,
//! `jetstream.rs`, `tls.rs`, `url.rs`, `parse.rs`).

pub mod accounts;
mod apply;
mod auth;
mod cluster;
mod error;
pub mod go;
mod jetstream;
mod lexer;
mod options;
mod parse;
mod reload;
mod tls;
mod url;
mod validate;
mod value;

pub use accounts::*;
pub use auth::is_valid_subject;
pub use cluster::{COMPRESSION_MODES, ROUTE_MAX_PING_INTERVAL};
pub use error::{render_warnings, ConfigError, Diag, DiagKind, Warning};
pub use lexer::{tokenize, TokKind, Token};
pub use options::*;
pub use parse::{parse_file, parse_str, Includes, MAX_INCLUDE_DEPTH};
pub use reload::{diff, Change, ReloadError, ACCOUNTS_CHANGE};
pub use tls::{CIPHER_SUITES, CURVES};
pub use url::{RouteUrl, UrlError};
pub use validate::CONNECTION_TYPES;
pub use value::{Datetime, Entry, Kind, Map, Pos, Value};

/// The version this server reports (`nats-server: v2.10.0`, INFO
/// `version`). Clients gate features on it, so it names the nats-server
/// release whose core behaviour we match.
pub const VERSION: &str = "2.10.0";

impl Options {
    /// Reads `path` and builds options from nats-server's defaults and the
    /// file (nats-server's `ProcessConfigFile`). Warnings (such as
    /// `ping_interval should be converted to a duration`) are returned
    /// beside the options; `-t` treats them as failures.
    pub fn from_file(path: &str) -> Result<(Options, Vec<Warning>), ConfigError> {
        let mut o = Options::default();
        let warnings = o.apply_file(path)?;
        Ok((o, warnings))
    }

    /// Applies the file at `path` over the current values (keys absent from
    /// the file keep theirs). On error, `self` may be partly updated.
    pub fn apply_file(&mut self, path: &str) -> Result<Vec<Warning>, ConfigError> {
        self.config_file = Some(path.to_string());
        let root = parse_file(path)?;
        self.apply_map(&root, path)
    }

    /// Applies an already parsed tree (`file` names it in messages).
    pub fn apply_map(&mut self, root: &Map, file: &str) -> Result<Vec<Warning>, ConfigError> {
        let mut report = apply::Report::default();
        apply::apply_file(self, root, file, &mut report);
        if report.errors.is_empty() {
            Ok(report.warnings)
        } else {
            Err(ConfigError::Process {
                warnings: report.warnings,
                errors: report.errors,
            })
        }
    }
}
