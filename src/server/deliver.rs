//! Delivery: a publish and its (cached, lock-free) match result become
//! appends to each subscriber's outbound buffer — every plain subscription,
//! one member per queue group (weighted across local members and routes), at
//! most one `RMSG` per interested route — and the writers to wake are
//! recorded in [`Wakes`].
//!
//! **Must never:** allocate per message (the route targets live in a
//! `SmallVec`), block, or take a lock other than the subscriber's outbound
//! mutex.

use std::sync::Arc;

use smallvec::SmallVec;
use sublist::MatchResult;

use crate::log;
use crate::outbound::{Message, Push};
use crate::server::account::Account;
use crate::server::close::ClosedState;
use crate::server::internal::Origin;
use crate::server::subscription::{Quota, SubRef};
use crate::server::{ConnShared, Server, Wakes};

impl Server {
    /// Delivers a message published by a local client: to every local plain
    /// subscription, to one member of each queue group (weighted across local
    /// members and routes), and at most one `RMSG` per route that has
    /// interest (`docs/protocol.md#routed-messages`). Returns how many deliveries (local
    /// messages plus RMSGs) were made.
    #[inline]
    pub fn deliver(
        &self,
        from: &Arc<ConnShared>,
        account: &Arc<Account>,
        echo: bool,
        msg: &Message<'_>,
        result: &MatchResult<SubRef>,
        wakes: &mut Wakes,
    ) -> usize {
        let origin = Origin {
            client: Some(from),
            hops: 0,
            routed: false,
        };
        self.deliver_local_origin(account, echo, msg, result, origin, wakes)
    }

    /// [`Server::deliver`] for a message of local origin: a client's, or one
    /// an internal subscription re-published (`origin.client` is then the
    /// client that started it, if any).
    #[inline]
    pub(crate) fn deliver_local_origin(
        &self,
        account: &Arc<Account>,
        echo: bool,
        msg: &Message<'_>,
        result: &MatchResult<SubRef>,
        origin: Origin<'_>,
        wakes: &mut Wakes,
    ) -> usize {
        let from = origin.client;
        let not_self = |s: &SubRef| from.is_none_or(|f| !Arc::ptr_eq(&s.client, f));
        let mut delivered = 0;
        let mut routes: SmallVec<[RouteTarget<'_>; 4]> = SmallVec::new();
        for sub in &result.plain {
            if sub.is_remote() {
                route_target(&mut routes, &sub.client);
                continue;
            }
            if let Some(handler) = &sub.internal {
                delivered += handler.deliver(self, account, msg, origin, wakes);
                continue;
            }
            if !echo && !not_self(sub) {
                continue;
            }
            if self.deliver_to(sub, msg, wakes) {
                delivered += 1;
            }
        }
        for group in &result.queues {
            let eligible = |s: &SubRef| echo || not_self(s);
            let Some(start) = weighted_pick(&group.members, eligible) else {
                continue;
            };
            let members = &group.members;
            for i in 0..members.len() {
                let sub = &members[(start + i) % members.len()];
                if !eligible(sub) {
                    continue;
                }
                if sub.is_remote() {
                    route_target(&mut routes, &sub.client)
                        .queues
                        .push(&group.name);
                    break;
                }
                if self.deliver_to(sub, msg, wakes) {
                    delivered += 1;
                    break;
                }
            }
        }
        for target in &routes {
            match target
                .route
                .out
                .push_rmsg(&account.name, msg, &target.queues)
            {
                Push::Queued { wake, stall } => {
                    wakes.sent();
                    if wake {
                        wakes.push(target.route);
                    }
                    if stall {
                        // Slow the publisher down rather than cut the route.
                        wakes.stalled(target.route);
                    }
                    delivered += 1;
                }
                Push::SlowConsumer => {
                    log::notice!(
                        "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                        target.route.prefix(),
                        target.route.out.max_pending()
                    );
                    target
                        .route
                        .close(ClosedState::SlowConsumerPendingBytes, false);
                }
                Push::Closed => {}
            }
        }
        delivered
    }

    /// Delivers a message that arrived from a route: to local plain
    /// subscriptions, and for each queue group the sender named, to one local
    /// member. Never forwarded to another route (one hop at most).
    /// `queues` of `None` with `all_groups` (an internal re-publish of a
    /// routed message) picks a local member of every group.
    pub fn deliver_routed(
        &self,
        account: &Arc<Account>,
        msg: &Message<'_>,
        queues: Option<&[u8]>,
        result: &MatchResult<SubRef>,
        hops: u8,
        wakes: &mut Wakes,
    ) -> usize {
        let mut delivered = 0;
        for sub in &result.plain {
            if sub.is_remote() {
                continue;
            }
            if let Some(handler) = &sub.internal {
                let origin = Origin {
                    client: None,
                    hops,
                    routed: true,
                };
                delivered += handler.deliver(self, account, msg, origin, wakes);
                continue;
            }
            if self.deliver_to(sub, msg, wakes) {
                delivered += 1;
            }
        }
        let local = |s: &SubRef| !s.is_remote();
        let mut deliver_one = |members: &[SubRef]| {
            let Some(start) = weighted_pick(members, local) else {
                return;
            };
            for i in 0..members.len() {
                let sub = &members[(start + i) % members.len()];
                if local(sub) && self.deliver_to(sub, msg, wakes) {
                    delivered += 1;
                    break;
                }
            }
        };
        match queues {
            Some(queues) => {
                for name in queues.split(|b| *b == b' ').filter(|q| !q.is_empty()) {
                    if let Some(g) = result.queues.iter().find(|g| g.name.as_bytes() == name) {
                        deliver_one(&g.members);
                    }
                }
            }
            None if hops > 0 => {
                for g in &result.queues {
                    deliver_one(&g.members);
                }
            }
            None => {}
        }
        delivered
    }

    #[inline]
    fn deliver_to(&self, sub: &SubRef, msg: &Message<'_>, wakes: &mut Wakes) -> bool {
        let client = &sub.client;
        // A closed connection's buffer refuses the push below; no need to
        // ask its cancellation token (a mutex) on every delivery.
        if client.delivery_denied(msg.subject, sub.queue.as_deref()) {
            return false;
        }
        let quota = sub.take_quota();
        if quota == Quota::Exhausted {
            return false;
        }
        match client.out.push_msg(&sub.sid, msg, client.headers()) {
            Push::Queued { wake, stall } => {
                if wake {
                    wakes.push_delivery(client);
                }
                if stall {
                    wakes.stalled(client);
                }
            }
            Push::SlowConsumer => {
                log::notice!(
                    "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                    client.prefix(),
                    client.out.max_pending()
                );
                client.close(ClosedState::SlowConsumerPendingBytes, false);
                return false;
            }
            Push::Closed => return false,
        }
        client.note_request(msg.reply);
        if log::trace_enabled() {
            trace_delivery(client, &sub.sid, msg);
        }
        wakes.out_msgs += 1;
        wakes.out_bytes += msg.payload.len() as u64;
        if quota == Quota::Last {
            log::debug!(
                "{} - Auto-unsubscribe limit of {} reached for sid '{}'",
                client.prefix(),
                sub.max(),
                log::clip(&sub.sid)
            );
            self.remove_sub(&sub.0);
        }
        true
    }
}

/// `->> [MSG subject sid [reply] size]` on the subscriber's connection.
#[cold]
fn trace_delivery(client: &ConnShared, sid: &[u8], msg: &Message<'_>) {
    let headers = msg.header_len.filter(|_| client.headers());
    let body = match (msg.header_len, headers) {
        (Some(h), None) => msg.payload.len() - h,
        _ => msg.payload.len(),
    };
    let mut line = String::from(if headers.is_some() { "HMSG " } else { "MSG " });
    line.push_str(&String::from_utf8_lossy(msg.subject));
    line.push(' ');
    line.push_str(&String::from_utf8_lossy(sid));
    if let Some(reply) = msg.reply {
        line.push(' ');
        line.push_str(&String::from_utf8_lossy(reply));
    }
    if let Some(h) = headers {
        line.push_str(&format!(" {h}"));
    }
    line.push_str(&format!(" {body}"));
    log::trace!("{} - ->> [{line}]", client.prefix());
}

/// One route's share of a message: the route and the queue groups whose
/// member behind it was picked.
struct RouteTarget<'a> {
    route: &'a Arc<ConnShared>,
    queues: SmallVec<[&'a str; 4]>,
}

/// The target for `route`, added on first use (one RMSG per route).
fn route_target<'a, 'b>(
    routes: &'b mut SmallVec<[RouteTarget<'a>; 4]>,
    route: &'a Arc<ConnShared>,
) -> &'b mut RouteTarget<'a> {
    let at = match routes.iter().position(|t| Arc::ptr_eq(t.route, route)) {
        Some(at) => at,
        None => {
            routes.push(RouteTarget {
                route,
                queues: SmallVec::new(),
            });
            routes.len() - 1
        }
    };
    &mut routes[at]
}

/// Picks the index of a queue member at random, each eligible member weighted
/// by its `weight` (1 locally, the member count behind a route).
#[inline]
fn weighted_pick(members: &[SubRef], eligible: impl Fn(&SubRef) -> bool) -> Option<usize> {
    let total: u64 = members
        .iter()
        .filter(|m| eligible(m))
        .map(|m| u64::from(m.weight().max(1)))
        .sum();
    if total == 0 {
        return None;
    }
    let mut r = fastrand::u64(..total);
    for (i, m) in members.iter().enumerate() {
        if !eligible(m) {
            continue;
        }
        let w = u64::from(m.weight().max(1));
        if r < w {
            return Some(i);
        }
        r -= w;
    }
    None
}
