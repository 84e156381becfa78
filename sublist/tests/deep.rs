//! Subjects of 100k tokens (a 1 MB control line allows them): every walk of
//! the trie — insert, match, interest, the cache, listing, remove and drop —
//! is iterative, so none can overflow the stack (issue 19, defect 2: a
//! recursive match aborted the server). Each case runs on a thread with a
//! deliberately small stack.

use sublist::Sublist;

const TOKENS: usize = 100_000;

fn deep(token: &str) -> String {
    vec![token; TOKENS].join(".")
}

/// Runs `f` on a thread with a 256 KiB stack.
fn small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic, no overflow");
}

#[test]
fn deep_wildcards_match_and_unwind() {
    small_stack(|| {
        let s: Sublist<u32> = Sublist::new();
        let stars = deep("*");
        let literal = deep("a");
        let mixed = format!("{}.>", deep("a").rsplit_once('.').unwrap().0);
        s.insert(&stars, None, 1).unwrap();
        s.insert(&literal, None, 2).unwrap();
        s.insert(&mixed, Some("q"), 3).unwrap();
        for _ in 0..3 {
            // Three times: miss, admitted on the second miss, then a hit.
            let r = s.matches(&literal);
            let mut plain = r.plain.clone();
            plain.sort();
            assert_eq!(plain, [1, 2]);
            assert_eq!(r.queues.len(), 1);
        }
        assert!(s.has_interest(&literal));
        assert!(!s.has_interest(&format!("{}.b", deep("b"))));
        let mut listed = Vec::new();
        s.for_each(|sub| listed.push(sub.subject.len()));
        listed.sort();
        assert_eq!(listed, [mixed.len(), stars.len(), literal.len()]);
        s.remove(&literal, None, &2).unwrap();
        assert_eq!(*s.matches(&literal).plain, [1]);
        // Dropped with two deep paths still in it.
    });
}

#[test]
fn deep_path_pruned_on_remove() {
    small_stack(|| {
        let s: Sublist<u32> = Sublist::new();
        let subject = deep("x");
        let nodes = s.node_count();
        s.insert(&subject, None, 7).unwrap();
        assert_eq!(s.node_count(), nodes + TOKENS);
        assert_eq!(s.remove_batch([(subject.as_str(), None, &7)]), 1);
        assert_eq!(s.node_count(), nodes);
        assert!(!s.has_interest(&subject));
    });
}
