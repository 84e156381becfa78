//! Reclamation under the server's pinning pattern: a connection pins once per
//! read batch and makes hundreds of subscribe/unsubscribe changes under that
//! one guard (each change pins again, nested). Nothing here drives the
//! collector by hand: memory must stay flat through the sublist's own work,
//! as it must in a server that runs for months with clients making a fresh
//! inbox per request.
//!
//! crossbeam-epoch collects at most a few sealed bags of garbage every 128
//! *outer* pins; a batch of distinct-subject churn retires far more than that
//! (nodes, levels, tables, arrays, cache entries), so unless the writer itself
//! helps collect, retired memory piles up without bound (issue 19, defect 1:
//! about 1 KB per SUB/UNSUB pair).
//!
//! One test per binary: the counting allocator is process-wide.

mod counting;

use sublist::Sublist;

/// A random-looking three-token subject, distinct for every `n`
/// (`a1b2c3d.x7y8z9w.k1l2m3n` style, as a fresh inbox per request makes).
fn subject(n: u64) -> String {
    let h = |k: u64| n.wrapping_add(k).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 36;
    format!("{:07x}.{:07x}.{:07x}", h(1), h(2), h(3))
}

/// One read batch of a connection: 200 SUBs then 200 UNSUBs of fresh
/// subjects, with a publish to some of them, all under one outer guard.
fn batch(s: &Sublist<u64>, round: u64) {
    let _batch = s.pin();
    let subjects: Vec<String> = (0..200).map(|i| subject(round * 200 + i)).collect();
    for (i, subj) in subjects.iter().enumerate() {
        s.insert(subj, None, i as u64).unwrap();
    }
    for subj in subjects.iter().step_by(10) {
        let _ = s.matches(subj);
    }
    for (i, subj) in subjects.iter().enumerate() {
        s.remove(subj, None, &(i as u64)).unwrap();
    }
}

#[test]
fn distinct_subject_churn_stays_flat_without_help() {
    let s: Sublist<u64> = Sublist::new();
    s.insert("steady.>", None, u64::MAX).unwrap();
    let nodes = s.node_count();
    // Warm up: crossbeam's queue, the thread's bag, the cache's slots.
    for round in 0..100 {
        batch(&s, round);
    }
    let warm = counting::live();
    // 200 k SUB/UNSUB pairs: about 200 MB retained before the fix.
    for round in 100..1100 {
        batch(&s, round);
    }
    let after = counting::live();
    assert_eq!(s.count(), 1);
    assert_eq!(s.node_count(), nodes, "every churned node is unlinked");
    eprintln!(
        "200k distinct SUB/UNSUB pairs: heap {warm} -> {after} bytes ({:+} bytes per pair)",
        (after - warm) / 200_000
    );
    let slack = 2 * 1024 * 1024;
    assert!(
        after <= warm + slack,
        "heap grew from {warm} to {after} bytes over 200k distinct SUB/UNSUB pairs \
         (slack {slack}): retired memory is not being collected"
    );
}
