//! Monitoring with accounts, against nats-server 2.15.1: the same accounts
//! (users, a system account, exports, imports, mappings) given to
//! nats-server as a config file and to ours as `Options` built in code,
//! the same clients logged in to different accounts over raw sockets, then
//! `/accountz`, `/accstatz`, `/connz?acc=`/`auth=1`, `/subsz?acc=` and
//! `/varz` compared key for key and type for type, then the values that
//! must agree. Differences allowed on purpose are in [`allowed`], with why.
//! (`the_options_mirror_the_config_file` checks that our parser makes the
//! same `Options` of the file.)
//!
//! Also, without nats-server: account traffic (live plus closed
//! connections) in `/accstatz` and in the per-account `/metrics` series,
//! and `no_sys_acc`.

mod support;

use std::net::SocketAddr;

use nats_server::config::{
    AccountConfig, Authorization, ExportConfig, ExportKind, ImportConfig, LatencyConfig, MapDest,
    MappingConfig, Options, ResponseType,
};
use serde_json::Value;
use support::monitor::*;
use support::shape::{compare, shape};
use support::{real_2_15, user};

/// The configuration nats-server gets; [`options`] is the same in code.
const CONFIG: &str = r#"
accounts {
  A {
    users [ {user: a, password: pw}, {user: a2, password: pw} ]
    exports [ {stream: "news.>"}
              {stream: "private.>", accounts: [B]}
              {service: "svc.echo"}
              {service: "svc.stream", response_type: stream}
              {service: "svc.lat", latency: {sampling: 50%, subject: "lat.results"}}
              {service: "svc.wild.*", accounts: [B]} ]
    mappings { "orders.*": "orders.mapped.{{wildcard(1)}}"
               "weighted": [ {destination: "w.a", weight: 70%}, {destination: "w.b", weight: 30%} ]
               "partial": [ {destination: "p.a", weight: 40%} ] }
  }
  B {
    users [ {user: b, password: pw} ]
    imports [ {stream: {account: A, subject: "news.>"}, prefix: "fromA"}
              {stream: {account: A, subject: "private.>"}}
              {service: {account: A, subject: "svc.echo"}, to: "echo"}
              {service: {account: A, subject: "svc.lat"}, share: true}
              {service: {account: A, subject: "svc.wild.*"}} ]
  }
  C { users [ {user: c, password: pw} ] }
  SYS { users [ {user: sys, password: pw} ] }
}
system_account: SYS
authorization { users [ {user: g, password: pw} ] }
mappings { "top.x": "top.y" }
"#;

fn export(kind: ExportKind, subject: &str) -> ExportConfig {
    ExportConfig {
        kind,
        subject: subject.into(),
        ..ExportConfig::default()
    }
}

fn import(kind: ExportKind, subject: &str) -> ImportConfig {
    ImportConfig {
        kind,
        account: "A".into(),
        subject: subject.into(),
        ..ImportConfig::default()
    }
}

fn mapping(source: &str, dests: &[(&str, u8)]) -> MappingConfig {
    MappingConfig {
        source: source.into(),
        destinations: dests
            .iter()
            .map(|(s, w)| MapDest {
                subject: s.to_string(),
                weight: *w,
                cluster: None,
            })
            .collect(),
    }
}

fn account(name: &str, users: &[&str]) -> AccountConfig {
    AccountConfig {
        name: name.into(),
        users: users.iter().map(|u| user(u, None)).collect(),
        ..AccountConfig::default()
    }
}

/// [`CONFIG`] as `Options`.
fn options(o: &mut Options) {
    use ExportKind::{Service, Stream};
    let mut a = account("A", &["a", "a2"]);
    a.exports = vec![
        export(Stream, "news.>"),
        ExportConfig {
            accounts: Some(vec!["B".into()]),
            ..export(Stream, "private.>")
        },
        export(Service, "svc.echo"),
        ExportConfig {
            response_type: ResponseType::Stream,
            ..export(Service, "svc.stream")
        },
        ExportConfig {
            latency: Some(LatencyConfig {
                sampling: 50,
                subject: "lat.results".into(),
            }),
            ..export(Service, "svc.lat")
        },
        ExportConfig {
            accounts: Some(vec!["B".into()]),
            ..export(Service, "svc.wild.*")
        },
    ];
    a.mappings = vec![
        mapping("orders.*", &[("orders.mapped.{{wildcard(1)}}", 100)]),
        mapping("weighted", &[("w.a", 70), ("w.b", 30)]),
        mapping("partial", &[("p.a", 40)]),
    ];
    let mut b = account("B", &["b"]);
    b.imports = vec![
        ImportConfig {
            prefix: Some("fromA".into()),
            ..import(Stream, "news.>")
        },
        import(Stream, "private.>"),
        ImportConfig {
            to: Some("echo".into()),
            ..import(Service, "svc.echo")
        },
        ImportConfig {
            share: true,
            ..import(Service, "svc.lat")
        },
        import(Service, "svc.wild.*"),
    ];
    o.accounts = vec![a, b, account("C", &["c"]), account("SYS", &["sys"])];
    o.system_account = Some("SYS".into());
    o.authorization = Authorization {
        users: Some(vec![user("g", None)]),
        ..Authorization::default()
    };
    o.mappings = vec![mapping("top.x", &[("top.y", 100)])];
}

fn connect_json(user: &str, name: &str) -> String {
    format!(
        r#"{{"verbose":false,"user":"{user}","pass":"pw","name":"{name}","lang":"rust","version":"1.0"}}"#
    )
}

async fn closed_total(mon: SocketAddr, n: u64) {
    eventually("closed connections recorded", || async {
        let c = get_json(mon, "/connz?state=closed").await;
        (c["total"] == n).then_some(())
    })
    .await;
}

/// The same clients on one server; returns those to keep open.
async fn workload(addr: SocketAddr, mon: SocketAddr) -> Vec<Lines> {
    let mut ca = Lines::connect(addr, &connect_json("a", "ca")).await;
    ca.send("SUB foo 1\r\nSUB q.> grp 2\r\nPUB foo 5\r\nhello\r\n")
        .await;
    ca.sync().await;
    let mut cb = Lines::connect(addr, &connect_json("b", "cb")).await;
    cb.send("SUB x 1\r\nPUB x 2\r\nhi\r\n").await;
    cb.sync().await;
    let mut cg = Lines::connect(addr, &connect_json("g", "cg")).await;
    cg.send("SUB top.y 1\r\n").await;
    cg.sync().await;
    let mut gone = Lines::connect(addr, &connect_json("a2", "gone")).await;
    gone.send("SUB bye 1\r\nPUB news.x 1\r\nz\r\n").await;
    gone.sync().await;
    drop(gone);
    closed_total(mon, 1).await;
    let mut g2 = Lines::connect(addr, &connect_json("g", "g2")).await;
    g2.send("SUB gsub 1\r\n").await;
    g2.sync().await;
    drop(g2);
    closed_total(mon, 2).await;
    ca.sync().await;
    cb.sync().await;
    vec![ca, cb, cg]
}

/// Differences accepted on purpose.
fn allowed(endpoint: &str, path: &str) -> bool {
    // nats-server lists the system account's service imports in every
    // account (and their subscriptions); ours does not serve them yet. B's
    // own imports are on both sides.
    let system_imports = endpoint.starts_with("/accountz?acc=")
        && endpoint != "/accountz?acc=B"
        && path == ".account_detail.imports";
    // ... and the system account's exports of those services.
    let system_exports = endpoint == "/accountz?acc=SYS" && path == ".account_detail.exports";
    system_imports || system_exports
}

fn sorted(v: &Value, key: &str) -> Vec<Value> {
    let mut items: Vec<Value> = v.as_array().cloned().unwrap_or_default();
    items.sort_by_key(|i| i[key].to_string());
    items
}

fn by_name<'a>(connz: &'a Value, name: &str) -> &'a Value {
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no connection {name} in {connz}"))
}

fn names(connz: &Value) -> Vec<String> {
    let mut n: Vec<String> = connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

fn accs(statz: &Value) -> Vec<String> {
    let mut n: Vec<String> = statz["account_statz"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["acc"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

fn stat<'a>(statz: &'a Value, acc: &str) -> &'a Value {
    statz["account_statz"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["acc"] == acc)
        .unwrap_or_else(|| panic!("no {acc} in {statz}"))
}

/// The subscriptions of client connections (not the internal ones, which
/// belong to no connection of `/connz`) as `account/tag subject queue`.
fn client_subs(subsz: &Value, connz: &Value) -> Vec<String> {
    let cids: Vec<&Value> = connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["cid"])
        .collect();
    let mut out: Vec<String> = subsz["subscriptions_list"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|s| cids.contains(&&s["cid"]))
        .map(|s| {
            format!(
                "{}/{} {} {}",
                s["account"], s["account_tag"], s["subject"], s["qgroup"]
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_15,
    ignore = "needs nats-server 2.15.x (.ci/venv/bin/nats-server)"
)]
async fn account_monitoring_matches_nats_server() {
    let bin = real_2_15("account_monitoring_matches_nats_server");
    let real = RealServer::start_monitored(&bin, Some(CONFIG)).await;
    wait_healthy(real.mon()).await;
    let (running, mon) = ours(options).await;
    let _theirs = workload(real.addr, real.mon()).await;
    let _ours = workload(running.addr, mon).await;
    let (o_mon, t_mon) = (mon, real.mon());
    let both = |path: &'static str| async move {
        (get_json(o_mon, path).await, get_json(t_mon, path).await)
    };

    // 1. Shapes.
    let paths = [
        "/accountz",
        "/accountz?acc=A",
        "/accountz?acc=B",
        "/accountz?acc=C",
        "/accountz?acc=$G",
        "/accountz?acc=SYS",
        "/accstatz",
        "/accstatz?unused=1",
        "/connz?acc=A",
        "/connz?acc=A&auth=1&state=all&subs=detail",
        "/connz?auth=1&state=all",
        "/connz?acc=ZZ",
        "/connz?acc=$G&state=closed",
        "/subsz?acc=A&subs=1",
        "/subsz?subs=1",
    ];
    let mut diffs = Vec::new();
    for path in paths {
        let (o, t) = both(path).await;
        compare(path, "", &shape(&o), &shape(&t), &mut diffs, &allowed);
    }
    assert!(diffs.is_empty(), "shape differences:\n{}", diffs.join("\n"));

    // 2. Values.
    let (o, t) = both("/varz").await;
    assert_eq!(o["system_account"], "SYS");
    assert_eq!(o["system_account"], t["system_account"]);

    let (o, t) = both("/accountz").await;
    assert_eq!(o["system_account"], t["system_account"]);
    let list = |v: &Value| {
        let mut l: Vec<String> = serde_json::from_value(v["accounts"].clone()).unwrap();
        l.sort();
        l
    };
    assert_eq!(list(&o), ["$G", "A", "B", "C", "SYS"]);
    assert_eq!(list(&o), list(&t));

    let (o, t) = both("/accountz?acc=A").await;
    let (od, td) = (&o["account_detail"], &t["account_detail"]);
    for key in ["account_name", "name_tag", "client_connections", "mappings"] {
        assert_eq!(od[key], td[key], "A {key}");
    }
    assert_eq!(
        sorted(&od["exports"], "subject"),
        sorted(&td["exports"], "subject")
    );
    // Internal subscriptions differ (nats-server: the system imports; ours:
    // B's stream imports, held in A), so /accountz agrees with /subsz.
    for (detail, server) in [(od, o_mon), (td, t_mon)] {
        let subsz = get_json(server, "/subsz?acc=A").await;
        assert_eq!(detail["subscriptions"], subsz["num_subscriptions"]);
    }

    let (o, t) = both("/accountz?acc=B").await;
    let not_system = |v: &Value| -> Vec<Value> {
        sorted(v, "subject")
            .into_iter()
            .filter(|i| i["account"] != "SYS")
            .collect()
    };
    let (oi, ti) = (
        not_system(&o["account_detail"]["imports"]),
        not_system(&t["account_detail"]["imports"]),
    );
    assert_eq!(oi.len(), 5);
    assert_eq!(oi, ti);

    let (o, t) = both("/accountz?acc=$G").await;
    assert_eq!(
        o["account_detail"]["mappings"],
        t["account_detail"]["mappings"]
    );
    let (o, t) = both("/accountz?acc=SYS").await;
    assert_eq!(o["account_detail"]["is_system"], true);
    assert_eq!(
        o["account_detail"]["is_system"],
        t["account_detail"]["is_system"]
    );

    for server in [o_mon, t_mon] {
        let r = get(server, "/accountz?acc=NOPE").await;
        assert_eq!(
            (r.status, r.text()),
            (400, "Account NOPE does not exist".into())
        );
    }

    let (o, t) = both("/accstatz").await;
    assert_eq!(accs(&o), ["$G", "A", "B"]);
    assert_eq!(accs(&o), accs(&t));
    for acc in ["$G", "A", "B"] {
        for key in ["name", "conns", "leafnodes", "total_conns"] {
            assert_eq!(stat(&o, acc)[key], stat(&t, acc)[key], "{acc} {key}");
        }
    }
    let (o, t) = both("/accstatz?unused=1").await;
    assert_eq!(accs(&o), accs(&t));

    let (o, t) = both("/connz?acc=A&state=all").await;
    assert_eq!(names(&o), ["ca", "gone"]);
    assert_eq!(names(&o), names(&t));
    assert_eq!(o["total"], t["total"]);
    let (o, t) = both("/connz?acc=A").await;
    assert!(by_name(&o, "ca").get("account").is_none());
    assert_eq!(names(&o), names(&t));

    let (o, t) = both("/connz?auth=1&state=all").await;
    for name in ["ca", "cb", "cg", "gone", "g2"] {
        for key in ["authorized_user", "account", "name_tag"] {
            assert_eq!(
                by_name(&o, name).get(key),
                by_name(&t, name).get(key),
                "{name} {key}"
            );
        }
    }

    let (o, t) = both("/connz?acc=ZZ").await;
    assert_eq!(
        (&o["server_id"], &o["connections"]),
        (&Value::from(""), &Value::Null)
    );
    assert_eq!(
        (&o["server_id"], &o["connections"]),
        (&t["server_id"], &t["connections"])
    );
    let (o, t) = both("/connz?acc=$G&state=closed").await;
    assert_eq!(o["total"], 0);
    assert_eq!(o["total"], t["total"]);

    let (o, t) = both("/connz?acc=A&state=closed&subs=detail").await;
    let detail = &by_name(&o, "gone")["subscriptions_list_detail"][0];
    assert_eq!(
        (&detail["account"], &detail["account_tag"]),
        (&"A".into(), &"A".into())
    );
    assert_eq!(
        by_name(&o, "gone")["subscriptions_list_detail"],
        by_name(&t, "gone")["subscriptions_list_detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d["cid"] = detail["cid"].clone();
                d
            })
            .collect::<Value>()
    );

    let (o, t) = both("/subsz?acc=A&subs=1").await;
    let (oc, tc) = both("/connz").await;
    assert_eq!(client_subs(&o, &oc).len(), 2);
    assert_eq!(client_subs(&o, &oc), client_subs(&t, &tc));
}

/// Our own figures, exactly: what each account's connections published and
/// were delivered, closed connections included, in `/accstatz` and in the
/// per-account `/metrics` series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_traffic_counts_live_and_closed_connections() {
    let (running, mon) = ours(options).await;
    let addr = running.addr;
    let mut ca = Lines::connect(addr, &connect_json("a", "ca")).await;
    ca.send("SUB foo 1\r\nPUB foo 5\r\nhello\r\nPUB foo 2\r\nhi\r\n")
        .await;
    ca.sync().await;
    let mut gone = Lines::connect(addr, &connect_json("a2", "gone")).await;
    gone.send("PUB foo 3\r\nabc\r\nPUB nobody 1\r\nz\r\n").await;
    gone.sync().await;
    drop(gone);
    eventually("gone closed", || async {
        let c = get_json(mon, "/connz?state=closed").await;
        (c["total"] == 1).then_some(())
    })
    .await;
    // ca has the three messages on foo.
    ca.sync().await;
    let mut cb = Lines::connect(addr, &connect_json("b", "cb")).await;
    cb.send("PUB foo 4\r\nnone\r\n").await;
    cb.sync().await;

    // A: ca published 2 (7 bytes), gone 2 (4 bytes); ca got 3 (10 bytes).
    let statz = get_json(mon, "/accstatz").await;
    assert_eq!(accs(&statz), ["A", "B"]);
    let a = stat(&statz, "A");
    assert_eq!((&a["conns"], &a["total_conns"]), (&1.into(), &1.into()));
    let msgs_bytes = |v: &Value| (v["msgs"].as_u64().unwrap(), v["bytes"].as_u64().unwrap());
    assert_eq!(msgs_bytes(&a["received"]), (4, 11));
    assert_eq!(msgs_bytes(&a["sent"]), (3, 10));
    let b = stat(&statz, "B");
    assert_eq!(msgs_bytes(&b["received"]), (1, 4));
    assert_eq!(msgs_bytes(&b["sent"]), (0, 0));
    let all = get_json(mon, "/accstatz?unused=1").await;
    assert_eq!(accs(&all), ["$G", "A", "B", "C", "SYS"]);

    let text = get(mon, "/metrics").await.text();
    let sample = |name: &str, acc: &str| -> f64 {
        let prefix = format!("{name}{{account=\"{acc}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(sample("nats_account_in_msgs_total", "A"), 4.0);
    assert_eq!(sample("nats_account_in_bytes_total", "A"), 11.0);
    assert_eq!(sample("nats_account_out_msgs_total", "A"), 3.0);
    assert_eq!(sample("nats_account_out_bytes_total", "A"), 10.0);
    assert_eq!(sample("nats_account_connections", "A"), 1.0);
    // ca's one, the internal subscriptions of B's two stream imports, and
    // A's 4 automatic imports of the system account's services.
    assert_eq!(sample("nats_account_subscriptions", "A"), 7.0);
    assert_eq!(sample("nats_account_in_msgs_total", "B"), 1.0);
    assert_eq!(sample("nats_account_connections", "C"), 0.0);
    assert_eq!(sample("nats_account_slow_consumers_total", "A"), 0.0);

    // Closing the last connection keeps A's totals.
    drop(ca);
    eventually("ca closed", || async {
        let c = get_json(mon, "/connz?state=closed").await;
        (c["total"] == 2).then_some(())
    })
    .await;
    let all = get_json(mon, "/accstatz?unused=1").await;
    let a = stat(&all, "A");
    assert_eq!(a["conns"], 0);
    assert_eq!(msgs_bytes(&a["received"]), (4, 11));
    assert_eq!(msgs_bytes(&a["sent"]), (3, 10));
    assert_eq!(accs(&get_json(mon, "/accstatz").await), ["B"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_system_account_means_no_system_account_field() {
    let (_running, mon) = ours(|o| {
        options(o);
        o.accounts.retain(|a| a.name != "SYS");
        o.system_account = None;
        o.no_sys_acc = true;
    })
    .await;
    let varz = get_json(mon, "/varz").await;
    assert!(varz.get("system_account").is_none(), "{varz}");
    let accountz = get_json(mon, "/accountz").await;
    assert!(accountz.get("system_account").is_none(), "{accountz}");
    let detail = get_json(mon, "/accountz?acc=$G").await;
    assert!(detail["account_detail"].get("is_system").is_none());
    assert_eq!(
        detail["account_detail"]["mappings"]["top.x"],
        serde_json::json!([{"subject": "top.y", "weight": 100}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumers_are_counted_in_their_account() {
    // No users: clients land in `$G`. A small max_pending cuts it soon.
    let (running, mon) = ours(|o| {
        o.accounts = vec![account("A", &[])];
        o.max_pending = 128 * 1024;
    })
    .await;
    make_slow_consumer(running.addr, mon, "slowpoke", "flood").await;
    let statz = get_json(mon, "/accstatz?unused=1").await;
    assert_eq!(stat(&statz, "$G")["slow_consumers"], 1);
    assert_eq!(stat(&statz, "A")["slow_consumers"], 0);
    let text = get(mon, "/metrics").await.text();
    assert!(
        text.lines()
            .any(|l| l == "nats_account_slow_consumers_total{account=\"$G\"} 1"),
        "{text}"
    );
}

/// [`options`] is what our parser makes of [`CONFIG`], so both servers of
/// the comparison run the same accounts.
#[test]
fn the_options_mirror_the_config_file() {
    let path = std::env::temp_dir().join(format!("monitor-accounts-{}.conf", std::process::id()));
    std::fs::write(&path, CONFIG).unwrap();
    let parsed = Options::from_file(path.to_str().unwrap());
    std::fs::remove_file(&path).unwrap();
    let (parsed, _) = parsed.expect("CONFIG parses");
    let mut built = Options::default();
    options(&mut built);
    assert_eq!(parsed.accounts, built.accounts);
    assert_eq!(parsed.mappings, built.mappings);
    assert_eq!(parsed.system_account, built.system_account);
    assert_eq!(parsed.authorization.users, built.authorization.users);
}
