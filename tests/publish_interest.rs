//! Interest changes reach a publisher that is in the middle of a stream to
//! one subject. The server remembers each publisher's last match (one-entry
//! per-connection cache); a SUB or UNSUB on another connection must be seen
//! by the publisher's very next message once the subscriber's PING is
//! answered, however long the publisher's stream has been running.

mod support;

use support::{options, start, Event, Raw};

/// A publisher streams to `memo.subject` without pause while another
/// connection subscribes and unsubscribes; messages published after the
/// subscriber's PONG for SUB arrive, none published after its PONG for
/// UNSUB does.
#[tokio::test]
async fn sub_and_unsub_reach_a_streaming_publisher() {
    let server = start(options()).await;
    let mut publisher = Raw::connect(server.addr).await;
    publisher.send(b"CONNECT {\"verbose\":false}\r\n").await;
    let mut subscriber = Raw::connect(server.addr).await;
    subscriber.send(b"CONNECT {\"verbose\":false}\r\n").await;

    // Warm the publisher's memo: thousands of PUBs to one subject, nobody
    // listening.
    let mut burst = Vec::new();
    for _ in 0..5_000 {
        burst.extend_from_slice(b"PUB memo.subject 1\r\nx\r\n");
    }
    publisher.send(&burst).await;
    assert!(publisher.sync().await.last().unwrap().is_frame(b"PONG\r\n"));

    for round in 0..20 {
        // Keep the publisher streaming while the subscription comes and goes.
        publisher.send(&burst).await;
        subscriber.send(b"SUB memo.subject 7\r\n").await;
        assert!(subscriber
            .sync()
            .await
            .last()
            .unwrap()
            .is_frame(b"PONG\r\n"));
        publisher
            .send(format!("PUB memo.subject 5\r\nin-{round:02}\r\n").as_bytes())
            .await;
        let ev = publisher.sync().await;
        assert!(ev.last().unwrap().is_frame(b"PONG\r\n"), "{ev:?}");
        // Whatever part of the burst arrived after the SUB, then the marker.
        loop {
            match subscriber.next(support::WAIT).await {
                Event::Frame(f) if f == b"MSG memo.subject 7 1\r\nx\r\n" => continue,
                Event::Frame(f) => {
                    assert_eq!(
                        String::from_utf8_lossy(&f),
                        format!("MSG memo.subject 7 5\r\nin-{round:02}\r\n")
                    );
                    break;
                }
                other => panic!("round {round}: expected the marker, got {other:?}"),
            }
        }
        subscriber.send(b"UNSUB 7\r\n").await;
        // The PONG proves the UNSUB was handled, and everything queued before it
        // to this subscriber comes before it.
        let events = subscriber.sync().await;
        assert!(events.last().unwrap().is_frame(b"PONG\r\n"));
        publisher
            .send(format!("PUB memo.subject 6\r\nout-{round:02}\r\n").as_bytes())
            .await;
        let ev = publisher.sync().await;
        assert!(ev.last().unwrap().is_frame(b"PONG\r\n"), "{ev:?}");
    }
    // Nothing published after an UNSUB's PONG ever arrived.
    subscriber.send(b"PING\r\n").await;
    let rest = subscriber.until_pong().await;
    assert_eq!(
        rest,
        vec![Event::frame(b"PONG\r\n")],
        "no message after UNSUB"
    );
}
