//! Edge cases of nats-server's matching semantics (`docs/architecture.md#the-tries-semantics`,
//! `docs/protocol.md#subjects-and-queue-groups`), each checked with the cache on and off.

use std::collections::BTreeSet;

use sublist::{Config, Sublist, SublistError};

fn lists() -> Vec<Sublist<u32>> {
    vec![
        Sublist::new(),
        Sublist::with_config(Config {
            cache_slots: 0,
            ..Config::default()
        }),
        Sublist::with_config(Config {
            cache_slots: 1,
            ..Config::default()
        }),
    ]
}

/// Plain subscriptions matched by `subject`, sorted. Matched three times so
/// that cached answers (admitted on the second miss) are checked too.
fn plain(s: &Sublist<u32>, subject: &str) -> Vec<u32> {
    let mut last = None;
    for _ in 0..3 {
        let mut got: Vec<u32> = s.matches(subject).plain.clone();
        got.sort_unstable();
        if let Some(prev) = &last {
            assert_eq!(prev, &got, "cached result differs for {subject}");
        }
        last = Some(got);
    }
    last.unwrap()
}

#[test]
fn literal_and_wildcards() {
    for s in lists() {
        s.insert("foo.bar", None, 1).unwrap();
        s.insert("foo.*", None, 2).unwrap();
        s.insert("foo.>", None, 3).unwrap();
        s.insert(">", None, 4).unwrap();
        s.insert("*.bar", None, 5).unwrap();
        s.insert("foo.*.baz", None, 6).unwrap();
        assert_eq!(plain(&s, "foo.bar"), vec![1, 2, 3, 4, 5]);
        assert_eq!(plain(&s, "foo.baz"), vec![2, 3, 4]);
        assert_eq!(plain(&s, "foo.x.baz"), vec![3, 4, 6]);
        assert_eq!(plain(&s, "foo.x.y.baz"), vec![3, 4]);
        // `foo.>` and `foo.*` do not match `foo`; `>` does.
        assert_eq!(plain(&s, "foo"), vec![4]);
        assert_eq!(plain(&s, "bar"), vec![4]);
    }
}

#[test]
fn full_wildcard_needs_a_token() {
    for s in lists() {
        s.insert("foo.>", None, 1).unwrap();
        assert!(plain(&s, "foo").is_empty());
        assert_eq!(plain(&s, "foo.a"), vec![1]);
        assert_eq!(plain(&s, "foo.a.b.c"), vec![1]);
    }
}

#[test]
fn pwc_in_the_middle_vs_fwc() {
    for s in lists() {
        s.insert("foo.*.bar", None, 1).unwrap();
        s.insert("foo.>", None, 2).unwrap();
        assert_eq!(plain(&s, "foo.x.bar"), vec![1, 2]);
        assert_eq!(plain(&s, "foo.x.baz"), vec![2]);
        assert_eq!(plain(&s, "foo.bar"), vec![2]);
    }
}

#[test]
fn invalid_subscription_subjects() {
    for s in lists() {
        for bad in [
            "",
            "foo..bar",
            ".foo",
            "foo.",
            ">.foo",
            "foo.>.bar",
            "foo bar",
            "a\tb",
        ] {
            assert_eq!(
                s.insert(bad, None, 1),
                Err(SublistError::InvalidSubject),
                "{bad:?}"
            );
        }
        assert_eq!(
            s.insert("foo", Some(""), 1),
            Err(SublistError::InvalidQueue)
        );
        assert_eq!(
            s.insert("foo", Some("a b"), 1),
            Err(SublistError::InvalidQueue)
        );
        assert_eq!(s.count(), 0);
        // A wildcard character inside a token is a literal.
        s.insert("foo.bar*", None, 7).unwrap();
        assert_eq!(plain(&s, "foo.bar*"), vec![7]);
        assert!(plain(&s, "foo.barx").is_empty());
    }
}

#[test]
fn invalid_published_subjects_match_nothing() {
    for s in lists() {
        s.insert(">", None, 1).unwrap();
        for bad in ["", "foo..bar", ".foo", "foo."] {
            assert!(plain(&s, bad).is_empty(), "{bad:?}");
            assert!(!s.has_interest(bad));
        }
    }
}

#[test]
fn published_wildcards_route_literally() {
    for s in lists() {
        s.insert("foo.bar", None, 1).unwrap();
        s.insert("foo.*", None, 2).unwrap();
        s.insert("foo.>", None, 3).unwrap();
        assert_eq!(plain(&s, "foo.*"), vec![2, 3]);
        assert_eq!(plain(&s, "foo.>"), vec![2, 3]);
    }
}

#[test]
fn queue_and_plain_on_one_subject() {
    for s in lists() {
        s.insert("foo", None, 1).unwrap();
        s.insert("foo", Some("q1"), 2).unwrap();
        s.insert("foo", Some("q1"), 3).unwrap();
        s.insert("foo", Some("q2"), 4).unwrap();
        s.insert("*", Some("q1"), 5).unwrap();
        let r = s.matches("foo");
        assert_eq!(r.plain, vec![1]);
        assert_eq!(r.queues.len(), 2);
        let q1 = r.queues.iter().find(|q| &*q.name == "q1").unwrap();
        let members: BTreeSet<u32> = q1.members.iter().copied().collect();
        assert_eq!(
            members,
            BTreeSet::from([2, 3, 5]),
            "groups merge across nodes"
        );
        assert_eq!(r.fanout(), 3);
        assert_eq!(r.len(), 5);
        s.remove("foo", Some("q2"), &4).unwrap();
        assert_eq!(s.matches("foo").queues.len(), 1);
    }
}

#[test]
fn duplicate_insert_is_idempotent() {
    for s in lists() {
        assert_eq!(s.insert("foo", None, 1), Ok(true));
        assert_eq!(s.insert("foo", None, 1), Ok(false));
        assert_eq!(s.insert("foo", Some("q"), 1), Ok(true));
        assert_eq!(s.insert("foo", Some("q"), 1), Ok(false));
        assert_eq!(s.count(), 2);
        assert_eq!(s.matches("foo").len(), 2);
        s.remove("foo", None, &1).unwrap();
        assert_eq!(s.remove("foo", None, &1), Err(SublistError::NotFound));
        assert_eq!(s.count(), 1);
    }
}

#[test]
fn remove_of_absent_subscription() {
    for s in lists() {
        assert_eq!(s.remove("foo", None, &1), Err(SublistError::NotFound));
        s.insert("foo.bar", None, 1).unwrap();
        assert_eq!(s.remove("foo", None, &1), Err(SublistError::NotFound));
        assert_eq!(s.remove("foo.bar", None, &2), Err(SublistError::NotFound));
        assert_eq!(
            s.remove("foo.bar", Some("q"), &1),
            Err(SublistError::NotFound)
        );
        assert_eq!(
            s.remove("foo.bar.baz", None, &1),
            Err(SublistError::NotFound)
        );
        assert_eq!(
            s.remove("foo..bar", None, &1),
            Err(SublistError::InvalidSubject)
        );
        assert_eq!(s.count(), 1);
        assert_eq!(plain(&s, "foo.bar"), vec![1]);
    }
}

#[test]
fn removal_prunes_nodes() {
    for s in lists() {
        s.insert("a.b.c.d", None, 1).unwrap();
        s.insert("a.b", None, 2).unwrap();
        s.insert("a.*.c", None, 3).unwrap();
        s.insert("a.>", None, 4).unwrap();
        assert_eq!(s.node_count(), 7);
        s.remove("a.b.c.d", None, &1).unwrap();
        assert_eq!(s.node_count(), 5, "c and d under a.b pruned");
        s.remove("a.*.c", None, &3).unwrap();
        s.remove("a.>", None, &4).unwrap();
        assert_eq!(s.node_count(), 2);
        assert_eq!(plain(&s, "a.b"), vec![2]);
        s.remove("a.b", None, &2).unwrap();
        assert_eq!(s.node_count(), 0);
        assert_eq!(s.count(), 0);
        assert!(plain(&s, "a.b").is_empty());
    }
}

#[test]
fn batch_remove() {
    for s in lists() {
        for i in 0..100u32 {
            s.insert(&format!("foo.{i}"), None, i).unwrap();
        }
        s.insert("foo.*", Some("q"), 1000).unwrap();
        s.insert("bar", None, 1001).unwrap();
        let _ = s.matches("foo.3");
        let subjects: Vec<String> = (0..100).map(|i| format!("foo.{i}")).collect();
        let values: Vec<u32> = (0..100).collect();
        let mut batch: Vec<(&str, Option<&str>, &u32)> = subjects
            .iter()
            .zip(&values)
            .map(|(s, v)| (s.as_str(), None, v))
            .collect();
        batch.push(("foo.*", Some("q"), &1000));
        batch.push(("nope", None, &5));
        assert_eq!(s.remove_batch(batch), 101);
        assert_eq!(s.count(), 1);
        assert!(s.matches("foo.3").is_empty());
        assert_eq!(plain(&s, "bar"), vec![1001]);
    }
}

#[test]
fn cache_sees_inserts_and_removes() {
    let s: Sublist<u32> = Sublist::new();
    s.insert("foo.bar", None, 1).unwrap();
    for _ in 0..3 {
        assert_eq!(plain(&s, "foo.bar"), vec![1]);
    }
    assert!(s.stats().num_cache >= 1, "hot subject cached");
    s.insert("foo.*", None, 2).unwrap();
    assert_eq!(plain(&s, "foo.bar"), vec![1, 2]);
    s.insert("foo.bar", None, 3).unwrap();
    assert_eq!(plain(&s, "foo.bar"), vec![1, 2, 3]);
    s.remove("foo.*", None, &2).unwrap();
    assert_eq!(plain(&s, "foo.bar"), vec![1, 3]);
    s.remove("foo.bar", None, &1).unwrap();
    assert_eq!(plain(&s, "foo.bar"), vec![3]);
}

#[test]
fn has_interest() {
    for s in lists() {
        assert!(!s.has_interest("foo.bar"));
        s.insert("foo.*", Some("q"), 1).unwrap();
        assert!(s.has_interest("foo.bar"));
        assert!(!s.has_interest("foo"));
        assert!(!s.has_interest("foo.bar.baz"));
        s.insert("foo.>", None, 2).unwrap();
        assert!(s.has_interest("foo.bar.baz"));
    }
}

#[test]
fn enumeration_lists_every_subject() {
    let s: Sublist<u32> = Sublist::new();
    s.insert("foo.bar", None, 1).unwrap();
    s.insert("foo.bar", None, 2).unwrap();
    s.insert("foo.*", Some("q"), 3).unwrap();
    s.insert("foo.*", Some("q"), 4).unwrap();
    s.insert(">", None, 5).unwrap();
    s.insert("a.b.c", Some("r"), 6).unwrap();
    let mut seen = Vec::new();
    s.for_each(|sub| {
        let queues: Vec<(String, usize)> = sub
            .queues
            .iter()
            .map(|(n, m)| (n.to_string(), m.len()))
            .collect();
        seen.push((sub.subject.to_string(), sub.plain.len(), queues));
    });
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (">".to_string(), 1, vec![]),
            ("a.b.c".to_string(), 0, vec![("r".to_string(), 1)]),
            ("foo.*".to_string(), 0, vec![("q".to_string(), 2)]),
            ("foo.bar".to_string(), 2, vec![]),
        ]
    );
}

#[test]
fn stats_follow_nats_server_meanings() {
    let s: Sublist<u32> = Sublist::new();
    assert_eq!(s.stats().cache_hit_rate, 0.0);
    s.insert("foo", None, 1).unwrap();
    s.insert("foo", None, 2).unwrap();
    s.insert("foo", Some("q"), 3).unwrap();
    s.insert("foo", Some("q"), 4).unwrap();
    s.insert("bar", None, 5).unwrap();
    s.remove("bar", None, &5).unwrap();
    for _ in 0..10 {
        let _ = s.matches("foo");
    }
    let st = s.stats();
    assert_eq!(st.num_subscriptions, 4);
    assert_eq!(st.num_inserts, 5);
    assert_eq!(st.num_removes, 1);
    assert_eq!(st.num_matches, 10);
    assert_eq!(st.num_cache, 1);
    // Its slot was empty, so it was admitted on the first miss.
    assert_eq!(st.cache_hits, 9);
    assert!((st.cache_hit_rate - 0.9).abs() < 1e-9);
    assert_eq!(st.max_fanout, 3, "two plain + one queue group");
    assert!((st.avg_fanout - 3.0).abs() < 1e-9);
}
