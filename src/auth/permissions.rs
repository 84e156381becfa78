//! Per-user publish and subscribe permissions, compiled for the hot path.
//!
//! Semantics are nats-server's (`client.go` `pubAllowed`/`canSubscribe`):
//! a publish is allowed when the subject matches an allow pattern (or there
//! is no allow list) and no deny pattern; a subscription subject is checked
//! the same way, *as if published* (so `foo.*` is allowed by `foo.>`), and
//! `"subject queue"` entries restrict queue groups. A wildcard subscription
//! that overlaps a deny pattern is accepted, but messages on denied subjects
//! are then filtered out at delivery ([`Permissions::delivery_deny`]).
//! `allow_responses` lets a user reply to requests it received even where it
//! may not publish otherwise.
//!
//! The allow/deny lists live in `sublist` tries, so a check is a cached,
//! lock-free match. A connection without permissions pays nothing: it holds
//! no `Permissions` at all. Must never allocate on a cache hit.

use std::sync::Arc;
use std::time::Duration;

use sublist::subject::{pattern_matches, subjects_collide};
use sublist::{Config, Sublist};

use crate::config::{self, ResponsePermission, SubjectPermission};

/// One allow or deny list.
struct List {
    trie: Sublist<u32>,
    /// The patterns as written (subject, optional queue), for overlap checks.
    entries: Vec<(String, Option<String>)>,
}

impl List {
    fn new(patterns: &[String]) -> List {
        let trie = Sublist::with_config(Config {
            cache_slots: 1024,
            collector: None,
        });
        let mut entries = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let (subject, queue) = match p.split_once(char::is_whitespace) {
                Some((s, q)) => (s.trim(), Some(q.trim())),
                None => (p.trim(), None),
            };
            // Invalid entries are rejected by the configuration layer.
            let _ = trie.insert(subject, queue, i as u32);
            entries.push((subject.to_string(), queue.map(str::to_string)));
        }
        List { trie, entries }
    }

    /// Any plain pattern matches `subject` (taken as published).
    fn matches(&self, subject: &str) -> bool {
        self.trie.with_match(subject, |r| !r.plain.is_empty())
    }

    /// A queue pattern matches `subject` and `queue`.
    fn matches_queue(&self, subject: &str, queue: &str) -> bool {
        self.trie.with_match(subject, |r| {
            r.queues
                .iter()
                .any(|g| pattern_matches(&g.name, queue) || *g.name == *queue)
        })
    }
}

struct Filter {
    allow: Option<List>,
    deny: Option<List>,
}

impl Filter {
    fn new(p: &SubjectPermission) -> Filter {
        Filter {
            allow: p.allow.as_deref().map(List::new),
            deny: p.deny.as_deref().map(List::new),
        }
    }
}

/// A user's compiled permissions.
pub struct Permissions {
    publish: Option<Filter>,
    subscribe: Option<Filter>,
    responses: Option<ResponsePermission>,
    /// Deny patterns that a wildcard subscription overlaps: messages on them
    /// are dropped at delivery for this user.
    delivery_deny: Option<DeliveryDeny>,
}

/// The subscribe-deny list as a delivery filter: which published subjects a
/// connection must not receive, on a plain subscription or in a queue group.
#[derive(Clone)]
pub struct DeliveryDeny(Arc<List>);

impl DeliveryDeny {
    /// Must a message on `subject` be withheld from a subscription (in
    /// `queue`)? nats-server's `checkDenySub`: a plain deny entry matching the
    /// subject denies it for every subscription; a `"subject queue"` entry
    /// only for members of a matching queue group.
    pub fn denies(&self, subject: &str, queue: Option<&str>) -> bool {
        self.0.matches(subject) || queue.is_some_and(|q| self.0.matches_queue(subject, q))
    }
}

impl Permissions {
    pub fn compile(p: &config::Permissions) -> Arc<Permissions> {
        let subscribe = p.subscribe.as_ref().map(Filter::new);
        let delivery_deny = p
            .subscribe
            .as_ref()
            .and_then(|s| s.deny.as_deref())
            .filter(|d| !d.is_empty())
            .map(|d| DeliveryDeny(Arc::new(List::new(d))));
        Arc::new(Permissions {
            publish: p.publish.as_ref().map(Filter::new),
            subscribe,
            responses: p.allow_responses.clone(),
            delivery_deny,
        })
    }

    /// May this user publish to `subject` (ignoring response permissions)?
    #[inline]
    pub fn can_publish(&self, subject: &str) -> bool {
        let Some(f) = &self.publish else {
            return true;
        };
        f.allow.as_ref().is_none_or(|a| a.matches(subject))
            && !f.deny.as_ref().is_some_and(|d| d.matches(subject))
    }

    /// May this user subscribe to `subject` (in `queue`)?
    pub fn can_subscribe(&self, subject: &str, queue: Option<&str>) -> bool {
        let Some(f) = &self.subscribe else {
            return true;
        };
        let allowed = match &f.allow {
            None => true,
            Some(a) => a.matches(subject) || queue.is_some_and(|q| a.matches_queue(subject, q)),
        };
        allowed
            && !f.deny.as_ref().is_some_and(|d| {
                d.matches(subject) || queue.is_some_and(|q| d.matches_queue(subject, q))
            })
    }

    /// For an accepted subscription that can still receive a denied subject
    /// — a wildcard, or a queue subscription, whose subject collides with a
    /// deny entry — the deny list to filter this connection's deliveries
    /// with (nats-server's message deny filter, `loadMsgDenyFilterIfNeeded`).
    pub fn delivery_deny_for(&self, subject: &str, queue: Option<&str>) -> Option<DeliveryDeny> {
        let deny = self.subscribe.as_ref()?.deny.as_ref()?;
        let wide = queue.is_some() || !sublist::subject::is_literal(subject);
        let collides = || {
            deny.entries
                .iter()
                .any(|(d, _)| subjects_collide(d, subject))
        };
        (wide && collides())
            .then(|| self.delivery_deny.clone())
            .flatten()
    }

    /// `allow_responses`: how many replies per request, for how long.
    pub fn responses(&self) -> Option<(i64, Option<Duration>)> {
        self.responses.as_ref().map(|r| (r.max_msgs, r.expires))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(
        pub_allow: &[&str],
        pub_deny: &[&str],
        sub_allow: &[&str],
        sub_deny: &[&str],
    ) -> Arc<Permissions> {
        let list = |l: &[&str]| (!l.is_empty()).then(|| l.iter().map(|s| s.to_string()).collect());
        Permissions::compile(&config::Permissions {
            publish: Some(SubjectPermission {
                allow: list(pub_allow),
                deny: list(pub_deny),
            }),
            subscribe: Some(SubjectPermission {
                allow: list(sub_allow),
                deny: list(sub_deny),
            }),
            allow_responses: None,
        })
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = perms(&["req.>", "svc.*"], &["req.secret"], &[], &[]);
        assert!(p.can_publish("req.a"));
        assert!(p.can_publish("req.a.b"));
        assert!(p.can_publish("svc.x"));
        assert!(!p.can_publish("svc.x.y"));
        assert!(!p.can_publish("req.secret"));
        assert!(!p.can_publish("other"));
        let deny_only = perms(&[], &["admin.>"], &[], &[]);
        assert!(deny_only.can_publish("anything"));
        assert!(!deny_only.can_publish("admin.x"));
    }

    #[test]
    fn subscribe_as_if_published_and_queues() {
        let p = perms(
            &[],
            &[],
            &["_INBOX.>", "jobs.* workers"],
            &["_INBOX.private"],
        );
        assert!(p.can_subscribe("_INBOX.abc", None));
        assert!(
            p.can_subscribe("_INBOX.*", None),
            "a wildcard within the allowed scope"
        );
        assert!(!p.can_subscribe("_INBOX.private", None));
        assert!(!p.can_subscribe("jobs.a", None), "queue-only entry");
        assert!(p.can_subscribe("jobs.a", Some("workers")));
        assert!(!p.can_subscribe("jobs.a", Some("others")));
        assert!(!p.can_subscribe("other", None));
        // `_INBOX.>` overlaps the deny entry: filter deliveries.
        assert!(p.delivery_deny_for("_INBOX.>", None).is_some());
        assert!(p.delivery_deny_for("_INBOX.abc", None).is_none());
    }

    #[test]
    fn the_deny_filter_turns_on_for_whatever_can_reach_a_denied_subject() {
        let p = perms(&[], &[], &[], &["secret.>", "jobs.* slow"]);
        for wide in ["*.x", "*.*", ">", "secret.*.y", "*.>"] {
            assert!(p.delivery_deny_for(wide, None).is_some(), "{wide}");
        }
        for narrow in ["*", "public.*", "public.x", "a.b.c"] {
            assert!(p.delivery_deny_for(narrow, None).is_none(), "{narrow}");
        }
        // A queue subscription whose subject collides with a deny entry.
        assert!(p.delivery_deny_for("jobs.a", Some("slow")).is_some());
        assert!(p.delivery_deny_for("public.a", Some("slow")).is_none());
        let deny = p.delivery_deny_for(">", None).unwrap();
        assert!(deny.denies("secret.x", None));
        assert!(deny.denies("secret.x", Some("any")));
        assert!(!deny.denies("public.x", None));
        assert!(
            !deny.denies("jobs.a", None),
            "a queue entry leaves plain subs alone"
        );
        assert!(deny.denies("jobs.a", Some("slow")));
        assert!(!deny.denies("jobs.a", Some("fast")));
    }
}
