//! The `subjects` scenario's expected delivery count: the layout's fast count must agree with a
//! brute-force NATS subject matcher over every (subject, subscription) pair.

use nats_bench::scenario::subjects::{expected_deliveries, Layout};

/// NATS matching: `*` matches one token, `>` one or more trailing tokens.
fn matches(pattern: &str, subject: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    for (i, tok) in p.iter().enumerate() {
        match *tok {
            ">" => return s.len() > i,
            "*" if i < s.len() => {}
            lit if i < s.len() && s[i] == lit => {}
            _ => return false,
        }
    }
    p.len() == s.len()
}

#[test]
fn matcher_sanity() {
    assert!(matches("a.*.c", "a.b.c"));
    assert!(matches("a.>", "a.b.c"));
    assert!(!matches("a.>", "a"));
    assert!(!matches("a.*", "a.b.c"));
    assert!(matches("*.b.*.d", "a.b.c.d"));
}

#[test]
fn fast_count_equals_brute_force() {
    for (subjects, wildcards) in [(1, 1), (8, 50), (1000, 300), (1500, 4000), (30, 0)] {
        let layout = Layout::new("bench", subjects, wildcards).unwrap();
        let subs: Vec<String> = (0..wildcards).map(|j| layout.pattern(j)).collect();
        let fast = layout.matches();
        assert_eq!(fast.len() as u64, subjects);
        let mut total = 0;
        for i in 0..subjects {
            let mut subj = Vec::new();
            layout.subject(i, &mut subj);
            let subj = String::from_utf8(subj).unwrap();
            let brute = subs.iter().filter(|p| matches(p, &subj)).count() as u32;
            assert_eq!(
                fast[i as usize], brute,
                "{subjects}/{wildcards}: subject {subj}"
            );
            total += u64::from(brute);
        }
        assert_eq!(expected_deliveries(&fast, subjects), total);
        assert_eq!(
            expected_deliveries(&fast, 3 * subjects + 1),
            3 * total + u64::from(fast[0])
        );
    }
}

#[test]
fn subjects_are_distinct_and_patterns_mixed() {
    let layout = Layout::new("p", 2000, 400).unwrap();
    let mut seen = std::collections::HashSet::new();
    for i in 0..2000 {
        let mut s = Vec::new();
        layout.subject(i, &mut s);
        assert!(seen.insert(s), "subject {i} repeats");
    }
    let pats: Vec<String> = (0..400).map(|j| layout.pattern(j)).collect();
    assert!(pats.iter().any(|p| p.ends_with(".>")));
    assert!(pats.iter().any(|p| p.starts_with("*.")));
    assert!(pats.iter().filter(|p| p.contains(".*.")).count() > 100);
}

#[test]
fn about_one_match_per_message_at_full_size() {
    let layout = Layout::new("bench", 1_000_000, 100_000).unwrap();
    let m = layout.matches();
    let avg = m.iter().map(|&x| f64::from(x)).sum::<f64>() / m.len() as f64;
    assert!(avg > 0.1 && avg <= 1.5, "average matches per subject {avg}");
}
