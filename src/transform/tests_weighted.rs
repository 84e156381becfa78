//! Weighted sets and an account's mapping list. "Observed" cases were run on
//! the real nats-server 2.15.1.

use super::*;

fn mapping(source: &str, dests: &[(&str, u8, Option<&str>)]) -> Result<Mapping, MappingError> {
    Mapping::new(source, dests.iter().copied())
}

fn to(pick: Pick<'_>) -> Option<&str> {
    match pick {
        Pick::To(t) => Some(t.dest()),
        _ => None,
    }
}

fn mapped(ms: &Mappings, subject: &str, cluster: Option<&str>, roll: u8) -> Option<String> {
    match ms.map(subject.as_bytes(), cluster, || roll)? {
        Outcome::To(s) => Some(String::from_utf8(s).unwrap()),
        Outcome::Drop => Some("<drop>".into()),
    }
}

#[test]
fn observed_weight_errors() {
    // Observed with `nats-server -t`: the text after
    // `Error adding mapping for "a" : `.
    let e = mapping("a", &[("b", 60, None), ("c", 50, None)]).unwrap_err();
    assert_eq!(e.to_string(), "total weight needs to be <= 100");
    let e = mapping("a", &[("b", 60, None), ("b", 10, None)]).unwrap_err();
    assert_eq!(e.to_string(), "duplicate entry for \"b\"");
    // Per cluster totals; duplicates across sets.
    let e = mapping(
        "a",
        &[("b", 60, Some("x")), ("c", 50, None), ("d", 50, Some("x"))],
    );
    assert_eq!(
        e.unwrap_err().to_string(),
        "total weight needs to be <= 100"
    );
    let e = mapping("a", &[("b", 60, Some("x")), ("b", 10, None)]).unwrap_err();
    assert_eq!(e.to_string(), "duplicate entry for \"b\"");
    assert!(mapping("a", &[("b", 60, Some("x")), ("c", 50, None)]).is_ok());
    let e = mapping("a", &[("b", 101, None)]).unwrap_err();
    assert_eq!(e.to_string(), "individual weights need to be <= 100");
    let e = mapping("a.*", &[("b.{{nosuch(1)}}", 100, None)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid mapping destination: unknown function in {{nosuch(1)}}"
    );
}

#[test]
fn cumulative_weights_ascending() {
    // Observed in /accountz: 70/30 shows w.b 30 then w.a 100.
    let m = mapping("weighted", &[("w.a", 70, None), ("w.b", 30, None)]).unwrap();
    let rows: Vec<_> = m
        .cumulative()
        .iter()
        .map(|r| (r.subject, r.weight))
        .collect();
    assert_eq!(rows, [("w.b", 30), ("w.a", 100)]);
    // The implicit remainder shows as the tokenized source.
    let m = mapping("s.*", &[("t.$1", 60, None)]).unwrap();
    let rows: Vec<_> = m
        .cumulative()
        .iter()
        .map(|r| (r.subject, r.weight))
        .collect();
    assert_eq!(rows, [("s.$1", 40), ("t.$1", 100)]);
}

#[test]
fn pick_by_roll() {
    let m = mapping("weighted", &[("w.a", 70, None), ("w.b", 30, None)]).unwrap();
    assert_eq!(to(m.pick(None, 0)), Some("w.b"));
    assert_eq!(to(m.pick(None, 29)), Some("w.b"));
    assert_eq!(to(m.pick(None, 30)), Some("w.a"));
    assert_eq!(to(m.pick(None, 99)), Some("w.a"));
    // Remainder unlisted: unchanged (sorted after b's 40).
    let m = mapping("a", &[("b", 40, None)]).unwrap();
    assert_eq!(to(m.pick(None, 0)), Some("b"));
    assert_eq!(to(m.pick(None, 39)), Some("b"));
    assert_eq!(m.pick(None, 40), Pick::Unchanged);
    assert_eq!(m.pick(None, 99), Pick::Unchanged);
    // Source listed (observed `lossy: [l.a 40%, lossy 10%]`): rest dropped.
    let m = mapping("lossy", &[("l.a", 40, None), ("lossy", 10, None)]).unwrap();
    assert_eq!(to(m.pick(None, 9)), Some("lossy"));
    assert_eq!(to(m.pick(None, 10)), Some("l.a"));
    assert_eq!(to(m.pick(None, 49)), Some("l.a"));
    assert_eq!(m.pick(None, 50), Pick::Drop);
    assert_eq!(m.pick(None, 99), Pick::Drop);
}

#[test]
fn cluster_sets() {
    // Observed: cluster `cx` gets `cs.local`, others `cs.other`.
    let m = mapping(
        "cs",
        &[("cs.local", 100, Some("cx")), ("cs.other", 100, None)],
    )
    .unwrap();
    assert_eq!(to(m.pick(Some("cx"), 50)), Some("cs.local"));
    assert_eq!(to(m.pick(Some("cy"), 50)), Some("cs.other"));
    assert_eq!(to(m.pick(None, 50)), Some("cs.other"));
    // Only a cluster set: others pass unchanged.
    let m = mapping("c", &[("c.x", 100, Some("cx"))]).unwrap();
    assert_eq!(m.pick(None, 3), Pick::Unchanged);
    // The source listed in a cluster set: the plain set drops everything.
    let m = mapping("c", &[("c", 100, Some("cx"))]).unwrap();
    assert_eq!(m.pick(None, 3), Pick::Drop);
    assert_eq!(to(m.pick(Some("cx"), 3)), Some("c"));
}

#[test]
fn mappings_first_match_and_outcomes() {
    let ms = Mappings::new(vec![
        mapping("orders.*", &[("orders.mapped.{{wildcard(1)}}", 100, None)]).unwrap(),
        mapping("a", &[("b", 40, None)]).unwrap(),
        mapping("lossy", &[("lossy", 10, None)]).unwrap(),
        mapping("fw.>", &[("fwd.>", 100, None)]).unwrap(),
    ]);
    assert!(!ms.is_empty());
    assert_eq!(
        mapped(&ms, "orders.x", None, 0).as_deref(),
        Some("orders.mapped.x")
    );
    assert_eq!(
        mapped(&ms, "fw.a.b.c", None, 0).as_deref(),
        Some("fwd.a.b.c")
    );
    assert_eq!(mapped(&ms, "a", None, 0).as_deref(), Some("b"));
    assert_eq!(mapped(&ms, "a", None, 99), None);
    assert_eq!(mapped(&ms, "lossy", None, 5).as_deref(), Some("lossy"));
    assert_eq!(mapped(&ms, "lossy", None, 50).as_deref(), Some("<drop>"));
    assert_eq!(mapped(&ms, "nothing.here", None, 0), None);
    assert_eq!(mapped(&ms, "orders.x.y", None, 0), None);
    // A single 100% destination does not ask for a roll.
    let asked = std::cell::Cell::new(false);
    let got = ms.map(b"orders.q", None, || {
        asked.set(true);
        0
    });
    assert_eq!(got, Some(Outcome::To(b"orders.mapped.q".to_vec())));
    assert!(!asked.get());
    assert!(Mappings::new(vec![]).is_empty());
    assert_eq!(Mappings::new(vec![]).map(b"a", None, || 0), None);
}

#[test]
fn later_entry_with_same_source_replaces() {
    let ms = Mappings::new(vec![
        mapping("a", &[("b", 100, None)]).unwrap(),
        mapping("a", &[("c", 100, None)]).unwrap(),
    ]);
    assert_eq!(ms.iter().count(), 1);
    assert_eq!(mapped(&ms, "a", None, 0).as_deref(), Some("c"));
}

#[test]
fn observed_partition_of_a_first_literal_mapping() {
    // Observed on 2.15.1: with mappings `p: pp.{{partition(3)}}` and
    // `q: qq.{{partition(1000)}}`, `p` (first in nats-server's list) gives
    // pp.1 (FNV of the empty string) and `q` gives qq.124 (FNV of "q").
    let ms = Mappings::new(vec![
        mapping("p", &[("pp.{{partition(3)}}", 100, None)]).unwrap(),
        mapping("q", &[("qq.{{partition(1000)}}", 100, None)]).unwrap(),
    ]);
    assert_eq!(mapped(&ms, "p", None, 0).as_deref(), Some("pp.1"));
    assert_eq!(mapped(&ms, "q", None, 0).as_deref(), Some("qq.124"));
    // Observed among many mappings (`p` not first): pp.2, FNV of "p".
    let ms = Mappings::new(vec![
        mapping("swap.*.*", &[("swap.$2.$1", 100, None)]).unwrap(),
        mapping("p", &[("pp.{{partition(3)}}", 100, None)]).unwrap(),
    ]);
    assert_eq!(mapped(&ms, "p", None, 0).as_deref(), Some("pp.2"));
    assert_eq!(
        mapped(&ms, "swap.one.two", None, 0).as_deref(),
        Some("swap.two.one")
    );
}

#[test]
fn map_into_appends_and_leaves_buffer_when_unmapped() {
    let ms = Mappings::new(vec![mapping("a.*", &[("b.$1", 100, None)]).unwrap()]);
    let mut out = Vec::new();
    assert_eq!(ms.map_into(b"x.y", None, || 0, &mut out), None);
    assert!(out.is_empty());
    assert_eq!(ms.map_into(b"a.y", None, || 0, &mut out), Some(Mapped::To));
    assert_eq!(out, b"b.y");
}
