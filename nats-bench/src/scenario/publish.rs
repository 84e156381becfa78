//! Scenario `pub`: ingest. P publishers, nobody subscribed: the server parses every `PUB`,
//! finds no interest and drops it.
//!
//! **What it owns.** Connecting the publishers and reporting the publish rate, measured from
//! the first write to the last publisher's `PONG`.
//!
//! **What it must never do.** Report a count the server has not confirmed (see
//! [`crate::publisher`]).

use super::{check_positive, connect_all, publish_all, Options, DEFAULT_MSGS};
use crate::error::Result;
use crate::publisher::Repeat;
use crate::report::{Rate, Report};

/// Runs `pubs` publishers on `opts.subject`.
pub async fn run(opts: &Options, pubs: usize) -> Result<Report> {
    check_positive("publishers", pubs)?;
    let conns = connect_all(opts, pubs, |_| opts.connect_options("nats-bench-pub")).await?;
    let version = conns[0].info.version.clone();
    let bound = opts.bound(DEFAULT_MSGS)?;
    let frames = Repeat::new(&opts.subject, None, opts.size, opts.batch_bytes);
    let totals = publish_all(opts, conns, bound, || frames.clone()).await?;
    let mut report = Report::new("pub", &version, &opts.addr, opts.size);
    report.publishers = pubs;
    report.publish = Some(Rate::new(totals.sent, opts.size, totals.elapsed()));
    Ok(report)
}
