//! A stable-toolchain stand-in for the `cargo fuzz` target `config`
//! (fuzz/fuzz_targets/config.rs): random texts over the grammar's
//! alphabet, and mutations of the corpus files, never make the parser or
//! the options layer panic.

use nats_server::config::{parse_str, tokenize, Includes, Options};
use proptest::prelude::*;

fn exercise(text: &str) {
    let _ = tokenize(text);
    if let Ok(root) = parse_str(text, "fuzz.conf", Includes::Refuse) {
        let mut o = Options::default();
        if o.apply_map(&root, "fuzz.conf").is_ok() {
            let _ = o.validate();
            let _ = nats_server::config::diff(&Options::default(), &o);
        }
    }
}

const ALPHABET: &[&str] = &[
    "port",
    "cluster",
    "authorization",
    "users",
    "tls",
    "include",
    "listen",
    "routes",
    "$",
    "$P",
    "P",
    "=",
    ":",
    " ",
    "\t",
    "\n",
    "\r\n",
    ";",
    ",",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "'",
    "\\",
    "\\x4",
    "#",
    "//",
    "/",
    "1",
    "-",
    "0.5",
    ".",
    "1k",
    "1MB",
    "2s",
    "true",
    "off",
    "2016-05-04T18:53:41Z",
    "2016-",
    "nats://a:b@h:1",
    "é",
    "\u{0}",
    "max_payload",
    "user",
    "password",
    "$2a$11$x",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_token_soup_never_panics(parts in prop::collection::vec(prop::sample::select(ALPHABET), 0..40)) {
        exercise(&parts.concat());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn corpus_mutations_never_panic() {
    let mut files: Vec<_> = std::fs::read_dir("tests/data/conf")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let bytes = text.as_bytes();
        // Every truncation and every single-byte deletion.
        for cut in 0..=bytes.len() {
            exercise(&String::from_utf8_lossy(&bytes[..cut]));
            let mut del = bytes.to_vec();
            if cut < del.len() {
                del.remove(cut);
                exercise(&String::from_utf8_lossy(&del));
            }
        }
    }
}
