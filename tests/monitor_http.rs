//! The monitoring transport and the behaviours that need no reference
//! server: headers and JSONP, 404s, the base path, `http_req_stats`,
//! `/healthz` readiness, config values in `/varz`, secrets never shown,
//! start-up errors, and the launch log line.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nats_server::config::{Authorization, ClusterOpts, Options, RouteUrl};
use nats_server::server::Server;
use support::monitor::*;
use tokio::net::TcpListener;

#[tokio::test]
async fn json_jsonp_and_404_like_nats_server() {
    let (running, mon) = ours(|_| {}).await;

    let r = get(mon, "/varz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.text().starts_with("{\n  \"server_id\": \""),
        "pretty, 2 spaces"
    );
    let v = r.json();
    assert_eq!(
        v["ping_interval"], 120_000_000_000u64,
        "integer nanoseconds"
    );
    assert_eq!(v["write_deadline"], 10_000_000_000u64);
    assert_eq!(v["http_base_path"], "");
    assert_eq!(v["cluster"], serde_json::json!({}));
    assert!(nanos(&v["now"]) >= nanos(&v["start"]));
    assert_eq!(v["config_load_time"], v["start"]);

    let r = get(mon, "/connz?callback=show").await;
    assert_eq!(r.header("content-type"), Some("application/javascript"));
    assert_eq!(r.header("access-control-allow-origin"), None);
    let text = r.text();
    assert!(
        text.starts_with("show({\n") && text.ends_with("})"),
        "{text}"
    );
    serde_json::from_str::<serde_json::Value>(&text[5..text.len() - 1]).expect("JSON inside");

    let r = get(mon, "/healthz").await;
    assert_eq!(r.text(), r#"{"status":"ok"}"#, "compact");

    for path in ["/nope", "/varz/", "/connz/x", "/metricsz"] {
        let r = get(mon, path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.text(), "404 page not found\n");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let r = get(mon, "/connz?sort=nope").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "invalid sorting option: nope")
    );
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));

    // Any method reads, as with Go's mux; HEAD has no body.
    let r = request(mon, "POST", "/varz", "Content-Length: 0\r\n").await;
    assert_eq!(r.status, 200);
    let r = request(mon, "HEAD", "/varz", "").await;
    assert_eq!((r.status, r.body.len()), (200, 0));

    let index = get(mon, "/").await;
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for link in [
        "./varz",
        "./connz",
        "./routez",
        "./subsz",
        "./healthz",
        "./metrics",
    ] {
        assert!(index.text().contains(&format!("href={link}>")), "{link}");
    }
    running.stop().await;
}

#[tokio::test]
async fn base_path_prefixes_every_endpoint_and_counts_requests() {
    let (running, mon) = ours(|o| o.http_base_path = "/mon".into()).await;
    assert_eq!(get(mon, "/varz").await.status, 404);
    assert_eq!(
        get(mon, "/mon/").await.status,
        404,
        "Go serves the root without the slash"
    );
    let index = get(mon, "/mon").await;
    assert_eq!(index.status, 200);
    assert!(
        index.text().contains("href=./mon/connz>"),
        "{}",
        index.text()
    );
    for path in [
        "/mon/connz",
        "/mon/connz",
        "/mon/subsz",
        "/mon/subscriptionsz",
        "/mon/jsz",
    ] {
        assert_eq!(get(mon, path).await.status, 200, "{path}");
    }
    let _ = get(mon, "/mon/connz?sort=bad").await;
    let v = get_json(mon, "/mon/varz").await;
    assert_eq!(v["http_base_path"], "/mon");
    let stats = &v["http_req_stats"];
    assert_eq!(stats["/"], 1);
    assert_eq!(stats["/connz"], 3, "a rejected sort is counted, as in Go");
    assert_eq!(stats["/subsz"], 2, "both names count as /subsz");
    assert_eq!(stats["/jsz"], 1);
    assert_eq!(stats["/varz"], 1, "this request included");
    assert!(stats.get("/mon/varz").is_none());
    running.stop().await;
}

#[tokio::test]
async fn healthz_is_ok_only_while_the_listener_accepts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = Options {
        host: "127.0.0.1".into(),
        ..Options::default()
    };
    let server = Server::new(opts, listener.local_addr().unwrap()).unwrap();
    let (mon, monitor) = nats_server::monitor::start(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();

    let r = get(mon, "/healthz").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        r#"{"status":"error","error":"failed to be ready for connections after 1ms: server"}"#
    );
    let r = get(mon, "/healthz?details=true").await;
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains(r#""errors":[{"type":"CONNECTION""#),
        "{}",
        r.text()
    );
    // Monitoring works before the listener does.
    assert_eq!(get(mon, "/varz").await.status, 200);

    let serving = {
        let server = Arc::clone(&server);
        tokio::spawn(async move { server.serve(listener, std::future::pending()).await })
    };
    wait_healthy(mon).await;
    assert_eq!(get(mon, "/healthz?js-enabled-only=true").await.status, 200);
    let r = get(mon, "/healthz?js-server-only=maybe").await;
    assert_eq!(r.status, 400);
    let r = get(mon, "/healthz?stream=s").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        r#"{"status":"error","error":"\"account\" must not be empty when checking stream health"}"#
    );

    // Shutdown stops the monitor too.
    server.shutdown();
    tokio::time::timeout(SETTLE, serving)
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(SETTLE, monitor)
        .await
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(mon).await.is_err());
}

#[tokio::test]
async fn varz_shows_config_values_and_never_secrets() {
    let cluster_port = free_port();
    let (running, mon) = ours(|o| {
        o.server_name = "n1".into();
        o.max_payload = 65536;
        o.max_connections = 100;
        o.max_subscriptions = 7;
        o.ping_interval = Duration::from_secs(30);
        o.ping_max = 4;
        o.write_deadline = Duration::from_millis(2500);
        o.authorization = Authorization {
            user: Some("alice".into()),
            password: Some("s3cret-pass".into()),
            ..Authorization::default()
        };
        o.cluster = ClusterOpts {
            name: "c1".into(),
            host: "127.0.0.1".into(),
            port: i32::from(cluster_port),
            username: "ruser".into(),
            password: "route-secret".into(),
            routes: vec![RouteUrl::parse("nats://ruser:route-secret@127.0.0.1:4248").unwrap()],
            ..ClusterOpts::default()
        };
    })
    .await;
    let v = get_json(mon, "/varz").await;
    assert_eq!(v["server_name"], "n1");
    assert_eq!(v["auth_required"], true);
    assert_eq!(v["max_payload"], 65536);
    assert_eq!(v["max_connections"], 100);
    assert_eq!(v["max_subscriptions"], 7);
    assert_eq!(v["ping_interval"], 30_000_000_000u64);
    assert_eq!(v["ping_max"], 4);
    assert_eq!(v["write_deadline"], 2_500_000_000u64);
    assert_eq!(v["auth_timeout"], 2);
    assert_eq!(
        v["cluster"],
        serde_json::json!({
            "name": "c1", "addr": "127.0.0.1", "cluster_port": cluster_port,
            "auth_timeout": 2, "urls": ["127.0.0.1:4248"], "tls_timeout": 2, "pool_size": 3
        })
    );

    let mut c = Lines::connect(
        running.addr,
        r#"{"verbose":false,"name":"who","user":"alice","pass":"s3cret-pass"}"#,
    )
    .await;
    c.send("SUB a.b 1\r\n").await;
    c.sync().await;
    let connz = get_json(mon, "/connz?auth=true&subs=detail").await;
    assert_eq!(connz["connections"][0]["authorized_user"], "alice");
    let without = get_json(mon, "/connz").await;
    assert!(without["connections"][0].get("authorized_user").is_none());

    for path in [
        "/varz",
        "/connz?auth=true&subs=detail&state=all",
        "/routez?subs=detail",
        "/subsz?subs=1",
        "/accountz?acc=$G",
        "/metrics",
        "/",
    ] {
        let text = get(mon, path).await.text();
        for secret in ["s3cret-pass", "route-secret", "ruser"] {
            assert!(!text.contains(secret), "{path} shows {secret}");
        }
    }
    drop(c);
    running.stop().await;
}

#[tokio::test]
async fn tokens_are_redacted() {
    let (running, mon) = ours(|o| {
        o.authorization = Authorization {
            token: Some("t0k-secret".into()),
            ..Authorization::default()
        }
    })
    .await;
    let mut c = Lines::connect(
        running.addr,
        r#"{"verbose":false,"auth_token":"t0k-secret"}"#,
    )
    .await;
    c.sync().await;
    drop(c);
    let all = eventually("the close", || async {
        let v = get_json(mon, "/connz?auth=1&state=all").await;
        (v["total"] == 1 && !v["connections"][0]["stop"].is_null()).then_some(v)
    })
    .await;
    assert_eq!(all["connections"][0]["authorized_user"], "[REDACTED]");
    for path in ["/varz", "/connz?auth=1&state=all", "/metrics"] {
        assert!(
            !get(mon, path).await.text().contains("t0k-secret"),
            "{path}"
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn start_errors_match_nats_server() {
    let err = |f: fn(&mut Options)| async move {
        let mut opts = Options {
            host: "127.0.0.1".into(),
            port: 0,
            ..Options::default()
        };
        f(&mut opts);
        match nats_server::process::start(opts).await {
            Ok(_) => panic!("should not start"),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        err(|o| {
            o.http_port = 8222;
            o.https_port = 8223;
        })
        .await,
        "can't specify both HTTP (8222) and HTTPs (8223) ports"
    );
    assert_eq!(
        err(|o| o.https_port = 8223).await,
        "TLS cert and key required for HTTPS"
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut opts = Options {
        host: "127.0.0.1".into(),
        port: 0,
        http_port: i32::from(port),
        ..Options::default()
    };
    opts.http_host = Some("127.0.0.1".into());
    let e = nats_server::process::start(opts)
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        format!("can't listen to the monitor port: listen tcp 127.0.0.1:{port}: bind: address already in use")
    );
}

#[test]
fn the_binary_logs_the_monitor_before_the_client_listener() {
    let (port, mport) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_nats-server"))
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &mport.to_string(),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(support::SETTLE) {
        let ready = line.contains("Server is ready");
        lines.push(line);
        if ready {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {lines:#?}"))
    };
    let monitor = pos(&format!("[INF] Starting http monitor on 127.0.0.1:{mport}"));
    let clients = pos(&format!(
        "[INF] Listening for client connections on 127.0.0.1:{port}"
    ));
    assert!(monitor < clients, "{lines:#?}");
}
