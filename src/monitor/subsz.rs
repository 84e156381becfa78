//! `/subsz` (alias `/subscriptionsz`): the sublist's statistics and,
//! with `subs=1`, its subscriptions — `offset`/`limit` paging, `test=<subject>`
//! (only subscriptions a message on that literal subject would reach; an
//! invalid one is a 400), `acc`.
//!
//! The shape is nats-server main's: `server_id`, `now`, the stats, then
//! `total` (matching subscriptions before paging, 0 without `subs`),
//! `offset`, `limit` and `subscriptions_list` when non-empty.
//!
//! **Differs from nats-server:** 2.9/2.10 print only the bare statistics
//! when the list is empty and count `total` after paging; we follow main
//! (and 2.15), whose shape is a superset. The list is ordered by connection
//! id and sid (Go: trie order), so that pages are stable. Stats follow
//! `docs/architecture.md#the-tries-semantics`; `num_subscriptions` has no internal `$SYS` entries.
//!
//! Must never hold anything while sorting: subscriptions are cloned out of
//! the trie by its lock-free walk.

use std::cmp::Ordering;

use axum::response::Response;
use serde::Serialize;
use sublist::subject::{is_valid_literal_subject, pattern_matches};

use super::{format, json_or_400, page_bounds, page_range, BadRequest, Monitor, Query};
use crate::server::subscription::SubSnapshot;

/// nats-server's `SubDetail`.
#[derive(Serialize, Clone, Debug)]
pub struct SubDetail {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// The account's name tag: its name (no JWT accounts here).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account_tag: String,
    pub subject: String,
    #[serde(rename = "qgroup", skip_serializing_if = "String::is_empty")]
    pub queue: String,
    pub sid: String,
    pub msgs: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub cid: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl SubDetail {
    pub fn new(s: &SubSnapshot, with_account: bool) -> SubDetail {
        let account = if with_account {
            s.account.to_string()
        } else {
            String::new()
        };
        SubDetail {
            account_tag: account.clone(),
            account,
            subject: s.subject.to_string(),
            queue: s.queue.as_deref().unwrap_or("").to_string(),
            sid: String::from_utf8_lossy(&s.sid).into_owned(),
            msgs: s.msgs,
            max: s.max,
            cid: s.cid,
        }
    }
}

/// Sids compare as numbers when both are (`2` before `10`), else as bytes.
pub fn sid_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let numeric = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if numeric(a) && numeric(b) {
        let (a, b) = (trim_zeros(a), trim_zeros(b));
        a.len().cmp(&b.len()).then(a.cmp(b))
    } else {
        a.cmp(b)
    }
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let i = s.iter().position(|&c| c != b'0').unwrap_or(s.len());
    &s[i..]
}

/// Details ordered by connection and sid.
pub fn sorted_details(mut subs: Vec<SubSnapshot>, with_account: bool) -> Vec<SubDetail> {
    subs.sort_by(|a, b| a.cid.cmp(&b.cid).then(sid_cmp(&a.sid, &b.sid)));
    subs.iter()
        .map(|s| SubDetail::new(s, with_account))
        .collect()
}

#[derive(Serialize)]
pub struct Subsz {
    server_id: String,
    now: String,
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    #[serde(serialize_with = "format::go_float")]
    cache_hit_rate: f64,
    max_fanout: u64,
    #[serde(serialize_with = "format::go_float")]
    avg_fanout: f64,
    total: usize,
    offset: usize,
    limit: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<SubDetail>,
}

pub(super) fn handle(m: &Monitor, q: &Query) -> Response {
    m.count("/subsz");
    json_or_400(q, subsz(m, q))
}

fn subsz(m: &Monitor, q: &Query) -> Result<Subsz, BadRequest> {
    let subs = q.bool("subs")?;
    let (offset, limit) = page_bounds(q.int("offset")?, q.int("limit")?);
    let test = q.get("test");
    if !test.is_empty() && !is_valid_literal_subject(test) {
        return Err(BadRequest(format!(
            "invalid test subject, must be valid publish subject: {test}"
        )));
    }
    let acc = q.get("acc");
    let server = &m.server;
    // Every account, or the one named (an unknown name selects nothing).
    let accounts: Vec<_> = if acc.is_empty() {
        server.accounts.all()
    } else {
        server.accounts.get(acc).into_iter().collect()
    };
    let stats = sublist::Stats::aggregate(
        accounts
            .iter()
            .map(|a| a.sublist.stats())
            .collect::<Vec<_>>()
            .iter(),
    );
    let mut doc = Subsz {
        server_id: server.id.clone(),
        now: format::time(std::time::SystemTime::now()),
        num_subscriptions: stats.num_subscriptions,
        num_cache: stats.num_cache,
        num_inserts: stats.num_inserts,
        num_removes: stats.num_removes,
        num_matches: stats.num_matches,
        cache_hit_rate: stats.cache_hit_rate,
        max_fanout: stats.max_fanout,
        avg_fanout: stats.avg_fanout,
        total: 0,
        offset,
        limit,
        subscriptions_list: Vec::new(),
    };
    if subs {
        let mut all: Vec<SubSnapshot> = Vec::new();
        for account in &accounts {
            account.sublist.for_each(|entry| {
                if !test.is_empty() && !pattern_matches(entry.subject, test) {
                    return;
                }
                all.extend(entry.plain.iter().map(|s| s.snapshot()));
                for (_, members) in entry.queues {
                    all.extend(members.iter().map(|s| s.snapshot()));
                }
            });
        }
        let mut details = sorted_details(all, true);
        doc.total = details.len();
        doc.subscriptions_list = details
            .drain(page_range(details.len(), offset, limit))
            .collect();
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_sort_numerically_then_bytewise() {
        assert_eq!(sid_cmp(b"2", b"10"), Ordering::Less);
        assert_eq!(sid_cmp(b"010", b"9"), Ordering::Greater);
        assert_eq!(sid_cmp(b"a", b"10"), Ordering::Greater);
        assert_eq!(sid_cmp(b"abc", b"abd"), Ordering::Less);
    }
}
