//! The connection registry: live clients (registered against
//! `max_connections`), the bounded list of closed ones for
//! `/connz?state=closed`, slow-consumer counts per client name, and the
//! subscriptions a connection adds to and removes from the trie.
//!
//! **Must never:** hold the registry lock while closing a connection or
//! touching the trie, or keep more closed records than `max_closed_clients`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;

use crate::log::ConnKind;
use crate::outbound::OutStats;
use crate::server::account::Traffic;
use crate::server::close::ClosedState;
use crate::server::subscription::{SubRef, SubSnapshot, Subscription};
use crate::server::{ClosedClient, ConnShared, Server, SLOW_NAMES_MAX};

impl Server {
    /// Records a connection that failed before it was served (a TLS
    /// handshake) among the closed connections.
    pub fn record_failed_client(&self, client: &Arc<ConnShared>, reason: ClosedState) {
        self.clients.lock().insert(client.cid, client.clone());
        self.unregister_client(client, reason);
    }

    /// Adds a client unless `max_connections` is reached.
    pub fn register_client(&self, client: &Arc<ConnShared>) -> bool {
        let max = self.opts.read().max_connections;
        let mut clients = self.clients.lock();
        if clients.len() >= max {
            return false;
        }
        clients.insert(client.cid, client.clone());
        self.stats.total_connections.fetch_add(1, Relaxed);
        true
    }

    pub fn unregister_client(&self, client: &Arc<ConnShared>, reason: ClosedState) {
        if self.clients.lock().remove(&client.cid).is_none() {
            return;
        }
        let out = client.out.stats();
        let in_msgs = client.in_msgs.load(Relaxed);
        let in_bytes = client.in_bytes.load(Relaxed);
        let account = client.account();
        if let Some(account) = &account {
            // The account's figures for closed connections; live ones are
            // summed when asked for (`/accstatz`, `/metrics`).
            account.closed.add(Traffic {
                in_msgs,
                in_bytes,
                out_msgs: out.out_msgs,
                out_bytes: out.out_bytes,
            });
        }
        client.release_account();
        let meta = client.meta.lock().clone();
        let subs: Vec<SubSnapshot> = client.subs.lock().values().map(|s| s.snapshot()).collect();
        let record = ClosedClient {
            cid: client.cid,
            addr: client.addr,
            start: client.start,
            stop: SystemTime::now(),
            last_activity: client.last_activity.load(Relaxed),
            reason,
            name: meta.name.to_string(),
            lang: meta.lang.to_string(),
            version: meta.version.to_string(),
            user: meta.user.to_string(),
            account: meta.account.clone(),
            in_msgs,
            in_bytes,
            out: OutStats {
                pending: client.pending_at_close(),
                ..out
            },
            rtt_nanos: client.rtt_nanos.load(Relaxed),
            subs,
        };
        let max = self.opts.read().max_closed_clients;
        let mut closed = self.closed.lock();
        if max > 0 {
            while closed.len() >= max {
                closed.pop_front();
            }
            closed.push_back(Arc::new(record));
        }
        drop(closed);
        if client.kind == ConnKind::Client {
            self.event_disconnect(client, account.as_ref(), reason);
        }
    }

    /// Live client connections.
    pub fn clients(&self) -> Vec<Arc<ConnShared>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn num_clients(&self) -> usize {
        self.clients.lock().len()
    }

    /// Recently closed connections, oldest first.
    pub fn closed_clients(&self) -> Vec<Arc<ClosedClient>> {
        self.closed.lock().iter().cloned().collect()
    }

    /// Counts a slow-consumer cut (`/varz` `slow_consumers`, and per client
    /// name for `/metrics`; names past [`SLOW_NAMES_MAX`] count under `""`).
    pub fn record_slow_consumer(&self, client: &ConnShared) {
        self.stats.slow_consumers.fetch_add(1, Relaxed);
        if let Some(account) = client.account() {
            account.slow_consumers.fetch_add(1, Relaxed);
        }
        let name = client.meta.lock().name.to_string();
        let mut by_name = self.slow_by_name.lock();
        let key = if by_name.contains_key(&name) || by_name.len() < SLOW_NAMES_MAX {
            name
        } else {
            String::new()
        };
        *by_name.entry(key).or_insert(0) += 1;
    }

    /// Slow-consumer cuts per client name, since start.
    pub fn slow_consumers_by_name(&self) -> Vec<(String, u64)> {
        let by_name = self.slow_by_name.lock();
        by_name.iter().map(|(n, c)| (n.clone(), *c)).collect()
    }

    pub fn add_sub(&self, sub: SubRef) {
        let (subject, queue) = (sub.subject.clone(), sub.queue.clone());
        let local = !sub.is_remote();
        // Subject and queue were validated by the caller.
        let account = sub.account.clone();
        if let Ok(true) = account.sublist.insert(&subject, queue.as_deref(), sub) {
            if local {
                self.local_interest(&account.name, &subject, queue.as_deref(), 1);
            }
        }
    }

    /// Removes one subscription from the trie and from its connection.
    pub fn remove_sub(&self, sub: &Arc<Subscription>) {
        {
            let mut subs = sub.client.subs.lock();
            if subs.get(&sub.sid).is_some_and(|s| Arc::ptr_eq(s, sub)) {
                subs.remove(&sub.sid);
            }
        }
        let removed =
            sub.account
                .sublist
                .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
        if removed.is_ok() && !sub.is_remote() {
            self.local_interest(&sub.account.name, &sub.subject, sub.queue.as_deref(), -1);
        }
    }

    /// Drops every subscription of a closing connection in one batch.
    pub fn remove_client_subs(&self, client: &ConnShared) {
        let mut subs: Vec<SubRef> = client.subs.lock().drain().map(SubRef).collect();
        // One batch per account (a client has one; a route carries many).
        subs.sort_by(|a, b| a.account.name.cmp(&b.account.name));
        for chunk in subs.chunk_by(|a, b| Arc::ptr_eq(&a.account, &b.account)) {
            chunk[0]
                .account
                .sublist
                .remove_batch(chunk.iter().map(|s| (&*s.subject, s.queue.as_deref(), s)));
        }
        if client.kind == ConnKind::Client {
            for sub in &subs {
                self.local_interest(&sub.account.name, &sub.subject, sub.queue.as_deref(), -1);
            }
        }
    }
}
