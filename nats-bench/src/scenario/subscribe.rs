//! Scenario `sub`: S subscribers on `opts.subject`, fed by a publisher elsewhere (another
//! `nats-bench pub`, another process or machine), each expecting every message.
//!
//! **What it owns.** Subscribing, signalling [`Options::ready`] once the SUBs are confirmed so a
//! publisher can start, counting until each subscriber has the expected count, and the receive
//! rate from the first message to the last.
//!
//! **What it must never do.** Wait forever: with a duration it stops then and reports what
//! arrived; without one it waits at most `opts.timeout` and then fails if a count is short.

use super::{check_positive, connect_all, join_all, Options, DEFAULT_MSGS};
use crate::error::{Error, Result};
use crate::report::{Rate, Report};
use crate::subscriber::{receive, Stop};
use std::time::Instant;

/// Runs `subs` subscribers that each expect `opts.msgs` messages.
pub async fn run(opts: &Options, subs: usize) -> Result<Report> {
    check_positive("subscribers", subs)?;
    let conns = connect_all(opts, subs, |_| {
        let mut c = opts.connect_options("nats-bench-sub");
        c.setup = format!("SUB {} 1\r\n", opts.subject).into_bytes();
        c
    })
    .await?;
    let version = conns[0].info.version.clone();
    let bound = opts.bound(DEFAULT_MSGS)?;
    let deadline = bound
        .deadline
        .unwrap_or_else(|| Instant::now() + opts.timeout);
    if let Some(p) = &opts.progress {
        let total = bound.count.saturating_mul(subs as u64);
        let total = if bound.count == u64::MAX { 0 } else { total };
        p.total.store(total, std::sync::atomic::Ordering::Relaxed);
    }
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| {
            tokio::spawn(receive(
                c,
                Stop::After(bound.count),
                Some(deadline),
                opts.progress.clone(),
            ))
        })
        .collect();
    if let Some(ready) = &opts.ready {
        ready.notify_one();
    }
    let outs = join_all(tasks).await?;
    let per: Vec<u64> = outs.iter().map(|o| o.received).collect();
    if bound.deadline.is_none() {
        if let Some((i, &got)) = per.iter().enumerate().find(|(_, &n)| n != bound.count) {
            return Err(Error::Count {
                what: format!("messages received by subscriber {i} before the timeout"),
                expected: bound.count,
                got,
            });
        }
    }
    let received: u64 = per.iter().sum();
    let bytes: u64 = outs.iter().map(|o| o.payload_bytes).sum();
    let first = outs.iter().filter_map(|o| o.first).min();
    let last = outs.iter().filter_map(|o| o.last).max();
    let elapsed = match (first, last) {
        (Some(f), Some(l)) => l - f,
        _ => Default::default(),
    };
    let mut report = Report::new("sub", &version, &opts.addr, opts.size);
    report.subscribers = subs;
    report.receive = Some(Rate::with_bytes(received, bytes, elapsed));
    report.per_subscriber = per;
    Ok(report)
}
