//! Scenario `pubsub`: P publishers and S subscribers on one subject; also the engine of
//! `fanout` (1 publisher, K subscribers) and `queue` (the K subscribers in one queue group).
//!
//! **What it owns.** Setting up subscribers before the first publish (their SUB is confirmed by
//! the handshake PONG), running publishers and subscribers at once, ending the subscribers
//! with a flush once the publishers' counts are confirmed, and checking the counts: without a
//! queue group every subscriber must get every message; with one, the subscribers together must
//! get each message exactly once. The receive rate counts every delivery (K × sent for
//! fan-out) from the first publish to the read holding the last message.
//!
//! **What it must never do.** Report when a count is off: that is [`Error::Count`].

use super::{check_positive, connect_all, join_all, publish_all, Options, DEFAULT_MSGS};
use crate::error::{Error, Result};
use crate::publisher::Repeat;
use crate::report::{Rate, Report};
use crate::subscriber::{receive, Stop};
use tokio::sync::watch;

/// Runs `pubs` publishers and `subs` subscribers on `opts.subject`.
pub async fn run(opts: &Options, pubs: usize, subs: usize) -> Result<Report> {
    run_with(opts, "pubsub", pubs, subs, None).await
}

/// The shared engine; `queue` puts the subscribers in that queue group.
pub async fn run_with(
    opts: &Options,
    name: &str,
    pubs: usize,
    subs: usize,
    queue: Option<&str>,
) -> Result<Report> {
    check_positive("publishers", pubs)?;
    check_positive("subscribers", subs)?;
    let sub_line = match queue {
        Some(q) => format!("SUB {} {q} 1\r\n", opts.subject),
        None => format!("SUB {} 1\r\n", opts.subject),
    };
    let sub_conns = connect_all(opts, subs, |_| {
        let mut c = opts.connect_options("nats-bench-sub");
        c.setup = sub_line.clone().into_bytes();
        c
    })
    .await?;
    let pub_conns = connect_all(opts, pubs, |_| opts.connect_options("nats-bench-pub")).await?;
    let version = sub_conns[0].info.version.clone();

    let (stop_tx, stop_rx) = watch::channel(false);
    let sub_tasks: Vec<_> = sub_conns
        .into_iter()
        .map(|c| tokio::spawn(receive(c, Stop::OnSignal(stop_rx.clone()), None, None)))
        .collect();
    let bound = opts.bound(DEFAULT_MSGS)?;
    let frames = Repeat::new(&opts.subject, None, opts.size, opts.batch_bytes);
    let totals = publish_all(opts, pub_conns, bound, || frames.clone()).await;
    let _ = stop_tx.send(true);
    let outs = join_all(sub_tasks).await;
    let totals = totals?;
    let outs = outs?;

    let per: Vec<u64> = outs.iter().map(|o| o.received).collect();
    let received: u64 = per.iter().sum();
    if queue.is_some() {
        if received != totals.sent {
            return Err(Error::Count {
                what: "messages received by the queue group".into(),
                expected: totals.sent,
                got: received,
            });
        }
    } else if let Some((i, &got)) = per.iter().enumerate().find(|(_, &n)| n != totals.sent) {
        return Err(Error::Count {
            what: format!("messages received by subscriber {i}"),
            expected: totals.sent,
            got,
        });
    }
    let last = outs.iter().filter_map(|o| o.last).max();
    let recv_elapsed = last.map(|l| l - totals.started).unwrap_or_default();

    let mut report = Report::new(name, &version, &opts.addr, opts.size);
    report.publishers = pubs;
    report.subscribers = subs;
    report.publish = Some(Rate::new(totals.sent, opts.size, totals.elapsed()));
    report.receive = Some(Rate::new(received, opts.size, recv_elapsed));
    report.per_subscriber = per;
    Ok(report)
}
