//! Accounts: isolated subject spaces. Each [`Account`] owns its own
//! [`Sublist`], so a publish in one account can only ever match that
//! account's subscriptions; crossing accounts is what imports are for.
//! [`Accounts`] is the registry: the global account `$G` (every user outside
//! an `accounts {}` entry), the configured ones, and the system account.
//!
//! A client resolves its account once, at CONNECT, and keeps the `Arc`; a
//! route resolves the account token of each `RS+`/`RMSG`, caching the last
//! one, so no lookup sits on the per-message path of a client.
//!
//! **Must never:** hold a lock while matching or delivering, or be looked up
//! per message by a client connection.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::SystemTime;

use dashmap::DashMap;
use sublist::Sublist;

use crate::config::{AccountLimits, Options, DEFAULT_SYSTEM_ACCOUNT, GLOBAL_ACCOUNT};
use crate::server::subscription::SubRef;
use crate::transform::{Mapping, Mappings};

/// One account: its subject space and what monitoring counts of it.
pub struct Account {
    pub name: Arc<str>,
    pub sublist: Sublist<SubRef>,
    /// `limits {}` from the configuration (`-1` = unlimited).
    pub limits: parking_lot::RwLock<AccountLimits>,
    /// Client connections bound to this account now.
    pub conns: AtomicI64,
    /// Client connections ever bound to this account.
    pub total_conns: AtomicU64,
    /// What connections that were bound to this account and have closed
    /// published and were delivered, added once at unregister: live
    /// connections are summed at query time (`/accstatz`, `/metrics`), so
    /// nothing per account is counted on the per-message path.
    pub closed: ClosedTotals,
    /// Client connections of this account cut as slow consumers.
    pub slow_consumers: AtomicU64,
    /// When the account was created or last changed by a reload.
    pub updated: parking_lot::Mutex<SystemTime>,
    /// The account's internal client, owner of its internal subscriptions
    /// (`internal.rs`), made on first use.
    pub(crate) internal: std::sync::OnceLock<Arc<crate::server::ConnShared>>,
    pub(crate) next_internal_sid: AtomicU64,
    /// Internal subscriptions made for this account's imports (removed and
    /// made again on reload).
    pub(crate) import_subs: parking_lot::Mutex<Vec<Arc<crate::server::subscription::Subscription>>>,
    /// Pending responses of the services this account exports.
    pub(crate) responses: parking_lot::Mutex<crate::server::imports::ResponseTable>,
    /// The fixed first part of this account's `_R_` reply subjects.
    pub(crate) reply_prefix: Box<str>,
    /// Subject mappings applied to what clients publish here; the flag
    /// keeps an account without mappings off the lock (one load per
    /// publish).
    mappings: parking_lot::RwLock<Option<Arc<Mappings>>>,
    has_mappings: AtomicBool,
}

impl Account {
    pub fn new(name: &str, cache: bool) -> Account {
        Account {
            name: name.into(),
            sublist: Sublist::with_config(sublist::Config {
                cache_slots: if cache {
                    sublist::DEFAULT_CACHE_SLOTS
                } else {
                    0
                },
                collector: None,
            }),
            limits: parking_lot::RwLock::new(AccountLimits::default()),
            conns: AtomicI64::new(0),
            total_conns: AtomicU64::new(0),
            closed: ClosedTotals::default(),
            slow_consumers: AtomicU64::new(0),
            updated: parking_lot::Mutex::new(SystemTime::now()),
            internal: std::sync::OnceLock::new(),
            next_internal_sid: AtomicU64::new(1),
            import_subs: parking_lot::Mutex::new(Vec::new()),
            responses: parking_lot::Mutex::new(Default::default()),
            reply_prefix: crate::server::imports::base62(6).into(),
            mappings: parking_lot::RwLock::new(None),
            has_mappings: AtomicBool::new(false),
        }
    }

    /// Client connections bound to this account now.
    pub fn num_conns(&self) -> u64 {
        self.conns.load(Relaxed).max(0) as u64
    }

    /// Counts a client binding to this account; refuses (false) past
    /// `limits.max_connections`.
    pub fn add_conn(&self) -> bool {
        let max = self.limits.read().max_connections;
        let n = self.conns.fetch_add(1, Relaxed) + 1;
        if max >= 0 && n > max {
            self.conns.fetch_sub(1, Relaxed);
            return false;
        }
        self.total_conns.fetch_add(1, Relaxed);
        true
    }

    pub fn remove_conn(&self) {
        self.conns.fetch_sub(1, Relaxed);
    }

    /// The account's mappings, if it has any (one relaxed load otherwise).
    #[inline]
    pub fn mappings(&self) -> Option<Arc<Mappings>> {
        if !self.has_mappings.load(Relaxed) {
            return None;
        }
        self.mappings.read().clone()
    }

    /// Service responses this account's exports still owe.
    pub fn pending_responses(&self) -> usize {
        self.responses.lock().len()
    }

    /// Replaces the account's mappings (start and reload).
    pub fn set_mappings(&self, mappings: Option<Mappings>) {
        let mappings = mappings.filter(|m| !m.is_empty()).map(Arc::new);
        self.has_mappings.store(mappings.is_some(), Relaxed);
        *self.mappings.write() = mappings;
    }
}

/// Message and byte totals of an account's closed connections.
#[derive(Default)]
pub struct ClosedTotals {
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
}

/// Messages and bytes in (published by the account's connections) and out
/// (delivered to them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

impl std::ops::AddAssign for Traffic {
    fn add_assign(&mut self, o: Traffic) {
        self.in_msgs += o.in_msgs;
        self.in_bytes += o.in_bytes;
        self.out_msgs += o.out_msgs;
        self.out_bytes += o.out_bytes;
    }
}

impl ClosedTotals {
    /// Adds a closing connection's figures.
    pub fn add(&self, t: Traffic) {
        self.in_msgs.fetch_add(t.in_msgs, Relaxed);
        self.in_bytes.fetch_add(t.in_bytes, Relaxed);
        self.out_msgs.fetch_add(t.out_msgs, Relaxed);
        self.out_bytes.fetch_add(t.out_bytes, Relaxed);
    }

    pub fn get(&self) -> Traffic {
        Traffic {
            in_msgs: self.in_msgs.load(Relaxed),
            in_bytes: self.in_bytes.load(Relaxed),
            out_msgs: self.out_msgs.load(Relaxed),
            out_bytes: self.out_bytes.load(Relaxed),
        }
    }
}

/// The account registry: read at CONNECT and by routes, changed on reload.
pub struct Accounts {
    by_name: DashMap<Arc<str>, Arc<Account>>,
    global: Arc<Account>,
    /// The system account's name; `None` with `no_sys_acc`.
    system: parking_lot::RwLock<Option<Arc<str>>>,
    cache: bool,
}

impl Accounts {
    /// `$G`, every configured account, and the system account (`$SYS`
    /// unless `system_account` names a configured one or `no_sys_acc`).
    pub fn from_options(opts: &Options) -> Accounts {
        let cache = !opts.disable_sublist_cache;
        let global = Arc::new(Account::new(GLOBAL_ACCOUNT, cache));
        let accounts = Accounts {
            by_name: DashMap::new(),
            global: global.clone(),
            system: parking_lot::RwLock::new(None),
            cache,
        };
        accounts.by_name.insert(global.name.clone(), global);
        accounts.apply(opts);
        accounts
    }

    /// Adds the accounts `opts` declares that do not exist yet and updates
    /// the limits of those that do (start and reload). Returns the names of
    /// accounts that the new configuration no longer declares.
    pub fn apply(&self, opts: &Options) -> Vec<Arc<str>> {
        let mut keep: Vec<&str> = vec![GLOBAL_ACCOUNT];
        for a in &opts.accounts {
            let acc = self.get_or_create(&a.name);
            {
                let mut limits = acc.limits.write();
                if *limits != a.limits {
                    *limits = a.limits;
                    *acc.updated.lock() = SystemTime::now();
                }
            }
            acc.set_mappings(compile_mappings(&a.mappings));
            keep.push(&a.name);
        }
        self.global.set_mappings(compile_mappings(&opts.mappings));
        let system = system_account_name(opts);
        if let Some(name) = &system {
            self.get_or_create(name);
            keep.push(name);
        }
        let gone: Vec<Arc<str>> = self
            .by_name
            .iter()
            .map(|e| e.key().clone())
            .filter(|n| !keep.contains(&&**n))
            .collect();
        *self.system.write() = system.as_deref().map(Into::into);
        for name in &gone {
            self.by_name.remove(name);
        }
        gone
    }

    fn get_or_create(&self, name: &str) -> Arc<Account> {
        if let Some(a) = self.by_name.get(name) {
            return a.clone();
        }
        self.by_name
            .entry(name.into())
            .or_insert_with(|| Arc::new(Account::new(name, self.cache)))
            .clone()
    }

    /// The global account `$G`.
    #[inline]
    pub fn global(&self) -> &Arc<Account> {
        &self.global
    }

    pub fn get(&self, name: &str) -> Option<Arc<Account>> {
        self.by_name.get(name).map(|a| a.clone())
    }

    /// The system account, unless `no_sys_acc`.
    pub fn system(&self) -> Option<Arc<Account>> {
        let name = self.system.read().clone()?;
        self.get(&name)
    }

    pub fn system_name(&self) -> Option<Arc<str>> {
        self.system.read().clone()
    }

    /// Every account, in no particular order.
    pub fn all(&self) -> Vec<Arc<Account>> {
        self.by_name.iter().map(|e| e.value().clone()).collect()
    }

    /// Subscriptions over every account.
    pub fn subscriptions(&self) -> usize {
        self.by_name.iter().map(|e| e.value().sublist.count()).sum()
    }

    /// The trie statistics of every account together, as nats-server's
    /// `/subsz` adds them up.
    pub fn stats(&self) -> sublist::Stats {
        let all: Vec<sublist::Stats> = self.by_name.iter().map(|e| e.sublist.stats()).collect();
        sublist::Stats::aggregate(all.iter())
    }
}

/// Compiles configured mappings (already validated by the configuration;
/// one that still fails is left out with a warning).
fn compile_mappings(list: &[crate::config::MappingConfig]) -> Option<Mappings> {
    if list.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    for m in list {
        let dests = m
            .destinations
            .iter()
            .map(|d| (d.subject.as_str(), d.weight, d.cluster.as_deref()));
        match Mapping::new(&m.source, dests) {
            Ok(mapping) => out.push(mapping),
            Err(e) => crate::log::warn!("Error adding mapping for {:?} : {e}", m.source),
        }
    }
    Some(Mappings::new(out))
}

/// The system account's name for these options: `system_account`, else
/// `$SYS`; `None` with `no_sys_acc`.
pub fn system_account_name(opts: &Options) -> Option<String> {
    if opts.no_sys_acc {
        return None;
    }
    Some(
        opts.system_account
            .clone()
            .unwrap_or_else(|| DEFAULT_SYSTEM_ACCOUNT.to_string()),
    )
}

/// Caches the last account a route resolved by name, so that a stream of
/// `RMSG`s for one account costs one comparison each, not a map lookup.
#[derive(Default)]
pub struct LastAccount {
    last: Option<Arc<Account>>,
}

impl LastAccount {
    #[inline]
    pub fn resolve(&mut self, accounts: &Accounts, name: &[u8]) -> Option<Arc<Account>> {
        if let Some(a) = &self.last {
            if a.name.as_bytes() == name {
                return Some(a.clone());
            }
        }
        let found = accounts.get(std::str::from_utf8(name).ok()?)?;
        self.last = Some(found.clone());
        Some(found)
    }

    /// Forgets the cached account (after a reload removed accounts).
    pub fn clear(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AccountConfig;

    fn opts(names: &[&str]) -> Options {
        Options {
            accounts: names
                .iter()
                .map(|n| AccountConfig {
                    name: n.to_string(),
                    ..AccountConfig::default()
                })
                .collect(),
            ..Options::default()
        }
    }

    #[test]
    fn global_configured_and_system_accounts_exist() {
        let a = Accounts::from_options(&opts(&["A", "B"]));
        for n in ["$G", "A", "B", "$SYS"] {
            assert!(a.get(n).is_some(), "{n}");
        }
        assert_eq!(a.system_name().as_deref(), Some("$SYS"));
        assert!(!Arc::ptr_eq(&a.get("A").unwrap(), &a.get("B").unwrap()));
    }

    #[test]
    fn no_sys_acc_and_named_system_account() {
        let mut o = opts(&["A", "SYS"]);
        o.system_account = Some("SYS".into());
        let a = Accounts::from_options(&o);
        assert!(a.get("$SYS").is_none());
        assert_eq!(a.system().unwrap().name.as_ref(), "SYS");
        o.no_sys_acc = true;
        o.system_account = None;
        let a = Accounts::from_options(&o);
        assert!(a.system().is_none());
        assert!(a.get("$SYS").is_none());
    }

    #[test]
    fn reload_keeps_survivors_and_reports_removed() {
        let a = Accounts::from_options(&opts(&["A", "B"]));
        let before = a.get("A").unwrap();
        let gone = a.apply(&opts(&["A", "C"]));
        assert_eq!(gone.iter().map(|n| &**n).collect::<Vec<_>>(), ["B"]);
        assert!(Arc::ptr_eq(&before, &a.get("A").unwrap()));
        assert!(a.get("C").is_some() && a.get("B").is_none());
    }

    #[test]
    fn connection_limit() {
        let acc = Account::new("A", true);
        acc.limits.write().max_connections = 1;
        assert!(acc.add_conn());
        assert!(!acc.add_conn());
        acc.remove_conn();
        assert!(acc.add_conn());
        assert_eq!(acc.total_conns.load(Relaxed), 2);
    }

    #[test]
    fn last_account_follows_the_name() {
        let a = Accounts::from_options(&opts(&["A"]));
        let mut last = LastAccount::default();
        assert_eq!(&*last.resolve(&a, b"A").unwrap().name, "A");
        assert_eq!(&*last.resolve(&a, b"$G").unwrap().name, "$G");
        assert!(last.resolve(&a, b"Z").is_none());
    }
}
