//! `nats-bench`: a load tool for NATS servers, in the spirit of `nats bench`.
//!
//! **What it owns.** Driving a server (ours, nats-server 2.9 or 2.15 — it cannot tell) with
//! bounded, exactly counted load and reporting what came back: message rates, MB/s, latency
//! percentiles, setup times and the server's memory. It speaks the client protocol itself
//! ([`conn`]) so that nothing between the tool and the socket costs more than the server's work:
//! publishers write one pre-encoded buffer of many `PUB` frames again and again
//! ([`publisher`]), subscribers count `MSG` frames without copying them ([`subscriber`]).
//! [`sink`] is a do-nothing TCP "server" that shows the tool's own ceiling.
//!
//! **How to use it as a library.** Build [`Options`], pick a [`Scenario`], call [`run`]; the
//! result is a [`Report`] that [`report`] renders as text, JSON or CSV. Every scenario is also a
//! module under [`scenario`] with its own `run` function.
//!
//! **What it must never do.** Run an unbounded loop (every load loop stops at a message count,
//! a deadline or a timeout), report a number it did not check (a run whose counts do not add up
//! is an [`Error`], never a report), or print: output belongs to the binary.
#![forbid(unsafe_code)]

pub mod conn;
pub mod error;
pub mod hist;
pub mod proc;
pub mod publisher;
pub mod report;
pub mod scenario;
pub mod sink;
pub mod subscriber;

pub use error::Error;
pub use report::Report;
pub use scenario::{run, Options, Progress, Scenario};
