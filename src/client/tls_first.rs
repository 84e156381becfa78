//! The TLS start of a client connection, in nats-server's order
//! (`createClientEx`):
//!
//! * classic (`handshake_first` unset or `false`): the plaintext INFO, then
//!   the handshake (or, with `allow_non_tls`, plaintext if the client's
//!   first byte is not a TLS record);
//! * `handshake_first: true`: the handshake at once, then the INFO over TLS
//!   (`tls_required: true` even with `allow_non_tls`); a client waiting for
//!   INFO gets nothing and is closed at the TLS timeout;
//! * with a fallback window (`handshake_first: auto`, 50 ms, or a
//!   duration): the handshake-first order if the client sends anything
//!   within the window, the classic order otherwise (the INFO then says
//!   what it says in classic mode).
//!
//! Owns only this order and the handshake (its timeout, and failures
//! recorded as TLS handshake errors); the protocol is
//! [`client::serve_stream`]'s. Never serves plaintext unless
//! `allow_non_tls` says so.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::client;
use crate::client::info::Info;
use crate::config::TLS_TIMEOUT;
use crate::conn;
use crate::log::{self, ConnPrefix};
use crate::server::close::ClosedState;
use crate::server::ConnShared;
use crate::server::Server;

/// Serves a client on a server with TLS configured; `info` is the INFO
/// the client would get in classic mode.
pub(crate) async fn serve_tls(
    server: Arc<Server>,
    mut socket: TcpStream,
    shared: Arc<ConnShared>,
    tls: tokio_rustls::TlsAcceptor,
    info: Info,
    nonce: Option<String>,
) {
    let opts = server.options();
    let prefix = ConnPrefix::client(shared.addr, shared.cid);
    let tls_opts = opts.tls.as_ref();
    let timeout = tls_opts.map_or(TLS_TIMEOUT, |t| t.timeout);
    let mut first = tls_opts.is_some_and(|t| t.handshake_first);
    // A zero (or, in Go, negative) window means no fallback.
    let window = tls_opts
        .and_then(|t| t.handshake_first_fallback)
        .filter(|w| !w.is_zero());
    if let (true, Some(window)) = (first, window) {
        first = speaks_within(&socket, window).await;
    }
    let info_after = if first {
        Some(
            Info {
                tls_required: true,
                ..info
            }
            .to_line(),
        )
    } else {
        if socket.write_all(&info.to_line()).await.is_err() {
            return;
        }
        if opts.allow_non_tls && !looks_like_tls(&socket).await {
            let (rd, wr) = conn::split_tcp(&shared, socket);
            return client::serve_stream(server, shared, rd, wr, None, nonce).await;
        }
        None
    };
    log::debug!("{prefix} - Starting TLS client connection handshake");
    // A client speaking plaintext gets no TLS alert, just the close, as
    // with nats-server (whose TLS stack refuses such a record silently).
    let first_record = tokio::time::timeout(timeout, looks_like_tls(&socket)).await;
    if !matches!(first_record, Ok(true)) {
        let why = match first_record {
            Ok(_) => "tls: first record does not look like a TLS handshake",
            Err(_) => "timeout",
        };
        log::error!("{prefix} - TLS handshake error: {why}");
        server.record_failed_client(&shared, ClosedState::TlsHandshakeError);
        return;
    }
    match tokio::time::timeout(timeout, tls.accept(socket)).await {
        Ok(Ok(stream)) => {
            log::debug!("{prefix} - TLS handshake complete");
            let (rd, wr) = tokio::io::split(stream);
            client::serve_stream(server, shared, rd, wr, info_after, nonce).await
        }
        Ok(Err(e)) => {
            log::error!("{prefix} - TLS handshake error: {e}");
            server.record_failed_client(&shared, ClosedState::TlsHandshakeError);
        }
        Err(_) => {
            log::error!("{prefix} - TLS handshake error: timeout");
            server.record_failed_client(&shared, ClosedState::TlsHandshakeError);
        }
    }
}

/// Does the client send anything within `window`? nats-server does not
/// look at what: a client that is not starting a handshake fails it.
async fn speaks_within(socket: &TcpStream, window: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(window, socket.peek(&mut first)).await,
        Ok(Ok(n)) if n > 0
    )
}

/// Does the client start a TLS handshake (a TLS record begins with 0x16),
/// or speak plaintext?
async fn looks_like_tls(socket: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(socket.peek(&mut first).await, Ok(1) if first[0] == 0x16)
}
