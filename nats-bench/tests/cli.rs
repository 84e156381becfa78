//! The `nats-bench` binary: output formats on stdout, exit status 0 / 1 / 2.

mod common;

use nats_bench::report::CSV_COLUMNS;
use nats_bench::Report;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nats-bench"))
        .args(args)
        .arg("--no-progress")
        .output()
        .expect("the binary runs")
}

#[test]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
fn json_on_stdout() {
    let srv = common::server("cli-json");
    let out = bench(&[
        "-s", &srv.addr, "--format", "json", "pub", "-n", "5000", "--pubs", "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Report = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.scenario, "pub");
    assert_eq!(r.publish.unwrap().msgs, 5000);
}

#[test]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
fn csv_on_stdout_with_and_without_header() {
    let srv = common::server("cli-csv");
    let out = bench(&[
        "-s", &srv.addr, "-f", "csv", "fanout", "-k", "2", "-n", "1000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rd = csv::Reader::from_reader(&out.stdout[..]);
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        CSV_COLUMNS
    );
    let recs: Vec<_> = rd.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 1);
    let col = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    assert_eq!(&recs[0][col("scenario")], "fanout");
    assert_eq!(&recs[0][col("sub_msgs")], "2000");

    let out = bench(&[
        "-s",
        &srv.addr,
        "-f",
        "csv",
        "--no-header",
        "queue",
        "-n",
        "100",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("queue,"));
}

#[test]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
fn text_for_people() {
    let srv = common::server("cli-text");
    let out = bench(&["-s", &srv.addr, "reqrep", "-n", "200", "--size", "1k"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("reqrep: nats-server "), "{text}");
    assert!(
        text.contains("1024 B payloads") && text.contains("p99.9"),
        "{text}"
    );
}

#[test]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
fn server_err_exits_1_with_the_message() {
    let srv = common::server("cli-err");
    let out = bench(&["-s", &srv.addr, "pub", "-n", "2", "--size", "2m"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Maximum Payload Violation"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn sink_needs_no_server() {
    let out = bench(&["--format", "json", "sink", "-n", "100000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Report = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.publish.unwrap().msgs, 100_000);
}

#[test]
fn bad_command_lines_exit_2() {
    for args in [
        &["nosuch"][..],
        &["pub", "--size", "1x"],
        &["pub", "-d", "5 parsecs"],
        &[],
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
