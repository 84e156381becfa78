//! Scenario `subjects`: publishes spread over many distinct subjects against many wildcard
//! subscriptions, to stress the server's subject matching where its match cache misses.
//!
//! **What it owns.** The [`Layout`]: subject `i` (of S) is `<p>.<a>.<b>.<c>` with
//! `a = i mod W`, `b = (i / W) mod W`, `c = i / W²`, `W = ⌈∛S⌉`, `p` the run's subject (one
//! token). Wildcard subscription `j` (of M) takes two pseudo-random literals `x`, `y` from
//! `0..R`, `R = max(W, ⌈√M⌉)`, in one of four shapes, by `j mod 4`:
//! `p.x.*.y`, `p.*.x.y`, `p.x.y.>`, `*.x.*.y`. Each literal matches a published token with
//! probability 1/R, so on average about M/R² ≤ 1 subscription matches each message, whatever
//! the sizes; literals ≥ W match nothing but still grow the trie, and the `*` at the root makes
//! every lookup walk a second branch. The tool computes exactly how many deliveries each subject
//! gets ([`Layout::matches`]) and checks the server delivered that many.
//!
//! The subscriptions are spread round-robin over several connections and sent in one write per
//! connection; their setup time is reported. With [`Options::server_pid`] the server's RSS is
//! read once the connections are open (before any `SUB`) and again once every subscription is
//! confirmed (before any publish): the memory the subscriptions take, for `-n 1` runs that only
//! hold them. Then one publisher cycles through the subjects
//! (message `k` goes to subject `k mod S`; by default one message per subject), encoding a
//! batch of frames at a time.
//!
//! **What it must never do.** Deliver or count loosely: the deliveries must equal the computed
//! total exactly, or the run fails.

use super::{check_positive, connect_all, join_all, publish_all, Options};
use crate::conn::{encode_pub, push_num};
use crate::error::{Error, Result};
use crate::publisher::{filler, Source};
use crate::report::{Rate, Report, Setup};
use crate::subscriber::{receive, Stop};
use std::time::Instant;
use tokio::sync::watch;

/// Subjects and wildcard subscriptions of a run.
#[derive(Debug, Clone)]
pub struct Layout {
    prefix: String,
    subjects: u64,
    wildcards: u64,
    width: u64,
    range: u64,
}

impl Layout {
    /// `subjects` subjects under `prefix` (one token) and `wildcards` subscriptions.
    pub fn new(prefix: &str, subjects: u64, wildcards: u64) -> Result<Layout> {
        if subjects == 0 {
            return Err(Error::Config("at least one subject is needed".into()));
        }
        if prefix.is_empty() || prefix.contains(['.', '*', '>', ' ', '\t']) {
            return Err(Error::Config(format!(
                "subject prefix {prefix:?} must be a single literal token"
            )));
        }
        let mut width = (subjects as f64).cbrt().ceil() as u64;
        while width.pow(3) < subjects {
            width += 1;
        }
        let mut root = (wildcards as f64).sqrt().ceil() as u64;
        while root * root < wildcards {
            root += 1;
        }
        Ok(Layout {
            prefix: prefix.into(),
            subjects,
            wildcards,
            width,
            range: width.max(root).max(1),
        })
    }

    /// Number of subjects.
    pub fn subjects(&self) -> u64 {
        self.subjects
    }

    fn tokens(&self, i: u64) -> [u64; 3] {
        let w = self.width;
        [i % w, (i / w) % w, i / (w * w)]
    }

    /// Appends subject `i` to `out`.
    pub fn subject(&self, i: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prefix.as_bytes());
        for t in self.tokens(i) {
            out.push(b'.');
            push_num(out, t);
        }
    }

    fn literals(j: u64, range: u64) -> (u64, u64) {
        let h = splitmix64(j);
        ((h & 0xffff_ffff) % range, (h >> 32) % range)
    }

    /// Wildcard subscription `j`.
    pub fn pattern(&self, j: u64) -> String {
        let (x, y) = Self::literals(j, self.range);
        let p = &self.prefix;
        match j % 4 {
            0 => format!("{p}.{x}.*.{y}"),
            1 => format!("{p}.*.{x}.{y}"),
            2 => format!("{p}.{x}.{y}.>"),
            _ => format!("*.{x}.*.{y}"),
        }
    }

    /// How many of the subscriptions match each subject, by subject index.
    pub fn matches(&self) -> Vec<u32> {
        let (w, s) = (self.width, self.subjects);
        let mut m = vec![0u32; s as usize];
        let mut hit = |a: u64, b: u64, c: u64| {
            let i = a + b * w + c * w * w;
            if i < s {
                m[i as usize] += 1;
            }
        };
        for j in 0..self.wildcards {
            let (x, y) = Self::literals(j, self.range);
            if x >= w || y >= w {
                continue; // a literal no published subject has
            }
            for free in 0..w {
                match j % 4 {
                    0 | 3 => hit(x, free, y),
                    1 => hit(free, x, y),
                    _ => hit(x, y, free),
                }
            }
        }
        m
    }
}

/// Expected deliveries when messages `0..sent` go to subjects `k mod S`.
pub fn expected_deliveries(matches: &[u32], sent: u64) -> u64 {
    let s = matches.len() as u64;
    let whole: u64 = matches.iter().map(|&m| u64::from(m)).sum();
    let part: u64 = matches[..(sent % s) as usize]
        .iter()
        .map(|&m| u64::from(m))
        .sum();
    (sent / s) * whole + part
}

/// A bijective mix of `z` (splitmix64's finaliser).
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Frames for subjects `next, next+1, ...` (cycling), encoded a batch at a time.
struct Cycle {
    layout: Layout,
    next: u64,
    payload: Vec<u8>,
    subject: Vec<u8>,
    buf: Vec<u8>,
    batch_bytes: usize,
}

impl Source for Cycle {
    fn next(&mut self, max: u64) -> (&[u8], u64) {
        self.buf.clear();
        let mut n = 0;
        while n < max.max(1) && (n == 0 || self.buf.len() < self.batch_bytes) {
            self.subject.clear();
            self.layout.subject(self.next, &mut self.subject);
            encode_pub(&mut self.buf, &self.subject, None, &self.payload);
            self.next = (self.next + 1) % self.layout.subjects;
            n += 1;
        }
        (&self.buf, n)
    }
}

/// Runs the scenario: `wildcards` subscriptions over `sub_conns` connections, then publishes.
pub async fn run(
    opts: &Options,
    subjects: u64,
    wildcards: u64,
    sub_conns: usize,
) -> Result<Report> {
    check_positive("subscriber connections", sub_conns)?;
    let layout = Layout::new(&opts.subject, subjects, wildcards)?;
    let matches = layout.matches();

    let mut conns =
        connect_all(opts, sub_conns, |_| opts.connect_options("nats-bench-wild")).await?;
    let version = conns[0].info.version.clone();
    let rss_before = opts.server_rss_kib()?;
    let mut lines = vec![Vec::new(); sub_conns];
    for j in 0..wildcards {
        let buf = &mut lines[(j % sub_conns as u64) as usize];
        buf.extend_from_slice(b"SUB ");
        buf.extend_from_slice(layout.pattern(j).as_bytes());
        buf.push(b' ');
        push_num(buf, j / sub_conns as u64 + 1);
        buf.extend_from_slice(b"\r\n");
    }
    let started = Instant::now();
    let setups: Vec<_> = conns
        .drain(..)
        .zip(lines)
        .map(|(mut c, buf)| {
            tokio::spawn(async move {
                c.write_all(&buf).await?;
                c.flush(|_| {}).await?;
                Ok(c)
            })
        })
        .collect();
    let conns = join_all(setups).await?;
    let setup = started.elapsed();
    let rss_subscribed = opts.server_rss_kib()?;

    let publisher = connect_all(opts, 1, |_| opts.connect_options("nats-bench-pub")).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let subs: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::spawn(receive(c, Stop::OnSignal(stop_rx.clone()), None, None)))
        .collect();
    let bound = opts.bound(layout.subjects())?;
    let source = Cycle {
        layout: layout.clone(),
        next: 0,
        payload: filler(opts.size),
        subject: Vec::new(),
        buf: Vec::with_capacity(opts.batch_bytes + 256),
        batch_bytes: opts.batch_bytes,
    };
    let mut source = Some(source);
    let totals = publish_all(opts, publisher, bound, || {
        source.take().expect("one publisher")
    })
    .await;
    let _ = stop_tx.send(true);
    let outs = join_all(subs).await;
    let totals = totals?;
    let outs = outs?;

    let delivered: u64 = outs.iter().map(|o| o.received).sum();
    let expected = expected_deliveries(&matches, totals.sent);
    if delivered != expected {
        return Err(Error::Count {
            what: "deliveries to the wildcard subscriptions".into(),
            expected,
            got: delivered,
        });
    }
    let last = outs.iter().filter_map(|o| o.last).max();
    let mut report = Report::new("subjects", &version, &opts.addr, opts.size);
    report.publishers = 1;
    report.subscribers = sub_conns;
    report.publish = Some(Rate::new(totals.sent, opts.size, totals.elapsed()));
    report.receive = Some(Rate::new(
        delivered,
        opts.size,
        last.map(|l| l - totals.started).unwrap_or_default(),
    ));
    report.per_subscriber = outs.iter().map(|o| o.received).collect();
    report.setup = Some(Setup::new("subscriptions", wildcards, setup));
    report.server_rss_before_kib = rss_before;
    report.server_rss_subscribed_kib = rss_subscribed;
    Ok(report)
}
