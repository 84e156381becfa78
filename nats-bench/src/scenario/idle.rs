//! Scenario `idle`: many idle connections, each with one subscription.
//!
//! **What it owns.** Raising the open-files limit, opening N connections with at most P
//! handshakes in flight (each handshake sends `SUB idle.<i>` and waits for the PONG, so the
//! subscription is in place when it completes), recording each handshake's duration, keeping
//! them open for `hold`, then checking every one is still alive with a PING/PONG. With
//! [`Options::server_pid`] it reports the server's RSS before and after; measuring memory any
//! other way is left to the caller.
//!
//! **What it must never do.** Hold the connections past the run, or for longer than the
//! server's stale-connection check allows (idle connections do not answer the server's PINGs
//! until the final check: keep `hold` under nats-server's 2 × 2 min).

use super::{check_positive, Options};
use crate::conn::Conn;
use crate::error::{Error, Result};
use crate::hist::LatencyHist;
use crate::report::{Report, Setup};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Opens `conns` connections, `parallel` at a time, and holds them for `hold`.
pub async fn run(opts: &Options, conns: usize, parallel: usize, hold: Duration) -> Result<Report> {
    check_positive("connections", conns)?;
    check_positive("parallel handshakes", parallel)?;
    let want = conns as u64 + 256;
    let limit =
        crate::proc::raise_nofile(want).map_err(|e| Error::io("raising RLIMIT_NOFILE", e))?;
    if limit < want {
        return Err(Error::Config(format!(
            "open-files limit is {limit}, {conns} connections need about {want}"
        )));
    }
    let rss_before = opts.server_rss_kib()?;
    if let Some(p) = &opts.progress {
        p.total.store(conns as u64, Ordering::Relaxed);
    }

    let gate = Arc::new(Semaphore::new(parallel));
    let mut set = JoinSet::new();
    let started = Instant::now();
    for i in 0..conns {
        let gate = gate.clone();
        let mut copts = opts.connect_options("nats-bench-idle");
        copts.read_buf = 2048;
        copts.setup = format!("SUB idle.{i} 1\r\n").into_bytes();
        let addr = opts.addr.clone();
        let progress = opts.progress.clone();
        set.spawn(async move {
            let _permit = gate
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let t0 = Instant::now();
            let conn = Conn::connect(&addr, &copts).await?;
            if let Some(p) = progress {
                p.done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, Error>((conn, t0.elapsed()))
        });
    }
    let mut open = Vec::with_capacity(conns);
    let mut hist = LatencyHist::new();
    while let Some(joined) = set.join_next().await {
        let (conn, took) =
            joined.map_err(|e| Error::Unexpected(format!("connect task: {e}")))??;
        hist.record(took);
        open.push(conn);
    }
    let setup = started.elapsed();
    let version = open[0].info.version.clone();

    tokio::time::sleep(hold).await;
    let mut set = JoinSet::new();
    for mut conn in open {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let mut stray = 0u64;
            conn.flush(|_| stray += 1).await?;
            if stray > 0 {
                return Err(Error::Count {
                    what: "messages on an idle connection".into(),
                    expected: 0,
                    got: stray,
                });
            }
            Ok::<_, Error>(conn)
        });
    }
    let mut alive = Vec::with_capacity(conns);
    while let Some(joined) = set.join_next().await {
        alive.push(joined.map_err(|e| Error::Unexpected(format!("check task: {e}")))??);
    }
    let rss_after = opts.server_rss_kib()?;
    drop(alive);

    let mut report = Report::new("idle", &version, &opts.addr, 0);
    report.subscribers = conns;
    report.setup = Some(Setup::new("connections", conns as u64, setup));
    report.latency = hist.summary();
    report.server_rss_before_kib = rss_before;
    report.server_rss_kib = rss_after;
    Ok(report)
}
