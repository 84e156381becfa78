//! Scenario `churn`: one connection subscribes and unsubscribes distinct subjects, to show
//! whether the server gives back the memory a subscription took once it is gone.
//!
//! **What it owns.** The churn loop: `held` SUBs of fresh subjects, then their `held` UNSUBs,
//! again and again, as a client making a fresh inbox per request does (issue 19: our server
//! kept about 1 KB per such pair). Subject `k` of the run is three 7-hex-digit tokens taken
//! from a bijective hash of `k` ([`subject`]), so every subject of a run is distinct and looks
//! random (`a1b2c3d.x7y8z9w.k1l2m3n`). The frames are encoded a batch at a time and written in
//! writes of about [`Options::batch_bytes`]; a `PING`/`PONG` every [`SYNC_PAIRS`] pairs and at
//! the end makes sure the server has processed them. First a warm-up of `warmup` pairs, then
//! the measured pairs (`-n`, default [`DEFAULT_PAIRS`], or until `-d`). With
//! [`Options::server_pid`] it reports the server's RSS before any `SUB`, after the warm-up and
//! at the end; the setup line is the measured pairs' rate.
//!
//! **What it must never do.** Leave a subscription behind, or accept a message: nothing is
//! published, so any `MSG` fails the run.

use super::{check_positive, connect_all, Options};
use crate::conn::{push_num, Conn};
use crate::error::{Error, Result};
use crate::report::{Report, Setup};
use std::time::Instant;

/// Measured SUB/UNSUB pairs when neither `-n` nor `-d` is given.
pub const DEFAULT_PAIRS: u64 = 200_000;
/// Pairs between two `PING`/`PONG` round trips.
pub const SYNC_PAIRS: u64 = 20_000;

/// Appends subject `k` to `out`: three tokens of 7 hex digits. The first two and part of the
/// third are the 64 bits of a bijection of `k`, so distinct `k` give distinct subjects.
pub fn subject(k: u64, out: &mut Vec<u8>) {
    let h = super::subjects::splitmix64(k);
    let more = super::subjects::splitmix64(h) & 0xf_ffff;
    let tokens = [
        h & 0xfff_ffff,
        (h >> 28) & 0xfff_ffff,
        (h >> 56) | (more << 8),
    ];
    for (i, t) in tokens.into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        for shift in (0..7).rev() {
            out.push(b"0123456789abcdef"[((t >> (4 * shift)) & 0xf) as usize]);
        }
    }
}

/// Where the churn loop is: the last subject and sid used (a subject's index is its sid, as
/// a client numbering its subscriptions never reuses one).
struct Churner {
    sid: u64,
    held: usize,
    batch_bytes: usize,
    buf: Vec<u8>,
}

impl Churner {
    fn new(held: usize, batch_bytes: usize) -> Churner {
        Churner {
            sid: 0,
            held,
            batch_bytes,
            buf: Vec::with_capacity(batch_bytes + held * 48),
        }
    }

    /// Encodes one batch: `held` SUBs of fresh subjects with fresh sids, then their UNSUBs.
    fn batch(&mut self) {
        let first = self.sid + 1;
        for _ in 0..self.held {
            self.sid += 1;
            self.buf.extend_from_slice(b"SUB ");
            subject(self.sid, &mut self.buf);
            self.buf.push(b' ');
            push_num(&mut self.buf, self.sid);
            self.buf.extend_from_slice(b"\r\n");
        }
        for sid in first..=self.sid {
            self.buf.extend_from_slice(b"UNSUB ");
            push_num(&mut self.buf, sid);
            self.buf.extend_from_slice(b"\r\n");
        }
    }

    /// Churns `pairs` pairs (rounded up to whole batches) or until `deadline`; returns how
    /// many it made. Writes once `batch_bytes` are encoded, syncs every [`SYNC_PAIRS`] and at
    /// the end, telling `progress` the pairs each sync confirmed.
    async fn run(
        &mut self,
        conn: &mut Conn,
        pairs: u64,
        deadline: Option<Instant>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64> {
        let mut done = 0u64;
        let mut since_sync = 0u64;
        while done < pairs && deadline.is_none_or(|d| Instant::now() < d) {
            self.batch();
            done += self.held as u64;
            since_sync += self.held as u64;
            let sync = since_sync >= SYNC_PAIRS || done >= pairs;
            if sync || self.buf.len() >= self.batch_bytes {
                conn.write_all(&self.buf).await?;
                self.buf.clear();
            }
            if sync {
                no_messages(conn).await?;
                progress(since_sync);
                since_sync = 0;
            }
        }
        if !self.buf.is_empty() || since_sync > 0 {
            conn.write_all(&self.buf).await?;
            self.buf.clear();
            no_messages(conn).await?;
            progress(since_sync);
        }
        Ok(done)
    }
}

/// PING/PONG, failing if any message arrived: nothing is published.
async fn no_messages(conn: &mut Conn) -> Result<()> {
    let mut stray = 0u64;
    conn.flush(|_| stray += 1).await?;
    if stray > 0 {
        return Err(Error::Count {
            what: "messages on the churning connection".into(),
            expected: 0,
            got: stray,
        });
    }
    Ok(())
}

/// Runs the scenario: `warmup` pairs, then the measured pairs, `held` subscriptions at a time.
pub async fn run(opts: &Options, warmup: u64, held: usize) -> Result<Report> {
    check_positive("subscriptions held at once", held)?;
    let mut conns = connect_all(opts, 1, |_| opts.connect_options("nats-bench-churn")).await?;
    let mut conn = conns.pop().expect("one connection");
    let version = conn.info.version.clone();
    let rss_before = opts.server_rss_kib()?;
    let mut churner = Churner::new(held, opts.batch_bytes);
    if warmup > 0 {
        churner.run(&mut conn, warmup, None, |_| {}).await?;
    }
    let rss_warm = opts.server_rss_kib()?;

    let bound = opts.bound(DEFAULT_PAIRS)?;
    opts.progress_total(&bound);
    let started = Instant::now();
    let pairs = churner
        .run(&mut conn, bound.count, bound.deadline, |n| {
            opts.progress_add(n)
        })
        .await?;
    let elapsed = started.elapsed();

    let mut report = Report::new("churn", &version, &opts.addr, 0);
    report.subscribers = 1;
    report.setup = Some(Setup::new("SUB/UNSUB pairs", pairs, elapsed));
    report.server_rss_before_kib = rss_before;
    report.server_rss_warm_kib = rss_warm;
    report.server_rss_kib = opts.server_rss_kib()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_three_hex_tokens_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for k in 0..100_000 {
            let mut s = Vec::new();
            subject(k, &mut s);
            let text = String::from_utf8(s).unwrap();
            let tokens: Vec<&str> = text.split('.').collect();
            assert_eq!(tokens.len(), 3, "{text}");
            assert!(tokens
                .iter()
                .all(|t| t.len() == 7 && t.bytes().all(|b| b.is_ascii_hexdigit())));
            assert!(seen.insert(text));
        }
    }

    #[test]
    fn a_batch_unsubscribes_every_sid_it_subscribed() {
        let mut c = Churner::new(3, 1024);
        c.batch();
        c.batch();
        let text = String::from_utf8(c.buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 12);
        let sids: Vec<&str> = lines[..3]
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(sids, ["1", "2", "3"]);
        assert!(lines[..3].iter().all(|l| l.starts_with("SUB ")));
        assert_eq!(lines[3..6], ["UNSUB 1", "UNSUB 2", "UNSUB 3"]);
        assert!(lines[6].starts_with("SUB ") && lines[6].ends_with(" 4"));
        assert_eq!(lines[9..], ["UNSUB 4", "UNSUB 5", "UNSUB 6"]);
        assert_eq!(c.sid, 6);
    }
}
