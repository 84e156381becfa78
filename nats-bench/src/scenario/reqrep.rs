//! Scenario `reqrep`: request/reply round trips and their latency.
//!
//! **What it owns.** R responders in one queue group on `opts.subject`, each echoing the payload
//! of every request to its reply subject, and C requesters. A requester subscribes to its own
//! inbox (`_INBOX.<run>.<client>.*`), keeps up to W requests in flight (W = 1: one round trip
//! at a time), stamps each request when it is written and records the round trip in an HDR
//! histogram when the reply is read. The sequence number in the reply subject ties a reply to
//! its request; a reply for no outstanding request, or with the wrong size, fails the run.
//!
//! The same engine runs `import`: the requesters log in to one account and send to a subject
//! that account imports as a service, the responders log in to the exporting account and
//! subscribe to the exported subject ([`Route`]); pacing, sizes and checks are the same, so the
//! two latencies compare directly.
//!
//! **What it must never do.** Wait for a reply without a bound (`opts.timeout` per read), or
//! count a request that was not answered.

use super::{check_positive, connect_all, join_all, Options};
use crate::conn::{encode_pub, push_num, Conn, Event};
use crate::error::{Error, Result};
use crate::hist::LatencyHist;
use crate::publisher::filler;
use crate::report::{Rate, Report};
use crate::scenario::Bound;
use std::collections::HashMap;
use std::time::Instant;
use tokio::sync::watch;

/// Round trips when neither a count nor a duration is given.
pub const DEFAULT_REQUESTS: u64 = 20_000;

/// Queue group of the responders.
const RESPONDERS: &str = "nats-bench-responders";

/// Where requests go and who sends and answers them.
#[derive(Debug, Clone)]
pub struct Route {
    /// The subject the responders subscribe to (requests go to `opts.subject`).
    pub responder_subject: String,
    /// The requesters' user (`None`: [`Options::user`]).
    pub requester_user: Option<String>,
    /// The responders' user (`None`: [`Options::user`]).
    pub responder_user: Option<String>,
}

/// Runs `clients` requesters with `window` requests in flight each, against `responders`.
pub async fn run(
    opts: &Options,
    clients: usize,
    window: usize,
    responders: usize,
) -> Result<Report> {
    let direct = Route {
        responder_subject: opts.subject.clone(),
        requester_user: None,
        responder_user: None,
    };
    run_with(opts, "reqrep", clients, window, responders, &direct).await
}

/// The engine of `reqrep` and `import`: requests to `opts.subject` reach responders on
/// `route.responder_subject`.
pub async fn run_with(
    opts: &Options,
    name: &str,
    clients: usize,
    window: usize,
    responders: usize,
    route: &Route,
) -> Result<Report> {
    check_positive("requesters", clients)?;
    check_positive("window", window)?;
    check_positive("responders", responders)?;
    let resp_conns = connect_all(opts, responders, |_| {
        let mut c =
            opts.connect_options_as("nats-bench-responder", route.responder_user.as_deref());
        c.keep_payload = true;
        c.setup = format!("SUB {} {RESPONDERS} 1\r\n", route.responder_subject).into_bytes();
        c
    })
    .await?;
    let run_id = format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let inbox = |i: usize| format!("_INBOX.{run_id}.{i}");
    let req_conns = connect_all(opts, clients, |i| {
        let mut c =
            opts.connect_options_as("nats-bench-requester", route.requester_user.as_deref());
        c.setup = format!("SUB {}.* 1\r\n", inbox(i)).into_bytes();
        c
    })
    .await?;
    let version = req_conns[0].info.version.clone();

    let (stop_tx, stop_rx) = watch::channel(false);
    let resp_tasks: Vec<_> = resp_conns
        .into_iter()
        .map(|c| tokio::spawn(respond(c, stop_rx.clone())))
        .collect();
    let bound = opts.bound(DEFAULT_REQUESTS)?;
    opts.progress_total(&bound);
    let req_tasks: Vec<_> = req_conns
        .into_iter()
        .zip(bound.split(clients))
        .enumerate()
        .map(|(i, (c, share))| {
            let o = opts.clone();
            let inbox = inbox(i);
            tokio::spawn(async move { request(c, &o, inbox, share, window).await })
        })
        .collect();
    let reqs = join_all(req_tasks).await;
    let _ = stop_tx.send(true);
    let answered = join_all(resp_tasks).await;
    let reqs = reqs?;
    let answered: u64 = answered?.iter().sum();

    let mut hist = LatencyHist::new();
    let mut done = 0;
    for r in &reqs {
        hist.merge(&r.hist);
        done += r.done;
    }
    if answered != done || hist.len() != done {
        return Err(Error::Count {
            what: "requests answered by the responders".into(),
            expected: done,
            got: answered,
        });
    }
    let started = reqs.iter().map(|r| r.started).min();
    let finished = reqs.iter().map(|r| r.finished).max();
    let elapsed = match (started, finished) {
        (Some(s), Some(f)) => f - s,
        _ => Default::default(),
    };
    let mut report = Report::new(name, &version, &opts.addr, opts.size);
    report.publishers = clients;
    report.subscribers = responders;
    report.publish = Some(Rate::new(done, opts.size, elapsed));
    report.latency = hist.summary();
    Ok(report)
}

/// Echoes every request until stopped; returns how many it answered.
async fn respond(mut conn: Conn, mut stop: watch::Receiver<bool>) -> Result<u64> {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut answered = 0u64;
    loop {
        tokio::select! {
            biased;
            r = conn.read_events(|ev| {
                if let Event::Msg(m) = ev {
                    if let Some(reply) = m.reply {
                        encode_pub(&mut out, reply, None, &m.data[m.header_len..]);
                        answered += 1;
                    }
                }
            }) => {
                r?;
                if !out.is_empty() {
                    conn.write_all(&out).await?;
                    out.clear();
                }
            }
            _ = async { let _ = stop.wait_for(|v| *v).await; } => return Ok(answered),
        }
    }
}

struct ReqOutcome {
    done: u64,
    hist: LatencyHist,
    started: Instant,
    finished: Instant,
}

/// Sends `bound.count` requests (or until the deadline), `window` in flight.
async fn request(
    mut conn: Conn,
    opts: &Options,
    inbox: String,
    bound: Bound,
    window: usize,
) -> Result<ReqOutcome> {
    let payload = filler(opts.size);
    let subject = opts.subject.as_bytes();
    let mut reply = Vec::with_capacity(inbox.len() + 21);
    let mut out = Vec::with_capacity(window * (payload.len() + 64));
    // Replies from several responders can overtake each other: key by sequence number.
    let mut in_flight: HashMap<u64, Instant> = HashMap::with_capacity(window);
    let mut encode = |out: &mut Vec<u8>, seq: u64| {
        reply.clear();
        reply.extend_from_slice(inbox.as_bytes());
        reply.push(b'.');
        push_num(&mut reply, seq);
        encode_pub(out, subject, Some(&reply), &payload);
    };
    let mut hist = LatencyHist::new();
    let (mut next, mut done) = (0u64, 0u64);
    let started = Instant::now();
    while next < bound.count && (next as usize) < window {
        encode(&mut out, next);
        in_flight.insert(next, started);
        next += 1;
    }
    conn.write_all(&out).await?;
    out.clear();
    let mut seqs: Vec<(u64, usize)> = Vec::with_capacity(window);
    let mut issuing = true;
    while done < next {
        let read = conn.read_events(|ev| {
            if let Event::Msg(m) = ev {
                seqs.push((parse_seq(m.subject), m.payload_len()));
            }
        });
        tokio::time::timeout(opts.timeout, read)
            .await
            .map_err(|_| Error::Timeout(format!("waiting for a reply on {inbox}")))??;
        let now = Instant::now();
        for (seq, len) in seqs.drain(..) {
            match in_flight.remove(&seq) {
                Some(at) if len == opts.size => hist.record(now - at),
                _ => {
                    return Err(Error::Unexpected(format!(
                        "reply {seq} ({len} bytes) matches no request in flight"
                    )))
                }
            }
            done += 1;
            opts.progress_add(1);
            issuing = issuing && next < bound.count && !bound.expired();
            if issuing {
                encode(&mut out, next);
                in_flight.insert(next, now);
                next += 1;
            }
        }
        if !out.is_empty() {
            conn.write_all(&out).await?;
            out.clear();
        }
    }
    Ok(ReqOutcome {
        done,
        hist,
        started,
        finished: Instant::now(),
    })
}

/// The number after the last `.` of a reply subject (`u64::MAX` if there is none).
fn parse_seq(subject: &[u8]) -> u64 {
    let tail = match subject.iter().rposition(|&b| b == b'.') {
        Some(i) => &subject[i + 1..],
        None => subject,
    };
    std::str::from_utf8(tail)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::parse_seq;

    #[test]
    fn seq_from_reply_subject() {
        assert_eq!(parse_seq(b"_INBOX.ab.3.42"), 42);
        assert_eq!(parse_seq(b"_INBOX.ab.3.x"), u64::MAX);
        assert_eq!(parse_seq(b"7"), 7);
    }
}
