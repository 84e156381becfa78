//! The `nats-bench` command: parses the command line, runs one scenario, prints the report.
//!
//! **What it owns.** The CLI (clap derive), the tokio runtime, the progress bar (indicatif,
//! drawn on stderr only when it is a terminal and the run is long enough to need one), the
//! output format, and the exit status: 0 for a run whose counts add up, 1 for any failure
//! (protocol error, `-ERR`, closed connection, timeout, counts that do not add up), 2 for a bad
//! command line.
//!
//! **What it must never do.** Measure anything itself: every number comes from the library, so
//! the tests and the comparison scripts see exactly what the command prints.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nats_bench::{report, Options, Progress, Scenario};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "nats-bench",
    version,
    about = "Load tool for NATS servers: publish, subscribe, fan-out, queue, request/reply, \
             accounts, service imports, idle connections, wildcard matching and subscription \
             churn, with exact counts"
)]
struct Cli {
    /// Server address (host:port or nats://host:port).
    #[arg(short, long, global = true, default_value = "127.0.0.1:4222")]
    server: String,
    /// Payload size in bytes (suffixes k/KiB, m/MiB are binary).
    #[arg(long, global = true, default_value = "16", value_parser = parse_size)]
    size: usize,
    /// Messages (requests; `churn`: SUB/UNSUB pairs) to send in all; with --duration,
    /// whichever comes first.
    #[arg(short = 'n', long, global = true)]
    msgs: Option<u64>,
    /// How long to send for (e.g. 500ms, 10s, 2m; a bare number is seconds).
    #[arg(short, long, global = true, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Subject to publish on (`subjects`: the first token of every subject).
    #[arg(long, global = true, default_value = "bench")]
    subject: String,
    /// Bytes of PUB frames per socket write.
    #[arg(long, global = true, default_value = "256KiB", value_parser = parse_size)]
    batch: usize,
    /// Bound on every wait for the server.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// With --format csv: print the data row only.
    #[arg(long, global = true)]
    no_header: bool,
    /// Never draw a progress bar.
    #[arg(long, global = true)]
    no_progress: bool,
    /// Pid of the server process, to report its RSS (VmRSS).
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// User name in every CONNECT (`accounts` and `import` name their own users).
    #[arg(long, global = true)]
    user: Option<String>,
    /// Password in every CONNECT, also for the users `accounts` and `import` name.
    #[arg(long, global = true)]
    pass: Option<String>,
    /// Runtime worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    scenario: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Ingest: publishers only, nobody subscribed.
    Pub {
        /// Publisher connections.
        #[arg(long, default_value_t = 1)]
        pubs: usize,
    },
    /// Subscribers only, each expecting every message of an external publisher.
    Sub {
        /// Subscriber connections.
        #[arg(long, default_value_t = 1)]
        subs: usize,
    },
    /// Publishers and subscribers on one subject; reports both rates.
    Pubsub {
        /// Publisher connections.
        #[arg(long, default_value_t = 1)]
        pubs: usize,
        /// Subscriber connections.
        #[arg(long, default_value_t = 1)]
        subs: usize,
    },
    /// One publisher, K subscribers on the same subject.
    Fanout {
        /// Subscribers (K).
        #[arg(short = 'k', long, default_value_t = 4)]
        subs: usize,
    },
    /// One publisher, K subscribers in one queue group.
    Queue {
        /// Subscribers (K).
        #[arg(short = 'k', long, default_value_t = 4)]
        subs: usize,
        /// Queue group name.
        #[arg(long, default_value = "nats-bench")]
        group: String,
    },
    /// Request/reply round trips: latency percentiles.
    Reqrep {
        /// Requester connections.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Requests in flight per requester.
        #[arg(long, default_value_t = 1)]
        window: usize,
        /// Responder connections (one queue group).
        #[arg(long, default_value_t = 1)]
        responders: usize,
    },
    /// Request/reply round trips through a service import: requesters in the importing
    /// account send to --subject, responders in the exporting account answer on --export.
    Import {
        /// Requester connections.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Requests in flight per requester.
        #[arg(long, default_value_t = 1)]
        window: usize,
        /// Responder connections (one queue group).
        #[arg(long, default_value_t = 1)]
        responders: usize,
        /// The exported subject, in the responders' account.
        #[arg(long, default_value = "svc.bench")]
        export: String,
        /// User of the importing account (the requesters).
        #[arg(long, default_value = "b")]
        requester_user: String,
        /// User of the exporting account (the responders).
        #[arg(long, default_value = "a")]
        responder_user: String,
    },
    /// N accounts, each with one publisher and K subscribers on the same subject: every
    /// subscriber must get exactly its own account's messages.
    Accounts {
        /// Accounts (N).
        #[arg(long, default_value_t = 100)]
        accounts: usize,
        /// Subscribers per account (K).
        #[arg(short = 'k', long, default_value_t = 1)]
        subs: usize,
        /// User of account i: `{i}` is replaced by 0..N-1 (password: --pass).
        #[arg(long, default_value = "acc{i}")]
        users: String,
    },
    /// Many idle connections with one SUB each: setup time and server RSS.
    Idle {
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        conns: usize,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 256)]
        parallel: usize,
        /// How long to hold them open before checking them (keep under 4m).
        #[arg(long, default_value = "0s", value_parser = parse_duration)]
        hold: Duration,
    },
    /// Publishes over many subjects against many wildcard subscriptions.
    Subjects {
        /// Distinct subjects published to.
        #[arg(long, default_value_t = 1_000_000)]
        subjects: u64,
        /// Wildcard subscriptions (mixed `*` and `>`).
        #[arg(long, default_value_t = 100_000)]
        wildcards: u64,
        /// Connections the subscriptions are spread over.
        #[arg(long, default_value_t = 4)]
        sub_conns: usize,
    },
    /// One connection subscribing and unsubscribing distinct subjects (-n pairs, default
    /// 200k): server RSS before, after the warm-up and at the end.
    Churn {
        /// SUB/UNSUB pairs before the measured ones.
        #[arg(long, default_value_t = 20_000)]
        warmup: u64,
        /// Subscriptions held at once: SUBs sent before their UNSUBs.
        #[arg(long, default_value_t = 200)]
        held: usize,
    },
    /// The publisher against an in-process sink: the tool's own ceiling (ignores --server).
    Sink {
        /// Publisher connections.
        #[arg(long, default_value_t = 1)]
        pubs: usize,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Csv,
}

fn scenario(cmd: Cmd) -> Scenario {
    match cmd {
        Cmd::Pub { pubs } => Scenario::Pub { pubs },
        Cmd::Sub { subs } => Scenario::Sub { subs },
        Cmd::Pubsub { pubs, subs } => Scenario::PubSub { pubs, subs },
        Cmd::Fanout { subs } => Scenario::FanOut { subs },
        Cmd::Queue { subs, group } => Scenario::Queue { subs, group },
        Cmd::Reqrep {
            clients,
            window,
            responders,
        } => Scenario::ReqRep {
            clients,
            window,
            responders,
        },
        Cmd::Import {
            clients,
            window,
            responders,
            export,
            requester_user,
            responder_user,
        } => Scenario::Import {
            clients,
            window,
            responders,
            export,
            requester_user,
            responder_user,
        },
        Cmd::Accounts {
            accounts,
            subs,
            users,
        } => Scenario::Accounts {
            accounts,
            subs,
            users,
        },
        Cmd::Idle {
            conns,
            parallel,
            hold,
        } => Scenario::Idle {
            conns,
            parallel,
            hold,
        },
        Cmd::Subjects {
            subjects,
            wildcards,
            sub_conns,
        } => Scenario::Subjects {
            subjects,
            wildcards,
            sub_conns,
        },
        Cmd::Churn { warmup, held } => Scenario::Churn { warmup, held },
        Cmd::Sink { pubs } => Scenario::Sink { pubs },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = cli.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nats-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let progress = Arc::new(Progress::default());
    let mut opts = Options::new(cli.server.clone());
    opts.subject = cli.subject.clone();
    opts.size = cli.size;
    opts.msgs = cli.msgs;
    opts.duration = cli.duration;
    opts.batch_bytes = cli.batch.max(1);
    opts.timeout = cli.timeout;
    opts.server_pid = cli.server_pid;
    opts.user = cli.user.clone();
    opts.pass = cli.pass.clone();
    opts.progress = (!cli.no_progress).then(|| progress.clone());
    let format = cli.format;
    let no_header = cli.no_header;
    let scenario = scenario(cli.scenario);
    if matches!(scenario, Scenario::Sub { .. }) {
        let ready = Arc::new(tokio::sync::Notify::new());
        opts.ready = Some(ready.clone());
        rt.spawn(async move {
            ready.notified().await;
            eprintln!("nats-bench: subscribed, waiting for messages");
        });
    }

    let bar = (!cli.no_progress).then(|| spawn_bar(&rt, progress, cli.duration));
    let result = rt.block_on(nats_bench::run(&scenario, &opts));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(report) => {
            match format {
                Format::Text => print!("{}", report.to_text()),
                Format::Json => println!("{}", report.to_json()),
                Format::Csv => {
                    if !no_header {
                        print!("{}", report::csv_header());
                    }
                    print!("{}", report.to_csv_row());
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nats-bench: {}: {e}", scenario.name());
            ExitCode::FAILURE
        }
    }
}

/// Draws a bar from the progress counters; it appears only after a second (short runs never
/// show one) and only on a terminal (indicatif hides it otherwise).
fn spawn_bar(
    rt: &tokio::runtime::Runtime,
    progress: Arc<Progress>,
    duration: Option<Duration>,
) -> ProgressBar {
    let bar = ProgressBar::hidden();
    let b = bar.clone();
    rt.spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        let started = std::time::Instant::now();
        let counted =
            ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} {msg} eta {eta}")
                .expect("valid template");
        let timed =
            ProgressStyle::with_template("{bar:40} {elapsed} {msg}").expect("valid template");
        loop {
            let total = progress.total.load(Ordering::Relaxed);
            let done = progress.done.load(Ordering::Relaxed);
            // The bar appears a second in: count that second in the elapsed time.
            let secs = started.elapsed().as_secs_f64() + 1.0;
            let rate = format!("{:.0}/s", done as f64 / secs);
            if total > 0 {
                b.set_style(counted.clone());
                b.set_length(total);
                b.set_position(done.min(total));
                b.set_message(rate);
            } else if let Some(d) = duration {
                b.set_style(timed.clone());
                let ms = d.as_millis().max(1) as u64;
                b.set_length(ms);
                b.set_position(((secs * 1000.0) as u64).min(ms));
                b.set_message(format!("{done} done, {rate}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    bar
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(format!("bad size unit in {s:?} (use k or m)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} too large"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16"), Ok(16));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert!(parse_size("1x").is_err());
        assert!(parse_size("k").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
