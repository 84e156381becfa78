//! Two inserts racing on one node: writers serialise, neither copy-on-write
//! array update is lost, and both are visible after both return (I1, I3).
#![cfg(loom)]

use loom::thread;
use loom_tests::{model, plain, sublist};

#[test]
fn two_inserts_on_one_node() {
    model(|| {
        let (s, _c) = sublist(2);
        let s2 = s.clone();
        let other = thread::spawn(move || {
            s2.insert("a.b", None, 2).unwrap();
        });
        s.insert("a.b", None, 1).unwrap();
        other.join().unwrap();
        assert_eq!(plain(&s, "a.b"), [1, 2]);
        assert_eq!(s.count(), 2);
    });
}

#[test]
fn insert_races_prune_of_the_same_path() {
    model(|| {
        let (s, _c) = sublist(0);
        s.insert("a.b", None, 1).unwrap();
        let s2 = s.clone();
        let other = thread::spawn(move || {
            s2.insert("a.b", None, 2).unwrap();
        });
        // Removing 1 may prune `a.b` just before or after 2 lands there.
        s.remove("a.b", None, &1).unwrap();
        other.join().unwrap();
        assert_eq!(plain(&s, "a.b"), [2]);
        assert_eq!(s.node_count(), 2);
    });
}
