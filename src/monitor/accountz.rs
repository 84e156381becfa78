//! `/accountz` (the accounts, or one account's detail with `?acc=`) and
//! `/accstatz` (per-account connection and traffic figures, `?unused=1` for
//! accounts without local connections too), in nats-server 2.15's shapes.
//!
//! Each document is built by a plain function of the server ([`accountz`],
//! [`accstatz`], [`account_stat`]) so that the system account's
//! `$SYS.REQ.ACCOUNT.*` services can serve the same data; the HTTP handlers
//! only decode the query.
//!
//! Traffic per account is computed when asked: the live connections bound to
//! the account are summed from their own counters, plus the totals that
//! connections left in [`Account::closed`] when they closed. Nothing per
//! account is counted on the message path. `received` is what the
//! account's connections published, `sent` what was delivered to them.
//!
//! Exports, imports and mappings are rendered from the configuration
//! (`Options.accounts`, top-level `mappings` for `$G`) in nats-server's
//! shapes: exports services first, then streams, each by subject (Go: map
//! order); imports streams first, then services, in file order; mappings
//! with cumulative weights sorted ascending.
//!
//! **Differs from nats-server:** the system account's four automatic
//! service imports in every account (`$SYS.REQ.SERVER.PING.CONNZ`,
//! `$SYS.REQ.ACCOUNT.PING.CONNZ`, `$SYS.REQ.ACCOUNT.PING.STATZ`,
//! `$SYS.REQ.USER.INFO`) and the system account's exports are not listed,
//! and their internal subscriptions are not counted, because this server
//! does not serve those requests yet; `responses` (service replies in
//! flight) is never shown. nats-server 2.15 counts an account's `sent` as
//! the deliveries of messages its connections published (importers
//! included); here it is what was delivered to the account's connections.
//! Lists are sorted by name (Go: map order).
//!
//! **Must never** hold the client registry or an account while serialising:
//! everything is copied out first.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::response::Response;
use serde::Serialize;

use super::{format, json_or_400, BadRequest, Monitor, Query};
use crate::config::{
    AccountConfig, ExportConfig, ExportKind, ImportConfig, MappingConfig, GLOBAL_ACCOUNT,
};
use crate::server::account::Account;
pub use crate::server::account_stats::{account_stat, live_traffic, AccountStat};
use crate::server::Server;

/// `/accountz`: nats-server's `Accountz`.
#[derive(Serialize, Debug)]
pub struct Accountz {
    pub server_id: String,
    pub now: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_detail: Option<AccountInfo>,
}

/// One account's detail: nats-server's `AccountInfo`.
#[derive(Serialize, Debug)]
pub struct AccountInfo {
    pub account_name: String,
    pub update_time: String,
    #[serde(skip_serializing_if = "is_false")]
    pub is_system: bool,
    pub expired: bool,
    pub complete: bool,
    pub jetstream_enabled: bool,
    pub leafnode_connections: u64,
    pub client_connections: u64,
    pub subscriptions: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mappings: BTreeMap<String, Vec<MapDestInfo>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<ExportInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportInfo>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name_tag: String,
    pub sublist_stats: SublistStats,
}

/// One destination of a mapping, its weight cumulative.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct MapDestInfo {
    pub subject: String,
    pub weight: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
}

#[derive(Serialize, Debug)]
pub struct ExportInfo {
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "is_false")]
    pub token_req: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_latency: Option<Latency>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approved_accounts: Vec<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Latency {
    pub sampling: u8,
    pub results: String,
}

#[derive(Serialize, Debug)]
pub struct ImportInfo {
    pub subject: String,
    pub account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub local_subject: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub invalid: bool,
    pub share: bool,
    pub tracking: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

#[derive(Serialize, Debug)]
pub struct SublistStats {
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
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn now() -> String {
    format::time(SystemTime::now())
}

pub(crate) fn handle_accountz(m: &Monitor, q: &Query) -> Response {
    m.count("/accountz");
    json_or_400(q, accountz(&m.server, q.get("acc")))
}

pub(super) fn handle_accstatz(m: &Monitor, q: &Query) -> Response {
    m.count("/accstatz");
    json_or_400(q, q.bool("unused").map(|u| accstatz(&m.server, &[], u)))
}

/// The account list, or with `acc` that account's detail; an unknown
/// account is nats-server's `Account NOPE does not exist`.
pub fn accountz(server: &Server, acc: &str) -> Result<Accountz, BadRequest> {
    let mut doc = Accountz {
        server_id: server.id.clone(),
        now: now(),
        system_account: server.accounts.system_name().map(|n| n.to_string()),
        accounts: None,
        account_detail: None,
    };
    if acc.is_empty() {
        let mut names: Vec<String> = server
            .accounts
            .all()
            .iter()
            .map(|a| a.name.to_string())
            .collect();
        names.sort();
        doc.accounts = Some(names);
        return Ok(doc);
    }
    let account = server
        .accounts
        .get(acc)
        .ok_or_else(|| BadRequest(format!("Account {acc} does not exist")))?;
    doc.account_detail = Some(account_info(server, &account));
    Ok(doc)
}

fn account_info(server: &Server, account: &Account) -> AccountInfo {
    let opts = server.options();
    let name = account.name.to_string();
    let config = opts.accounts.iter().find(|a| a.name == name);
    let mappings = if name == GLOBAL_ACCOUNT {
        &opts.mappings[..]
    } else {
        config.map_or(&[][..], |c| &c.mappings[..])
    };
    let st = account.sublist.stats();
    let updated = *account.updated.lock();
    AccountInfo {
        is_system: server.accounts.system_name().as_deref() == Some(name.as_str()),
        update_time: format::time(updated),
        expired: false,
        complete: true,
        jetstream_enabled: false,
        leafnode_connections: 0,
        client_connections: account.num_conns(),
        subscriptions: account.sublist.count() as u64,
        mappings: mappings_info(mappings),
        exports: config.map(exports_info).unwrap_or_default(),
        imports: config
            .map(|c| imports_info(c, &opts.accounts))
            .unwrap_or_default(),
        name_tag: name.clone(),
        account_name: name,
        sublist_stats: SublistStats {
            num_subscriptions: st.num_subscriptions,
            num_cache: st.num_cache,
            num_inserts: st.num_inserts,
            num_removes: st.num_removes,
            num_matches: st.num_matches,
            cache_hit_rate: st.cache_hit_rate,
            max_fanout: st.max_fanout,
            avg_fanout: st.avg_fanout,
        },
    }
}

/// Mappings as nats-server lists them: per destination set (the one
/// without `cluster`, then each cluster's), the source itself added with
/// the remainder when the weights stay under 100 and it is not listed,
/// sorted by weight ascending, weights made cumulative.
pub fn mappings_info(mappings: &[MappingConfig]) -> BTreeMap<String, Vec<MapDestInfo>> {
    let mut out = BTreeMap::new();
    for m in mappings {
        let mut sets: BTreeMap<Option<&str>, Vec<(String, u32)>> = BTreeMap::new();
        for d in &m.destinations {
            sets.entry(d.cluster.as_deref())
                .or_default()
                .push((d.subject.clone(), u32::from(d.weight)));
        }
        let mut dests = Vec::new();
        for (cluster, mut set) in sets {
            let total: u32 = set.iter().map(|(_, w)| w).sum();
            if total < 100 && !set.iter().any(|(s, _)| *s == m.source) {
                set.push((m.source.clone(), 100 - total));
            }
            set.sort_by_key(|(_, w)| *w);
            let mut cumulative = 0;
            for (subject, w) in set {
                cumulative += w;
                dests.push(MapDestInfo {
                    subject,
                    weight: cumulative,
                    cluster: cluster.unwrap_or("").to_string(),
                });
            }
        }
        out.insert(m.source.clone(), dests);
    }
    out
}

fn exports_info(config: &AccountConfig) -> Vec<ExportInfo> {
    let mut exports: Vec<&ExportConfig> = config.exports.iter().collect();
    exports.sort_by(|a, b| {
        let service_first = |e: &ExportConfig| e.kind != ExportKind::Service;
        service_first(a)
            .cmp(&service_first(b))
            .then(a.subject.cmp(&b.subject))
    });
    exports
        .into_iter()
        .map(|e| {
            let service = e.kind == ExportKind::Service;
            let mut approved = e.accounts.clone().unwrap_or_default();
            approved.sort();
            ExportInfo {
                subject: e.subject.clone(),
                kind: kind_str(e.kind),
                token_req: e.accounts.as_ref().is_some_and(Vec::is_empty),
                response_type: service.then(|| e.response_type.as_str()),
                service_latency: if service {
                    e.latency.as_ref().map(|l| Latency {
                        sampling: l.sampling,
                        results: l.subject.clone(),
                    })
                } else {
                    None
                },
                approved_accounts: approved,
            }
        })
        .collect()
}

fn kind_str(kind: ExportKind) -> &'static str {
    match kind {
        ExportKind::Stream => "stream",
        ExportKind::Service => "service",
    }
}

fn imports_info(config: &AccountConfig, all: &[AccountConfig]) -> Vec<ImportInfo> {
    let streams = config
        .imports
        .iter()
        .filter(|i| i.kind == ExportKind::Stream);
    let services = config
        .imports
        .iter()
        .filter(|i| i.kind == ExportKind::Service);
    streams
        .chain(services)
        .map(|i| import_info(i, all))
        .collect()
}

fn import_info(i: &ImportConfig, all: &[AccountConfig]) -> ImportInfo {
    let base = ImportInfo {
        subject: i.subject.clone(),
        account: i.account.clone(),
        to: None,
        local_subject: String::new(),
        kind: kind_str(i.kind),
        invalid: false,
        share: false,
        tracking: false,
        latency: None,
    };
    match i.kind {
        ExportKind::Stream => ImportInfo {
            local_subject: match (&i.prefix, &i.to) {
                (Some(p), _) => format!("{p}.{}", i.subject),
                (None, Some(to)) => wildcards_as_stars(to),
                (None, None) => i.subject.clone(),
            },
            ..base
        },
        ExportKind::Service => {
            let local = i.to.clone().unwrap_or_else(|| i.subject.clone());
            ImportInfo {
                to: Some(local.clone()),
                local_subject: local,
                share: i.share,
                latency: service_latency(all, &i.account, &i.subject),
                ..base
            }
        }
    }
}

/// `$N` and `{{wildcard(N)}}` tokens of an import's `to` as `*`, the way
/// nats-server shows a stream import's local subject.
fn wildcards_as_stars(to: &str) -> String {
    to.split('.')
        .map(|t| {
            let dollar =
                t.len() > 1 && t.starts_with('$') && t[1..].bytes().all(|b| b.is_ascii_digit());
            let func = t.starts_with("{{")
                && t.ends_with("}}")
                && t[2..]
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("wildcard(");
            if dollar || func {
                "*"
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The latency tracking of the service export `subject` of `account`
/// (exact subject first, else the first export the subject falls under).
fn service_latency(all: &[AccountConfig], account: &str, subject: &str) -> Option<Latency> {
    let exporter = all.iter().find(|a| a.name == account)?;
    let services = || {
        exporter
            .exports
            .iter()
            .filter(|e| e.kind == ExportKind::Service)
    };
    let export = services()
        .find(|e| e.subject == subject)
        .or_else(|| services().find(|e| sublist::subject::pattern_matches(&e.subject, subject)))?;
    export.latency.as_ref().map(|l| Latency {
        sampling: l.sampling,
        results: l.subject.clone(),
    })
}

/// `/accstatz`: nats-server's `AccountStatz`.
#[derive(Serialize, Debug)]
pub struct AccountStatz {
    pub server_id: String,
    pub now: String,
    pub account_statz: Vec<AccountStat>,
}

/// The accounts with local connections (all with `unused`), restricted to
/// `only` when it names any, by name.
pub fn accstatz(server: &Server, only: &[String], unused: bool) -> AccountStatz {
    let live = live_traffic(server);
    let mut accounts = server.accounts.all();
    accounts.retain(|a| only.is_empty() || only.iter().any(|n| **n == *a.name));
    accounts.retain(|a| unused || a.num_conns() > 0);
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    AccountStatz {
        server_id: server.id.clone(),
        now: now(),
        account_statz: accounts
            .iter()
            .map(|a| account_stat(a, live.get(&a.name).copied().unwrap_or_default()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapDest;
    use crate::server::account::Traffic;

    fn dest(subject: &str, weight: u8, cluster: Option<&str>) -> MapDest {
        MapDest {
            subject: subject.into(),
            weight,
            cluster: cluster.map(Into::into),
        }
    }

    fn shown(m: &BTreeMap<String, Vec<MapDestInfo>>, src: &str) -> Vec<(String, u32, String)> {
        m[src]
            .iter()
            .map(|d| (d.subject.clone(), d.weight, d.cluster.clone()))
            .collect()
    }

    #[test]
    fn mappings_are_cumulative_ascending_with_the_remainder() {
        // As nats-server 2.15.1 shows them.
        let m = mappings_info(&[
            MappingConfig {
                source: "weighted".into(),
                destinations: vec![dest("w.a", 70, None), dest("w.b", 30, None)],
            },
            MappingConfig {
                source: "partial".into(),
                destinations: vec![dest("p.a", 40, None)],
            },
            MappingConfig {
                source: "lossy".into(),
                destinations: vec![dest("l.a", 40, None), dest("lossy", 10, None)],
            },
            MappingConfig {
                source: "cs".into(),
                destinations: vec![
                    dest("cs.local", 100, Some("cx")),
                    dest("cs.other", 100, None),
                ],
            },
        ]);
        let s = |a: &str, w, c: &str| (a.to_string(), w, c.to_string());
        assert_eq!(shown(&m, "weighted"), [s("w.b", 30, ""), s("w.a", 100, "")]);
        assert_eq!(
            shown(&m, "partial"),
            [s("p.a", 40, ""), s("partial", 100, "")]
        );
        assert_eq!(shown(&m, "lossy"), [s("lossy", 10, ""), s("l.a", 50, "")]);
        assert_eq!(
            shown(&m, "cs"),
            [s("cs.other", 100, ""), s("cs.local", 100, "cx")]
        );
    }

    #[test]
    fn stream_import_local_subjects() {
        assert_eq!(wildcards_as_stars("imp.$2.$1"), "imp.*.*");
        assert_eq!(wildcards_as_stars("a.{{wildcard(1)}}.b"), "a.*.b");
        assert_eq!(wildcards_as_stars("a.$x.b"), "a.$x.b");
        let i = ImportConfig {
            kind: ExportKind::Stream,
            account: "A".into(),
            subject: "news.>".into(),
            prefix: Some("fromA".into()),
            ..ImportConfig::default()
        };
        let info = import_info(&i, &[]);
        assert_eq!(info.local_subject, "fromA.news.>");
        assert!(info.to.is_none());
    }

    #[test]
    fn account_figures_add_closed_and_live_traffic() {
        let acc = Account::new("A", true);
        acc.closed.add(Traffic {
            in_msgs: 1,
            in_bytes: 10,
            out_msgs: 2,
            out_bytes: 20,
        });
        assert!(acc.add_conn());
        let st = account_stat(
            &acc,
            Traffic {
                in_msgs: 3,
                in_bytes: 30,
                out_msgs: 4,
                out_bytes: 40,
            },
        );
        assert_eq!((st.conns, st.total_conns), (1, 1));
        assert_eq!((st.received.msgs, st.received.bytes), (4, 40));
        assert_eq!((st.sent.msgs, st.sent.bytes), (6, 60));
    }
}
