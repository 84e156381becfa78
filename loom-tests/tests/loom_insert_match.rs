//! insert ‖ match: a match racing an insert may or may not see the new
//! subscription, but any match that starts after the insert returned must see
//! it — even if the racing match left something in the cache (C1, I2).
#![cfg(loom)]

use loom::thread;
use loom_tests::{model, plain, sublist};

#[test]
fn literal_insert_races_match() {
    model(|| {
        let (s, _c) = sublist(2);
        s.insert("a.b", None, 9).unwrap();
        let s2 = s.clone();
        let reader = thread::spawn(move || {
            let seen = plain(&s2, "a.b");
            assert!(seen == [9] || seen == [1, 9], "partial result {seen:?}");
        });
        s.insert("a.b", None, 1).unwrap();
        assert_eq!(plain(&s, "a.b"), [1, 9]);
        reader.join().unwrap();
        assert_eq!(plain(&s, "a.b"), [1, 9]);
    });
}

#[test]
fn wildcard_insert_races_match() {
    model(|| {
        let (s, _c) = sublist(2);
        s.insert("a.b", None, 9).unwrap();
        let s2 = s.clone();
        let writer = thread::spawn(move || {
            s2.insert("a.*", None, 1).unwrap();
        });
        let seen = plain(&s, "a.b");
        assert!(seen == [9] || seen == [1, 9], "partial result {seen:?}");
        writer.join().unwrap();
        assert_eq!(
            plain(&s, "a.b"),
            [1, 9],
            "stale cache entry after insert returned"
        );
    });
}

/// Two matches of one subject fill and then replace its cache slot while a
/// wildcard insert decides whether any cached subject could match it, to
/// skip its eviction scan: the replacing entry must stay counted (cache.rs,
/// "Skipping the scan"), e.g. a replacement that uncounted the entry it
/// replaced fails here. A preemption bound of 1 keeps the three threads'
/// model to a few minutes (3.5 to 7 on the project's machine).
#[test]
fn wildcard_insert_races_two_matches_sharing_a_slot() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let (s, _c) = sublist(2);
        s.insert("a.b", None, 9).unwrap();
        let (s2, s3) = (s.clone(), s.clone());
        let reader = thread::spawn(move || {
            let seen = plain(&s2, "a.b");
            assert!(seen == [9] || seen == [1, 9], "partial result {seen:?}");
        });
        let writer = thread::spawn(move || {
            s3.insert("a.*", None, 1).unwrap();
        });
        let seen = plain(&s, "a.b");
        assert!(seen == [9] || seen == [1, 9], "partial result {seen:?}");
        reader.join().unwrap();
        writer.join().unwrap();
        assert_eq!(
            plain(&s, "a.b"),
            [1, 9],
            "stale cache entry after insert returned"
        );
    });
}
