//! Reclamation: after heavy churn back to the same subscriptions, live nodes
//! and heap bytes return to their baseline (retired nodes, arrays, tables and
//! cache entries are all freed by the epoch collector).
//!
//! One test per binary: the counting allocator is process-wide.

mod counting;

use sublist::Sublist;

/// Drives the global epoch forward until every retired object is freed.
fn settle() {
    for _ in 0..2048 {
        crossbeam_epoch::pin().flush();
    }
}

fn base_set(s: &Sublist<u64>) {
    for i in 0..500u64 {
        s.insert(&format!("base.{}.{}", i % 10, i), None, i)
            .unwrap();
    }
    s.insert("base.*.x", Some("q"), 1000).unwrap();
    s.insert("base.>", None, 1001).unwrap();
}

#[test]
fn churn_returns_to_baseline() {
    let s: Sublist<u64> = Sublist::new();
    base_set(&s);
    for i in 0..500u64 {
        let _ = s.matches(&format!("base.{}.{}", i % 10, i));
    }
    s.clear_cache();
    settle();
    let nodes = s.node_count();
    let bytes = counting::live();

    for round in 0..20u64 {
        let subjects: Vec<String> = (0..2000)
            .map(|i| format!("churn.{round}.{}.{i}", i % 37))
            .collect();
        for (i, subject) in subjects.iter().enumerate() {
            s.insert(subject, if i % 3 == 0 { Some("g") } else { None }, i as u64)
                .unwrap();
            s.insert("churn.*.>", None, 10_000 + i as u64).unwrap();
        }
        for subject in subjects.iter().take(500) {
            let _ = s.matches(subject);
            let _ = s.matches(subject);
        }
        // Half removed one by one, half in a batch, as a closing connection.
        for (i, subject) in subjects.iter().enumerate().take(1000) {
            s.remove(
                subject,
                if i % 3 == 0 { Some("g") } else { None },
                &(i as u64),
            )
            .unwrap();
        }
        let values: Vec<u64> = (0..2000).collect();
        let batch = subjects.iter().enumerate().skip(1000).map(|(i, subject)| {
            (
                subject.as_str(),
                if i % 3 == 0 { Some("g") } else { None },
                &values[i],
            )
        });
        assert_eq!(s.remove_batch(batch), 1000);
        let wild: Vec<u64> = (0..2000).map(|i| 10_000 + i).collect();
        assert_eq!(
            s.remove_batch(wild.iter().map(|v| ("churn.*.>", None, v))),
            2000
        );
        // The base set also churns in place (array copy-on-write).
        s.remove("base.>", None, &1001).unwrap();
        s.insert("base.>", None, 1001).unwrap();
    }
    assert_eq!(s.count(), 502);
    assert_eq!(s.node_count(), nodes, "every churned node is unlinked");
    s.clear_cache();
    settle();
    let after = counting::live();
    // Allow for crossbeam's own bookkeeping (a thread-local bag, queue nodes).
    let slack = 16 * 1024;
    assert!(
        after <= bytes + slack,
        "heap grew from {bytes} to {after} bytes after churn (slack {slack})"
    );
    drop(s);
    settle();
}
