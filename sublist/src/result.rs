//! What a match returns: the plain subscriptions and the queue groups whose
//! subjects match a published subject.
//!
//! Results are immutable once built and shared between every reader that
//! matches the same subject (through the cache); nothing may mutate one after
//! it is published.

use std::sync::Arc;

/// The subscriptions matching one published subject.
///
/// Every plain subscription gets the message; each queue group gets it once,
/// delivered to one member the caller picks. A queue group that has members in
/// several matching nodes (say `foo.*` and `foo.>`) appears once, with all of
/// them, as in nats-server.
#[derive(Debug)]
pub struct MatchResult<S> {
    /// Plain subscriptions, each at most once.
    pub plain: Vec<S>,
    /// Queue groups, by name, each with its matching members.
    pub queues: Vec<QueueGroup<S>>,
}

/// One queue group within a [`MatchResult`].
#[derive(Debug)]
pub struct QueueGroup<S> {
    /// The queue name, shared with the trie (no copy per result).
    pub name: Arc<str>,
    /// Members whose subjects match; never empty.
    pub members: Vec<S>,
}

impl<S> Default for MatchResult<S> {
    fn default() -> Self {
        Self {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

impl<S> MatchResult<S> {
    /// No subscription matched.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }

    /// nats-server's fan-out measure: plain subscriptions plus queue groups
    /// (a group counts once, however many members it has).
    pub fn fanout(&self) -> usize {
        self.plain.len() + self.queues.len()
    }

    /// Total number of subscriptions, counting every queue member.
    pub fn len(&self) -> usize {
        self.plain.len() + self.queues.iter().map(|q| q.members.len()).sum::<usize>()
    }
}

impl<S: Clone> MatchResult<S> {
    /// Adds the members of a node's queue group, merging with a group of the
    /// same name found in another node.
    pub(crate) fn add_queue(&mut self, name: &Arc<str>, members: &[S]) {
        if members.is_empty() {
            return;
        }
        match self.queues.iter_mut().find(|q| *q.name == **name) {
            Some(group) => group.members.extend_from_slice(members),
            None => self.queues.push(QueueGroup {
                name: Arc::clone(name),
                members: members.to_vec(),
            }),
        }
    }
}
