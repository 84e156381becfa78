//! A client's one-entry memo of its last publish's match (nats-server's
//! per-client results cache, one entry): a publisher that sends a run of
//! messages to one subject skips validation, hashing and the shared cache
//! for all but the first.
//!
//! Must never outlive a read batch's view of the subscriptions: the reader
//! empties it at the end of every batch, and a changed sublist generation
//! invalidates it.

use std::sync::Arc;

use crate::server::subject::subject_str;
use crate::server::subscription::SubRef;

/// A one-entry memo of a publish's match. Valid while the subject is the
/// same and the sublist's generation has not moved (it moves after every
/// change's cache evictions); emptied at the end of each read batch.
pub(super) struct LastMatch<S = SubRef> {
    /// On the heap, allocated by the first publish (and kept): an inline
    /// copy would enlarge every connection, idle ones included.
    subject: Vec<u8>,
    generation: u64,
    pub(super) result: Option<Arc<sublist::MatchResult<S>>>,
}

impl<S> Default for LastMatch<S> {
    fn default() -> Self {
        Self {
            subject: Vec::new(),
            generation: 0,
            result: None,
        }
    }
}

impl<S: Clone + PartialEq + Send + Sync + 'static> LastMatch<S> {
    #[inline]
    pub(super) fn get(
        &mut self,
        sublist: &sublist::Sublist<S>,
        subject: &[u8],
        guard: &sublist::Guard,
    ) -> &sublist::MatchResult<S> {
        let generation = sublist.generation();
        let hit =
            self.result.is_some() && self.generation == generation && *self.subject == *subject;
        if !hit {
            let result = sublist.match_in(&subject_str(subject), guard).to_arc();
            self.subject.clear();
            self.subject.extend_from_slice(subject);
            self.generation = generation;
            self.result = Some(result);
        }
        self.result.as_deref().expect("just set")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_match_follows_every_change_and_subject() {
        let sl: sublist::Sublist<u32> = sublist::Sublist::new();
        let mut memo = LastMatch::default();
        let guard = sl.pin();
        assert!(memo.get(&sl, b"foo.bar", &guard).is_empty());
        sl.insert("foo.*", None, 1).unwrap();
        assert_eq!(
            memo.get(&sl, b"foo.bar", &guard).plain,
            [1],
            "an insert is seen"
        );
        assert_eq!(memo.get(&sl, b"foo.bar", &guard).plain, [1]);
        assert!(memo.get(&sl, b"foo", &guard).is_empty(), "another subject");
        sl.insert("foo.bar", None, 2).unwrap();
        let mut got = memo.get(&sl, b"foo.bar", &guard).plain.to_vec();
        got.sort();
        assert_eq!(got, [1, 2]);
        sl.remove("foo.*", None, &1).unwrap();
        assert_eq!(
            memo.get(&sl, b"foo.bar", &guard).plain,
            [2],
            "a remove is seen"
        );
        sl.insert("other", None, 3).unwrap();
        assert_eq!(memo.get(&sl, b"foo.bar", &guard).plain, [2]);
    }
}
