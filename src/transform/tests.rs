//! Transform compile and apply cases. "Observed" cases were run on the real
//! nats-server 2.15.1 (a `mappings {}` config, a raw client subscribed to
//! `>` publishing the subject; `-t` for the error texts).

use super::*;

fn map(source: &str, dest: &str, subject: &str) -> String {
    let t = Transform::new(source, dest).unwrap_or_else(|e| panic!("{source} -> {dest}: {e}"));
    let out = t
        .apply(subject.as_bytes())
        .unwrap_or_else(|| panic!("{subject} should match {source}"));
    String::from_utf8(out).expect("utf-8")
}

fn err(source: &str, dest: &str) -> String {
    match Transform::new(source, dest) {
        Ok(_) => panic!("{source} -> {dest} should be refused"),
        Err(e) => e.to_string(),
    }
}

fn import_err(source: &str, dest: &str) -> String {
    match Transform::for_import(source, dest) {
        Ok(_) => panic!("{source} -> {dest} should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn observed_function_table() {
    // Observed on 2.15.1, one mapping each.
    for (source, dest, subject, want) in [
        ("swap.*.*", "swap.$2.$1", "swap.one.two", "swap.two.one"),
        ("fw.>", "fwd.>", "fw.a.b.c", "fwd.a.b.c"),
        ("part.*.*", "part.{{partition(3,1,2)}}.$1.$2", "part.a.b", "part.0.a.b"),
        ("part.*.*", "part.{{partition(3,1,2)}}.$1.$2", "part.x.y", "part.1.x.y"),
        ("part.*.*", "part.{{partition(3,1,2)}}.$1.$2", "part.a.c", "part.2.a.c"),
        ("sp.*", "sp.{{split(1,-)}}", "sp.a-b--c", "sp.a.b.c"),
        ("sfl.*", "sfl.{{SplitFromLeft(1,2)}}", "sfl.abcdef", "sfl.ab.cdef"),
        ("sfr.*", "sfr.{{SplitFromRight(1,2)}}", "sfr.abcdef", "sfr.abcd.ef"),
        ("sll.*", "sll.{{SliceFromLeft(1,2)}}", "sll.abcde", "sll.ab.cd.e"),
        ("slr.*", "slr.{{SliceFromRight(1,2)}}", "slr.abcde", "slr.a.bc.de"),
        ("a.*", "b.{{left(1,2)}}", "a.abcdef", "b.ab"),
        ("r.*", "rr.{{right(1,2)}}", "r.abcdef", "rr.ef"),
        ("orders.*", "orders.mapped.{{wildcard(1)}}", "orders.x", "orders.mapped.x"),
        ("e.*.>", "ee.$1.>", "e.a.b.c", "ee.a.b.c"),
        ("d.*", "dd.$x.$1", "d.q", "dd.$x.q"),
        // `$0` and a non-positive wildcard index read the first token.
        ("z.*.*", "z0.$0.$2", "z.a.b", "z0.z.b"),
        ("w.*.*", "w0.{{wildcard(0)}}.{{ Wildcard( 2 ) }}", "w.a.b", "w0.w.b"),
        // partition(0) and random(0) give 0; spaces inside {{ }} tolerated.
        ("k.*", "k.{{  partition(0,1)  }}.{{random(0)}}.{{ split(1, -) }}", "k.x-y", "k.0.0.x.y"),
        // Out-of-range sizes leave the token unchanged.
        (
            "f.*",
            "ff.{{SliceFromLeft(1,0)}}.{{SliceFromRight(1,9)}}.{{left(1,0)}}.{{right(1,-1)}}.{{SplitFromLeft(1,6)}}",
            "f.abcdef",
            "ff.abcdef.abcdef.abcdef.abcdef.abcdef",
        ),
        // split drops empty pieces…
        ("g.*", "gg.{{split(1,-)}}", "g.-a-", "gg.a"),
        ("g.*", "gg.{{split(1,-)}}", "g.-a", "gg.a"),
        ("g.*", "gg.{{split(1,-)}}", "g.a-", "gg.a"),
        ("g.*", "gg.{{split(1,-)}}.end", "g.a--b", "gg.a.b.end"),
        // …and takes its delimiter verbatim, quotes included.
        ("sq.*", "sq.{{split(1,\"-\")}}", "sq.a-b--c", "sq.a-b--c"),
        // A published `*` matches a source `*` (and is copied).
        ("m.*", "mm.$1", "m.*", "mm.*"),
        ("m.>", "mm.>", "m.*.>", "mm.*.>"),
    ] {
        assert_eq!(map(source, dest, subject), want, "{source} -> {dest} on {subject}");
    }
}

#[test]
fn published_fwc_token_does_not_match_a_pwc() {
    // Observed on 2.15.1: `PUB m.>` with mapping `m.*` arrives unmapped.
    let t = Transform::new("m.*", "mm.$1").unwrap();
    assert_eq!(t.apply(b"m.>"), None);
    assert_eq!(t.apply(b"m.x").as_deref(), Some(&b"mm.x"[..]));
}

#[test]
fn split_quirks_follow_nats_server() {
    // nats-server writes a dot before a non-empty piece unless the piece
    // before it is the first one and empty: `--a` keeps an empty token.
    assert_eq!(map("g.*", "{{split(1,-)}}", "g.--a"), ".a");
    // Observed on 2.15.1: `g.---` maps to `gg..end`, which no subscriber gets.
    assert_eq!(map("g.*", "gg.{{split(1,-)}}.end", "g.---"), "gg..end");
    assert_eq!(map("g.*", "{{split(1,ab)}}", "g.xabyabz"), "x.y.z");
}

#[test]
fn slices_and_splits() {
    assert_eq!(
        map("s.*", "{{SliceFromLeft(1,3)}}", "s.abcdefgh"),
        "abc.def.gh"
    );
    assert_eq!(map("s.*", "{{SliceFromLeft(1,2)}}", "s.abcd"), "ab.cd");
    assert_eq!(
        map("s.*", "{{SliceFromRight(1,3)}}", "s.abcdefgh"),
        "ab.cde.fgh"
    );
    assert_eq!(map("s.*", "{{SliceFromRight(1,2)}}", "s.abcd"), "ab.cd");
    assert_eq!(map("s.*", "{{SplitFromLeft(1,1)}}", "s.ab"), "a.b");
    assert_eq!(map("s.*", "{{SplitFromRight(1,2)}}", "s.ab"), "ab");
    assert_eq!(map("s.*", "{{right(1,9)}}", "s.ab"), "ab");
    // Function names: the first letter of each word either case.
    assert_eq!(map("s.*", "{{splitfromleft(1,1)}}", "s.ab"), "a.b");
    assert_eq!(map("s.*", "{{Left(1,1)}}", "s.ab"), "a");
}

fn fnv(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &c| {
        (h ^ u32::from(c)).wrapping_mul(16_777_619)
    })
}

#[test]
fn partition_hashes_chosen_tokens_without_separator() {
    for subject in ["part.a.b", "part.x.y", "part.q.zz"] {
        let toks: Vec<&str> = subject.split('.').collect();
        let want = fnv(format!("{}{}", toks[2], toks[1]).as_bytes()) % 7;
        let got = map("part.*.*", "{{partition(7,2,1)}}", subject);
        assert_eq!(got, want.to_string(), "{subject}");
    }
    // partition(n) on a wildcard source: the whole subject, dots included.
    let want = fnv(b"pw.abc") % 1000;
    assert_eq!(
        map("pw.*", "x.{{partition(1000)}}", "pw.abc"),
        format!("x.{want}")
    );
    // On a literal source the listed indexes are ignored.
    let want = fnv(b"lit") % 1000;
    assert_eq!(map("lit", "{{partition(1000,1)}}", "lit"), want.to_string());
}

#[test]
fn random_stays_in_range() {
    let t = Transform::new("rn.*", "rn.{{random(3)}}.$1").unwrap();
    let mut seen = [false; 3];
    for _ in 0..300 {
        let out = String::from_utf8(t.apply(b"rn.q").unwrap()).unwrap();
        let n: usize = out
            .strip_prefix("rn.")
            .unwrap()
            .strip_suffix(".q")
            .unwrap()
            .parse()
            .unwrap();
        seen[n] = true;
    }
    assert_eq!(seen, [true; 3], "300 draws of 3 values");
}

#[test]
fn non_matching_subjects() {
    let t = Transform::new("a.*.c", "x.$1").unwrap();
    for s in ["a.b", "a.b.c.d", "b.b.c", "a..c", "a.b.d"] {
        assert_eq!(t.apply(s.as_bytes()), None, "{s}");
    }
    let t = Transform::new("a.>", "x.>").unwrap();
    assert_eq!(t.apply(b"a"), None);
    let t = Transform::new("lit", "x").unwrap();
    assert_eq!(t.apply(b"lit.x"), None);
    assert_eq!(t.apply(b"lit").as_deref(), Some(&b"x"[..]));
    let mut out = b"keep".to_vec();
    assert!(!Transform::new("a.*", "b.$1")
        .unwrap()
        .apply_into(b"c.d", &mut out));
    assert_eq!(out, b"keep");
    assert!(Transform::new("a.*", "b.$1")
        .unwrap()
        .apply_into(b"a.d", &mut out));
    assert_eq!(out, b"keepb.d");
}

#[test]
fn observed_mapping_errors() {
    // Observed with `nats-server -t` on 2.15.1: the text after
    // `Error adding mapping for "src" to "dest" : `.
    for (source, dest, want) in [
        ("a.*", "b.{{nosuch(1)}}", "invalid mapping destination: unknown function in {{nosuch(1)}}"),
        ("a.*", "b.{{wildcard(2)}}", "invalid mapping destination: wildcard index out of range in {{wildcard(2)}}: [2]"),
        ("a", "b.{{wildcard(1)}}", "invalid mapping destination: wildcard index out of range in {{wildcard(1)}}"),
        ("a", "b.$1", "invalid mapping destination: wildcard index out of range in $1"),
        ("a", "b.{{split(1,-)}}", "invalid mapping destination: wildcard index out of range in {{split(1,-)}}"),
        ("a.*", "b.{{split(1)}}", "invalid mapping destination: not enough arguments passed to the function in {{split(1)}}"),
        ("a.*", "b.*", "invalid subject"),
        ("a.>", "b.c", "invalid subject"),
        ("a.*", "b.>", "invalid subject"),
        ("a", "b..c", "invalid mapping destination: invalid transform"),
        ("a.*", "b..c", "invalid mapping destination: invalid transform"),
        ("a.>", "b.>.c", "invalid mapping destination: invalid transform in c"),
        ("a.*", "b.x y", "invalid mapping destination: invalid transform"),
        ("a.*", "b.{{WILDCARD(1)}}", "invalid mapping destination: unknown function in {{WILDCARD(1)}}"),
        ("a.*", "b.{{wildcard()}}", "invalid mapping destination: not enough arguments passed to the function in {{wildcard()}}"),
        ("a.*", "b.{{wildcard(1,2)}}", "invalid mapping destination: too many arguments passed to the function in {{wildcard(1,2)}}"),
        ("a.*", "b.{{wildcard(x)}}", "invalid mapping destination: function argument is invalid or in the wrong format in {{wildcard(x)}}"),
        ("a.*", "b.{{split(1,-,x)}}", "invalid mapping destination: too many arguments passed to the function in {{split(1,-,x)}}"),
        ("a.*", "b.{{split(1,- )}}", "invalid mapping destination: function argument is invalid or in the wrong format in {{split(1,- )}}"),
        ("a.*", "b.{{left(1)}}", "invalid mapping destination: not enough arguments passed to the function in {{left(1)}}"),
        ("a.*", "b.{{left(1,2,3)}}", "invalid mapping destination: too many arguments passed to the function in {{left(1,2,3)}}"),
        ("a.*", "b.{{left(1,x)}}", "invalid mapping destination: function argument is invalid or in the wrong format in {{left(1,x)}}"),
        ("a.*", "b.{{random()}}", "invalid mapping destination: function argument is invalid or in the wrong format in {{random()}}"),
        ("a.*", "b.{{random(1,2)}}", "invalid mapping destination: not enough arguments passed to the function in {{random(1,2)}}"),
        ("a.*", "b.{{partition()}}", "invalid mapping destination: function argument is invalid or in the wrong format in {{partition()}}"),
        ("a.*", "b.{{partition(x)}}", "invalid mapping destination: function argument is invalid or in the wrong format in {{partition(x)}}"),
        ("a.*", "b.{{partition(2,5)}}", "invalid mapping destination: wildcard index out of range in {{partition(2,5)}}: [5]"),
        ("a.*", "b.{{partition(3000000000)}}", "invalid mapping destination: function argument is invalid or in the wrong format in {{partition(3000000000)}}"),
        ("a.*", "b.{{ wildcard(1)}}.{{foo}}", "invalid mapping destination: unknown function in {{foo}}"),
    ] {
        assert_eq!(err(source, dest), want, "{source} -> {dest}");
    }
}

#[test]
fn observed_accepted_oddities() {
    // Accepted by 2.15.1 `-t`: `{{}}` and `{{…}}x` are literal tokens.
    for (source, dest) in [
        ("a.*", "b.{{}}"),
        ("a.*", "b.{{wildcard(1)}}x"),
        ("a.*", "b.{{ wildcard(1) }}"),
        ("a.*", "b.{{wildcard(-1)}}"),
    ] {
        assert!(Transform::new(source, dest).is_ok(), "{source} -> {dest}");
    }
    assert_eq!(map("a.*", "b.{{}}.$1", "a.x"), "b.{{}}.x");
    // Mappings may drop wildcards.
    assert_eq!(map("a.*.*", "b.$2", "a.x.y"), "b.y");
    // A bad source is `invalid subject` (the config layer words it first).
    assert_eq!(err("a..b", "c"), "invalid subject");
    assert_eq!(err("a", ""), "invalid subject");
}

#[test]
fn import_errors() {
    // Observed with `nats-server -t`: the text after `failed to create
    // mapping transform for … import subject from "…" to "…": `.
    assert_eq!(
        import_err("x.*", &tokenize("y.{{partition(2,1)}}")),
        "invalid mapping destination: the only mapping function allowed for import transforms is {{Wildcard()}} in {{partition(2,1)}}"
    );
    // Service import `to: "y.$1"` of `x.*.*`: checked from the export side.
    let (src, _) = untokenize("x.*.*");
    assert_eq!(
        import_err(&src, &tokenize("y.$1")),
        "invalid mapping destination: not using all of the token wildcard(s) in y.$1"
    );
    assert_eq!(
        import_err("x.*", "y.{{split(1,-)}}"),
        "invalid mapping destination: the only mapping function allowed for import transforms is {{Wildcard()}} in {{split(1,-)}}"
    );
    assert_eq!(import_err("x.*", "y.*"), "invalid subject");
}

#[test]
fn import_transforms() {
    // Observed: stream import `ev.*.*` with `to: "imp.$2.$1"`.
    let t = Transform::for_import("ev.*.*", &tokenize("imp.$2.$1")).unwrap();
    assert_eq!(t.apply(b"ev.one.two").as_deref(), Some(&b"imp.two.one"[..]));
    // `*` in `to` stands for the wildcards in order.
    let t = Transform::for_import("ev.*.*", &tokenize("imp.*.*")).unwrap();
    assert_eq!(t.apply(b"ev.one.two").as_deref(), Some(&b"imp.one.two"[..]));
    assert!(Transform::for_import("ev.*", "imp.{{wildcard(1)}}").is_ok());
    // Service import: export `x.*.*`, local `y.$2.$1`; the reverse maps
    // the requester's subject onto the export.
    let checked = Transform::for_import(&untokenize("x.*.*").0, &tokenize("y.$2.$1")).unwrap();
    let reverse = checked.reverse().expect("reversible");
    assert_eq!(reverse.source(), "y.*.*");
    assert_eq!(reverse.dest(), "x.$2.$1");
    assert_eq!(reverse.apply(b"y.a.b").as_deref(), Some(&b"x.b.a"[..]));
}

#[test]
fn tokenize_and_untokenize() {
    assert_eq!(tokenize("foo.*.bar.*.>"), "foo.$1.bar.$2.>");
    assert_eq!(tokenize("foo"), "foo");
    assert_eq!(untokenize("bar"), ("bar".to_string(), vec![]));
    assert_eq!(
        untokenize("foo.$2.{{wildcard(1)}}.$x.$0"),
        (
            "foo.*.*.$x.$0".to_string(),
            vec!["$2".to_string(), "{{wildcard(1)}}".to_string()]
        )
    );
}
