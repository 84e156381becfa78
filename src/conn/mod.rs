//! What every connection kind shares: the read loop and its protocol
//! hooks (`skeleton.rs`), the reader's wait for the next event
//! (`events.rs`), the read buffer's size policy (`read_buf.rs`), and the
//! writer with its slow-consumer verdicts and orderly end (`writer.rs`).
//!
//! `client/` and `route/` own their protocols; this module owns only the
//! plumbing common to them, so that a fix to it (cancellation, deadlines,
//! PING timer, teardown, buffer sizing) lands in all at once. Must never
//! interpret protocol bytes beyond handing parsed frames to a
//! [`Protocol`].

mod events;
mod read_buf;
mod skeleton;
mod writer;

pub use events::{next_event, timer, Event};
pub use read_buf::{ReadBuf, Source, READ_BUF_MAX, READ_BUF_MIN};
pub use skeleton::{read_loop, Core, Pings, Protocol};
pub use writer::{finish_writer, spawn_writer, split_tcp, writer, InlineWriter};

#[cfg(test)]
use tokio::net::TcpStream;

/// For tests: a connected loopback pair, the client's end and the end the
/// server accepted.
#[cfg(test)]
pub(crate) async fn loopback_pair() -> (TcpStream, TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}
