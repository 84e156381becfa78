//! The account scenarios against a real nats-server started with an accounts configuration:
//! `accounts` (each account's subscribers get exactly their own publisher's messages, and a
//! server without accounts fails the run with cross-account deliveries) and `import` (every
//! request through the service import answered, one latency each).

mod common;

use nats_bench::{run, Error, Scenario};
use std::fmt::Write as _;
use std::time::Duration;

const PASS: &str = "bench";

/// `n` accounts `acc<i>` with one user each, plus A exporting `svc.bench` and B importing it
/// as `bench.svc`.
fn config(n: usize) -> String {
    let mut c = String::from("accounts {\n");
    for i in 0..n {
        let _ = writeln!(
            c,
            "  acc{i} {{ users [ {{user: acc{i}, password: {PASS}}} ] }}"
        );
    }
    let _ = writeln!(
        c,
        "  A {{ users [ {{user: a, password: {PASS}}} ], exports [ {{service: svc.bench}} ] }}"
    );
    let _ = writeln!(
        c,
        "  B {{ users [ {{user: b, password: {PASS}}} ], imports [ {{service: {{account: A, \
         subject: svc.bench}}, to: bench.svc}} ] }}"
    );
    c.push_str("}\n");
    c
}

fn accounts(n: usize, k: usize) -> Scenario {
    Scenario::Accounts {
        accounts: n,
        subs: k,
        users: "acc{i}".into(),
    }
}

fn import() -> Scenario {
    Scenario::Import {
        clients: 2,
        window: 4,
        responders: 2,
        export: "svc.bench".into(),
        requester_user: "b".into(),
        responder_user: "a".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn each_account_gets_exactly_its_own_messages() {
    let srv = common::server_with_config("accounts", &config(7));
    let mut o = common::opts(&srv.addr);
    o.pass = Some(PASS.into());
    o.subject = "bench.acc".into();
    o.msgs = Some(7_003); // not a multiple of 7: the first three accounts send one more
    let rep = run(&accounts(7, 2), &o).await.unwrap();
    assert_eq!(rep.scenario, "accounts");
    assert_eq!((rep.publishers, rep.subscribers), (7, 14));
    assert_eq!(rep.publish.unwrap().msgs, 7_003);
    assert_eq!(rep.receive.unwrap().msgs, 2 * 7_003);
    let mut want = Vec::new();
    for i in 0..7 {
        let n = 1_000 + u64::from(i < 3);
        want.extend([n, n]);
    }
    assert_eq!(rep.per_subscriber, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn accounts_stops_at_the_duration() {
    let srv = common::server_with_config("accounts-duration", &config(3));
    let mut o = common::opts(&srv.addr);
    o.pass = Some(PASS.into());
    o.duration = Some(Duration::from_millis(200));
    let rep = run(&accounts(3, 1), &o).await.unwrap();
    let sent = rep.publish.unwrap().msgs;
    assert!(sent > 0);
    assert_eq!(rep.per_subscriber.iter().sum::<u64>(), sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn one_subject_space_for_all_is_a_cross_account_delivery() {
    // No accounts configured: the credentials are ignored and every connection lands in $G,
    // so each subscriber hears every publisher.
    let srv = common::server("accounts-none");
    let mut o = common::opts(&srv.addr);
    o.pass = Some(PASS.into());
    o.msgs = Some(3_000);
    match run(&accounts(3, 1), &o).await {
        Err(Error::Count {
            what,
            expected,
            got,
        }) => {
            assert!(what.contains("other accounts"), "{what}");
            assert_eq!((expected, got), (0, 2_000));
        }
        other => panic!("expected a cross-account count error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_pattern_without_the_account_number_is_refused() {
    let o = common::opts("127.0.0.1:1");
    let sc = Scenario::Accounts {
        accounts: 2,
        subs: 1,
        users: "same".into(),
    };
    assert!(matches!(run(&sc, &o).await, Err(Error::Config(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn import_answers_every_request_through_the_service_import() {
    let srv = common::server_with_config("import", &config(1));
    let mut o = common::opts(&srv.addr);
    o.pass = Some(PASS.into());
    o.subject = "bench.svc".into();
    o.msgs = Some(1_001);
    o.size = 64;
    let rep = run(&import(), &o).await.unwrap();
    assert_eq!(rep.scenario, "import");
    assert_eq!(rep.publish.unwrap().msgs, 1_001);
    let l = rep.latency.unwrap();
    assert_eq!(l.count, 1_001);
    assert!(l.min_us > 0.0 && l.min_us <= l.p50_us && l.p50_us <= l.p99_us);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn import_without_the_import_gets_no_answer() {
    // The responders are in A, the requesters in acc0, which imports nothing.
    let srv = common::server_with_config("import-missing", &config(1));
    let mut o = common::opts(&srv.addr);
    o.pass = Some(PASS.into());
    o.subject = "bench.svc".into();
    o.msgs = Some(5);
    o.timeout = Duration::from_millis(500);
    let sc = Scenario::Import {
        clients: 1,
        window: 1,
        responders: 1,
        export: "svc.bench".into(),
        requester_user: "acc0".into(),
        responder_user: "a".into(),
    };
    assert!(matches!(run(&sc, &o).await, Err(Error::Timeout(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn a_wrong_password_is_the_servers_authorization_violation() {
    let srv = common::server_with_config("accounts-badpass", &config(2));
    let mut o = common::opts(&srv.addr);
    o.pass = Some("wrong".into());
    o.msgs = Some(10);
    match run(&accounts(2, 1), &o).await {
        Err(Error::Server(text)) => assert_eq!(text, "Authorization Violation"),
        other => panic!("expected -ERR 'Authorization Violation', got {other:?}"),
    }
}
