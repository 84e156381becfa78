//! A small tour of every unsafe path of the crate, sized for Miri
//! (`scripts/miri`): array publication and retirement, node and level
//! creation and pruning, table growth and tombstones, cache install,
//! eviction and replacement, batch removal, enumeration, and drop with
//! garbage still deferred. Runs under plain `cargo test` too.

use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;

use sublist::{Config, Sublist};

fn small() -> Sublist<Arc<String>> {
    Sublist::with_config(Config {
        cache_slots: 4,
        ..Config::default()
    })
}

/// The tests of this file one at a time: a test that holds a guard pinned
/// across a barrier (as the last one does on purpose) holds the global epoch
/// back, and another test's `flush_until` would then wait on it.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Drives the global epoch until `done`. Bounded; generous because the
/// machine is shared and each round is a yield.
fn flush_until(done: impl Fn() -> bool) -> bool {
    for _ in 0..2_000 {
        if done() {
            return true;
        }
        crossbeam_epoch::pin().flush();
        thread::yield_now();
    }
    done()
}

#[test]
fn unsafe_paths_under_churn() {
    let _serial = one_at_a_time();
    let s = small();
    let v: Vec<Arc<String>> = (0..12).map(|i| Arc::new(format!("v{i}"))).collect();
    // Enough literal children to grow a table past its first capacity.
    for (i, val) in v.iter().enumerate() {
        s.insert(&format!("a.{i}"), None, val.clone()).unwrap();
    }
    s.insert("a.*", Some("q"), v[0].clone()).unwrap();
    s.insert("a.>", None, v[1].clone()).unwrap();
    for i in 0..12 {
        let r = s.matches(&format!("a.{i}"));
        assert_eq!(r.plain.len(), 2);
        assert_eq!(r.queues.len(), 1);
        // Matched again: a cache hit, or a replacement in a 4-slot cache.
        let _ = s.matches(&format!("a.{i}"));
    }
    // Tombstones, reuse, pruning down to nothing.
    for (i, val) in v.iter().enumerate().step_by(2) {
        s.remove(&format!("a.{i}"), None, val).unwrap();
    }
    s.insert("a.0", None, v[0].clone()).unwrap();
    let mut seen = 0;
    s.for_each(|sub| seen += sub.plain.len() + sub.queues.len());
    assert_eq!(seen, 6 + 1 + 1 + 1);
    let batch: Vec<(String, Arc<String>)> = v
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(i, val)| (format!("a.{i}"), val.clone()))
        .collect();
    assert_eq!(
        s.remove_batch(batch.iter().map(|(subj, val)| (subj.as_str(), None, val))),
        6
    );
    drop(batch);
    s.remove("a.0", None, &v[0]).unwrap();
    s.remove("a.*", Some("q"), &v[0]).unwrap();
    s.remove("a.>", None, &v[1]).unwrap();
    assert_eq!(s.count(), 0);
    assert_eq!(s.node_count(), 0);
    // Every clone the trie and its cache held is dropped once reclaimed.
    assert!(flush_until(|| v
        .iter()
        .all(|val| Arc::strong_count(val) == 1)));
}

#[test]
fn readers_and_a_writer_on_two_threads() {
    let _serial = one_at_a_time();
    let s = Arc::new(small());
    let v = Arc::new("x".to_string());
    let reader = {
        let s = s.clone();
        thread::spawn(move || {
            for _ in 0..20 {
                let guard = s.pin();
                let r = s.match_in("b.c", &guard);
                assert!(r.plain.len() <= 1);
            }
        })
    };
    for _ in 0..10 {
        s.insert("b.c", None, v.clone()).unwrap();
        s.remove("b.c", None, &v).unwrap();
    }
    reader.join().unwrap();
    // Dropped with retired garbage still waiting in the collector.
    drop(s);
    assert!(flush_until(|| Arc::strong_count(&v) == 1));
}

/// The server's pattern: many changes under one outer pin, each of which may
/// help the collector (`reclaim.rs`), while another thread holds a match
/// result and a subscription value it read before they were removed.
#[test]
fn changes_under_one_pin_help_collect_while_a_reader_holds_results() {
    let _serial = one_at_a_time();
    let s = Arc::new(small());
    let held = Arc::new("held".to_string());
    s.insert("h.x", None, held.clone()).unwrap();
    let (matched, churned) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let reader = {
        let (s, matched, churned) = (s.clone(), matched.clone(), churned.clone());
        thread::spawn(move || {
            let guard = s.pin();
            let r = s.match_in("h.x", &guard);
            let value = r.plain.first().cloned();
            matched.wait();
            // The writer churns, removes h.x and collects while this guard
            // is pinned.
            churned.wait();
            assert_eq!(r.plain.len(), 1, "a held result never changes");
            value
        })
    };
    matched.wait();
    let values: Vec<Arc<String>> = (0..6).map(|i| Arc::new(i.to_string())).collect();
    for round in 0..3 {
        let _batch = s.pin();
        for (i, v) in values.iter().enumerate() {
            s.insert(&format!("c{round}.{i}.t"), None, v.clone())
                .unwrap();
        }
        let _ = s.matches(&format!("c{round}.0.t"));
        for (i, v) in values.iter().enumerate() {
            s.remove(&format!("c{round}.{i}.t"), None, v).unwrap();
        }
    }
    s.remove("h.x", None, &held).unwrap();
    churned.wait();
    let value = reader
        .join()
        .unwrap()
        .expect("the reader saw the subscription");
    assert!(Arc::ptr_eq(&value, &held));
    drop(value);
    assert!(flush_until(
        || Arc::strong_count(&held) == 1 && values.iter().all(|v| Arc::strong_count(v) == 1)
    ));
}
