//! Security: TLS (server certificates, client certificates, plaintext
//! refused), authentication (bcrypt, tokens, nkeys, no_auth_user),
//! permissions with nats-server's texts, and attacks that must fail: wrong
//! and missing credentials, a client that never sends CONNECT, a slow-loris,
//! a TLS downgrade, a certificate from an unknown CA, credentials leaking
//! into logs, and ten thousand failed logins without memory growth.
//! Python clients (nats-py) are in `security_python.rs`.

mod support;

use support::SETTLE;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use nats_server::config::{Options, Permissions, ResponsePermission, SubjectPermission, User};
use nats_server::process::{start, Running};
use support::pki::{pki, tls_config, Pki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

async fn server(f: impl FnOnce(&mut Options)) -> Running {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..Options::default()
    };
    f(&mut o);
    start(o).await.expect("server starts")
}

fn tls_url(r: &Running) -> String {
    format!("tls://localhost:{}", r.addr.port())
}

/// A raw client: reads INFO, returns it and the stream.
async fn raw(addr: SocketAddr) -> (String, TcpStream) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout(SETTLE, s.read(&mut buf)).await.unwrap().unwrap();
    (String::from_utf8_lossy(&buf[..n]).into_owned(), s)
}

/// Everything the server sends until it closes the connection (bounded).
async fn until_closed(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let _ = timeout(SETTLE, s.read_to_end(&mut got))
        .await
        .expect("server should close");
    String::from_utf8_lossy(&got).into_owned()
}

/// Sends `line` and reads what comes back within a short window.
async fn exchange(s: &mut TcpStream, line: &str) -> String {
    s.write_all(line.as_bytes()).await.unwrap();
    s.write_all(b"PING\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("PONG") {
        match timeout(SETTLE, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn tls_client_with_user_password_and_pub_sub() {
    let p = pki();
    let s = server(|o| {
        o.tls = Some(tls_config(&p, false));
        o.authorization.user = Some("alice".into());
        o.authorization.password = Some("s3cret".into());
    })
    .await;
    let (info, _) = raw(s.addr).await;
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let nc = async_nats::ConnectOptions::with_user_and_password("alice".into(), "s3cret".into())
        .add_root_certificates(p.ca.clone())
        .require_tls(true)
        .connect(tls_url(&s))
        .await
        .unwrap();
    let mut sub = nc.subscribe("secure.x").await.unwrap();
    nc.publish("secure.x", "over tls".into()).await.unwrap();
    nc.flush().await.unwrap();
    assert_eq!(
        timeout(SETTLE, sub.next()).await.unwrap().unwrap().payload,
        "over tls"
    );
    s.stop().await;
}

#[tokio::test]
async fn plaintext_client_on_tls_server_is_refused() {
    let p = pki();
    let s = server(|o| o.tls = Some(tls_config(&p, false))).await;
    let (info, mut c) = raw(s.addr).await;
    assert!(info.contains("\"tls_required\":true"));
    // A downgrade: the client ignores tls_required and speaks plaintext.
    c.write_all(b"CONNECT {\"verbose\":true,\"tls_required\":false}\r\nPING\r\n")
        .await
        .unwrap();
    let after = until_closed(&mut c).await;
    assert_eq!(after, "", "nothing but a close after the INFO");
    sleep(Duration::from_millis(100)).await;
    let closed = s.server.closed_clients();
    assert_eq!(
        closed.last().unwrap().reason.as_str(),
        "TLS Handshake Failure"
    );
    s.stop().await;
}

#[tokio::test]
async fn client_certificates_from_the_ca_only() {
    let p = pki();
    let s = server(|o| o.tls = Some(tls_config(&p, true))).await;
    let (info, _) = raw(s.addr).await;
    assert!(info.contains("\"tls_verify\":true"), "{info}");
    let good = async_nats::ConnectOptions::new()
        .add_root_certificates(p.ca.clone())
        .add_client_certificate(p.client_cert.clone(), p.client_key.clone())
        .require_tls(true)
        .connect(tls_url(&s))
        .await;
    assert!(
        good.is_ok(),
        "a certificate from our CA is accepted: {:?}",
        good.err()
    );
    for (cert, key, what) in [
        (Some(&p.rogue_cert), Some(&p.rogue_key), "unknown CA"),
        (None, None, "no certificate"),
    ] {
        let mut opts = async_nats::ConnectOptions::new()
            .add_root_certificates(p.ca.clone())
            .require_tls(true);
        if let (Some(c), Some(k)) = (cert, key) {
            opts = opts.add_client_certificate(c.clone(), k.clone());
        }
        let bad = timeout(SETTLE, async {
            match opts.connect(tls_url(&s)).await {
                Ok(nc) => nc.flush().await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
        let refused = !matches!(bad, Ok(true));
        assert!(refused, "{what} must be refused");
    }
    s.stop().await;
}

#[tokio::test]
async fn bcrypt_and_token_and_nkey_users() {
    let hash = bcrypt::hash("pa55", 6).unwrap();
    let kp = nkeys::KeyPair::new_user();
    let s = server(|o| {
        o.authorization.users = Some(vec![
            User {
                username: "carol".into(),
                password: hash,
                ..User::default()
            },
            User {
                nkey: kp.public_key(),
                ..User::default()
            },
        ]);
    })
    .await;
    let (info, _) = raw(s.addr).await;
    assert!(
        info.contains("\"nonce\":"),
        "nkey users need a nonce: {info}"
    );
    let url = format!("nats://{}", s.addr);
    assert!(
        async_nats::ConnectOptions::with_user_and_password("carol".into(), "pa55".into())
            .connect(&url)
            .await
            .is_ok()
    );
    assert!(
        async_nats::ConnectOptions::with_user_and_password("carol".into(), "pa56".into())
            .connect(&url)
            .await
            .is_err()
    );
    let nk = async_nats::ConnectOptions::with_nkey(kp.seed().unwrap())
        .connect(&url)
        .await
        .unwrap();
    nk.flush().await.unwrap();
    let stranger = nkeys::KeyPair::new_user();
    assert!(
        async_nats::ConnectOptions::with_nkey(stranger.seed().unwrap())
            .connect(&url)
            .await
            .is_err()
    );
    s.stop().await;

    let s = server(|o| o.authorization.token = Some(bcrypt::hash("t0k3n", 6).unwrap())).await;
    let url = format!("nats://{}", s.addr);
    assert!(async_nats::ConnectOptions::with_token("t0k3n".into())
        .connect(&url)
        .await
        .is_ok());
    assert!(async_nats::ConnectOptions::with_token("nope".into())
        .connect(&url)
        .await
        .is_err());
    s.stop().await;
}

fn list(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

async fn permissions_server() -> Running {
    server(|o| {
        o.authorization.users = Some(vec![
            User {
                username: "svc".into(),
                password: "pw".into(),
                permissions: Some(Permissions {
                    publish: Some(SubjectPermission {
                        allow: list(&["svc.>", "logs.*"]),
                        deny: list(&["svc.admin"]),
                    }),
                    subscribe: Some(SubjectPermission {
                        allow: list(&["svc.>", "jobs.* workers"]),
                        deny: list(&["svc.secret"]),
                    }),
                    allow_responses: None,
                }),
                ..User::default()
            },
            User {
                username: "responder".into(),
                password: "pw".into(),
                permissions: Some(Permissions {
                    publish: Some(SubjectPermission {
                        allow: list(&["nothing"]),
                        deny: None,
                    }),
                    subscribe: None,
                    allow_responses: Some(ResponsePermission {
                        max_msgs: 1,
                        expires: Some(Duration::from_secs(60)),
                    }),
                }),
                ..User::default()
            },
            User {
                username: "root".into(),
                password: "pw".into(),
                ..User::default()
            },
        ]);
    })
    .await
}

#[tokio::test]
async fn publish_and_subscribe_permissions_with_nats_server_texts() {
    let s = permissions_server().await;
    let (_, mut c) = raw(s.addr).await;
    let ok = exchange(
        &mut c,
        "CONNECT {\"user\":\"svc\",\"pass\":\"pw\",\"verbose\":false}\r\n",
    )
    .await;
    assert_eq!(ok, "PONG\r\n");
    // Publish outside the allow list, and on the denied subject.
    let got = exchange(&mut c, "PUB other 2\r\nhi\r\n").await;
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Publish to \"other\"'\r\nPONG\r\n"
    );
    let got = exchange(&mut c, "PUB svc.admin 2\r\nhi\r\n").await;
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Publish to \"svc.admin\"'\r\nPONG\r\n"
    );
    // Subscribe outside, through a too-wide wildcard, on the denied subject.
    let got = exchange(&mut c, "SUB other 1\r\n").await;
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Subscription to \"other\"'\r\nPONG\r\n"
    );
    let got = exchange(&mut c, "SUB > 2\r\n").await;
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Subscription to \">\"'\r\nPONG\r\n"
    );
    let got = exchange(&mut c, "SUB svc.secret 3\r\n").await;
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Subscription to \"svc.secret\"'\r\nPONG\r\n"
    );
    // Queue-restricted entry.
    let got = exchange(&mut c, "SUB jobs.a others 4\r\n").await;
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Subscription to \"jobs.a\" using queue \"others\"'\r\nPONG\r\n"
    );
    assert_eq!(
        exchange(&mut c, "SUB jobs.a workers 5\r\n").await,
        "PONG\r\n"
    );
    // Allowed: a wildcard within scope, which must not receive the denied subject.
    assert_eq!(exchange(&mut c, "SUB svc.* 6\r\n").await, "PONG\r\n");
    let (_, mut root) = raw(s.addr).await;
    exchange(
        &mut root,
        "CONNECT {\"user\":\"root\",\"pass\":\"pw\",\"verbose\":false}\r\n",
    )
    .await;
    exchange(
        &mut root,
        "PUB svc.secret 1\r\nx\r\nPUB svc.open 1\r\ny\r\n",
    )
    .await;
    let got = exchange(&mut c, "").await;
    assert_eq!(
        got, "MSG svc.open 6 1\r\ny\r\nPONG\r\n",
        "svc.secret filtered at delivery"
    );
    // The connection survived every violation.
    assert_eq!(
        exchange(&mut c, "PUB svc.ok 1\r\nz\r\n").await,
        "MSG svc.ok 6 1\r\nz\r\nPONG\r\n"
    );
    s.stop().await;
}

#[tokio::test]
async fn allow_responses_lets_a_service_reply_once() {
    let s = permissions_server().await;
    let (_, mut resp) = raw(s.addr).await;
    exchange(
        &mut resp,
        "CONNECT {\"user\":\"responder\",\"pass\":\"pw\",\"verbose\":false}\r\n",
    )
    .await;
    assert_eq!(exchange(&mut resp, "SUB svc.req 1\r\n").await, "PONG\r\n");
    let (_, mut req) = raw(s.addr).await;
    exchange(
        &mut req,
        "CONNECT {\"user\":\"root\",\"pass\":\"pw\",\"verbose\":false}\r\n",
    )
    .await;
    exchange(&mut req, "SUB inbox.1 9\r\nPUB svc.req inbox.1 1\r\nq\r\n").await;
    assert_eq!(
        exchange(&mut resp, "").await,
        "MSG svc.req 1 inbox.1 1\r\nq\r\nPONG\r\n"
    );
    // One reply allowed, the second is a violation, as is an unrelated subject.
    assert_eq!(
        exchange(&mut resp, "PUB inbox.1 1\r\na\r\n").await,
        "PONG\r\n"
    );
    assert_eq!(
        exchange(&mut resp, "PUB inbox.1 1\r\nb\r\n").await,
        "-ERR 'Permissions Violation for Publish to \"inbox.1\"'\r\nPONG\r\n"
    );
    assert_eq!(
        exchange(&mut resp, "PUB inbox.2 1\r\nc\r\n").await,
        "-ERR 'Permissions Violation for Publish to \"inbox.2\"'\r\nPONG\r\n"
    );
    assert_eq!(
        exchange(&mut req, "").await,
        "MSG inbox.1 9 1\r\na\r\nPONG\r\n"
    );
    s.stop().await;
}

#[tokio::test]
async fn wrong_missing_and_late_credentials() {
    let s = server(|o| {
        o.authorization.user = Some("alice".into());
        o.authorization.password = Some("s3cret".into());
        o.authorization.timeout = Some(Duration::from_millis(500));
    })
    .await;
    let (info, mut c) = raw(s.addr).await;
    assert!(info.contains("\"auth_required\":true"));
    c.write_all(b"CONNECT {\"user\":\"alice\",\"pass\":\"wrong\"}\r\n")
        .await
        .unwrap();
    assert_eq!(
        until_closed(&mut c).await,
        "-ERR 'Authorization Violation'\r\n"
    );
    let (_, mut c) = raw(s.addr).await;
    c.write_all(b"CONNECT {}\r\n").await.unwrap();
    assert_eq!(
        until_closed(&mut c).await,
        "-ERR 'Authorization Violation'\r\n"
    );
    // Never sends CONNECT: cut after the authorization timeout.
    let (_, mut c) = raw(s.addr).await;
    let started = Instant::now();
    assert_eq!(
        until_closed(&mut c).await,
        "-ERR 'Authentication Timeout'\r\n"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // A slow-loris dribbling a valid CONNECT one byte at a time gets no more time.
    let (_, mut c) = raw(s.addr).await;
    let line = b"CONNECT {\"user\":\"alice\",\"pass\":\"s3cret\"}\r\n";
    let started = Instant::now();
    let mut closed = false;
    for b in line {
        if c.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let rest = until_closed(&mut c).await;
    assert!(closed || rest.contains("Authentication Timeout"), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(3));
    s.stop().await;
}

/// The binary with auth; its stderr collected.
fn binary_with_auth(
    port: u16,
    conf: &std::path::Path,
) -> (
    std::process::Child,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nats-server"))
        .args([
            "-c",
            conf.to_str().unwrap(),
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-DV",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (err, l) = (child.stderr.take().unwrap(), log.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let mut l = l.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    (child, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_logged_and_failed_logins_do_not_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("auth.conf");
    std::fs::write(
        &conf,
        "authorization {\n  users = [ {user: alice, password: \"Sup3rS3cret!\"} ]\n}\n",
    )
    .unwrap();
    let port = support::free_port();
    let (mut child, log) = binary_with_auth(port, &conf);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + SETTLE;
    while TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline);
        sleep(Duration::from_millis(20)).await;
    }
    // A good login with -DV tracing on, and bad ones.
    let (_, mut c) = raw(addr).await;
    assert_eq!(
        exchange(
            &mut c,
            "CONNECT {\"user\":\"alice\",\"pass\":\"Sup3rS3cret!\",\"verbose\":false}\r\n"
        )
        .await,
        "PONG\r\n"
    );
    let failed_login = || async {
        let (_, mut c) = raw(addr).await;
        c.write_all(b"CONNECT {\"user\":\"alice\",\"pass\":\"Sup3rS3cret?\"}\r\n")
            .await
            .unwrap();
        let _ = until_closed(&mut c).await;
    };
    for _ in 0..1000 {
        failed_login().await;
    }
    sleep(Duration::from_millis(500)).await;
    let before = support::rss_kib(child.id());
    for _ in 0..10_000 {
        failed_login().await;
    }
    sleep(Duration::from_millis(500)).await;
    let after = support::rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let log = log.lock().unwrap().clone();
    assert!(log.contains("authentication error"), "failures are logged");
    assert!(log.contains("[REDACTED]"), "the traced CONNECT is redacted");
    assert!(!log.contains("Sup3rS3cret"), "a password reached the log");
    assert!(
        after <= before + 4 * 1024,
        "RSS grew from {before} kB to {after} kB over 10,000 failed logins"
    );
}

fn cluster_opts(p: &Pki, routes: &[SocketAddr]) -> Options {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..Options::default()
    };
    o.cluster.name = "sec".into();
    o.cluster.host = "127.0.0.1".into();
    o.cluster.port = -1;
    o.cluster.tls = Some(tls_config(p, true));
    o.cluster.routes = routes
        .iter()
        .map(|a| nats_server::config::RouteUrl::parse(&format!("nats-route://{a}")).unwrap())
        .collect();
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_9,
    ignore = "needs nats-server 2.9.10 at /usr/sbin/nats-server"
)]
async fn routes_over_tls_between_ours_and_with_nats_server() {
    let p = pki();
    let a = start(cluster_opts(&p, &[])).await.unwrap();
    let b = start(cluster_opts(&p, &[a.cluster_addr.unwrap()]))
        .await
        .unwrap();
    let (ca, cb) = (
        async_nats::connect(format!("nats://{}", a.addr))
            .await
            .unwrap(),
        async_nats::connect(format!("nats://{}", b.addr))
            .await
            .unwrap(),
    );
    let mut sub = cb.subscribe("tls.route").await.unwrap();
    cb.flush().await.unwrap();
    support::until_routed(&ca, &mut sub, "tls.route", Duration::from_secs(15)).await;
    assert_eq!(a.server.num_routes(), 1);

    // A route from a server whose certificate comes from an unknown CA fails.
    let mut rogue = cluster_opts(&p, &[a.cluster_addr.unwrap()]);
    if let Some(t) = rogue.cluster.tls.as_mut() {
        t.cert_file = p.rogue_cert.display().to_string();
        t.key_file = p.rogue_key.display().to_string();
    }
    let r = start(rogue).await.unwrap();
    sleep(Duration::from_millis(1500)).await;
    assert_eq!(r.server.num_routes(), 0, "unknown CA must not form a route");

    // The real nats-server joins over TLS.
    {
        let bin = support::real_2_9("TLS route interop");
        let rport = support::free_port();
        let text = format!(
                "cluster {{\n  name: sec\n  host: 127.0.0.1\n  port: {rport}\n  routes = [\"nats-route://127.0.0.1:{}\"]\n  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    ca_file: \"{}\"\n    timeout: 3\n  }}\n}}\n",
                a.cluster_addr.unwrap().port(),
                p.server_cert.display(),
                p.server_key.display(),
                p.ca.display()
            );
        // Killed when it drops, also when the test fails.
        let go = support::RealServer::start(&bin, Some(&text)).await;
        let go_addr = go.addr;
        let deadline = Instant::now() + SETTLE;
        let cg = loop {
            if let Ok(c) = async_nats::connect(format!("nats://{go_addr}")).await {
                break c;
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            sleep(Duration::from_millis(100)).await;
        };
        let mut on_ours = ca.subscribe("tls.mixed").await.unwrap();
        ca.flush().await.unwrap();
        support::until_routed(&cg, &mut on_ours, "tls.mixed", Duration::from_secs(15)).await;
        drop(go);
    }
    for s in [&a, &b, &r] {
        s.server.shutdown();
    }
}

#[tokio::test]
async fn https_monitoring_and_no_credentials_in_varz_or_connz() {
    let p = pki();
    let s = server(|o| {
        o.tls = Some(tls_config(&p, false));
        o.https_port = -1;
        o.http_host = Some("127.0.0.1".into());
        o.authorization.user = Some("alice".into());
        o.authorization.password = Some("Sup3rS3cret!".into());
    })
    .await;
    let monitor = s.monitor_addr.expect("https monitor runs");
    let nc =
        async_nats::ConnectOptions::with_user_and_password("alice".into(), "Sup3rS3cret!".into())
            .add_root_certificates(p.ca.clone())
            .require_tls(true)
            .connect(tls_url(&s))
            .await
            .unwrap();
    nc.flush().await.unwrap();

    // An HTTPS client trusting our CA.
    let get = |path: &'static str| {
        let connector = p.connector();
        async move {
            let tcp = TcpStream::connect(monitor).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            tls.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            let mut body = Vec::new();
            let _ = tls.read_to_end(&mut body).await;
            String::from_utf8_lossy(&body).into_owned()
        }
    };
    let varz = get("/varz").await;
    assert!(varz.starts_with("HTTP/1.1 200"), "{varz}");
    assert!(varz.contains("\"server_id\""), "{varz}");
    let connz = get("/connz?auth=1&subs=detail").await;
    assert!(connz.contains("\"authorized_user\": \"alice\""), "{connz}");
    for page in [&varz, &connz] {
        assert!(
            !page.contains("Sup3rS3cret"),
            "a password reached monitoring"
        );
    }
    // Plain HTTP on the HTTPS port gets nothing useful.
    let mut plain = TcpStream::connect(monitor).await.unwrap();
    plain
        .write_all(b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = timeout(Duration::from_secs(6), plain.read_to_end(&mut got)).await;
    assert!(!String::from_utf8_lossy(&got).contains("server_id"));
    s.stop().await;
}
