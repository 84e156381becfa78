//! `/metrics`: parsed by a Prometheus text-format parser (`prometheus-parse`)
//! and by a strict line grammar written here (every sample under a `# TYPE`
//! of its own name, counters ending in `_total`, escaped label values, no
//! duplicate series); values agree with `/varz`, counters move by exactly
//! the traffic sent, per-connection series are limited to the top N, and
//! slow-consumer cuts are counted by client name.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use prometheus_parse::{Scrape, Value as PValue};
use support::monitor::*;

/// One sample: name, labels (unescaped), value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The text exposition format, strictly: `# HELP`/`# TYPE` lines, then
/// samples `name{k="v",...} value`. Returns the samples and the family types.
fn strict_parse(text: &str) -> (Vec<Sample>, HashMap<String, String>) {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    let mut series = HashSet::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(valid_name(name), "bad name in {line:?}");
            assert!(helped.insert(name.to_string()), "second HELP for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(matches!(kind, "counter" | "gauge"), "type {kind} of {name}");
            if kind == "counter" {
                assert!(
                    name.ends_with("_total"),
                    "counter {name} must end in _total"
                );
            }
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "second TYPE for {name}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        assert!(!line.is_empty(), "empty line");
        let name_end = line.find(['{', ' ']).expect("sample name");
        let name = &line[..name_end];
        assert!(valid_name(name), "bad sample name {name:?}");
        assert!(
            types.contains_key(name),
            "sample {name} has no TYPE of its own"
        );
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let close;
            loop {
                let (start, c) = chars.next().expect("label or }");
                if c == '}' {
                    close = start;
                    break;
                }
                let mut key = c.to_string();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert!(valid_name(&key), "label name {key:?}");
                assert_eq!(chars.next().map(|x| x.1), Some('"'), "label value quote");
                let mut value = String::new();
                loop {
                    match chars.next().expect("closing quote").1 {
                        '"' => break,
                        '\\' => match chars.next().expect("escape").1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            e => panic!("bad escape \\{e} in {line:?}"),
                        },
                        '\n' => panic!("raw newline in a label value"),
                        c => value.push(c),
                    }
                }
                assert!(
                    labels.insert(key, value).is_none(),
                    "repeated label in {line:?}"
                );
                if let Some(&(_, ',')) = chars.peek() {
                    chars.next();
                }
            }
            rest = &body[close + 1..];
        }
        let value_text = rest.strip_prefix(' ').expect("space before the value");
        let value: f64 = value_text
            .parse()
            .unwrap_or_else(|_| panic!("value {value_text:?} in {line:?}"));
        assert!(
            series.insert(format!("{name}{labels:?}")),
            "duplicate series {line:?}"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    (samples, types)
}

struct Metrics {
    text: String,
    samples: Vec<Sample>,
    types: HashMap<String, String>,
    parsed: Scrape,
}

impl Metrics {
    async fn fetch(mon: SocketAddr, path: &str) -> Metrics {
        let r = get(mon, path).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = r.text();
        let (samples, types) = strict_parse(&text);
        let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
        assert_eq!(
            parsed.samples.len(),
            samples.len(),
            "both parsers see every sample"
        );
        Metrics {
            text,
            samples,
            types,
            parsed,
        }
    }

    /// The value of the one series `name` with `labels` (a subset).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert_eq!(found.len(), 1, "{name}{labels:?} in\n{}", self.text);
        found[0].value
    }

    fn count(&self, name: &str) -> usize {
        self.samples.iter().filter(|s| s.name == name).count()
    }

    /// The type prometheus-parse gives the series `name`.
    fn parsed_kind(&self, name: &str) -> &'static str {
        let s = self
            .parsed
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("{name} not parsed"));
        match s.value {
            PValue::Counter(_) => "counter",
            PValue::Gauge(_) => "gauge",
            _ => "other",
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_typed_true_and_bounded() {
    let (running, mon) = ours(|o| o.max_pending = 128 * 1024).await;
    let addr = running.addr;

    // 30 connections, connection k publishing k messages of 10 bytes; one
    // with a name that needs escaping.
    let mut clients = Vec::new();
    for k in 0..30 {
        let name = if k == 25 {
            r#"we"ird\name"#.to_string()
        } else {
            format!("m{k}")
        };
        let connect = serde_json::json!({"verbose": false, "name": name}).to_string();
        let mut c = Lines::connect(addr, &connect).await;
        let mut ops = String::from("SUB own.sub 1\r\n");
        for _ in 0..k {
            ops.push_str("PUB nowhere 10\r\n0123456789\r\n");
        }
        c.send(&ops).await;
        c.sync().await;
        clients.push(c);
    }
    make_slow_consumer(addr, mon, "slowpoke", "firehose").await;
    eventually("the slow consumer's close", || async {
        let c = get_json(mon, "/connz?state=closed").await;
        (c["total"] == 2).then_some(())
    })
    .await;

    let m = Metrics::fetch(mon, "/metrics").await;
    let varz = get_json(mon, "/varz").await;

    // Names and types, as declared and as a standard parser reads them.
    for (name, kind) in [
        ("nats_server_info", "gauge"),
        ("nats_connections", "gauge"),
        ("nats_connections_accepted_total", "counter"),
        ("nats_subscriptions", "gauge"),
        ("nats_in_msgs_total", "counter"),
        ("nats_out_msgs_total", "counter"),
        ("nats_in_bytes_total", "counter"),
        ("nats_out_bytes_total", "counter"),
        ("nats_slow_consumers_total", "counter"),
        ("nats_client_slow_consumers_total", "counter"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("nats_routes", "gauge"),
        ("nats_sublist_matches_total", "counter"),
        ("nats_sublist_cache_entries", "gauge"),
        ("nats_http_requests_total", "counter"),
        ("nats_connection_in_msgs_total", "counter"),
        ("nats_connection_pending_bytes", "gauge"),
        ("nats_connection_rtt_seconds", "gauge"),
    ] {
        assert_eq!(m.types.get(name).map(String::as_str), Some(kind), "{name}");
        assert_eq!(
            m.parsed_kind(name),
            kind,
            "{name} as prometheus-parse reads it"
        );
    }
    // Per-route families are declared even without routes.
    for name in ["nats_route_in_msgs_total", "nats_route_pending_bytes"] {
        assert!(m.types.contains_key(name), "{name}");
        assert_eq!(m.count(name), 0);
    }

    // The same figures as /varz (nothing moved in between).
    for (metric, field) in [
        ("nats_connections", "connections"),
        ("nats_connections_accepted_total", "total_connections"),
        ("nats_subscriptions", "subscriptions"),
        ("nats_in_msgs_total", "in_msgs"),
        ("nats_out_msgs_total", "out_msgs"),
        ("nats_in_bytes_total", "in_bytes"),
        ("nats_out_bytes_total", "out_bytes"),
        ("nats_slow_consumers_total", "slow_consumers"),
        ("nats_max_payload_bytes", "max_payload"),
    ] {
        assert_eq!(
            m.value(metric, &[]),
            varz[field].as_f64().unwrap(),
            "{metric}"
        );
    }
    assert_eq!(m.value("nats_connections", &[]), 30.0);
    assert_eq!(m.value("nats_slow_consumers_total", &[]), 1.0);
    assert_eq!(
        m.value(
            "nats_client_slow_consumers_total",
            &[("client_name", "slowpoke")]
        ),
        1.0
    );
    assert!(m.value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(m.value("nats_http_requests_total", &[("path", "/metrics")]) >= 1.0);
    let id = varz["server_id"].as_str().unwrap();
    assert_eq!(m.value("nats_server_info", &[("server_id", id)]), 1.0);

    // Per-connection series: the top 20 by pending, then traffic.
    assert_eq!(m.count("nats_connection_in_msgs_total"), 20);
    assert_eq!(
        m.value("nats_connection_in_msgs_total", &[("name", "m29")]),
        29.0
    );
    assert_eq!(
        m.value("nats_connection_in_bytes_total", &[("name", "m29")]),
        290.0
    );
    assert_eq!(
        m.value("nats_connection_subscriptions", &[("name", "m29")]),
        1.0
    );
    assert!(
        !m.text.contains("name=\"m5\""),
        "m5 published too little to be in the top 20"
    );
    assert_eq!(
        m.value(
            "nats_connection_in_msgs_total",
            &[("name", r#"we"ird\name"#)]
        ),
        25.0,
        "label values are escaped and unescape to the name"
    );
    let top3 = Metrics::fetch(mon, "/metrics?top=3").await;
    assert_eq!(top3.count("nats_connection_out_msgs_total"), 3);
    let names: HashSet<&str> = top3
        .samples
        .iter()
        .filter(|s| s.name == "nats_connection_out_msgs_total")
        .map(|s| s.labels["name"].as_str())
        .collect();
    assert_eq!(names, HashSet::from(["m29", "m28", "m27"]));
    assert_eq!(get(mon, "/metrics?top=x").await.status, 400);

    // Counters move by exactly the traffic.
    let before = m.value("nats_in_msgs_total", &[]);
    let before_bytes = m.value("nats_in_bytes_total", &[]);
    clients[3]
        .send("PUB nowhere 4\r\nabcd\r\nPUB nowhere 4\r\nabcd\r\n")
        .await;
    clients[3].sync().await;
    let after = Metrics::fetch(mon, "/metrics").await;
    assert_eq!(after.value("nats_in_msgs_total", &[]), before + 2.0);
    assert_eq!(after.value("nats_in_bytes_total", &[]), before_bytes + 8.0);
    assert!(after.value("nats_http_requests_total", &[("path", "/metrics")]) >= 3.0);

    // OpenMetrics when asked for.
    let om = request(
        mon,
        "GET",
        "/metrics",
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    )
    .await;
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(om.text().ends_with("# EOF\n"));
    assert!(om
        .text()
        .contains("# TYPE nats_in_msgs counter\nnats_in_msgs_total "));

    drop(clients);
    running.stop().await;
}
