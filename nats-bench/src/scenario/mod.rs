//! The scenarios, one module each, and what they share: [`Options`], [`Bound`], [`Progress`].
//!
//! **What it owns.** Choosing a scenario ([`Scenario`], [`run`]), turning options into a bound
//! every load loop obeys, and the progress counters the binary draws a bar from.
//!
//! | scenario | module | what it measures |
//! |---|---|---|
//! | `pub` | [`publish`] | ingest: P publishers, no subscriber |
//! | `sub` | [`subscribe`] | S subscribers fed by an external publisher |
//! | `pubsub` | [`pubsub`] | P publishers, S subscribers on one subject |
//! | `fanout` | [`fanout`] | 1 publisher, K subscribers on one subject: each gets every message |
//! | `queue` | [`queue`] | 1 publisher, K subscribers in one queue group: together they get each once |
//! | `reqrep` | [`reqrep`] | request/reply round trips, latency percentiles |
//! | `import` | [`reqrep`] | the same round trips through a service import between two accounts |
//! | `accounts` | [`accounts`] | N accounts, each with its own publisher and K subscribers on one subject |
//! | `idle` | [`idle`] | N connections with one SUB each: setup time, server RSS |
//! | `subjects` | [`subjects`] | publishes over many subjects against many wildcard subscriptions |
//! | `churn` | [`churn`] | one connection subscribing and unsubscribing distinct subjects: server RSS |
//! | `sink` | [`sink`] | the publisher against an in-process TCP sink: the tool's own ceiling |
//!
//! **What it must never do.** Start a loop without a bound: [`Options::bound`] refuses options
//! with neither a message count nor a duration, and every wait for the server has a timeout.

pub mod accounts;
pub mod churn;
pub mod fanout;
pub mod idle;
pub mod publish;
pub mod pubsub;
pub mod queue;
pub mod reqrep;
pub mod sink;
pub mod subjects;
pub mod subscribe;

use crate::conn::ConnectOptions;
use crate::error::{Error, Result};
use crate::report::Report;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages per run when neither a count nor a duration is given.
pub const DEFAULT_MSGS: u64 = 100_000;

/// What every scenario needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    /// Server address, `host:port` (a `nats://` prefix is accepted).
    pub addr: String,
    /// Subject to publish on.
    pub subject: String,
    /// Payload size in bytes.
    pub size: usize,
    /// Messages to send in all (split among publishers or requesters). With a duration too,
    /// whichever bound comes first ends the run. `None` without a duration means the
    /// scenario's default ([`DEFAULT_MSGS`], or one message per subject for `subjects`).
    pub msgs: Option<u64>,
    /// How long to send for.
    pub duration: Option<Duration>,
    /// Bytes per pre-encoded write of PUB frames.
    pub batch_bytes: usize,
    /// Bound on every wait for the server (handshake, PONG, replies, draining subscribers).
    pub timeout: Duration,
    /// Counters for a progress bar, if the caller draws one.
    pub progress: Option<Arc<Progress>>,
    /// Pid of the server, to report its RSS.
    pub server_pid: Option<u32>,
    /// Signalled (`notify_one`) once a waiting scenario (`sub`) has its subscriptions in place.
    pub ready: Option<Arc<tokio::sync::Notify>>,
    /// `user` in every CONNECT (scenarios that log in per account name their own users).
    pub user: Option<String>,
    /// `pass` in every CONNECT, also for the users a scenario names itself.
    pub pass: Option<String>,
}

impl Options {
    /// The server's resident set size in KiB, when its pid was given
    /// (`--server-pid`); `None` otherwise.
    pub fn server_rss_kib(&self) -> Result<Option<u64>> {
        self.server_pid
            .map(|pid| {
                crate::proc::rss_kib(pid).map_err(|e| Error::io(format!("reading RSS of {pid}"), e))
            })
            .transpose()
    }

    /// Defaults: subject `bench`, 16 B payloads, 256 KiB writes, 30 s timeout.
    pub fn new(addr: impl Into<String>) -> Self {
        Options {
            addr: addr.into(),
            subject: "bench".into(),
            size: 16,
            msgs: None,
            duration: None,
            batch_bytes: 256 * 1024,
            timeout: Duration::from_secs(30),
            progress: None,
            server_pid: None,
            ready: None,
            user: None,
            pass: None,
        }
    }

    /// The bound of a load loop, starting now; `default_msgs` applies when neither a count nor
    /// a duration was given.
    pub fn bound(&self, default_msgs: u64) -> Result<Bound> {
        let count = match (self.msgs, self.duration) {
            (Some(n), _) => n,
            (None, Some(_)) => u64::MAX,
            (None, None) => default_msgs,
        };
        if count == 0 {
            return Err(Error::Config("the message count must be positive".into()));
        }
        Ok(Bound {
            count,
            deadline: self.duration.map(|d| Instant::now() + d),
        })
    }

    /// Connection options with this run's timeout and credentials.
    pub fn connect_options(&self, name: &str) -> ConnectOptions {
        ConnectOptions {
            name: name.into(),
            timeout: self.timeout,
            user: self.user.clone(),
            pass: self.pass.clone(),
            ..ConnectOptions::default()
        }
    }

    /// Connection options logging in as `user` (with this run's password), whatever
    /// [`Options::user`] says.
    pub fn connect_options_as(&self, name: &str, user: Option<&str>) -> ConnectOptions {
        let mut c = self.connect_options(name);
        if let Some(u) = user {
            c.user = Some(u.to_string());
        }
        c
    }

    pub(crate) fn progress_add(&self, n: u64) {
        if let Some(p) = &self.progress {
            p.done.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn progress_total(&self, bound: &Bound) {
        if let Some(p) = &self.progress {
            let total = if bound.count == u64::MAX {
                0
            } else {
                bound.count
            };
            p.total.store(total, Ordering::Relaxed);
        }
    }
}

/// When a load loop stops: after `count` messages or at `deadline`, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Messages (`u64::MAX`: no count bound; then `deadline` is set).
    pub count: u64,
    /// Time.
    pub deadline: Option<Instant>,
}

impl Bound {
    /// Splits the count among `n` workers (the first ones take the remainder).
    pub fn split(&self, n: usize) -> Vec<Bound> {
        let n64 = n as u64;
        (0..n64)
            .map(|i| Bound {
                count: if self.count == u64::MAX {
                    u64::MAX
                } else {
                    self.count / n64 + u64::from(i < self.count % n64)
                },
                deadline: self.deadline,
            })
            .collect()
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Counters a progress bar is drawn from: work done and, if known, the total.
#[derive(Debug, Default)]
pub struct Progress {
    /// Messages (or connections) done so far.
    pub done: AtomicU64,
    /// The total when the run is bounded by a count, 0 when only by time.
    pub total: AtomicU64,
}

/// A scenario and its own parameters.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// Ingest: `pubs` publishers, nobody subscribed.
    Pub {
        /// Publisher connections.
        pubs: usize,
    },
    /// `subs` subscribers, each expecting every message from an external publisher.
    Sub {
        /// Subscriber connections.
        subs: usize,
    },
    /// `pubs` publishers and `subs` subscribers on one subject.
    PubSub {
        /// Publisher connections.
        pubs: usize,
        /// Subscriber connections.
        subs: usize,
    },
    /// One publisher, `subs` subscribers on one subject.
    FanOut {
        /// Subscriber connections.
        subs: usize,
    },
    /// One publisher, `subs` subscribers in queue group `group`.
    Queue {
        /// Subscriber connections.
        subs: usize,
        /// Queue group name.
        group: String,
    },
    /// Request/reply round trips.
    ReqRep {
        /// Requester connections.
        clients: usize,
        /// Requests in flight per requester.
        window: usize,
        /// Responder connections (one queue group).
        responders: usize,
    },
    /// Request/reply round trips through a service import: requesters log in as
    /// `requester_user` (the importing account) and send to [`Options::subject`], responders log
    /// in as `responder_user` (the exporting account) and answer on `export`.
    Import {
        /// Requester connections.
        clients: usize,
        /// Requests in flight per requester.
        window: usize,
        /// Responder connections (one queue group).
        responders: usize,
        /// The exported subject the responders subscribe to.
        export: String,
        /// User of the importing account.
        requester_user: String,
        /// User of the exporting account.
        responder_user: String,
    },
    /// `accounts` accounts, each with one publisher and `subs` subscribers on
    /// [`Options::subject`]; account `i` logs in as `users` with `{i}` replaced by `i`.
    Accounts {
        /// Accounts.
        accounts: usize,
        /// Subscribers per account.
        subs: usize,
        /// User name pattern; `{i}` is the account's number, from 0.
        users: String,
    },
    /// Many idle connections with one SUB each.
    Idle {
        /// Connections to open.
        conns: usize,
        /// Handshakes in flight at once.
        parallel: usize,
        /// How long to keep them open before checking they are alive.
        hold: Duration,
    },
    /// Publishes over `subjects` distinct subjects against `wildcards` wildcard subscriptions.
    Subjects {
        /// Distinct subjects published to.
        subjects: u64,
        /// Wildcard subscriptions.
        wildcards: u64,
        /// Connections the subscriptions are spread over.
        sub_conns: usize,
    },
    /// One connection subscribing and unsubscribing distinct subjects, `held` at a time.
    Churn {
        /// SUB/UNSUB pairs before the measured ones.
        warmup: u64,
        /// Subscriptions held at once: SUBs sent before their UNSUBs.
        held: usize,
    },
    /// The publisher against an in-process sink (no server involved).
    Sink {
        /// Publisher connections.
        pubs: usize,
    },
}

impl Scenario {
    /// The scenario's name on the command line and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Pub { .. } => "pub",
            Scenario::Sub { .. } => "sub",
            Scenario::PubSub { .. } => "pubsub",
            Scenario::FanOut { .. } => "fanout",
            Scenario::Queue { .. } => "queue",
            Scenario::ReqRep { .. } => "reqrep",
            Scenario::Import { .. } => "import",
            Scenario::Accounts { .. } => "accounts",
            Scenario::Idle { .. } => "idle",
            Scenario::Subjects { .. } => "subjects",
            Scenario::Churn { .. } => "churn",
            Scenario::Sink { .. } => "sink",
        }
    }
}

/// Runs one scenario and, with [`Options::server_pid`], adds the server's RSS to the report.
pub async fn run(scenario: &Scenario, opts: &Options) -> Result<Report> {
    let mut report = match scenario {
        Scenario::Pub { pubs } => publish::run(opts, *pubs).await?,
        Scenario::Sub { subs } => subscribe::run(opts, *subs).await?,
        Scenario::PubSub { pubs, subs } => pubsub::run(opts, *pubs, *subs).await?,
        Scenario::FanOut { subs } => fanout::run(opts, *subs).await?,
        Scenario::Queue { subs, group } => queue::run(opts, *subs, group).await?,
        Scenario::ReqRep {
            clients,
            window,
            responders,
        } => reqrep::run(opts, *clients, *window, *responders).await?,
        Scenario::Import {
            clients,
            window,
            responders,
            export,
            requester_user,
            responder_user,
        } => {
            let route = reqrep::Route {
                responder_subject: export.clone(),
                requester_user: Some(requester_user.clone()),
                responder_user: Some(responder_user.clone()),
            };
            reqrep::run_with(opts, "import", *clients, *window, *responders, &route).await?
        }
        Scenario::Accounts {
            accounts,
            subs,
            users,
        } => accounts::run(opts, *accounts, *subs, users).await?,
        Scenario::Idle {
            conns,
            parallel,
            hold,
        } => idle::run(opts, *conns, *parallel, *hold).await?,
        Scenario::Subjects {
            subjects,
            wildcards,
            sub_conns,
        } => subjects::run(opts, *subjects, *wildcards, *sub_conns).await?,
        Scenario::Churn { warmup, held } => churn::run(opts, *warmup, *held).await?,
        Scenario::Sink { pubs } => sink::run(opts, *pubs).await?,
    };
    if report.server_rss_kib.is_none() {
        report.server_rss_kib = opts.server_rss_kib()?;
    }
    Ok(report)
}

pub(crate) fn check_positive(what: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Config(format!("{what} must be at least 1")));
    }
    Ok(())
}

/// Joins spawned workers, turning a panic into an error and keeping the first error.
pub(crate) async fn join_all<T>(
    handles: Vec<tokio::task::JoinHandle<Result<T>>>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(handles.len());
    let mut first_err = None;
    for h in handles {
        match h.await {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(j) => {
                first_err.get_or_insert(Error::Unexpected(format!("worker task failed: {j}")));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Opens `n` connections one after the other, the `i`-th with `copts(i)`.
pub(crate) async fn connect_all(
    opts: &Options,
    n: usize,
    copts: impl Fn(usize) -> ConnectOptions,
) -> Result<Vec<crate::conn::Conn>> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        conns.push(crate::conn::Conn::connect(&opts.addr, &copts(i)).await?);
    }
    Ok(conns)
}

/// What all publishers of a run did together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PubTotals {
    /// Messages confirmed.
    pub sent: u64,
    /// Earliest start.
    pub started: Instant,
    /// Latest final PONG.
    pub finished: Instant,
    /// Bytes written, handshakes included.
    pub written: u64,
}

impl PubTotals {
    pub fn elapsed(&self) -> Duration {
        self.finished - self.started
    }
}

/// Runs one publisher per connection, each on its share of `bound`, with a source each.
pub(crate) async fn publish_all<S: crate::publisher::Source + 'static>(
    opts: &Options,
    conns: Vec<crate::conn::Conn>,
    bound: Bound,
    mut source: impl FnMut() -> S,
) -> Result<PubTotals> {
    opts.progress_total(&bound);
    let shares = bound.split(conns.len());
    let handles = conns
        .into_iter()
        .zip(shares)
        .map(|(conn, share)| {
            let src = source();
            let o = opts.clone();
            tokio::spawn(async move { crate::publisher::publish(conn, src, share, &o).await })
        })
        .collect();
    let outs = join_all(handles).await?;
    let first = outs[0];
    Ok(PubTotals {
        sent: outs.iter().map(|o| o.sent).sum(),
        started: outs
            .iter()
            .map(|o| o.started)
            .min()
            .unwrap_or(first.started),
        finished: outs
            .iter()
            .map(|o| o.finished)
            .max()
            .unwrap_or(first.finished),
        written: outs.iter().map(|o| o.written).sum(),
    })
}
