//! The client protocol over raw sockets against our in-process server:
//! every row of the error table (`docs/protocol.md#errors`) that core NATS
//! without permissions can produce, the silent closes, and the behaviours of
//! operations, CONNECT, headers and subjects
//! (`docs/protocol.md#client-protocol`) a client can observe byte for byte.
//!
//! Each test asserts the exact bytes the server sends and whether the
//! connection closes or stays usable (a PING still gets its PONG).

mod support;

use std::time::Duration;

use nats_server::config::Options;
use nats_server::process::Running;
use nats_server::server::close::ClosedState;
use support::{options, start, wait_closed, Event, Raw, WAIT};
use tokio::time::Instant;

const QUIET_CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
const HDR_CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n";

/// A connected client that sent `connect` and got the PONG of a PING.
async fn client(run: &Running, connect: &[u8]) -> Raw {
    let mut c = Raw::connect(run.addr).await;
    c.send(connect).await;
    c.assert_open().await;
    c
}

/// Sends `bytes` and asserts the server answers with exactly `frames`,
/// then closes.
async fn closes_with(run: &Running, before: &[u8], bytes: &[u8], frames: &[&[u8]]) -> Raw {
    let mut c = Raw::connect(run.addr).await;
    c.send(before).await;
    c.send(bytes).await;
    c.expect_then_closed(frames).await;
    c
}

fn with(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = options();
    f(&mut o);
    o
}

// ------------------------------------------------------------ closing rows

#[tokio::test]
async fn unknown_protocol_operation_closes() {
    let run = start(options()).await;
    let err: &[u8] = b"-ERR 'Unknown Protocol Operation'\r\n";
    for bad in [
        &b"FOO\r\n"[..],
        b"\r\n",
        b"PUB foo 2\r\nhiX\r\n",  // payload not followed by CRLF
        b"RS+ $G foo\r\n",        // route op on a client connection
        b"MSG foo 1 2\r\nhi\r\n", // server-to-client op
        b"HMSG foo 1 12 12\r\n",  // likewise
        b"PUBX foo 0\r\n\r\n",    // bad byte in op
        b"UNSUB\r\n",             // no blank after the op
    ] {
        let c = closes_with(&run, QUIET_CONNECT, bad, &[err]).await;
        let closed = wait_closed(&run.server, c.cid()).await;
        assert_eq!(closed.reason, ClosedState::ProtocolViolation, "{bad:?}");
    }
    run.stop().await;
}

#[tokio::test]
async fn maximum_control_line_exceeded_closes() {
    let run = start(with(|o| o.max_control_line = 64)).await;
    let err: &[u8] = b"-ERR 'maximum control line exceeded'\r\n";
    // "aaa…a 0" is exactly 64 bytes of arguments: accepted.
    let mut c = client(&run, QUIET_CONNECT).await;
    let mut ok = b"PUB ".to_vec();
    ok.extend_from_slice(&[b'a'; 62]);
    ok.extend_from_slice(b" 0\r\n\r\n");
    c.send(&ok).await;
    c.assert_open().await;
    // One more byte is over the limit, also when the line is not complete.
    let mut long = b"PUB ".to_vec();
    long.extend_from_slice(&[b'a'; 65]);
    let c = closes_with(&run, QUIET_CONNECT, &long, &[err]).await;
    let closed = wait_closed(&run.server, c.cid()).await;
    assert_eq!(closed.reason, ClosedState::MaxControlLineExceeded);
    let mut sub = b"SUB ".to_vec();
    sub.extend_from_slice(&[b'b'; 100]);
    sub.extend_from_slice(b" 1\r\n");
    closes_with(&run, QUIET_CONNECT, &sub, &[err]).await;
    run.stop().await;

    // The default is 4096.
    let run = start(options()).await;
    let mut line = b"SUB ".to_vec();
    line.extend_from_slice(&[b'c'; 4095]);
    line.extend_from_slice(b" 1\r\n");
    closes_with(&run, QUIET_CONNECT, &line, &[err]).await;
    run.stop().await;
}

#[tokio::test]
async fn maximum_payload_violation_closes() {
    let run = start(with(|o| o.max_payload = 64)).await;
    let err: &[u8] = b"-ERR 'Maximum Payload Violation'\r\n";
    let mut c = client(&run, QUIET_CONNECT).await;
    c.send(b"SUB a 1\r\n").await;
    let mut ok = b"PUB a 64\r\n".to_vec();
    ok.extend_from_slice(&[b'x'; 64]);
    ok.extend_from_slice(b"\r\n");
    c.send(&ok).await;
    assert_eq!(
        c.frame().await,
        [b"MSG a 1 64\r\n".as_slice(), &[b'x'; 64], b"\r\n"].concat()
    );
    c.assert_open().await;
    // The size alone decides: the payload need not have arrived.
    let c = closes_with(&run, QUIET_CONNECT, b"PUB a 65\r\n", &[err]).await;
    let closed = wait_closed(&run.server, c.cid()).await;
    assert_eq!(closed.reason, ClosedState::MaxPayloadExceeded);
    closes_with(&run, HDR_CONNECT, b"HPUB a 12 65\r\n", &[err]).await;
    run.stop().await;
}

fn user_pass(o: &mut Options) {
    o.authorization.user = Some("derek".into());
    o.authorization.password = Some("s3cr3t".into());
}

#[tokio::test]
async fn authorization_violation_closes() {
    let run = start(with(user_pass)).await;
    let err: &[u8] = b"-ERR 'Authorization Violation'\r\n";
    let c = Raw::connect(run.addr).await;
    assert_eq!(c.info_json()["auth_required"], true);
    // Wrong password, wrong user, no credentials.
    for connect in [
        &br#"CONNECT {"user":"derek","pass":"nope"}"#[..],
        br#"CONNECT {"user":"other","pass":"s3cr3t"}"#,
        br#"CONNECT {"verbose":false}"#,
        br#"CONNECT {"user":"derek","pass":"s3cr3t","account":"A"}"#,
    ] {
        let c = closes_with(&run, connect, b"\r\nPING\r\n", &[err]).await;
        let closed = wait_closed(&run.server, c.cid()).await;
        assert_eq!(closed.reason, ClosedState::AuthenticationViolation);
    }
    // Any op before CONNECT.
    for first in [
        &b"PING\r\n"[..],
        b"SUB foo 1\r\n",
        b"PUB foo 0\r\n\r\n",
        b"UNSUB 1\r\n",
        // Refused at its first byte, before the size or the line is looked at.
        b"PUB foo 2000000\r\n",
        b"FOO\r\n",
    ] {
        closes_with(&run, b"", first, &[err]).await;
    }
    // Credentials are checked before the other CONNECT fields.
    closes_with(
        &run,
        br#"CONNECT {"user":"derek","pass":"nope","protocol":5}"#,
        b"\r\n",
        &[err],
    )
    .await;
    closes_with(
        &run,
        br#"CONNECT {"user":"derek","pass":"nope","no_responders":true}"#,
        b"\r\n",
        &[err],
    )
    .await;
    // The right credentials: +OK, and the connection works.
    let mut c = Raw::connect(run.addr).await;
    c.send(b"CONNECT {\"user\":\"derek\",\"pass\":\"s3cr3t\"}\r\n")
        .await;
    c.expect(b"+OK\r\n").await;
    c.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"MSG foo 1 2\r\nhi\r\n").await;
    c.assert_open().await;
    // A second CONNECT with bad credentials closes it.
    c.send(b"CONNECT {\"user\":\"derek\",\"pass\":\"x\"}\r\n")
        .await;
    c.expect_then_closed(&[err]).await;
    run.stop().await;
}

#[tokio::test]
async fn authentication_timeout_closes() {
    let run = start(with(|o| {
        user_pass(o);
        o.authorization.timeout = Some(Duration::from_millis(200));
    }))
    .await;
    let t0 = Instant::now();
    let mut c = Raw::connect(run.addr).await;
    c.expect_then_closed(&[b"-ERR 'Authentication Timeout'\r\n"])
        .await;
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(180) && took < Duration::from_millis(1500),
        "closed after {took:?}"
    );
    let closed = wait_closed(&run.server, c.cid()).await;
    assert_eq!(closed.reason, ClosedState::AuthenticationTimeout);
    // A CONNECT in time cancels the timer.
    let mut c = Raw::connect(run.addr).await;
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"derek\",\"pass\":\"s3cr3t\"}\r\n")
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    c.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn stale_connection_closes() {
    let run = start(with(|o| {
        o.ping_interval = Duration::from_millis(100);
        o.ping_max = 1;
    }))
    .await;
    // A client that never answers: one PING, then the error at the next tick.
    let t0 = Instant::now();
    let mut c = Raw::connect(run.addr).await;
    c.send(QUIET_CONNECT).await;
    c.expect_then_closed(&[b"PING\r\n", b"-ERR 'Stale Connection'\r\n"])
        .await;
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1000),
        "stale after {took:?}"
    );
    let closed = wait_closed(&run.server, c.cid()).await;
    assert_eq!(closed.reason, ClosedState::StaleConnection);

    // A client that answers every PING stays.
    let mut c = Raw::connect(run.addr).await;
    c.send(QUIET_CONNECT).await;
    let until = Instant::now() + Duration::from_millis(600);
    let mut pings = 0;
    while Instant::now() < until {
        match c.next(Duration::from_millis(50)).await {
            Event::Frame(f) if f == b"PING\r\n" => {
                pings += 1;
                c.send(b"PONG\r\n").await;
            }
            Event::Timeout => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 2, "only {pings} server PINGs in 600ms");
    // Still usable (answering the PINGs that keep coming).
    c.send(b"SUB foo 1\r\nPUB foo 0\r\n\r\n").await;
    loop {
        match c.next(WAIT).await {
            Event::Frame(f) if f == b"PING\r\n" => c.send(b"PONG\r\n").await,
            other => {
                assert_eq!(other, Event::frame(b"MSG foo 1 0\r\n\r\n"));
                break;
            }
        }
    }
    run.stop().await;
}

#[tokio::test]
async fn first_server_ping_comes_after_one_short_interval() {
    // The first PING comes after min(ping_interval, 2 s) plus up to 20 %.
    let run = start(with(|o| o.ping_interval = Duration::from_millis(100))).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let t0 = Instant::now();
        let mut c = Raw::connect(run.addr).await;
        c.send(QUIET_CONNECT).await;
        clients.push((t0, c));
    }
    for (t0, c) in &mut clients {
        c.expect(b"PING\r\n").await;
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(95) && took < Duration::from_millis(300),
            "first PING after {took:?}"
        );
    }
    run.stop().await;
}

#[tokio::test]
async fn maximum_connections_exceeded_closes() {
    let run = start(with(|o| o.max_connections = 2)).await;
    let mut a = client(&run, QUIET_CONNECT).await;
    let b = client(&run, QUIET_CONNECT).await;
    // The third still gets INFO first.
    let mut c = Raw::connect(run.addr).await;
    c.expect_then_closed(&[b"-ERR 'maximum connections exceeded'\r\n"])
        .await;
    a.assert_open().await;
    // Once one leaves there is room again.
    drop(b);
    let deadline = Instant::now() + WAIT;
    while run.server.num_clients() > 1 {
        assert!(Instant::now() < deadline, "closed client never left");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    client(&run, QUIET_CONNECT).await;
    run.stop().await;
}

#[tokio::test]
async fn invalid_client_protocol_closes() {
    let run = start(options()).await;
    for connect in [
        &b"CONNECT {\"protocol\":2}\r\n"[..],
        b"CONNECT {\"verbose\":false,\"protocol\":-1}\r\n",
    ] {
        let c = closes_with(&run, connect, b"", &[b"-ERR 'invalid client protocol'\r\n"]).await;
        let closed = wait_closed(&run.server, c.cid()).await;
        assert_eq!(closed.reason, ClosedState::BadClientProtocolVersion);
    }
    for ok in [0, 1] {
        let connect = format!("CONNECT {{\"verbose\":false,\"protocol\":{ok}}}\r\n");
        client(&run, connect.as_bytes()).await;
    }
    run.stop().await;
}

#[tokio::test]
async fn no_responders_requires_headers_closes() {
    let run = start(options()).await;
    let c = closes_with(
        &run,
        b"CONNECT {\"no_responders\":true}\r\n",
        b"",
        &[b"-ERR 'no responders requires headers support'\r\n"],
    )
    .await;
    let closed = wait_closed(&run.server, c.cid()).await;
    assert_eq!(closed.reason, ClosedState::NoRespondersRequiresHeaders);
    // Headers requested but switched off in the server: no header support.
    run.stop().await;
    let run = start(with(|o| o.no_header_support = true)).await;
    let c = Raw::connect(run.addr).await;
    assert_eq!(c.info_json()["headers"], false);
    closes_with(
        &run,
        b"CONNECT {\"headers\":true,\"no_responders\":true}\r\n",
        b"",
        &[b"-ERR 'no responders requires headers support'\r\n"],
    )
    .await;
    run.stop().await;
}

// ------------------------------------------------------- rows that stay open

#[tokio::test]
async fn invalid_subject_stays_open() {
    let run = start(options()).await;
    let mut c = Raw::connect(run.addr).await;
    c.send(b"CONNECT {}\r\n").await;
    c.expect(b"+OK\r\n").await;
    for bad in ["foo..bar", ">.foo", ".foo", "foo.", "foo.>.bar"] {
        c.send(format!("SUB {bad} 1\r\n").as_bytes()).await;
        // No +OK after the error.
        c.expect(b"-ERR 'Invalid Subject'\r\n").await;
        c.assert_open().await;
    }
    // The sid was not taken: it can be used now.
    c.send(b"SUB foo.* 1\r\nPUB foo.bar 1\r\nx\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"MSG foo.bar 1 1\r\nx\r\n").await;
    c.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn invalid_publish_subject_in_pedantic_mode_still_delivers() {
    let run = start(options()).await;
    let mut sub = client(&run, QUIET_CONNECT).await;
    sub.send(b"SUB > 1\r\n").await;
    sub.assert_open().await;

    let mut p = client(&run, b"CONNECT {\"verbose\":false,\"pedantic\":true}\r\n").await;
    for subject in ["foo.*", "foo.>", "a..b", ">"] {
        p.send(format!("PUB {subject} 2\r\nhi\r\n").as_bytes())
            .await;
        p.expect(b"-ERR 'Invalid Publish Subject'\r\n").await;
        p.assert_open().await;
        if subject != "a..b" {
            sub.expect(format!("MSG {subject} 1 2\r\nhi\r\n").as_bytes())
                .await;
        }
        sub.assert_open().await;
    }
    // Verbose and pedantic: the error, then +OK.
    let mut v = Raw::connect(run.addr).await;
    v.send(b"CONNECT {}\r\nPUB foo.* 0\r\n\r\n").await;
    v.expect(b"+OK\r\n").await;
    v.expect(b"-ERR 'Invalid Publish Subject'\r\n").await;
    v.expect(b"+OK\r\n").await;
    v.assert_open().await;
    sub.expect(b"MSG foo.* 1 0\r\n\r\n").await;

    // Not pedantic: no error, wildcards published as literals.
    let mut q = client(&run, QUIET_CONNECT).await;
    q.send(b"PUB foo.* 1\r\nx\r\n").await;
    q.assert_open().await;
    sub.expect(b"MSG foo.* 1 1\r\nx\r\n").await;
    run.stop().await;
}

#[tokio::test]
async fn maximum_subscriptions_exceeded_stays_open() {
    let run = start(with(|o| o.max_subscriptions = 2)).await;
    let mut c = Raw::connect(run.addr).await;
    c.send(b"CONNECT {}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\n")
        .await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"-ERR 'maximum subscriptions exceeded'\r\n").await;
    c.assert_open().await;
    // At the limit even a duplicate sid is refused; the refused sub does
    // not exist.
    c.send(b"SUB a 1\r\nPUB c 0\r\n\r\nPUB a 0\r\n\r\n").await;
    c.expect(b"-ERR 'maximum subscriptions exceeded'\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"MSG a 1 0\r\n\r\n").await;
    c.assert_open().await;
    // Room again after an UNSUB.
    c.send(b"UNSUB 1\r\nSUB c 3\r\nPUB c 0\r\n\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"MSG c 3 0\r\n\r\n").await;
    c.assert_open().await;
    run.stop().await;
}

// ------------------------------------------------------------ silent closes

#[tokio::test]
async fn silent_closes_are_protocol_violations() {
    let run = start(options()).await;
    let cases: &[(&[u8], &[u8])] = &[
        // Wrong argument counts.
        (QUIET_CONNECT, b"PUB foo\r\n"),
        (QUIET_CONNECT, b"PUB a b c 1\r\n"),
        (QUIET_CONNECT, b"SUB foo\r\n"),
        (QUIET_CONNECT, b"SUB a b c 1\r\n"),
        (QUIET_CONNECT, b"UNSUB 1 2 3\r\n"),
        (HDR_CONNECT, b"HPUB foo 12\r\n"),
        (HDR_CONNECT, b"HPUB a b c 12 12\r\n"),
        // Bad sizes.
        (QUIET_CONNECT, b"PUB foo -1\r\n"),
        (QUIET_CONNECT, b"PUB foo +1\r\n"),
        (QUIET_CONNECT, b"PUB foo x\r\n"),
        (HDR_CONNECT, b"HPUB foo 13 12\r\n"),
        (HDR_CONNECT, b"HPUB foo x 12\r\n"),
        // Bad CONNECT JSON.
        (b"", b"CONNECT {bad\r\n"),
        (b"", b"CONNECT\r\n"),
        (b"", b"CONNECTX {}\r\n"),
        (b"", b"CONNECT {\"verbose\":\"yes\"}\r\n"),
        // HPUB without headers negotiated.
        (QUIET_CONNECT, b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n"),
        (b"", b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n"),
        // An INFO from the client that does not decode.
        (QUIET_CONNECT, b"INFO\r\n"),
        (QUIET_CONNECT, b"INFO x\r\n"),
        (QUIET_CONNECT, b"INFO []\r\n"),
        (QUIET_CONNECT, b"INFO {\"port\":\"x\"}\r\n"),
        // -ERR from the client.
        (QUIET_CONNECT, b"-ERR 'oops'\r\n"),
    ];
    for (before, bytes) in cases {
        let c = closes_with(&run, before, bytes, &[]).await;
        let closed = wait_closed(&run.server, c.cid()).await;
        let expected = if bytes.starts_with(b"-ERR") {
            ClosedState::ClientClosed
        } else {
            ClosedState::ProtocolViolation
        };
        assert_eq!(
            closed.reason,
            expected,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    run.stop().await;
}

// -------------------------------------------------------------- behaviours

#[tokio::test]
async fn verbose_ok_for_each_accepted_op() {
    let run = start(options()).await;
    // A bare PUB before any CONNECT uses the defaults: verbose.
    let mut c = Raw::connect(run.addr).await;
    c.send(b"PUB foo 0\r\n\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.assert_open().await;
    // CONNECT {} earns +OK; so do SUB, PUB, HPUB, UNSUB; PING only PONG.
    let mut c = Raw::connect(run.addr).await;
    c.send(b"CONNECT {}\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.send(b"SUB foo 1\r\nUNSUB 1\r\nPUB foo 0\r\n\r\n").await;
    for _ in 0..3 {
        c.expect(b"+OK\r\n").await;
    }
    c.assert_open().await;
    // +OK for a PUB comes before its delivery to the publisher's own sub.
    c.send(b"SUB foo 2\r\nPUB foo 1\r\nx\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"MSG foo 2 1\r\nx\r\n").await;
    c.assert_open().await;
    // Client +OK, PONG and INFO are ignored.
    c.send(b"+OK\r\nPONG\r\nINFO {}\r\n").await;
    c.assert_open().await;
    // A second CONNECT changes the options: quiet from now on.
    c.send(b"CONNECT {\"verbose\":false}\r\nPUB foo 0\r\n\r\n")
        .await;
    c.expect(b"MSG foo 2 0\r\n\r\n").await;
    c.assert_open().await;
    let mut h = Raw::connect(run.addr).await;
    h.send(b"CONNECT {\"headers\":true}\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n")
        .await;
    h.expect(b"+OK\r\n").await;
    h.expect(b"+OK\r\n").await;
    h.assert_open().await;
    c.expect(b"MSG foo 2 0\r\n\r\n").await;
    run.stop().await;
}

#[tokio::test]
async fn connect_json_decodes_over_the_options_in_force() {
    let run = start(options()).await;
    // A second CONNECT changes only what it names: echo stays off.
    let mut c = client(&run, b"CONNECT {\"verbose\":false,\"echo\":false}\r\n").await;
    c.send(b"SUB foo 1\r\nCONNECT {\"pedantic\":false}\r\nPUB foo 0\r\n\r\n")
        .await;
    c.assert_open().await;
    // null changes nothing; keys match case-insensitively, the last wins.
    c.send(b"CONNECT null\r\nCONNECT {\"echo\":true,\"ECHO\":null,\"Verbose\":true}\r\n")
        .await;
    c.expect(b"+OK\r\n").await;
    c.send(b"PUB foo 0\r\n\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.expect(b"MSG foo 1 0\r\n\r\n").await;
    c.assert_open().await;
    // Empty account fields are not account requests.
    for ok in [
        &b"CONNECT {\"verbose\":false,\"account\":\"\"}\r\n"[..],
        b"CONNECT {\"verbose\":false,\"new_account\":false}\r\n",
    ] {
        client(&run, ok).await;
    }
    closes_with(
        &run,
        b"CONNECT {\"new_account\":true}\r\n",
        b"",
        &[b"-ERR 'Authorization Violation'\r\n"],
    )
    .await;
    // Anything but an object or null is malformed: a silent close.
    for bad in [
        &b"CONNECT []\r\n"[..],
        b"CONNECT 1\r\n",
        b"CONNECT {} x\r\n",
    ] {
        closes_with(&run, bad, b"", &[]).await;
    }
    run.stop().await;
}

#[tokio::test]
async fn ops_are_case_insensitive_and_lf_only_lines_work() {
    let run = start(options()).await;
    let mut c = Raw::connect(run.addr).await;
    c.send(b"connect {\"verbose\":false}\nsub foo 1\npub foo 2\nhi\r\nPiNg\n")
        .await;
    c.expect(b"MSG foo 1 2\r\nhi\r\n").await;
    c.expect(b"PONG\r\n").await;
    c.send(b"SUB\tbar\t \t2\r\nPUB bar  3\r\nbye\r\n").await;
    c.expect(b"MSG bar 2 3\r\nbye\r\n").await;
    c.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn echo_false_skips_own_subscriptions() {
    let run = start(options()).await;
    let mut other = client(&run, QUIET_CONNECT).await;
    other.send(b"SUB foo 9\r\n").await;
    other.assert_open().await;
    let mut c = client(&run, b"CONNECT {\"verbose\":false,\"echo\":false}\r\n").await;
    c.send(b"SUB foo 1\r\nSUB foo q 2\r\nPUB foo 2\r\nhi\r\n")
        .await;
    c.assert_open().await;
    other.expect(b"MSG foo 9 2\r\nhi\r\n").await;
    // Others' messages still arrive.
    other.send(b"PUB foo 0\r\n\r\n").await;
    other.expect(b"MSG foo 9 0\r\n\r\n").await;
    let mut got = vec![c.frame().await, c.frame().await];
    got.sort();
    assert_eq!(
        got,
        vec![
            b"MSG foo 1 0\r\n\r\n".to_vec(),
            b"MSG foo 2 0\r\n\r\n".to_vec()
        ]
    );
    c.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn unsub_with_max_delivers_exactly_max() {
    let run = start(options()).await;
    let mut c = client(&run, QUIET_CONNECT).await;
    c.send(b"SUB foo 1\r\nUNSUB 1 2\r\n").await;
    for i in 0..5 {
        c.send(format!("PUB foo 1\r\n{i}\r\n").as_bytes()).await;
    }
    c.expect(b"MSG foo 1 1\r\n0\r\n").await;
    c.expect(b"MSG foo 1 1\r\n1\r\n").await;
    c.assert_open().await;
    // The sid is free again.
    c.send(b"SUB bar 1\r\nPUB bar 0\r\n\r\n").await;
    c.expect(b"MSG bar 1 0\r\n\r\n").await;
    c.assert_open().await;

    // A max already reached (or unparsable, or 0) removes the sub now.
    c.send(b"SUB a 2\r\nPUB a 0\r\n\r\nPUB a 0\r\n\r\nUNSUB 2 2\r\nPUB a 0\r\n\r\n")
        .await;
    c.expect(b"MSG a 2 0\r\n\r\n").await;
    c.expect(b"MSG a 2 0\r\n\r\n").await;
    c.assert_open().await;
    for unsub in ["UNSUB 3 x", "UNSUB 3 0"] {
        c.send(format!("SUB b 3\r\n{unsub}\r\nPUB b 0\r\n\r\n").as_bytes())
            .await;
        c.assert_open().await;
    }
    // A max above the count so far: one more delivery.
    c.send(b"SUB d 4\r\nPUB d 0\r\n\r\nUNSUB 4 2\r\nPUB d 1\r\n1\r\nPUB d 1\r\n2\r\n")
        .await;
    c.expect(b"MSG d 4 0\r\n\r\n").await;
    c.expect(b"MSG d 4 1\r\n1\r\n").await;
    c.assert_open().await;
    // UNSUB of an unknown sid is not an error.
    c.send(b"UNSUB 99\r\nUNSUB 98 5\r\n").await;
    c.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn subjects_are_bytes_not_text() {
    // nats-server routes any bytes; so must we, unchanged on the wire.
    let run = start(options()).await;
    let mut c = client(&run, b"CONNECT {\"verbose\":false,\"pedantic\":true}\r\n").await;
    c.send(b"SUB f\xff 1\r\nSUB f\xc3\xbf 2\r\nSUB a.* q\xfe 3\r\nPUB f\xff 1\r\nx\r\n")
        .await;
    c.expect(b"MSG f\xff 1 1\r\nx\r\n").await;
    c.assert_open().await;
    c.send(b"PUB f\xc3\xbf 0\r\n\r\nPUB a.\x80 0\r\n\r\n").await;
    c.expect(b"MSG f\xc3\xbf 2 0\r\n\r\n").await;
    c.expect(b"MSG a.\x80 3 0\r\n\r\n").await;
    c.assert_open().await;
    c.send(b"UNSUB 1\r\nPUB f\xff 0\r\n\r\n").await;
    c.assert_open().await;
    // The no-responders status names the subject as sent.
    let nr = b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n";
    let mut r = client(&run, nr).await;
    r.send(b"SUB r\xff 1\r\nPUB s\xfe r\xff 0\r\n\r\n").await;
    r.expect(b"HMSG r\xff 1 34 34\r\nNATS/1.0 503\r\nNats-Subject: s\xfe\r\n\r\n\r\n")
        .await;
    r.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn duplicate_sid_is_ignored() {
    let run = start(options()).await;
    let mut c = Raw::connect(run.addr).await;
    c.send(b"CONNECT {}\r\nSUB foo 1\r\nSUB bar 1\r\n").await;
    for _ in 0..3 {
        c.expect(b"+OK\r\n").await;
    }
    // Ignored whatever its subject, even an invalid one.
    c.send(b"SUB foo..bar 1\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.send(b"CONNECT {\"verbose\":false}\r\nPUB bar 0\r\n\r\nPUB foo 0\r\n\r\n")
        .await;
    c.expect(b"MSG foo 1 0\r\n\r\n").await;
    c.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn headers_go_as_hmsg_or_are_stripped() {
    let run = start(options()).await;
    let mut plain = client(&run, QUIET_CONNECT).await;
    let mut hdr = client(&run, HDR_CONNECT).await;
    plain.send(b"SUB foo 1\r\n").await;
    hdr.send(b"SUB foo 2\r\n").await;
    plain.assert_open().await;
    hdr.assert_open().await;
    let block = b"NATS/1.0\r\nA: b\r\n\r\n"; // 18 bytes
    let mut hpub = b"HPUB foo r 18 23\r\n".to_vec();
    hpub.extend_from_slice(block);
    hpub.extend_from_slice(b"hello\r\n");
    hdr.send(&hpub).await;
    hdr.expect(b"HMSG foo 2 r 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n")
        .await;
    plain.expect(b"MSG foo 1 r 5\r\nhello\r\n").await;
    // A plain PUB reaches a header subscriber as MSG.
    plain.send(b"PUB foo 2\r\nhi\r\n").await;
    plain.expect(b"MSG foo 1 2\r\nhi\r\n").await;
    hdr.expect(b"MSG foo 2 2\r\nhi\r\n").await;
    // Headers only, no body.
    hdr.send(b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n").await;
    hdr.expect(b"HMSG foo 2 12 12\r\nNATS/1.0\r\n\r\n\r\n")
        .await;
    plain.expect(b"MSG foo 1 0\r\n\r\n").await;
    // An empty header block is no header block: a plain MSG for everyone.
    hdr.send(b"HPUB foo 0 2\r\nhi\r\n").await;
    hdr.expect(b"MSG foo 2 2\r\nhi\r\n").await;
    plain.expect(b"MSG foo 1 2\r\nhi\r\n").await;
    plain.assert_open().await;
    hdr.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn no_responders_sends_503_to_the_requester() {
    let run = start(options()).await;
    let nr = b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n";
    let mut c = client(&run, nr).await;
    c.send(b"SUB _INBOX.1 7\r\nPUB svc _INBOX.1 2\r\nhi\r\n")
        .await;
    c.expect(b"HMSG _INBOX.1 7 35 35\r\nNATS/1.0 503\r\nNats-Subject: svc\r\n\r\n\r\n")
        .await;
    c.assert_open().await;
    // A wildcard sub on the reply subject counts; HPUB too.
    c.send(b"SUB _R.* 8\r\nHPUB a.b _R.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        .await;
    c.expect(b"HMSG _R.x 8 35 35\r\nNATS/1.0 503\r\nNats-Subject: a.b\r\n\r\n\r\n")
        .await;
    c.assert_open().await;
    // No subscription on the reply subject: nothing.
    c.send(b"PUB svc nobody 0\r\n\r\n").await;
    c.assert_open().await;
    // A responder exists: no 503, the request is delivered.
    let mut r = client(&run, QUIET_CONNECT).await;
    r.send(b"SUB svc 1\r\n").await;
    r.assert_open().await;
    c.send(b"PUB svc _INBOX.1 0\r\n\r\n").await;
    c.assert_open().await;
    r.expect(b"MSG svc 1 _INBOX.1 0\r\n\r\n").await;
    // Without no_responders: nothing.
    let mut q = client(&run, HDR_CONNECT).await;
    q.send(b"SUB _INBOX.2 1\r\nPUB nope _INBOX.2 0\r\n\r\n")
        .await;
    q.assert_open().await;
    // Verbose: +OK first, then the 503.
    let mut v = Raw::connect(run.addr).await;
    v.send(b"CONNECT {\"headers\":true,\"no_responders\":true}\r\nSUB i 1\r\nPUB x i 0\r\n\r\n")
        .await;
    for _ in 0..3 {
        v.expect(b"+OK\r\n").await;
    }
    v.expect(b"HMSG i 1 33 33\r\nNATS/1.0 503\r\nNats-Subject: x\r\n\r\n\r\n")
        .await;
    v.assert_open().await;
    run.stop().await;
}

#[tokio::test]
async fn queue_group_gets_each_message_once() {
    let run = start(options()).await;
    let mut members = Vec::new();
    for sid in 1..=3 {
        let mut m = client(&run, QUIET_CONNECT).await;
        m.send(format!("SUB work q {sid}\r\n").as_bytes()).await;
        m.assert_open().await;
        members.push(m);
    }
    let mut plain = client(&run, QUIET_CONNECT).await;
    plain.send(b"SUB work 9\r\n").await;
    // A different group gets its own copy.
    plain.send(b"SUB work other 10\r\n").await;
    plain.assert_open().await;
    let mut p = client(&run, QUIET_CONNECT).await;
    const N: usize = 60;
    for i in 0..N {
        p.send(format!("PUB work {}\r\n{i}\r\n", i.to_string().len()).as_bytes())
            .await;
    }
    p.assert_open().await;
    let mut total = 0;
    for m in &mut members {
        let events = m.sync().await;
        let msgs = events.len() - 1;
        assert_eq!(events.last(), Some(&Event::frame(b"PONG\r\n")));
        assert!(msgs > 0, "a member got nothing out of {N}");
        total += msgs;
    }
    assert_eq!(total, N, "each message to exactly one member");
    let events = plain.sync().await;
    let (mut to9, mut to10) = (0, 0);
    for e in &events[..events.len() - 1] {
        let Event::Frame(f) = e else { panic!("{e:?}") };
        if f.starts_with(b"MSG work 9 ") {
            to9 += 1;
        } else if f.starts_with(b"MSG work 10 ") {
            to10 += 1;
        } else {
            panic!("unexpected {e:?}");
        }
    }
    assert_eq!((to9, to10), (N, N));
    run.stop().await;
}
