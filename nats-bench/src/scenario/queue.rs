//! Scenario `queue`: one publisher, K subscribers in one queue group; the server gives each
//! message to exactly one of them, so the total received must equal the total sent.
//!
//! **What it owns.** Only the shape; the engine is [`super::pubsub::run_with`]. The report's
//! `per_subscriber` shows how evenly the server spread the messages.
//!
//! **What it must never do.** Check the spread: nats-server picks members at random, so any
//! split that adds up is correct.

use super::Options;
use crate::error::Result;
use crate::report::Report;

/// Runs one publisher and `subs` subscribers in queue group `group`.
pub async fn run(opts: &Options, subs: usize, group: &str) -> Result<Report> {
    super::pubsub::run_with(opts, "queue", 1, subs, Some(group)).await
}
