//! Configuration: the NATS configuration-file language.
//!
//! Data flows one way: text → `lexer` (tokens) → `parse` (a [`Value`] tree
//! with positions, variables and includes resolved). It mirrors nats-server
//! 2.x `conf/`; the user sees nats-server's texts. It never starts
//! listeners, never logs and never exits the process.

mod error;
pub mod go;
mod lexer;
mod parse;
mod value;

pub use error::{render_warnings, ConfigError, Diag, DiagKind, Warning};
pub use lexer::{tokenize, TokKind, Token};
pub use parse::{parse_file, parse_str, Includes, MAX_INCLUDE_DEPTH};
pub use value::{Datetime, Entry, Kind, Map, Pos, Value};
