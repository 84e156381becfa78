//! Runs that must fail, and fail with the right error: counts that do not add up, a server
//! that answers `-ERR`, a server that goes away, no server at all, options without a bound.

mod common;

use nats_bench::sink::Sink;
use nats_bench::{run, Error, Scenario};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_get_nothing_fail_the_count() {
    // The sink confirms every PING but delivers nothing.
    let sink = Sink::start().await.unwrap();
    let mut o = common::opts(&sink.addr().to_string());
    o.msgs = Some(1_000);
    for sc in [
        Scenario::FanOut { subs: 2 },
        Scenario::Queue {
            subs: 2,
            group: "g".into(),
        },
        Scenario::PubSub { pubs: 1, subs: 1 },
        Scenario::Subjects {
            subjects: 1_000,
            wildcards: 1_000,
            sub_conns: 1,
        },
    ] {
        match run(&sc, &o).await {
            Err(Error::Count { expected, got, .. }) => {
                assert!(expected > 0, "{sc:?}");
                assert_eq!(got, 0, "{sc:?}");
            }
            other => panic!("{sc:?}: expected a count error, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_nobody_answers_time_out() {
    let sink = Sink::start().await.unwrap();
    let mut o = common::opts(&sink.addr().to_string());
    o.msgs = Some(10);
    o.timeout = Duration::from_millis(300);
    let sc = Scenario::ReqRep {
        clients: 1,
        window: 1,
        responders: 1,
    };
    assert!(matches!(run(&sc, &o).await, Err(Error::Timeout(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn sub_short_of_its_count_fails() {
    let srv = common::server("sub-short");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(100);
    o.timeout = Duration::from_millis(500);
    match run(&Scenario::Sub { subs: 1 }, &o).await {
        Err(Error::Count { expected, got, .. }) => assert_eq!((expected, got), (100, 0)),
        other => panic!("expected a count error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn oversized_payload_gets_the_servers_err() {
    let srv = common::server("max-payload");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(3);
    o.size = 2_000_000;
    match run(&Scenario::Pub { pubs: 1 }, &o).await {
        Err(Error::Server(text)) => assert_eq!(text, "Maximum Payload Violation"),
        other => panic!("expected -ERR, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn a_server_that_goes_away_fails_the_subscriber() {
    let mut srv = common::server("server-killed");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(1_000);
    let ready = Arc::new(tokio::sync::Notify::new());
    o.ready = Some(ready.clone());
    let sub = tokio::spawn(async move { run(&Scenario::Sub { subs: 1 }, &o).await });
    ready.notified().await;
    srv.kill();
    match sub.await.unwrap() {
        Err(Error::Closed(_)) | Err(Error::Io { .. }) => {}
        other => panic!("expected a closed connection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_is_an_io_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = common::opts(&format!("127.0.0.1:{port}"));
    assert!(matches!(
        run(&Scenario::Pub { pubs: 1 }, &o).await,
        Err(Error::Io { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_without_a_bound_or_workers_are_refused() {
    let sink = Sink::start().await.unwrap();
    let mut o = common::opts(&sink.addr().to_string());
    o.msgs = Some(0);
    assert!(matches!(
        run(&Scenario::Sink { pubs: 1 }, &o).await,
        Err(Error::Config(_))
    ));
    o.msgs = Some(10);
    assert!(matches!(
        run(&Scenario::Sink { pubs: 0 }, &o).await,
        Err(Error::Config(_))
    ));
    let mut o = common::opts(&sink.addr().to_string());
    o.subject = "a.b".into();
    let sc = Scenario::Subjects {
        subjects: 10,
        wildcards: 10,
        sub_conns: 1,
    };
    assert!(matches!(run(&sc, &o).await, Err(Error::Config(_))));
}
