//! Internal subscriptions: subscriptions the server holds itself, whose
//! messages go to code instead of a socket — the imports between accounts
//! (`imports.rs`) and, later, the system account's services. They live in
//! an account's trie like any other subscription (so routes learn of them
//! and `/subsz` lists them) and are owned by the account's internal client.
//!
//! A message reaching one is handed to its [`Internal`] handler inside the
//! publisher's delivery, which may publish again into another account
//! ([`Server::publish_in`]); `hops` bounds how deep that can go.
//!
//! **Must never:** block, or deliver to a route a message that came from one
//! (the hop rule of routes holds for internal re-publishes too).

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::log::ConnKind;
use crate::outbound::Message;
use crate::server::account::Account;
use crate::server::subscription::{SubRef, Subscription};
use crate::server::{ConnShared, Server, Wakes};

/// How many internal re-publishes one message may go through (an import
/// of an import…); configuration refuses cycles, this bounds the rest.
pub const MAX_HOPS: u8 = 8;

/// Where a message handed to an internal subscription came from.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    /// The publishing client, when the message came from a local client.
    pub client: Option<&'a Arc<ConnShared>>,
    /// Internal re-publishes so far.
    pub hops: u8,
    /// The message arrived from a route: do not send it to routes again.
    pub routed: bool,
}

/// What an internal subscription does with a message.
pub trait Internal: Send + Sync {
    /// Handles one message published in `account` on a subject this
    /// subscription matches; returns how many deliveries it made.
    fn deliver(
        &self,
        server: &Server,
        account: &Arc<Account>,
        msg: &Message<'_>,
        origin: Origin<'_>,
        wakes: &mut Wakes,
    ) -> usize;
}

impl Server {
    /// Subscribes `handler` to `subject` in `account`, as the account's
    /// internal client. The subscription stays until [`Server::remove_sub`].
    pub fn subscribe_internal(
        &self,
        account: &Arc<Account>,
        subject: &str,
        handler: Arc<dyn Internal>,
    ) -> Arc<Subscription> {
        let client = self.internal_client(account);
        let sid = account.next_internal_sid.fetch_add(1, Relaxed).to_string();
        let mut sub = Subscription::new(
            client.clone(),
            account.clone(),
            subject,
            None,
            sid.as_bytes(),
        );
        sub.internal = Some(handler);
        let sub = Arc::new(sub);
        client.subs.lock().insert(sub.clone());
        self.add_sub(SubRef(sub.clone()));
        sub
    }

    /// The account's internal client (nats-server's per-account internal
    /// client): owner of the account's internal subscriptions, never
    /// registered as a connection.
    fn internal_client(&self, account: &Arc<Account>) -> Arc<ConnShared> {
        account
            .internal
            .get_or_init(|| {
                let addr = SocketAddr::from(([0, 0, 0, 0], 0));
                Arc::new(ConnShared::new(ConnKind::Client, self.next_cid(), addr, 0))
            })
            .clone()
    }

    /// Publishes `msg` in `account` on behalf of an internal subscription:
    /// matched in that account's trie and delivered like a client's publish
    /// (or like a routed message when `origin.routed`).
    pub fn publish_in(
        &self,
        account: &Arc<Account>,
        msg: &Message<'_>,
        origin: Origin<'_>,
        wakes: &mut Wakes,
    ) -> usize {
        if origin.hops >= MAX_HOPS {
            return 0;
        }
        let Ok(subject) = std::str::from_utf8(msg.subject) else {
            return 0;
        };
        let guard = self.pin();
        let result = account.sublist.match_in(subject, &guard);
        let origin = Origin {
            hops: origin.hops + 1,
            ..origin
        };
        if origin.routed {
            self.deliver_routed(account, msg, None, &result, origin.hops, wakes)
        } else {
            self.deliver_local_origin(account, true, msg, &result, origin, wakes)
        }
    }

    /// Publishes a message the server itself makes (timers, events) in
    /// `account`, waking the receivers at once.
    pub fn publish_now(&self, account: &Arc<Account>, msg: &Message<'_>) -> usize {
        let mut wakes = Wakes::default();
        let origin = Origin {
            client: None,
            hops: 0,
            routed: false,
        };
        let n = self.publish_in(account, msg, origin, &mut wakes);
        wakes.flush(self);
        n
    }
}
