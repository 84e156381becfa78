//! Scenario `fanout`: one publisher, K subscribers on the same subject; every subscriber must
//! receive every message, so the server delivers K × sent.
//!
//! **What it owns.** Only the shape; the engine is [`super::pubsub::run_with`].
//!
//! **What it must never do.** Diverge from `pubsub` in how it counts or times.

use super::Options;
use crate::error::Result;
use crate::report::Report;

/// Runs one publisher and `subs` subscribers.
pub async fn run(opts: &Options, subs: usize) -> Result<Report> {
    super::pubsub::run_with(opts, "fanout", 1, subs, None).await
}
