//! The command line of nats-server 2.x: every flag, Go `flag` syntax, the
//! usage text, and the precedence defaults → flags → file → flags again
//! (kept on reload).
//!
//! Owns argument parsing ([`Cli::parse`]), what the process should do
//! ([`Cli::action`]), building [`Options`] ([`options`], [`load`]),
//! reloading ([`reload`]) and `--signal` ([`SignalRequest`]). It never
//! starts a server, never prints and never exits: `main` does, with the
//! texts and exit codes carried by [`CliError`].
//!
//! Why not clap: Go's `flag` package accepts `-name` and `--name` alike,
//! has multi-letter single-dash flags that are not bundles (`-DV` is its
//! own flag, so `-DV=false` works), lets booleans take a value only with
//! `=`, stops at the first non-flag argument, lets the last of several
//! aliases win, and prints fixed texts (`flag provided but not defined:
//! -bogus`). Expressing that in clap needs a pre-parser that does the whole
//! job anyway, so the flag table (`flags.rs`) is hand-written.
//!
//! Deliberate differences: `-js`/`--jetstream` is refused (`JetStream is
//! not supported by this server (core NATS only)`), while `-sd`/
//! `--store_dir` alone is accepted and unused, as nats-server does with
//! JetStream off; a `--routes` entry that is not a URL is an error instead
//! of a crash later.
//!
//! Files: `flags.rs` is the flag table and Go `flag` parsing, `usage.rs`
//! the fixed help texts, `merge.rs` turns flags into [`Options`] (over the
//! configuration file, also on reload), `signal.rs` is `--signal`. This
//! file decides what the process should do ([`Cli::action`]).

mod flags;
mod merge;
mod signal;
mod usage;

pub use flags::{Cli, FlagId, FlagValue, SetFlag};
pub use merge::{config_valid_line, load, options, reload, Loaded};
pub use signal::{SignalCommand, SignalRequest};
pub use usage::{tls_help, version_line, USAGE};

use crate::config::ConfigError;
#[cfg(doc)]
use crate::config::Options;

/// What the process is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Help,
    Version,
    HelpTls,
    Signal(SignalRequest),
    /// Check the configuration (`-t`) and exit.
    Check,
    Run,
}

/// Errors of the command line, with nats-server's texts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CliError {
    /// A flag syntax error (`flag provided but not defined: -bogus`). Go
    /// prints it on stderr followed by the usage on stdout and exits 0.
    #[error("{0}")]
    Flag(String),
    #[error("unrecognized command: {0:?}")]
    UnrecognizedCommand(String),
    #[error("must specify [-c, --config] option to check configuration file syntax")]
    CheckWithoutConfig,
    #[error("solicited routes require cluster capabilities, e.g. --cluster")]
    RoutesWithoutCluster,
    /// `--cluster`, `--routes` or `--tls*` values that do not work.
    #[error("{0}")]
    Invalid(String),
    #[error("JetStream is not supported by this server (core NATS only)")]
    JetStreamUnsupported,
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Signal(String),
}

impl CliError {
    /// The exit code nats-server uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Flag(_) => 0,
            _ => 1,
        }
    }

    /// True when the usage text follows the message (flag syntax errors).
    pub fn prints_usage(&self) -> bool {
        matches!(self, CliError::Flag(_))
    }
}

impl Cli {
    /// The `-c` file, if any.
    pub fn config_file(&self) -> Option<&str> {
        self.last_str(FlagId::Config).filter(|s| !s.is_empty())
    }

    /// True when `-t` was given.
    pub fn check_config(&self) -> bool {
        self.last_bool(FlagId::CheckConfig)
    }

    /// What to do, in nats-server's order: version, help, TLS help, the
    /// positional command, signal, check, run.
    pub fn action(&self) -> Result<Action, CliError> {
        if self.last_bool(FlagId::Version) {
            return Ok(Action::Version);
        }
        if self.last_bool(FlagId::Help) {
            return Ok(Action::Help);
        }
        if self.last_bool(FlagId::HelpTls) {
            return Ok(Action::HelpTls);
        }
        if let Some(arg) = self.positional.first() {
            return match arg.to_lowercase().as_str() {
                "version" => Ok(Action::Version),
                "help" => Ok(Action::Help),
                _ => Err(CliError::UnrecognizedCommand(arg.clone())),
            };
        }
        if let Some(sig) = self.last_str(FlagId::Signal).filter(|s| !s.is_empty()) {
            return Ok(Action::Signal(SignalRequest::parse(sig)?));
        }
        if self.check_config() {
            return Ok(Action::Check);
        }
        Ok(Action::Run)
    }
}
