//! The one error type of the tool.
//!
//! **What it owns.** Every way a run can fail: I/O, a frame the parser rejects, a `-ERR` from the
//! server, a connection the server closed (a slow consumer is closed without `-ERR`), a timeout,
//! and counts that do not add up. The binary turns any of them into a non-zero exit status.
//!
//! **What it must never do.** Hide a failure behind a partial result: the scenarios return an
//! `Error` instead of a report whose numbers were not checked.

use crate::conn::ParseError;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the tool was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server sent bytes that are not the NATS protocol.
    #[error("protocol error from server: {0}")]
    Parse(#[from] ParseError),
    /// The server sent `-ERR '<text>'`.
    #[error("server error: -ERR '{0}'")]
    Server(String),
    /// The server closed the connection (nats-server closes slow consumers without `-ERR`).
    #[error("server closed the connection ({0})")]
    Closed(String),
    /// Something the tool waited for did not happen in time.
    #[error("timed out {0}")]
    Timeout(String),
    /// The messages counted do not match the messages sent.
    #[error("message counts do not add up: {what}: expected {expected}, got {got}")]
    Count {
        /// Which count.
        what: String,
        /// What the tool sent or computed.
        expected: u64,
        /// What it counted.
        got: u64,
    },
    /// The server answered in a way the scenario cannot use (bad INFO, unexpected reply).
    #[error("unexpected answer from server: {0}")]
    Unexpected(String),
    /// The options make no sense (no bound, zero clients, ...).
    #[error("invalid options: {0}")]
    Config(String),
}

impl Error {
    /// Wraps an I/O error with what the tool was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The result type of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
