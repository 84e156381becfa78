//! Scenario `accounts`: N accounts, each with its own publisher and K subscribers, all on the
//! same subject name, so that only the server's account isolation keeps them apart.
//!
//! **What it owns.** Logging each account's connections in as its own user (a pattern such as
//! `acc{i}` with the run's shared password), tagging every message of account `i`'s publisher
//! with the reply subject `_NB.acc.<i>`, and the checks: a subscriber must receive exactly the
//! messages its own account's publisher had confirmed, and none with another account's tag (a
//! cross-account delivery). Rates are totals over all accounts, reported like `pubsub`.
//!
//! **What it must never do.** Report when a subscriber saw another account's message or a count
//! is off (that is [`Error::Count`]), or let two accounts share a user (a pattern without `{i}`
//! is refused for more than one account).

use super::{check_positive, connect_all, join_all, Options, DEFAULT_MSGS};
use crate::error::{Error, Result};
use crate::publisher::{publish, Repeat};
use crate::report::{Rate, Report};
use crate::subscriber::receive_tagged;
use tokio::sync::watch;

/// The user of account `i`: `pattern` with every `{i}` replaced by `i`.
pub fn user_for(pattern: &str, i: usize) -> String {
    pattern.replace("{i}", &i.to_string())
}

/// The reply subject that tags account `i`'s messages.
pub fn tag_for(i: usize) -> String {
    format!("_NB.acc.{i}")
}

/// Runs `accounts` accounts with one publisher and `subs` subscribers each on `opts.subject`.
pub async fn run(opts: &Options, accounts: usize, subs: usize, users: &str) -> Result<Report> {
    check_positive("accounts", accounts)?;
    check_positive("subscribers per account", subs)?;
    if accounts > 1 && !users.contains("{i}") {
        return Err(Error::Config(format!(
            "the user pattern {users:?} has no {{i}}: every account would log in as one user"
        )));
    }
    let sub_line = format!("SUB {} 1\r\n", opts.subject);
    let sub_conns = connect_all(opts, accounts * subs, |n| {
        let user = user_for(users, n / subs);
        let mut c = opts.connect_options_as("nats-bench-sub", Some(&user));
        c.setup = sub_line.clone().into_bytes();
        c
    })
    .await?;
    let pub_conns = connect_all(opts, accounts, |i| {
        opts.connect_options_as("nats-bench-pub", Some(&user_for(users, i)))
    })
    .await?;
    let version = sub_conns[0].info.version.clone();

    let (stop_tx, stop_rx) = watch::channel(false);
    let sub_tasks: Vec<_> = sub_conns
        .into_iter()
        .enumerate()
        .map(|(n, c)| {
            let tag = tag_for(n / subs).into_bytes();
            tokio::spawn(receive_tagged(c, stop_rx.clone(), tag))
        })
        .collect();
    let bound = opts.bound(DEFAULT_MSGS)?;
    opts.progress_total(&bound);
    let pub_tasks: Vec<_> = pub_conns
        .into_iter()
        .zip(bound.split(accounts))
        .enumerate()
        .map(|(i, (conn, share))| {
            let frames = Repeat::new(
                &opts.subject,
                Some(&tag_for(i)),
                opts.size,
                opts.batch_bytes,
            );
            let o = opts.clone();
            tokio::spawn(async move { publish(conn, frames, share, &o).await })
        })
        .collect();
    let pubs = join_all(pub_tasks).await;
    let _ = stop_tx.send(true);
    let outs = join_all(sub_tasks).await;
    let pubs = pubs?;
    let outs = outs?;

    for (n, o) in outs.iter().enumerate() {
        let (acc, sent) = (n / subs, pubs[n / subs].sent);
        if o.foreign > 0 {
            return Err(Error::Count {
                what: format!(
                    "messages from other accounts received by subscriber {} of account {acc}",
                    n % subs
                ),
                expected: 0,
                got: o.foreign,
            });
        }
        if o.received != sent {
            return Err(Error::Count {
                what: format!(
                    "messages received by subscriber {} of account {acc}",
                    n % subs
                ),
                expected: sent,
                got: o.received,
            });
        }
    }
    let sent: u64 = pubs.iter().map(|p| p.sent).sum();
    let started = pubs.iter().map(|p| p.started).min();
    let finished = pubs.iter().map(|p| p.finished).max();
    let pub_elapsed = match (started, finished) {
        (Some(s), Some(f)) => f - s,
        _ => Default::default(),
    };
    let last = outs.iter().filter_map(|o| o.last).max();
    let recv_elapsed = match (started, last) {
        (Some(s), Some(l)) => l - s,
        _ => Default::default(),
    };
    let per: Vec<u64> = outs.iter().map(|o| o.received).collect();
    let received: u64 = per.iter().sum();

    let mut report = Report::new("accounts", &version, &opts.addr, opts.size);
    report.publishers = accounts;
    report.subscribers = accounts * subs;
    report.publish = Some(Rate::new(sent, opts.size, pub_elapsed));
    report.receive = Some(Rate::new(received, opts.size, recv_elapsed));
    report.per_subscriber = per;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_tags_per_account() {
        assert_eq!(user_for("acc{i}", 42), "acc42");
        assert_eq!(user_for("t{i}-u{i}", 3), "t3-u3");
        assert_eq!(tag_for(7), "_NB.acc.7");
    }
}
