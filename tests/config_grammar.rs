//! The configuration grammar (`config::parse_str`): every element of
//! `docs/operations.md#configuration-file` and the parser's error texts.

use nats_server::config::{parse_str, ConfigError, Includes, Kind, Map, Value};

fn parse(text: &str) -> Map {
    match parse_str(text, "t.conf", Includes::Refuse) {
        Ok(m) => m,
        Err(e) => panic!("{text:?} failed: {e}"),
    }
}

fn err(text: &str) -> String {
    match parse_str(text, "t.conf", Includes::Refuse) {
        Ok(m) => panic!("{text:?} parsed: {m:?}"),
        Err(e) => e.to_string(),
    }
}

fn get<'a>(m: &'a Map, k: &str) -> &'a Value {
    m.get(k).unwrap_or_else(|| panic!("no key {k} in {m:?}"))
}

fn int(m: &Map, k: &str) -> i64 {
    get(m, k)
        .as_i64()
        .unwrap_or_else(|| panic!("{k} not an int: {:?}", get(m, k)))
}

fn string(m: &Map, k: &str) -> String {
    get(m, k)
        .as_str()
        .unwrap_or_else(|| panic!("{k} not a string: {:?}", get(m, k)))
        .to_string()
}

#[test]
fn separators_and_terminators() {
    let m = parse("a: 1\nb = 2\nc 3\nd: 4; e: 5, f: 6\n");
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)] {
        assert_eq!(int(&m, k), v, "{k}");
    }
}

#[test]
fn keys_are_case_insensitive_but_keep_spelling() {
    let m = parse("PORT: 1\n\"Quoted Key\": 2\n'single': 3\n");
    assert_eq!(int(&m, "port"), 1);
    assert_eq!(m.entries[0].key, "PORT");
    assert_eq!(m.entries[0].lower, "port");
    assert_eq!(int(&m, "quoted key"), 2);
    assert_eq!(int(&m, "single"), 3);
}

#[test]
fn comments_everywhere() {
    let m = parse("# top\n// also\na: 1 # trailing\nb: 2 // trailing\nc { # in block\n  d: 3 // x\n}\ne: [a, # c\n b]\n");
    assert_eq!(int(&m, "a"), 1);
    assert_eq!(int(&m, "b"), 2);
    assert_eq!(int(get(&m, "c").as_map().unwrap(), "d"), 3);
    assert_eq!(get(&m, "e").as_array().unwrap().len(), 2);
}

#[test]
fn nested_blocks_all_spellings() {
    let m = parse("a { x: 1 }\nb: { x: 2 }\nc = { x: 3 }\nd {\n  e {\n    f: 4\n  }\n}\n");
    for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
        assert_eq!(int(get(&m, k).as_map().unwrap(), "x"), v);
    }
    let d = get(&m, "d").as_map().unwrap();
    assert_eq!(int(get(d, "e").as_map().unwrap(), "f"), 4);
}

#[test]
fn whole_file_braces_json_like() {
    let m = parse(
        "{\n  \"port\": 4222,\n  \"cluster\": {\"port\": 6222, \"routes\": [\"nats://a:1\"]}\n}\n",
    );
    assert_eq!(int(&m, "port"), 4222);
    let c = get(&m, "cluster").as_map().unwrap();
    assert_eq!(int(c, "port"), 6222);
}

#[test]
fn arrays_commas_newlines_and_maps() {
    let m = parse("a: [1, 2, 3 ]\nb: [\n  x\n  y\n]\nc: [ {u: 1}, {u: 2} ]\nd: []\n");
    assert_eq!(get(&m, "a").as_array().unwrap().len(), 3);
    let b: Vec<_> = get(&m, "b")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(b, ["x", "y"]);
    let c = get(&m, "c").as_array().unwrap();
    assert_eq!(int(c[1].as_map().unwrap(), "u"), 2);
    assert!(get(&m, "d").as_array().unwrap().is_empty());
}

#[test]
fn strings_quoted_escaped_bare() {
    let m = parse(
        "a: \"t\\tn\\nr\\rq\\\"b\\\\x\\x41\"\nb: 'no \\t escapes'\nc: nats-route://a:b@host:6222\nd: 127.0.0.1:4222\ne: 2s\nf: \"$NOTVAR\"\n",
    );
    assert_eq!(string(&m, "a"), "t\tn\nr\rq\"b\\xA");
    assert_eq!(string(&m, "b"), "no \\t escapes");
    assert_eq!(string(&m, "c"), "nats-route://a:b@host:6222");
    assert_eq!(string(&m, "d"), "127.0.0.1:4222");
    assert_eq!(string(&m, "e"), "2s");
    assert_eq!(string(&m, "f"), "$NOTVAR");
}

#[test]
fn block_strings() {
    let m = parse("text (\n  line one\n  line (two)\n)\nafter: 1\n");
    assert_eq!(string(&m, "text"), "\n  line one\n  line (two)\n");
    assert_eq!(int(&m, "after"), 1);
}

#[test]
fn integer_suffixes() {
    let m = parse(
        "a: 1k\nb: 1K\nc: 1kb\nd: 1M\ne: 1MB\nf: 2MB\ng: 1g\nh: 1GB\ni: 1mi\nj: 1Ki\nk: 1kib\nl: -5\nm: 1t\nn: 1tb\n",
    );
    let want = [
        ("a", 1000),
        ("b", 1000),
        ("c", 1024),
        ("d", 1_000_000),
        ("e", 1_048_576),
        ("f", 2_097_152),
        ("g", 1_000_000_000),
        ("h", 1 << 30),
        ("i", 1 << 20),
        ("j", 1024),
        ("k", 1024),
        ("l", -5),
        ("m", 1_000_000_000_000),
        ("n", 1 << 40),
    ];
    for (k, v) in want {
        assert_eq!(int(&m, k), v, "{k}");
    }
}

#[test]
fn unquoted_1m_is_a_million_but_1ms_is_a_string() {
    let m = parse("a: 1m\nb: 1ms\nc: 10s\n");
    assert_eq!(int(&m, "a"), 1_000_000);
    assert_eq!(string(&m, "b"), "1ms");
    assert_eq!(string(&m, "c"), "10s");
}

#[test]
fn floats_bools_dates() {
    let m = parse(
        "a: 0.75\nb: true\nc: FALSE\nd: yes\ne: off\nf: On\ng: 2016-05-04T18:53:41Z\nh: \"true\"\n",
    );
    assert_eq!(get(&m, "a").kind, Kind::Float(0.75));
    assert_eq!(get(&m, "b").as_bool(), Some(true));
    assert_eq!(get(&m, "c").as_bool(), Some(false));
    assert_eq!(get(&m, "d").as_bool(), Some(true));
    assert_eq!(get(&m, "e").as_bool(), Some(false));
    assert_eq!(get(&m, "f").as_bool(), Some(true));
    match &get(&m, "g").kind {
        Kind::Datetime(d) => assert_eq!(d.to_string(), "2016-05-04T18:53:41Z"),
        k => panic!("not a date: {k:?}"),
    }
    assert_eq!(string(&m, "h"), "true");
}

#[test]
fn variables_resolve_outward_then_env() {
    let m =
        parse("P = 4222\nport: $P\nc {\n  P = 6222\n  port: $P\n  inner { q: $P }\n}\nafter: $P\n");
    assert_eq!(int(&m, "port"), 4222);
    let c = get(&m, "c").as_map().unwrap();
    assert_eq!(int(c, "port"), 6222);
    assert_eq!(int(get(c, "inner").as_map().unwrap(), "q"), 6222);
    assert_eq!(int(&m, "after"), 4222);
    assert!(m.entries[0].used_as_variable, "P is marked as used");
}

#[test]
fn variables_from_environment_use_the_grammar() {
    std::env::set_var("NATS_RS_TEST_NUM", "10");
    std::env::set_var("NATS_RS_TEST_LIST", "[a, b]");
    std::env::set_var("NATS_RS_TEST_STR", "hello");
    let m = parse("a: $NATS_RS_TEST_NUM\nb: $NATS_RS_TEST_LIST\nc: $NATS_RS_TEST_STR\n");
    assert_eq!(int(&m, "a"), 10);
    assert_eq!(get(&m, "b").as_array().unwrap().len(), 2);
    assert_eq!(string(&m, "c"), "hello");
}

#[test]
fn variable_errors() {
    assert_eq!(
        err("port: $NATS_RS_NOPE\n"),
        "variable reference for 'NATS_RS_NOPE' on line 1 can not be found"
    );
    std::env::set_var("NATS_RS_CYCLE", "$NATS_RS_CYCLE");
    assert_eq!(
        err("port: $NATS_RS_CYCLE\n"),
        "variable reference for 'NATS_RS_CYCLE' on line 1 could not be parsed: variable reference for 'NATS_RS_CYCLE' on line 1 could not be parsed: variable reference cycle for 'NATS_RS_CYCLE'"
    );
    // No concatenation.
    assert!(err("A = 1\nB = 2\nx: $A-$B\n").contains("can not be found"));
}

#[test]
fn bcrypt_is_not_a_variable() {
    let m = parse("password: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG\n");
    assert_eq!(
        string(&m, "password"),
        "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"
    );
}

#[test]
fn positions_follow_nats_server() {
    let m = parse("port: 1\n  foo: 2\nc {\n  x: 1\n}\n");
    let p = &get(&m, "port").pos;
    assert_eq!((p.line, p.col), (1, 0));
    let p = &get(&m, "foo").pos;
    assert_eq!((p.line, p.col), (2, 3));
    let c = get(&m, "c").as_map().unwrap();
    let p = &get(c, "x").pos;
    assert_eq!((p.line, p.col), (4, 3));
    assert_eq!(&*p.file, "t.conf");
}

#[test]
fn parse_errors_have_nats_server_texts() {
    let cases = [
        ("port: 4222\nfoo bar baz\n", "Parse error on line 2: 'Expected a top-level value to end with a new line, comment or EOF, but got 'b' instead.'"),
        ("a: [1,,2]\n", "Parse error on line 1: 'Unexpected array value terminator ','.'"),
        ("a: [1 2]\n", "Parse error on line 1: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.'"),
        ("a: .5\n", "Parse error on line 1: 'Floats must start with a digit'"),
        ("a: 1.x\n", "Parse error on line 1: 'Floats must have a digit after the '.', but got 'x' instead.'"),
        ("a: \"\\q\"\n", "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'"),
        ("a: \"\\xZZ\"\n", "Parse error on line 1: 'Expected two hexadecimal digits after '\\x', but got 'ZZ''"),
        ("a: 2016-05-04X\n", "Parse error on line 1: 'Expected 'T' in ISO8601 datetime, but found 'X' instead.'"),
        ("a: 201-05\n", "Parse error on line 1: 'All ISO8601 dates must be in full Zulu form.'"),
        ("a {\n b: 1\n", "Parse error on line 3: 'Unexpected EOF processing map.'"),
        ("a: (\nno end\n", "Parse error on line 3: 'Unexpected EOF processing block.'"),
        ("a:\n", "Parse error on line 2: 'Expected value but found new line'"),
        // nats-server quirk: an integer right before ']' swallows the ']'.
        ("a: [1, 2]\n", "Parse error on line 2: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '\0' instead.'"),
        ("a { b: 1 c: 2 }\n", "Parse error on line 1: 'Expected a map value terminator \",\" or a map terminator \"}\", but got 'c' instead.'"),
        ("= 1\n", "Parse error on line 1: 'Unexpected key separator '=''"),
        ("a: 99999999999999999999\n", "integer '99999999999999999999' is out of the range"),
        ("a: 2016-13-04T18:53:41Z\n", "expected Zulu formatted DateTime, but got '2016-13-04T18:53:41Z'"),
        ("port", "config is invalid (t.conf:1:4)"),
        ("include\n", "Parse error on line 2: 'Expected include value but found new line'"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "for {text:?}");
    }
}

#[test]
fn includes_are_relative_to_the_including_file() {
    let dir = std::env::temp_dir().join(format!("nats-rs-inc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("main.conf"),
        "port: 1\ninclude ./sub/a.conf\nc { include \"b.conf\" }\n",
    )
    .unwrap();
    std::fs::write(dir.join("sub/a.conf"), "debug: true\ninclude 'c.conf'\n").unwrap();
    std::fs::write(dir.join("sub/c.conf"), "trace: true\n").unwrap();
    std::fs::write(dir.join("b.conf"), "port: 6222\n").unwrap();
    let main = dir.join("main.conf");
    let m = nats_server::config::parse_file(main.to_str().unwrap()).unwrap();
    assert_eq!(get(&m, "debug").as_bool(), Some(true));
    assert_eq!(get(&m, "trace").as_bool(), Some(true));
    assert_eq!(int(get(&m, "c").as_map().unwrap(), "port"), 6222);
    assert!(get(&m, "trace").pos.file.ends_with("sub/c.conf"));

    std::fs::write(dir.join("bad.conf"), "include nope.conf\n").unwrap();
    let e = nats_server::config::parse_file(dir.join("bad.conf").to_str().unwrap()).unwrap_err();
    let want = format!(
        "error parsing include file 'nope.conf', open {}/nope.conf: no such file or directory",
        dir.display()
    );
    assert_eq!(e.to_string(), want);

    std::fs::write(dir.join("loop.conf"), "include loop.conf\n").unwrap();
    let e = nats_server::config::parse_file(dir.join("loop.conf").to_str().unwrap()).unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_file_error_text() {
    let e = nats_server::config::parse_file("/nonexistent/x.conf").unwrap_err();
    assert_eq!(
        e,
        ConfigError::Io("open /nonexistent/x.conf: no such file or directory".into())
    );
}

#[test]
fn lexer_never_panics_on_odd_input() {
    for text in [
        "\u{0}",
        "a: (\n)",
        "a: \"\\x",
        "{{{{",
        "a: [",
        "é: ü)\n)",
        "a (\né)\n)",
        "//",
        "/",
        "a: 1\r\nb: 2\r\n",
    ] {
        let _ = parse_str(text, "t.conf", Includes::Refuse);
    }
}
