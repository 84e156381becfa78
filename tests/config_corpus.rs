//! The configuration corpus `tests/data/conf/*.conf`, checked three ways:
//! 1. by name: `ok-*`, `docker-*` and `v210-*` files must pass `-t`,
//!    `err-*` files must fail it;
//! 2. against a table of exact error texts (nats-server's, captured from
//!    2.9.10/2.15.1);
//! 3. differentially: the real `nats-server -c <file> -t` must agree on
//!    accept/reject and print the same first line. A file's first line
//!    `# versions: 2.9` or `# versions: 2.15` restricts which real server
//!    it is compared with (keys new in 2.10, fixes made after 2.9).
//!    The comparison needs both binaries: it is ignored when one is missing
//!    (failed under CI, where `.ci/run` installs both; see `tests/support/mod.rs`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use nats_server::config::{ConfigError, Options};
use support::{REAL_2_15, REAL_2_9};

const DIR: &str = "tests/data/conf";
const ENV: (&str, &str) = ("NATS_RS_TEST_PORT", "4226");

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .expect("corpus dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(files.len() >= 60, "corpus too small: {}", files.len());
    files
}

fn rel(p: &Path) -> String {
    format!("{DIR}/{}", p.file_name().unwrap().to_str().unwrap())
}

/// Our `-t` verdict: the first line nats-server would print on failure.
fn ours(path: &str) -> Result<(), String> {
    std::env::set_var(ENV.0, ENV.1);
    match Options::from_file(path) {
        Ok((_, w)) if w.is_empty() => Ok(()),
        Ok((_, w)) => Err(first_line(
            &ConfigError::Process {
                warnings: w,
                errors: vec![],
            }
            .to_string(),
        )),
        Err(e) => Err(first_line(&e.to_string())),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// The real servers a file is compared with, and whether the error text
/// is compared too (`# text-differs-in: 2.9` when that release words the
/// message differently).
fn versions(path: &str) -> Vec<(&'static str, bool)> {
    let text = std::fs::read_to_string(path).unwrap();
    let directive = |name: &str| {
        text.lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name).map(str::to_string))
    };
    let differs = directive("# text-differs-in: ").unwrap_or_default();
    let bins: Vec<(&str, &str)> = match directive("# versions: ") {
        Some(v) if v.starts_with("2.15") => vec![(REAL_2_15, "2.15")],
        Some(v) if v.starts_with("2.9") => vec![(REAL_2_9, "2.9")],
        _ => vec![(REAL_2_9, "2.9"), (REAL_2_15, "2.15")],
    };
    bins.into_iter()
        .map(|(b, v)| (b, !differs.starts_with(v)))
        .collect()
}

#[test]
fn corpus_verdicts_follow_file_names() {
    for f in corpus() {
        let path = rel(&f);
        let name = f.file_name().unwrap().to_str().unwrap();
        let got = ours(&path);
        if name.starts_with("err-") {
            assert!(got.is_err(), "{path} should be rejected");
        } else {
            assert_eq!(got, Ok(()), "{path} should be accepted");
        }
    }
}

#[test]
fn corpus_error_texts_are_nats_servers() {
    let cases = [
        ("err-1m-duration.conf", "tests/data/conf/err-1m-duration.conf:2:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"),
        ("err-auth-timeout-type.conf", "tests/data/conf/err-auth-timeout-type.conf:5:3: error parsing authorization config, 'timeout' wrong type"),
        ("err-bad-duration.conf", "tests/data/conf/err-bad-duration.conf:1:0: error parsing ping_interval: time: unknown unit \"x\" in duration \"5x\""),
        ("err-bad-perm-field.conf", "tests/data/conf/err-bad-perm-field.conf:3:64: Unknown field name \"nope\" parsing subject permissions, only 'allow' or 'deny' are permitted"),
        ("err-bad-subject.conf", "subject \"foo..bar\" is not a valid subject"),
        ("err-cluster-token.conf", "tests/data/conf/err-cluster-token.conf:3:3: Cluster authorization does not support tokens"),
        ("err-cluster-users.conf", "tests/data/conf/err-cluster-users.conf:3:3: Cluster authorization does not allow multiple users"),
        ("err-datetime.conf", "tests/data/conf/err-datetime.conf:1:0: interface conversion: interface {} is time.Time, not int64"),
        ("err-duplicate-user.conf", "tests/data/conf/err-duplicate-user.conf:1:0: Duplicate user \"x\" detected"),
        ("err-empty.conf", "tests/data/conf/err-empty.conf: config has no values or is empty"),
        ("err-include-missing.conf", "error parsing include file './include/nope.conf', open tests/data/conf/include/nope.conf: no such file or directory"),
        ("err-int-array-quirk.conf", "Parse error on line 5: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '}' instead.'"),
        ("err-lame-duck-int.conf", "tests/data/conf/err-lame-duck-int.conf:1:0: interface conversion: interface {} is int64, not string"),
        ("err-lame-duck-short.conf", "tests/data/conf/err-lame-duck-short.conf:1:0: invalid lame_duck_duration of 10s, minimum is 30 seconds"),
        ("err-listen-port.conf", "tests/data/conf/err-listen-port.conf:1:0: could not parse port \"abc\""),
        ("err-listen.conf", "tests/data/conf/err-listen.conf:1:0: could not parse address string \"localhost\""),
        ("err-max-payload-big.conf", "tests/data/conf/err-max-payload-big.conf:1:0: max_payload value is too big"),
        ("err-max-pending-size.conf", "tests/data/conf/err-max-pending-size.conf:2:1: unknown field \"max_pending_size\""),
        ("err-max-sub-tokens.conf", "tests/data/conf/err-max-sub-tokens.conf:1:0: max_sub_tokens value is too big"),
        ("err-missing-var.conf", "variable reference for 'NATS_RS_NOT_SET_ANYWHERE' on line 1 can not be found"),
        ("err-only-key.conf", "config is invalid (tests/data/conf/err-only-key.conf:2:5)"),
        ("err-parse.conf", "Parse error on line 2: 'Expected a top-level value to end with a new line, comment or EOF, but got 'b' instead.'"),
        ("err-route-url.conf", "tests/data/conf/err-route-url.conf:4:6: error parsing route url [\"127.0.0.1:6222\"]"),
        ("err-server-name-spaces.conf", "tests/data/conf/err-server-name-spaces.conf:2:1: server name cannot contain spaces"),
        ("err-tls-cipher.conf", "tests/data/conf/err-tls-cipher.conf:4:20: unrecognized cipher TLS_NOPE"),
        ("err-tls-missing-file.conf", "tests/data/conf/err-tls-missing-file.conf:1:0: error parsing X509 certificate/key pair: open tests/data/conf/certs/nope.pem: no such file or directory"),
        ("err-tls-missing-key.conf", "tests/data/conf/err-tls-missing-key.conf:1:0: missing 'key_file' in TLS configuration"),
        ("err-tls-unknown.conf", "tests/data/conf/err-tls-unknown.conf:5:3: error parsing tls config, unknown field \"colour\""),
        ("err-token-and-user.conf", "tests/data/conf/err-token-and-user.conf:1:0: Cannot have a user/pass and token"),
        ("err-type-debug.conf", "tests/data/conf/err-type-debug.conf:1:0: interface conversion: interface {} is int64, not bool"),
        ("err-type-port.conf", "tests/data/conf/err-type-port.conf:1:0: interface conversion: interface {} is string, not int64"),
        ("err-unclosed-map.conf", "Parse error on line 3: 'Unexpected EOF processing map.'"),
        ("err-unknown-auth.conf", "tests/data/conf/err-unknown-auth.conf:4:3: unknown field \"nope\""),
        ("err-unknown-cluster.conf", "tests/data/conf/err-unknown-cluster.conf:3:3: unknown field \"bogus\""),
        ("err-unknown-indented.conf", "tests/data/conf/err-unknown-indented.conf:1:2: unknown field \"foo\""),
        ("err-unknown-top.conf", "tests/data/conf/err-unknown-top.conf:2:1: unknown field \"foo\""),
        ("err-unknown-user-field.conf", "tests/data/conf/err-unknown-user-field.conf:3:28: unknown field \"color\""),
        ("err-unused-var-in-top.conf", "tests/data/conf/err-unused-var-in-top.conf:1:0: unknown field \"A\""),
        ("err-user-without-name.conf", "tests/data/conf/err-user-without-name.conf:3:6: User entry requires a user"),
        ("err-users-and-token.conf", "tests/data/conf/err-users-and-token.conf:1:0: Can not have a token and a users array"),
        ("err-users-and-user.conf", "tests/data/conf/err-users-and-user.conf:1:0: Can not have a single user/pass and a users array"),
        ("err-users-not-array.conf", "tests/data/conf/err-users-not-array.conf:2:3: Expected users field to be an array, got bob"),
        ("err-block-string-unused.conf", "tests/data/conf/err-block-string-unused.conf:1:0: unknown field \"BANNER\""),
        ("err-bad-escape.conf", "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'"),
    ];
    let mut failures = Vec::new();
    for (name, want) in cases {
        let got = ours(&format!("{DIR}/{name}"));
        if got != Err(want.to_string()) {
            failures.push(format!("{name}:\n  want {want}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[cfg_attr(
    any(missing_nats_server_2_9, missing_nats_server_2_15),
    ignore = "needs nats-server 2.9.10 (/usr/sbin) and 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
fn corpus_agrees_with_real_nats_server() {
    let test = "corpus_agrees_with_real_nats_server";
    let (real_2_9, real_2_15) = (support::real_2_9(test), support::real_2_15(test));
    let mut compared = 0;
    let mut failures = Vec::new();
    for f in corpus() {
        let path = rel(&f);
        let mine = ours(&path);
        for (bin, compare_text) in versions(&path) {
            let bin = if bin == REAL_2_9 {
                &real_2_9
            } else {
                &real_2_15
            };
            let out = Command::new(bin)
                .args(["-c", &path, "-t"])
                .env(ENV.0, ENV.1)
                .output()
                .expect("run nats-server");
            compared += 1;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let theirs_ok = out.status.success();
            if theirs_ok != mine.is_ok() {
                failures.push(format!(
                    "{path}: {} ok={theirs_ok} ({}), ours {mine:?}",
                    bin.display(),
                    first_line(&stderr)
                ));
                continue;
            }
            if let Err(msg) = &mine {
                let want = first_line(&stderr);
                let crashed = want.starts_with("runtime:") || want.starts_with("panic:");
                if compare_text && !crashed && want != format!("nats-server: {msg}") {
                    failures.push(format!(
                        "{path}: {} says\n  {want}\n  we say\n  nats-server: {msg}",
                        bin.display()
                    ));
                }
            }
        }
    }
    println!("compared {compared} file/server pairs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
