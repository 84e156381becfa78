//! Every scenario, briefly, against a real nats-server started by the test: counts exact,
//! rates positive, histograms ordered.

mod common;

use nats_bench::scenario::subjects::{expected_deliveries, Layout};
use nats_bench::{run, Report, Scenario};
use std::sync::Arc;
use std::time::Duration;

fn rate_ok(r: &Option<nats_bench::report::Rate>, msgs: u64, size: usize) {
    let r = r.expect("rate present");
    assert_eq!(r.msgs, msgs);
    assert_eq!(r.bytes, msgs * size as u64);
    assert!(r.seconds > 0.0 && r.msgs_per_sec > 0.0, "{r:?}");
    assert!((r.msgs_per_sec - r.msgs as f64 / r.seconds).abs() < 1e-6 * r.msgs_per_sec);
}

fn version_ok(rep: &Report) {
    assert!(
        rep.server_version
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit()),
        "{rep:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn pub_counts_every_message_with_several_publishers() {
    let srv = common::server("pub");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(20_001);
    o.server_pid = Some(srv.pid);
    let rep = run(&Scenario::Pub { pubs: 3 }, &o).await.unwrap();
    version_ok(&rep);
    assert_eq!(rep.scenario, "pub");
    assert_eq!(rep.publishers, 3);
    rate_ok(&rep.publish, 20_001, 16);
    assert!(rep.receive.is_none());
    assert!(rep.server_rss_kib.unwrap() > 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn pub_stops_at_the_duration() {
    let srv = common::server("pub-duration");
    let mut o = common::opts(&srv.addr);
    o.duration = Some(Duration::from_millis(300));
    let rep = run(&Scenario::Pub { pubs: 1 }, &o).await.unwrap();
    let p = rep.publish.unwrap();
    assert!(p.msgs > 0);
    assert!(p.seconds >= 0.3 && p.seconds < 5.0, "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn sub_receives_from_an_external_publisher() {
    let srv = common::server("sub");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(10_000);
    o.size = 100;
    let ready = Arc::new(tokio::sync::Notify::new());
    let mut so = o.clone();
    so.ready = Some(ready.clone());
    let sub = tokio::spawn(async move { run(&Scenario::Sub { subs: 2 }, &so).await });
    ready.notified().await;
    let pubrep = run(&Scenario::Pub { pubs: 1 }, &o).await.unwrap();
    rate_ok(&pubrep.publish, 10_000, 100);
    let rep = sub.await.unwrap().unwrap();
    assert_eq!(rep.per_subscriber, vec![10_000, 10_000]);
    rate_ok(&rep.receive, 20_000, 100);
    assert!(rep.publish.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn pubsub_reports_both_sides() {
    let srv = common::server("pubsub");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(20_000);
    let rep = run(&Scenario::PubSub { pubs: 2, subs: 2 }, &o)
        .await
        .unwrap();
    rate_ok(&rep.publish, 20_000, 16);
    rate_ok(&rep.receive, 40_000, 16);
    assert_eq!(rep.per_subscriber, vec![20_000, 20_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn fanout_delivers_every_message_to_every_subscriber() {
    let srv = common::server("fanout");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(5_000);
    o.size = 1024;
    let rep = run(&Scenario::FanOut { subs: 4 }, &o).await.unwrap();
    rate_ok(&rep.publish, 5_000, 1024);
    rate_ok(&rep.receive, 20_000, 1024);
    assert_eq!(rep.per_subscriber, vec![5_000; 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn queue_group_gets_each_message_once() {
    let srv = common::server("queue");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(20_000);
    let group = "q1".to_string();
    let rep = run(&Scenario::Queue { subs: 4, group }, &o).await.unwrap();
    rate_ok(&rep.publish, 20_000, 16);
    rate_ok(&rep.receive, 20_000, 16);
    assert_eq!(rep.per_subscriber.len(), 4);
    assert_eq!(rep.per_subscriber.iter().sum::<u64>(), 20_000);
    assert!(rep.per_subscriber.iter().all(|&n| n > 0), "{rep:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn reqrep_records_one_latency_per_request() {
    let srv = common::server("reqrep");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(2_001);
    o.size = 64;
    let sc = Scenario::ReqRep {
        clients: 2,
        window: 4,
        responders: 2,
    };
    let rep = run(&sc, &o).await.unwrap();
    rate_ok(&rep.publish, 2_001, 64);
    let l = rep.latency.unwrap();
    assert_eq!(l.count, 2_001);
    assert!(l.min_us > 0.0);
    assert!(l.min_us <= l.p50_us && l.p50_us <= l.p90_us && l.p90_us <= l.p99_us);
    assert!(l.p99_us <= l.p999_us && l.p999_us <= l.max_us);
    assert!(l.max_us < 20_000_000.0, "{l:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn reqrep_one_in_flight_stops_at_the_duration() {
    let srv = common::server("reqrep-duration");
    let mut o = common::opts(&srv.addr);
    o.duration = Some(Duration::from_millis(200));
    let sc = Scenario::ReqRep {
        clients: 1,
        window: 1,
        responders: 1,
    };
    let rep = run(&sc, &o).await.unwrap();
    let n = rep.publish.unwrap().msgs;
    assert!(n > 0);
    assert_eq!(rep.latency.unwrap().count, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn idle_opens_every_connection_and_reads_rss() {
    let srv = common::server("idle");
    let mut o = common::opts(&srv.addr);
    o.server_pid = Some(srv.pid);
    let sc = Scenario::Idle {
        conns: 300,
        parallel: 32,
        hold: Duration::from_millis(50),
    };
    let rep = run(&sc, &o).await.unwrap();
    let s = rep.setup.unwrap();
    assert_eq!((s.what.as_str(), s.count), ("connections", 300));
    assert!(s.seconds > 0.0);
    assert_eq!(rep.latency.unwrap().count, 300);
    assert!(rep.server_rss_before_kib.unwrap() > 1000);
    assert!(rep.server_rss_kib.unwrap() > 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn subjects_deliveries_match_the_computed_total() {
    let srv = common::server("subjects");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(45_000); // more than one cycle over the subjects
    let sc = Scenario::Subjects {
        subjects: 20_000,
        wildcards: 3_000,
        sub_conns: 3,
    };
    let rep = run(&sc, &o).await.unwrap();
    let expected = expected_deliveries(
        &Layout::new("bench", 20_000, 3_000).unwrap().matches(),
        45_000,
    );
    assert!(
        expected > 1_000,
        "the layout should match something: {expected}"
    );
    rate_ok(&rep.publish, 45_000, 16);
    rate_ok(&rep.receive, expected, 16);
    let s = rep.setup.unwrap();
    assert_eq!((s.what.as_str(), s.count), ("subscriptions", 3_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn subjects_defaults_to_one_message_per_subject() {
    let srv = common::server("subjects-default");
    let o = common::opts(&srv.addr);
    let sc = Scenario::Subjects {
        subjects: 5_000,
        wildcards: 500,
        sub_conns: 1,
    };
    let rep = run(&sc, &o).await.unwrap();
    assert_eq!(rep.publish.unwrap().msgs, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn subjects_reads_rss_before_and_with_the_subscriptions() {
    let srv = common::server("subjects-rss");
    let mut o = common::opts(&srv.addr);
    o.server_pid = Some(srv.pid);
    o.msgs = Some(1); // hold the subscriptions, barely publish
    let sc = Scenario::Subjects {
        subjects: 1_000_000,
        wildcards: 50_000,
        sub_conns: 2,
    };
    let rep = run(&sc, &o).await.unwrap();
    assert_eq!(rep.publish.unwrap().msgs, 1);
    let before = rep.server_rss_before_kib.unwrap();
    let subscribed = rep.server_rss_subscribed_kib.unwrap();
    assert!(before > 1000, "{rep:?}");
    // 50,000 subscriptions take megabytes in any server.
    assert!(subscribed > before + 1000, "{before} -> {subscribed} KiB");
    assert!(rep.server_rss_kib.unwrap() > 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn churn_makes_every_pair_and_reads_rss_three_times() {
    let srv = common::server("churn");
    let mut o = common::opts(&srv.addr);
    o.server_pid = Some(srv.pid);
    o.msgs = Some(30_000); // more than one PING/PONG chunk
    let sc = Scenario::Churn {
        warmup: 2_000,
        held: 200,
    };
    let rep = run(&sc, &o).await.unwrap();
    version_ok(&rep);
    assert_eq!(rep.scenario, "churn");
    let s = rep.setup.clone().unwrap();
    assert_eq!((s.what.as_str(), s.count), ("SUB/UNSUB pairs", 30_000));
    assert!(s.seconds > 0.0 && s.per_sec > 0.0, "{s:?}");
    for rss in [
        rep.server_rss_before_kib,
        rep.server_rss_warm_kib,
        rep.server_rss_kib,
    ] {
        assert!(rss.unwrap() > 1000, "{rep:?}");
    }
    assert!(rep.publish.is_none() && rep.receive.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn churn_rounds_up_to_whole_batches_and_stops_at_the_duration() {
    let srv = common::server("churn-batches");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(1_000);
    let sc = Scenario::Churn {
        warmup: 0,
        held: 300,
    };
    let rep = run(&sc, &o).await.unwrap();
    assert_eq!(rep.setup.unwrap().count, 1_200);
    assert_eq!(rep.server_rss_kib, None, "no pid, no RSS");

    o.msgs = None;
    o.duration = Some(Duration::from_millis(300));
    let rep = run(&sc, &o).await.unwrap();
    let s = rep.setup.unwrap();
    assert!(s.count > 0 && s.count % 300 == 0, "{s:?}");
    assert!(s.seconds >= 0.3 && s.seconds < 10.0, "{s:?}");

    let none = Scenario::Churn { warmup: 0, held: 0 };
    assert!(run(&none, &o).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_takes_every_byte() {
    // No server needed.
    let mut o = common::opts("unused:0");
    o.msgs = Some(200_000);
    let rep = run(&Scenario::Sink { pubs: 2 }, &o).await.unwrap();
    assert_eq!(rep.server_version, "sink");
    rate_ok(&rep.publish, 200_000, 16);
}
