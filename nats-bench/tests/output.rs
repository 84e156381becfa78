//! Reports survive the trip through JSON and CSV: JSON parses back to the same value, CSV
//! parses (with the `csv` crate, an independent reader) into the columns and numbers written.

mod common;

use nats_bench::hist::Latency;
use nats_bench::report::{csv_header, Rate, Setup, CSV_COLUMNS};
use nats_bench::{run, Report, Scenario};
use std::collections::HashMap;
use std::time::Duration;

fn full_report() -> Report {
    let mut r = Report::new("fan,\"out\"", "2.9.10", "127.0.0.1:4222", 1024);
    r.publishers = 1;
    r.subscribers = 4;
    r.publish = Some(Rate::new(
        1_000_000,
        1024,
        Duration::from_nanos(123_456_789),
    ));
    r.receive = Some(Rate::new(4_000_000, 1024, Duration::from_millis(130)));
    r.per_subscriber = vec![1_000_000; 4];
    r.latency = Some(Latency {
        count: 12,
        min_us: 1.5,
        mean_us: 7.25,
        p50_us: 5.125,
        p90_us: 9.0,
        p99_us: 20.0,
        p999_us: 31.5,
        max_us: 1e6 / 3.0,
    });
    r.setup = Some(Setup::new(
        "connections",
        10_000,
        Duration::from_millis(1234),
    ));
    r.server_rss_kib = Some(123_456);
    r.server_rss_before_kib = Some(10_000);
    r.server_rss_subscribed_kib = Some(99_999);
    r.server_rss_warm_kib = Some(55_555);
    r
}

fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers, CSV_COLUMNS);
    rd.records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), CSV_COLUMNS.len());
            headers
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

fn f(row: &HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|e| panic!("{col}={:?}: {e}", row[col]))
}

fn check_csv_row(row: &HashMap<String, String>, r: &Report) {
    assert_eq!(row["scenario"], r.scenario);
    assert_eq!(row["server_version"], r.server_version);
    assert_eq!(row["server_addr"], r.server_addr);
    assert_eq!(f(row, "msg_size"), r.msg_size as f64);
    assert_eq!(f(row, "subscribers"), r.subscribers as f64);
    let opt = |col: &str, v: Option<f64>| match v {
        Some(v) => assert_eq!(f(row, col), v, "{col}"),
        None => assert_eq!(row[col], "", "{col}"),
    };
    opt("pub_msgs", r.publish.map(|p| p.msgs as f64));
    opt("pub_seconds", r.publish.map(|p| p.seconds));
    opt("pub_msgs_per_sec", r.publish.map(|p| p.msgs_per_sec));
    opt("pub_mb_per_sec", r.publish.map(|p| p.mb_per_sec));
    opt("sub_msgs", r.receive.map(|p| p.msgs as f64));
    opt("sub_msgs_per_sec", r.receive.map(|p| p.msgs_per_sec));
    opt("lat_count", r.latency.map(|l| l.count as f64));
    opt("lat_p50_us", r.latency.map(|l| l.p50_us));
    opt("lat_p999_us", r.latency.map(|l| l.p999_us));
    opt("lat_max_us", r.latency.map(|l| l.max_us));
    opt("setup_count", r.setup.as_ref().map(|s| s.count as f64));
    opt("setup_per_sec", r.setup.as_ref().map(|s| s.per_sec));
    opt("server_rss_kib", r.server_rss_kib.map(|v| v as f64));
    opt(
        "server_rss_before_kib",
        r.server_rss_before_kib.map(|v| v as f64),
    );
    opt(
        "server_rss_subscribed_kib",
        r.server_rss_subscribed_kib.map(|v| v as f64),
    );
    opt(
        "server_rss_warm_kib",
        r.server_rss_warm_kib.map(|v| v as f64),
    );
}

#[test]
fn json_round_trips_exactly() {
    let r = full_report();
    let back: Report = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(back, r);
    let empty = Report::new("pub", "x", "y", 0);
    assert_eq!(
        serde_json::from_str::<Report>(&empty.to_json()).unwrap(),
        empty
    );
}

#[test]
fn json_without_later_fields_still_parses() {
    // A report written before `server_rss_subscribed_kib` and `server_rss_warm_kib` existed.
    let mut v: serde_json::Value = serde_json::from_str(&full_report().to_json()).unwrap();
    let fields = v.as_object_mut().unwrap();
    fields.remove("server_rss_subscribed_kib");
    fields.remove("server_rss_warm_kib");
    let back: Report = serde_json::from_value(v).unwrap();
    assert_eq!(back.server_rss_subscribed_kib, None);
    assert_eq!(back.server_rss_warm_kib, None);
    assert_eq!(back.server_rss_kib, Some(123_456));
}

#[test]
fn csv_parses_back_with_quoting_and_empty_cells() {
    let full = full_report();
    let empty = Report::new("pub", "2.15.1", "[::1]:4222", 16);
    let text = format!(
        "{}{}{}",
        csv_header(),
        full.to_csv_row(),
        empty.to_csv_row()
    );
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 2);
    check_csv_row(&rows[0], &full);
    check_csv_row(&rows[1], &empty);
}

#[test]
fn text_mentions_every_number_group() {
    let t = full_report().to_text();
    for needle in [
        "publish",
        "receive",
        "p99.9",
        "connections",
        "RSS 123,456 KiB",
        "99,999 KiB",
        "55,555 KiB",
    ] {
        assert!(t.contains(needle), "{needle:?} missing from\n{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server,
    ignore = "needs a real nats-server (NATS_BENCH_SERVER or /usr/sbin/nats-server)"
)]
async fn real_reports_round_trip() {
    let srv = common::server("output");
    let mut o = common::opts(&srv.addr);
    o.msgs = Some(2_000);
    let reports = [
        run(&Scenario::FanOut { subs: 2 }, &o).await.unwrap(),
        run(
            &Scenario::ReqRep {
                clients: 1,
                window: 1,
                responders: 1,
            },
            &o,
        )
        .await
        .unwrap(),
    ];
    let mut text = csv_header();
    for r in &reports {
        assert_eq!(&serde_json::from_str::<Report>(&r.to_json()).unwrap(), r);
        text.push_str(&r.to_csv_row());
    }
    let rows = csv_rows(&text);
    for (row, r) in rows.iter().zip(&reports) {
        check_csv_row(row, r);
    }
}
