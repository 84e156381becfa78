//! The server seen through a real client library, `async-nats`: pub/sub,
//! wildcards, queue groups, request/reply, headers, no responders, flush,
//! authentication, and reconnecting after a server restart.

mod support;

use support::SETTLE;

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use nats_server::config::Options;
use nats_server::process::{start, Running};
use tokio::time::timeout;

async fn server_with(f: impl FnOnce(&mut Options)) -> Running {
    let mut opts = Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..Options::default()
    };
    f(&mut opts);
    start(opts).await.expect("server starts")
}

async fn server() -> Running {
    server_with(|_| {}).await
}

fn url(r: &Running) -> String {
    format!("nats://{}", r.addr)
}

async fn next(sub: &mut async_nats::Subscriber) -> bytes::Bytes {
    timeout(SETTLE, sub.next()).await.unwrap().unwrap().payload
}

#[tokio::test]
async fn pub_sub_and_wildcards() {
    let s = server().await;
    let nc = async_nats::connect(url(&s)).await.unwrap();
    let mut exact = nc.subscribe("a.b.c").await.unwrap();
    let mut star = nc.subscribe("a.*.c").await.unwrap();
    let mut full = nc.subscribe("a.>").await.unwrap();
    nc.flush().await.unwrap();
    nc.publish("a.b.c", "1".into()).await.unwrap();
    nc.publish("a.x.c", "2".into()).await.unwrap();
    nc.publish("a.x.y.z", "3".into()).await.unwrap();
    nc.publish("b.b.c", "4".into()).await.unwrap();
    nc.flush().await.unwrap();
    assert_eq!(next(&mut exact).await, "1");
    assert_eq!(next(&mut star).await, "1");
    assert_eq!(next(&mut star).await, "2");
    assert_eq!(next(&mut full).await, "1");
    assert_eq!(next(&mut full).await, "2");
    assert_eq!(next(&mut full).await, "3");
    // Nothing else arrives (b.b.c matched nobody).
    nc.publish("a.b.c", "end".into()).await.unwrap();
    assert_eq!(next(&mut exact).await, "end");
    assert_eq!(
        s.server
            .stats
            .in_msgs
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
    s.stop().await;
}

#[tokio::test]
async fn queue_group_delivers_each_message_exactly_once() {
    const N: usize = 10_000;
    let s = server().await;
    let nc = async_nats::connect(url(&s)).await.unwrap();
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(nc.queue_subscribe("work", "workers".into()).await.unwrap());
    }
    let mut plain = nc.subscribe("work").await.unwrap();
    nc.flush().await.unwrap();
    let publisher = async_nats::connect(url(&s)).await.unwrap();
    for i in 0..N {
        publisher
            .publish("work", i.to_string().into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();

    let mut seen = HashSet::new();
    let mut per_member = Vec::new();
    for m in &mut members {
        let mut count = 0;
        while let Ok(Some(msg)) = timeout(Duration::from_millis(300), m.next()).await {
            assert!(
                seen.insert(msg.payload.clone()),
                "delivered twice: {:?}",
                msg.payload
            );
            count += 1;
        }
        per_member.push(count);
    }
    assert_eq!(seen.len(), N, "every message once across the group");
    assert!(
        per_member.iter().all(|&c| c > N / 10),
        "random spread, got {per_member:?}"
    );
    let mut plain_count = 0;
    while let Ok(Some(_)) = timeout(Duration::from_millis(300), plain.next()).await {
        plain_count += 1;
    }
    assert_eq!(plain_count, N, "plain subscribers get everything");
    s.stop().await;
}

#[tokio::test]
async fn request_reply_headers_and_no_responders() {
    let s = server().await;
    let nc = async_nats::connect(url(&s)).await.unwrap();
    let mut svc = nc.subscribe("svc.echo").await.unwrap();
    let responder = nc.clone();
    tokio::spawn(async move {
        while let Some(msg) = svc.next().await {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                "Echo",
                msg.headers
                    .as_ref()
                    .and_then(|h| h.get("In"))
                    .map_or("none", |v| v.as_str()),
            );
            responder
                .publish_with_headers(msg.reply.unwrap(), headers, msg.payload)
                .await
                .unwrap();
        }
    });
    nc.flush().await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("In", "v1");
    let reply = timeout(
        SETTLE,
        nc.request_with_headers("svc.echo", headers, "ping".into()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(reply.payload, "ping");
    assert_eq!(reply.headers.unwrap().get("Echo").unwrap().as_str(), "v1");

    let err = timeout(SETTLE, nc.request("nobody.home", "x".into()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
    s.stop().await;
}

#[tokio::test]
async fn flush_round_trips() {
    let s = server().await;
    let nc = async_nats::connect(url(&s)).await.unwrap();
    for _ in 0..100 {
        timeout(SETTLE, nc.flush()).await.unwrap().unwrap();
    }
    s.stop().await;
}

#[tokio::test]
async fn user_password_and_token_auth() {
    let s = server_with(|o| {
        o.authorization.user = Some("alice".into());
        o.authorization.password = Some("s3cret".into());
    })
    .await;
    let ok = async_nats::ConnectOptions::with_user_and_password("alice".into(), "s3cret".into())
        .connect(url(&s))
        .await;
    assert!(ok.is_ok());
    let bad = async_nats::ConnectOptions::with_user_and_password("alice".into(), "wrong".into())
        .retry_on_initial_connect()
        .max_reconnects(1)
        .connect(url(&s));
    // A refused client never becomes usable.
    let bad = timeout(Duration::from_secs(3), async {
        bad.await.unwrap().flush().await
    })
    .await;
    assert!(
        !matches!(bad, Ok(Ok(()))),
        "wrong password must not connect"
    );
    s.stop().await;

    let s = server_with(|o| o.authorization.token = Some("t0k3n".into())).await;
    let ok = async_nats::ConnectOptions::with_token("t0k3n".into())
        .connect(url(&s))
        .await;
    assert!(ok.is_ok());
    let bad = async_nats::ConnectOptions::with_token("nope".into())
        .connect(url(&s))
        .await;
    assert!(bad.is_err());
    s.stop().await;
}

#[tokio::test]
async fn client_reconnects_after_server_restart() {
    let first = server().await;
    let addr = first.addr;
    let nc = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url(&first))
        .await
        .unwrap();
    let mut sub = nc.subscribe("after.restart").await.unwrap();
    nc.flush().await.unwrap();
    first.stop().await;

    // Same port again; the client resubscribes on reconnect.
    let second = server_with(|o| o.port = addr.port() as i32).await;
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let _ = nc.publish("after.restart", "hi".into()).await;
        let _ = nc.flush().await;
        if let Ok(Some(msg)) = timeout(Duration::from_millis(200), sub.next()).await {
            assert_eq!(msg.payload, "hi");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never reconnected");
    }
    second.stop().await;
}
