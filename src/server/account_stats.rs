//! One account's figures as nats-server reports them (`AccountStat`): the
//! body of `/accstatz` entries and of the `account_connections` event.
//! Traffic is summed when asked for — the live connections' own counters
//! plus what closed ones left in the account — never counted per message.
//!
//! **Must never:** add counters on the per-message path.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use serde::Serialize;

use crate::server::account::{Account, Traffic};
use crate::server::Server;

/// One account's figures: nats-server's `AccountStat` (also the body of
/// the `account_connections` event).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct AccountStat {
    pub acc: String,
    pub name: String,
    pub conns: u64,
    pub leafnodes: u64,
    pub total_conns: u64,
    pub num_subscriptions: u64,
    pub sent: DataStats,
    pub received: DataStats,
    pub slow_consumers: u64,
}

#[derive(Serialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgBytes {
    pub msgs: u64,
    pub bytes: u64,
}

#[derive(Serialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataStats {
    pub msgs: u64,
    pub bytes: u64,
    pub gateways: MsgBytes,
    pub routes: MsgBytes,
    pub leafs: MsgBytes,
}

impl DataStats {
    pub fn clients(msgs: u64, bytes: u64) -> DataStats {
        DataStats {
            msgs,
            bytes,
            ..DataStats::default()
        }
    }
}

/// What the live client connections of each account published and were
/// delivered, summed from the connections' own counters.
pub fn live_traffic(server: &Server) -> HashMap<Arc<str>, Traffic> {
    let mut by_account: HashMap<Arc<str>, Traffic> = HashMap::new();
    for c in server.clients() {
        let Some(account) = c.account() else { continue };
        let out = c.out.stats();
        *by_account.entry(account.name.clone()).or_default() += Traffic {
            in_msgs: c.in_msgs.load(Relaxed),
            in_bytes: c.in_bytes.load(Relaxed),
            out_msgs: out.out_msgs,
            out_bytes: out.out_bytes,
        };
    }
    by_account
}

/// One account's figures; `live` is [`live_traffic`]'s entry for it.
pub fn account_stat(account: &Account, live: Traffic) -> AccountStat {
    let mut t = account.closed.get();
    t += live;
    let conns = account.num_conns();
    let leafnodes = 0;
    AccountStat {
        acc: account.name.to_string(),
        name: account.name.to_string(),
        conns,
        leafnodes,
        total_conns: conns + leafnodes,
        num_subscriptions: account.sublist.count() as u64,
        sent: DataStats::clients(t.out_msgs, t.out_bytes),
        received: DataStats::clients(t.in_msgs, t.in_bytes),
        slow_consumers: account.slow_consumers.load(Relaxed),
    }
}
