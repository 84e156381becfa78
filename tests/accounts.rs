//! Accounts end to end, our server started from options built in code:
//! isolation, stream and service imports (reply mapping, response types),
//! subject mappings and their weights, permissions after mapping, and
//! accounts across a route. The same conversations against nats-server
//! 2.15.1 from a configuration file are in `tests/accounts_interop.rs`.

mod support;

use nats_server::config::{
    AccountConfig, ExportConfig, ExportKind, ImportConfig, MapDest, MappingConfig, Options,
    Permissions, ResponseType, SubjectPermission,
};
use support::{Event, Raw};

fn account(name: &str, users: &[&str]) -> AccountConfig {
    AccountConfig {
        name: name.into(),
        users: users.iter().map(|u| support::user(u, None)).collect(),
        ..AccountConfig::default()
    }
}

fn export(kind: ExportKind, subject: &str) -> ExportConfig {
    ExportConfig {
        kind,
        subject: subject.into(),
        ..ExportConfig::default()
    }
}

fn import(kind: ExportKind, from: &str, subject: &str) -> ImportConfig {
    ImportConfig {
        kind,
        account: from.into(),
        subject: subject.into(),
        ..ImportConfig::default()
    }
}

fn mapping(source: &str, dests: &[(&str, u8)]) -> MappingConfig {
    MappingConfig {
        source: source.into(),
        destinations: dests
            .iter()
            .map(|(d, w)| MapDest {
                subject: d.to_string(),
                weight: *w,
                cluster: None,
            })
            .collect(),
    }
}

/// A exports a stream and services, B imports them, C has nothing.
fn two_tenants() -> Options {
    let mut a = account("A", &["a"]);
    // The exporter's mapping applies to what its service import delivers.
    a.mappings = vec![mapping("svc.old", &[("svc.echo", 100)])];
    a.exports = vec![
        export(ExportKind::Service, "svc.old"),
        export(ExportKind::Stream, "news.>"),
        export(ExportKind::Stream, "ev.*.*"),
        export(ExportKind::Service, "svc.echo"),
        ExportConfig {
            response_type: ResponseType::Stream,
            ..export(ExportKind::Service, "svc.stream")
        },
    ];
    let mut b = account("B", &["b"]);
    b.imports = vec![
        ImportConfig {
            prefix: Some("fromA".into()),
            ..import(ExportKind::Stream, "A", "news.>")
        },
        ImportConfig {
            to: Some("imp.$2.$1".into()),
            ..import(ExportKind::Stream, "A", "ev.*.*")
        },
        ImportConfig {
            to: Some("echo".into()),
            ..import(ExportKind::Service, "A", "svc.echo")
        },
        import(ExportKind::Service, "A", "svc.stream"),
        ImportConfig {
            to: Some("old".into()),
            ..import(ExportKind::Service, "A", "svc.old")
        },
    ];
    Options {
        accounts: vec![a, b, account("C", &["c"])],
        ..support::options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_do_not_see_each_other() {
    let s = support::start(two_tenants()).await;
    let mut a = Raw::login(s.addr, "a").await;
    let mut c = Raw::login(s.addr, "c").await;
    a.send(b"SUB foo 1\r\nSUB _INBOX.> 2\r\n").await;
    c.send(b"SUB foo 1\r\n").await;
    a.msgs().await;
    c.msgs().await;
    c.send(b"PUB foo 2\r\nhi\r\nPUB _INBOX.x 2\r\nhi\r\n").await;
    assert_eq!(c.msgs().await, ["MSG foo 1 2"]);
    assert!(a.msgs().await.is_empty(), "A saw C's messages");
    a.send(b"PUB foo 2\r\nhi\r\n").await;
    assert_eq!(a.msgs().await, ["MSG foo 1 2"]);
    assert!(c.msgs().await.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_imports_prefix_and_remap() {
    let s = support::start(two_tenants()).await;
    let mut a = Raw::login(s.addr, "a").await;
    let mut b = Raw::login(s.addr, "b").await;
    b.send(b"SUB fromA.news.> 1\r\nSUB imp.> 2\r\nSUB news.> 3\r\n")
        .await;
    b.msgs().await;
    a.send(b"PUB news.x 3\r\nabc\r\nPUB ev.one.two 1\r\nz\r\n")
        .await;
    a.msgs().await;
    let got = b.msgs().await;
    assert_eq!(got, ["MSG fromA.news.x 1 3", "MSG imp.two.one 2 1"]);
    // Never the other way: B's publish stays in B.
    a.send(b"SUB news.> 9\r\n").await;
    a.msgs().await;
    b.send(b"PUB news.y 1\r\nq\r\n").await;
    assert_eq!(b.msgs().await, ["MSG news.y 3 1"]);
    assert!(a.msgs().await.is_empty());
    s.stop().await;
}

/// Reads frames until one starts with `prefix`, answering PINGs.
async fn frame_starting(c: &mut Raw, prefix: &[u8]) -> Vec<u8> {
    loop {
        match c.next(support::WAIT).await {
            Event::Frame(f) if f == b"PING\r\n" => c.send(b"PONG\r\n").await,
            Event::Frame(f) if f.starts_with(prefix) => return f,
            other => panic!(
                "expected {:?}, got {other:?}",
                String::from_utf8_lossy(prefix)
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_import_maps_the_reply_and_answers_once() {
    let s = support::start(two_tenants()).await;
    let mut a = Raw::login(s.addr, "a").await;
    let mut b = Raw::login(s.addr, "b").await;
    a.send(b"CONNECT {\"user\":\"a\",\"pass\":\"pw\",\"verbose\":false,\"headers\":true}\r\nSUB svc.echo 1\r\n").await;
    a.msgs().await;
    b.send(b"SUB inbox.r1 7\r\nPUB echo inbox.r1 5\r\nhello\r\n")
        .await;
    let req = frame_starting(&mut a, b"HMSG svc.echo 1 _R_.").await;
    let text = String::from_utf8_lossy(&req).to_string();
    let reply = text.split(' ').nth(3).unwrap().to_string();
    let parts: Vec<&str> = reply.split('.').collect();
    assert_eq!(parts.len(), 3, "{reply}");
    assert!(parts[1..].iter().all(|p| p.len() == 6), "{reply}");
    assert!(
        text.contains("\r\nNats-Request-Info: {\"acc\":\"B\",\"rtt\":"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nhello\r\n"), "{text}");
    // Through the import of svc.old, which A maps to svc.echo.
    b.send(b"PUB old inbox.r0 1\r\nx\r\n").await;
    frame_starting(&mut a, b"HMSG svc.echo 1 _R_.").await;
    // The responder answers twice: a singleton service passes one.
    a.send(format!("PUB {reply} 2\r\nok\r\nPUB {reply} 3\r\nbad\r\n").as_bytes())
        .await;
    a.msgs().await;
    assert_eq!(b.msgs().await, ["MSG inbox.r1 7 2"]);
    // The exporter's router is one wildcard subscription in A.
    let in_a = s.server.accounts.get("A").unwrap();
    assert!(in_a
        .sublist
        .has_interest(&format!("_R_.{}.anything", parts[1])));
    assert!(!s
        .server
        .accounts
        .get("B")
        .unwrap()
        .sublist
        .has_interest(&reply));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_response_services_pass_every_response() {
    let s = support::start(two_tenants()).await;
    let mut a = Raw::login(s.addr, "a").await;
    let mut b = Raw::login(s.addr, "b").await;
    a.send(b"SUB svc.stream 1\r\n").await;
    a.msgs().await;
    b.send(b"SUB inbox.s 2\r\nPUB svc.stream inbox.s 1\r\nx\r\n")
        .await;
    // A client without headers gets the request as a plain MSG.
    let req = frame_starting(&mut a, b"MSG svc.stream 1 _R_.").await;
    let text = String::from_utf8_lossy(&req).to_string();
    assert!(text.ends_with(" 1\r\nx\r\n"), "{text}");
    let reply = text.split(' ').nth(3).unwrap().to_string();
    a.send(
        format!("PUB {reply} 1\r\n1\r\nPUB {reply} 1\r\n2\r\nPUB {reply} 1\r\n3\r\n").as_bytes(),
    )
    .await;
    a.msgs().await;
    assert_eq!(b.msgs().await, ["MSG inbox.s 2 1"; 3]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_nobody_serves_gets_no_responders() {
    let s = support::start(two_tenants()).await;
    let mut b = Raw::connect(s.addr).await;
    b.send(b"CONNECT {\"user\":\"b\",\"pass\":\"pw\",\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\nSUB inbox.r5 1\r\nPUB echo inbox.r5 0\r\n\r\n").await;
    let f = frame_starting(&mut b, b"HMSG inbox.r5 1 ").await;
    let text = String::from_utf8_lossy(&f);
    assert!(text.contains("NATS/1.0 503"), "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_rewrite_split_and_come_before_permissions() {
    let mut opts = support::options();
    opts.mappings = vec![
        mapping("orders.*", &[("orders.mapped.{{wildcard(1)}}", 100)]),
        mapping("swap.*.*", &[("swap.$2.$1", 100)]),
        mapping("weighted", &[("w.a", 70), ("w.b", 30)]),
        mapping("lossy", &[("l.a", 40), ("lossy", 10)]),
        mapping("m1", &[("forbidden", 100)]),
    ];
    let allow = |subjects: &[&str]| SubjectPermission {
        allow: Some(subjects.iter().map(|s| s.to_string()).collect()),
        deny: None,
    };
    opts.authorization.users = Some(vec![
        support::user("all", None),
        support::user(
            "limited",
            Some(Permissions {
                publish: Some(allow(&["m1"])),
                ..Permissions::default()
            }),
        ),
    ]);
    let s = support::start(opts).await;
    let mut c = Raw::login(s.addr, "all").await;
    c.send(b"SUB orders.> 1\r\nSUB swap.> 2\r\nSUB w.* 3\r\nSUB l.a 4\r\nSUB lossy 5\r\n")
        .await;
    c.msgs().await;
    c.send(b"PUB orders.new 1\r\nx\r\nPUB swap.one.two 1\r\nx\r\n")
        .await;
    assert_eq!(
        c.msgs().await,
        ["MSG orders.mapped.new 1 1", "MSG swap.two.one 2 1"]
    );
    // 1,000 messages, 70/30: the counts stay within a bound that a fair
    // split misses with probability far below 1e-9.
    let n = 1000;
    let mut batch = Vec::new();
    for _ in 0..n {
        batch.extend_from_slice(b"PUB weighted 0\r\n\r\nPUB lossy 0\r\n\r\n");
    }
    c.send(&batch).await;
    let got = c.msgs().await;
    let count = |p: &str| got.iter().filter(|l| l.starts_with(p)).count();
    let (wa, wb) = (count("MSG w.a "), count("MSG w.b "));
    assert_eq!(wa + wb, n);
    assert!((600..=800).contains(&wa), "w.a {wa} of {n}");
    // lossy: 40 % to l.a, 10 % unchanged, the rest dropped.
    let (la, lossy) = (count("MSG l.a "), count("MSG lossy "));
    assert!((300..=500).contains(&la), "l.a {la}");
    assert!((40..=170).contains(&lossy), "lossy {lossy}");
    // Permissions apply to the mapped subject.
    let mut limited = Raw::login(s.addr, "limited").await;
    limited.send(b"PUB m1 1\r\nx\r\n").await;
    let f = frame_starting(&mut limited, b"-ERR").await;
    assert_eq!(
        f,
        b"-ERR 'Permissions Violation for Publish to \"forbidden\"'\r\n"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_stay_apart_across_a_route_and_imports_cross_it() {
    let a = support::start(support::clustered(two_tenants(), "acc", &[])).await;
    let b = support::start(support::clustered(
        two_tenants(),
        "acc",
        &[a.cluster_addr.unwrap()],
    ))
    .await;
    support::until("the route", || {
        a.server.num_routes() == 1 && b.server.num_routes() == 1
    })
    .await;
    // A's subscriber and responder on server a; B's and C's clients on b.
    let mut sub_a = Raw::login(a.addr, "a").await;
    sub_a.send(b"SUB foo 1\r\nSUB svc.echo 2\r\n").await;
    sub_a.msgs().await;
    let mut sub_b = Raw::login(b.addr, "b").await;
    sub_b
        .send(b"SUB foo 1\r\nSUB fromA.news.x 2\r\nSUB inbox.1 3\r\n")
        .await;
    sub_b.msgs().await;
    support::until("interest of A and B crossed", || {
        b.server
            .accounts
            .get("A")
            .unwrap()
            .sublist
            .has_interest("svc.echo")
            && a.server
                .accounts
                .get("B")
                .unwrap()
                .sublist
                .has_interest("foo")
    })
    .await;
    let mut pub_c = Raw::login(b.addr, "c").await;
    pub_c.send(b"PUB foo 1\r\nc\r\n").await;
    pub_c.msgs().await;
    let mut pub_a = Raw::login(b.addr, "a").await;
    pub_a.send(b"PUB foo 1\r\na\r\nPUB news.x 1\r\nn\r\n").await;
    pub_a.msgs().await;
    assert_eq!(sub_a.msgs().await, ["MSG foo 1 1"]);
    // B's import of A's stream, served on b from A's publish on b.
    assert_eq!(sub_b.msgs().await, ["MSG fromA.news.x 2 1"]);
    // A request from B on server b to A's responder on server a.
    sub_b.send(b"PUB echo inbox.1 2\r\nhi\r\n").await;
    let req = frame_starting(&mut sub_a, b"MSG svc.echo 2 _R_.").await;
    let reply = String::from_utf8_lossy(&req)
        .split(' ')
        .nth(3)
        .unwrap()
        .to_string();
    sub_a
        .send(format!("PUB {reply} 2\r\nok\r\n").as_bytes())
        .await;
    sub_a.msgs().await;
    let f = frame_starting(&mut sub_b, b"MSG inbox.1 3 2").await;
    assert!(f.ends_with(b"ok\r\n"));
    a.stop().await;
    b.stop().await;
}

/// async-nats clients, each user in its own account: isolation, a stream
/// import, a request through a service import, no responders elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_nats_clients_in_their_accounts() {
    use futures::StreamExt;
    let s = support::start(two_tenants()).await;
    let url = format!("nats://{}", s.addr);
    let connect = |user: &'static str| {
        let url = url.clone();
        async move {
            async_nats::ConnectOptions::with_user_and_password(user.into(), "pw".into())
                .connect(url)
                .await
                .unwrap()
        }
    };
    let (a, b, c) = (connect("a").await, connect("b").await, connect("c").await);
    let mut responder = a.subscribe("svc.echo").await.unwrap();
    let a2 = a.clone();
    tokio::spawn(async move {
        while let Some(m) = responder.next().await {
            if let Some(reply) = m.reply {
                a2.publish(reply, m.payload).await.unwrap();
            }
        }
    });
    let mut c_foo = c.subscribe("foo").await.unwrap();
    let mut b_news = b.subscribe("fromA.news.>").await.unwrap();
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    c.flush().await.unwrap();
    a.publish("foo", "a".into()).await.unwrap();
    a.publish("news.x", "n".into()).await.unwrap();
    c.publish("foo", "c".into()).await.unwrap();
    a.flush().await.unwrap();
    c.flush().await.unwrap();
    let m = support::timeout("C's foo", support::WAIT, c_foo.next())
        .await
        .unwrap();
    assert_eq!(&m.payload[..], b"c", "C must get only its own foo");
    let m = support::timeout("B's import", support::WAIT, b_news.next())
        .await
        .unwrap();
    assert_eq!(m.subject.as_str(), "fromA.news.x");
    let reply = support::timeout("the echo", support::WAIT, b.request("echo", "ping".into()))
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], b"ping");
    let err = support::timeout("C's request", support::WAIT, c.request("echo", "x".into())).await;
    assert!(err.is_err(), "C has no echo service");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_nats_py, ignore = "needs a Python with nats-py")]
async fn nats_py_clients_in_their_accounts() {
    let py = support::nats_py("nats_py_clients_in_their_accounts");
    let s = support::start(two_tenants()).await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/accounts_clients.py");
    let url = format!("nats://{}", s.addr);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(py)
            .arg(script)
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "nats-py: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop().await;
}
