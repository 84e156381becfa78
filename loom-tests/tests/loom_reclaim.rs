//! Reclamation: a reader holding a result keeps every subscription in it alive
//! while the subscription is removed, its node pruned and its cache entry
//! evicted; once everyone unpins and the sublist is dropped, it is freed (I4,
//! I5). Loom's leak checker flags anything never freed.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering::*};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{model, sublist_of};

/// A subscription whose destruction is observable.
struct Payload {
    dropped: Arc<AtomicBool>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.dropped.store(true, Release);
    }
}

/// The handle stored in the trie: identity by pointer.
#[derive(Clone)]
struct Handle(Arc<Payload>);

impl PartialEq for Handle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[test]
fn reader_keeps_removed_subscription_alive() {
    model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let (s, collector) = sublist_of::<Handle>(2);
        let handle = Handle(Arc::new(Payload {
            dropped: dropped.clone(),
        }));
        s.insert("a.b", None, handle.clone()).unwrap();
        let (s2, handle2) = (s.clone(), handle.clone());
        drop(handle);
        let writer = thread::spawn(move || {
            s2.remove("a.b", None, &handle2).unwrap();
            drop(handle2);
            // Try hard to reclaim early.
            for _ in 0..2 {
                s2.pin().flush();
            }
        });
        {
            let guard = s.pin();
            let result = s.match_in("a.b", &guard);
            if let Some(sub) = result.plain.first() {
                // Whatever the writer has done, the guard keeps it alive.
                assert!(!dropped.load(Acquire), "reclaimed under a pinned reader");
                assert!(!sub.0.dropped.load(Acquire));
            }
        }
        writer.join().unwrap();
        assert!(s.matches("a.b").is_empty());
        drop(s);
        drop(collector);
        assert!(dropped.load(Acquire), "removed subscription never freed");
    });
}
