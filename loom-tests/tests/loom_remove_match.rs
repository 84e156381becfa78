//! remove ‖ match with a cached result: once remove returns, no match may hit
//! a cached entry that still holds the removed subscription (C1).
#![cfg(loom)]

use loom::thread;
use loom_tests::{model, plain, sublist, Sublist};

fn warm(s: &Sublist<u32>, subject: &str) {
    // First miss fills the (empty) slot, second one hits it.
    let _ = plain(s, subject);
    let _ = plain(s, subject);
}

#[test]
fn literal_remove_races_cached_match() {
    model(|| {
        let (s, _c) = sublist(2);
        s.insert("a.b", None, 1).unwrap();
        s.insert("a.b", None, 9).unwrap();
        warm(&s, "a.b");
        let s2 = s.clone();
        let writer = thread::spawn(move || {
            s2.remove("a.b", None, &1).unwrap();
        });
        let seen = plain(&s, "a.b");
        assert!(seen == [9] || seen == [1, 9], "partial result {seen:?}");
        writer.join().unwrap();
        assert_eq!(plain(&s, "a.b"), [9], "removed subscription still matched");
    });
}

#[test]
fn wildcard_remove_races_uncached_match() {
    model(|| {
        let (s, _c) = sublist(2);
        s.insert("a.*", None, 1).unwrap();
        s.insert("a.b", None, 9).unwrap();
        let s2 = s.clone();
        let reader = thread::spawn(move || {
            // A miss racing the remove installs an entry; it must never be
            // confirmed if the walk predates the remove.
            let _ = plain(&s2, "a.b");
        });
        s.remove("a.*", None, &1).unwrap();
        assert_eq!(plain(&s, "a.b"), [9]);
        reader.join().unwrap();
        assert_eq!(plain(&s, "a.b"), [9], "stale entry survived the remove");
    });
}
