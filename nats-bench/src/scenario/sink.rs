//! Scenario `sink`: the publisher against [`crate::sink::Sink`], an in-process TCP reader that
//! discards everything. No server is involved; the rate is the tool's own ceiling, to compare
//! with what the servers reach.
//!
//! **What it owns.** Starting the sink, running the same publishers as `pub` against it, and
//! checking that the sink read exactly the bytes the publishers wrote.
//!
//! **What it must never do.** Connect to `opts.addr`: this scenario measures the tool alone.

use super::{check_positive, connect_all, publish_all, Options, DEFAULT_MSGS};
use crate::error::{Error, Result};
use crate::publisher::Repeat;
use crate::report::{Rate, Report};
use crate::sink::{Sink, SINK_VERSION};

/// Runs `pubs` publishers against a fresh sink.
pub async fn run(opts: &Options, pubs: usize) -> Result<Report> {
    check_positive("publishers", pubs)?;
    let sink = Sink::start()
        .await
        .map_err(|e| Error::io("starting the sink", e))?;
    let mut opts = opts.clone();
    opts.addr = sink.addr().to_string();
    let conns = connect_all(&opts, pubs, |_| opts.connect_options("nats-bench-sink")).await?;
    let bound = opts.bound(DEFAULT_MSGS)?;
    let frames = Repeat::new(&opts.subject, None, opts.size, opts.batch_bytes);
    let totals = publish_all(&opts, conns, bound, || frames.clone()).await?;
    if sink.bytes() != totals.written {
        return Err(Error::Count {
            what: "bytes read by the sink".into(),
            expected: totals.written,
            got: sink.bytes(),
        });
    }
    let mut report = Report::new("sink", SINK_VERSION, &opts.addr, opts.size);
    report.publishers = pubs;
    report.publish = Some(Rate::new(totals.sent, opts.size, totals.elapsed()));
    Ok(report)
}
