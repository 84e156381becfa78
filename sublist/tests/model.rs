//! Random insert/remove/match sequences checked against a naive reference
//! matcher, with the cache on (large and tiny) and off.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sublist::{Config, Sublist};

/// The reference: a flat list of subscriptions and a token-by-token matcher
/// written independently of the crate.
#[derive(Default)]
struct Reference {
    subs: Vec<(String, Option<String>, u32)>,
}

fn valid(subject: &str) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    tokens.iter().all(|t| !t.is_empty()) && tokens.iter().rev().skip(1).all(|t| *t != ">")
}

fn naive_match(pattern: &str, subject: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    if s.iter().any(|t| t.is_empty()) {
        return false;
    }
    for (i, pt) in p.iter().enumerate() {
        match *pt {
            ">" => return s.len() > i,
            "*" => {
                if i >= s.len() {
                    return false;
                }
            }
            lit => {
                if i >= s.len() || s[i] != lit || s[i] == "*" || s[i] == ">" {
                    return false;
                }
            }
        }
    }
    p.len() == s.len()
}

/// Plain values and queue members as sorted multisets (one value may be
/// subscribed on several subjects).
type Answer = (Vec<u32>, BTreeMap<String, Vec<u32>>);

impl Reference {
    fn answer(&self, subject: &str) -> Answer {
        let mut plain = Vec::new();
        let mut queues: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (pattern, queue, value) in &self.subs {
            if naive_match(pattern, subject) {
                match queue {
                    None => {
                        plain.push(*value);
                    }
                    Some(q) => {
                        queues.entry(q.clone()).or_default().push(*value);
                    }
                }
            }
        }
        plain.sort_unstable();
        queues.values_mut().for_each(|m| m.sort_unstable());
        (plain, queues)
    }
}

fn answer(s: &Sublist<u32>, subject: &str) -> Answer {
    let r = s.matches(subject);
    let mut plain = r.plain.clone();
    plain.sort_unstable();
    let mut queues = BTreeMap::new();
    for q in &r.queues {
        let mut members = q.members.clone();
        members.sort_unstable();
        assert!(!members.is_empty());
        assert!(
            queues.insert(q.name.to_string(), members).is_none(),
            "queue listed twice"
        );
    }
    (plain, queues)
}

#[derive(Clone, Debug)]
enum Op {
    Insert(String, Option<String>, u32),
    Remove(usize),
    RemoveAbsent(String, u32),
    Match(String),
}

fn sub_subject() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "*", ">"]), 1..5)
        .prop_map(|t| t.join("."))
}

fn pub_subject() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "*", ""]), 1..5)
        .prop_map(|t| t.join("."))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (sub_subject(), prop::option::of(prop::sample::select(vec!["q1".to_string(), "q2".to_string()])), 0..20u32)
            .prop_map(|(s, q, v)| Op::Insert(s, q, v)),
        2 => any::<usize>().prop_map(Op::Remove),
        1 => (sub_subject(), 0..20u32).prop_map(|(s, v)| Op::RemoveAbsent(s, v)),
        4 => pub_subject().prop_map(Op::Match),
    ]
}

fn run(ops: Vec<Op>, cache_slots: usize) {
    let s: Sublist<u32> = Sublist::with_config(Config {
        cache_slots,
        ..Config::default()
    });
    let mut reference = Reference::default();
    for op in ops {
        match op {
            Op::Insert(subject, queue, value) => {
                let got = s.insert(&subject, queue.as_deref(), value);
                if !valid(&subject) {
                    assert!(got.is_err());
                    continue;
                }
                let dup = reference
                    .subs
                    .iter()
                    .any(|(p, q, v)| *p == subject && *q == queue && *v == value);
                assert_eq!(got, Ok(!dup), "insert {subject} {queue:?} {value}");
                if !dup {
                    reference.subs.push((subject, queue, value));
                }
            }
            Op::Remove(i) => {
                if reference.subs.is_empty() {
                    continue;
                }
                let (subject, queue, value) = reference.subs.swap_remove(i % reference.subs.len());
                assert_eq!(s.remove(&subject, queue.as_deref(), &value), Ok(()));
            }
            Op::RemoveAbsent(subject, value) => {
                let present = reference
                    .subs
                    .iter()
                    .any(|(p, q, v)| *p == subject && q.is_none() && *v == value);
                if !present && valid(&subject) {
                    assert!(s.remove(&subject, None, &value).is_err());
                }
            }
            Op::Match(subject) => {
                let expected = reference.answer(&subject);
                assert_eq!(answer(&s, &subject), expected, "match {subject:?}");
                assert_eq!(
                    s.has_interest(&subject),
                    !expected.0.is_empty() || !expected.1.is_empty()
                );
            }
        }
        assert_eq!(s.count(), reference.subs.len());
    }
    // Removing everything leaves an empty trie.
    let all: Vec<(String, Option<String>, u32)> = reference.subs.clone();
    let batch = all.iter().map(|(p, q, v)| (p.as_str(), q.as_deref(), v));
    assert_eq!(s.remove_batch(batch), all.len());
    assert_eq!(s.count(), 0);
    assert_eq!(s.node_count(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_reference_with_cache(ops in prop::collection::vec(op(), 1..200)) {
        run(ops, 1024);
    }

    #[test]
    fn matches_reference_with_tiny_cache(ops in prop::collection::vec(op(), 1..200)) {
        run(ops, 2);
    }

    #[test]
    fn matches_reference_without_cache(ops in prop::collection::vec(op(), 1..200)) {
        run(ops, 0);
    }
}

#[test]
fn reference_matcher_sanity() {
    assert!(naive_match("foo.>", "foo.a.b"));
    assert!(!naive_match("foo.>", "foo"));
    assert!(naive_match("*", "*"));
    assert!(!naive_match("a", "*"));
    assert!(!naive_match("a.b", "a"));
}
