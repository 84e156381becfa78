//! C1 under real threads: readers that start a match after `insert` returned
//! must see the subscription, and after `remove` returned must not, while
//! another writer churns unrelated subscriptions (resizes, prunes) and the
//! cache is in play. Bounded: a fixed number of writer cycles.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Arc;
use std::thread;

use sublist::{Config, Sublist};

/// Phases: 4k = absent (remove returned), 4k+1 inserting, 4k+2 present
/// (insert returned), 4k+3 removing.
fn check(subject_sub: &'static str, published: &'static [&'static str], cache_slots: usize) {
    const CYCLES: u64 = 500;
    const VALUE: u64 = u64::MAX;
    let s: Arc<Sublist<u64>> = Arc::new(Sublist::with_config(Config {
        cache_slots,
        ..Config::default()
    }));
    // Other subscribers that always match, so results are never trivially empty.
    for p in published {
        s.insert(p, None, 7).unwrap();
    }
    let phase = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // Checks completed by all readers; the writer waits (boundedly) for a
    // new one in each stable phase, so the test always checks something
    // however busy the machine is.
    let checks = Arc::new(AtomicU64::new(0));

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (s, phase, done, checks) = (s.clone(), phase.clone(), done.clone(), checks.clone());
            thread::spawn(move || {
                let mut checked = 0u64;
                while !done.load(Acquire) {
                    for subject in published {
                        let before = phase.load(Acquire);
                        let seen = s.with_match(subject, |r| r.plain.contains(&VALUE));
                        if phase.load(Acquire) != before {
                            continue;
                        }
                        match before % 4 {
                            0 => assert!(
                                !seen,
                                "{subject}: saw a removed subscription (phase {before})"
                            ),
                            2 => assert!(
                                seen,
                                "{subject}: missed an inserted subscription (phase {before})"
                            ),
                            _ => continue,
                        }
                        checked += 1;
                        checks.fetch_add(1, Release);
                    }
                    thread::yield_now();
                }
                checked
            })
        })
        .collect();

    let churner = {
        let (s, done) = (s.clone(), done.clone());
        thread::spawn(move || {
            let mut i = 0u64;
            while !done.load(Acquire) {
                let subject = format!("noise.{}.{}", i % 97, i % 1009);
                s.insert(&subject, None, i).unwrap();
                if i >= 500 {
                    let old = i - 500;
                    s.remove(&format!("noise.{}.{}", old % 97, old % 1009), None, &old)
                        .unwrap();
                }
                i += 1;
                if i % 16 == 0 {
                    thread::yield_now();
                }
            }
        })
    };

    for k in 0..CYCLES {
        phase.store(4 * k + 1, Release);
        s.insert(subject_sub, None, VALUE).unwrap();
        phase.store(4 * k + 2, Release);
        settle(&checks);
        phase.store(4 * k + 3, Release);
        s.remove(subject_sub, None, &VALUE).unwrap();
        phase.store(4 * k + 4, Release);
        settle(&checks);
    }
    done.store(true, Release);
    churner.join().unwrap();
    let checked: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(checked > 0, "no match was checked");
}

/// Holds a stable phase until a reader has checked a match in it, or at most
/// 20 ms (on a shared 2-core machine readers may not be scheduled at once).
fn settle(checks: &AtomicU64) {
    let before = checks.load(Acquire);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(20);
    while checks.load(Acquire) == before && std::time::Instant::now() < deadline {
        thread::yield_now();
    }
}

#[test]
fn literal_subscription_with_cache() {
    check("a.b.c", &["a.b.c"], 64);
}

#[test]
fn wildcard_subscription_with_cache() {
    check("a.*.c", &["a.b.c", "a.x.c"], 64);
}

#[test]
fn full_wildcard_with_tiny_cache() {
    check("a.>", &["a.b.c", "a.b"], 1);
}

#[test]
fn without_cache() {
    check("a.*.>", &["a.b.c"], 0);
}
