//! Lame duck mode (SIGUSR2, `docs/operations.md#lame-duck-mode`): leave gracefully so that
//! clients move to other servers before this one goes away.
//!
//! Sequence, as nats-server: stop accepting clients (the route listener
//! stays); tell routes (INFO `ldm:true`) and clients that take async INFO
//! (INFO `ldm:true` with this server's URLs removed from `connect_urls`, and
//! from every INFO after it); wait `lame_duck_grace_period`; close the
//! clients spread over the rest of `lame_duck_duration` (at most one second
//! apart); then shut down. SIGTERM does not cut it short (nats-server#1973).
//! Must never drop a client without first sending what was queued for it,
//! nor tell one of a cluster without the other servers (`push_async_info`
//! sends nothing once shutting down).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::client::info::Info;
use crate::log;
use crate::server::close::ClosedState;
use crate::server::Server;

impl Server {
    /// Asks the server to enter lame duck mode (idempotent).
    pub fn enter_lame_duck(&self) {
        if !self.in_lame_duck.swap(true, Relaxed) {
            self.lame_duck.notify_one();
        }
    }

    pub fn is_lame_duck(&self) -> bool {
        self.in_lame_duck.load(Relaxed)
    }

    /// Runs the sequence after the client listener was closed. An external
    /// shutdown (SIGINT) still ends it early.
    pub(crate) async fn run_lame_duck(
        self: &Arc<Self>,
        shutdown: &mut Pin<&mut impl Future<Output = ()>>,
    ) {
        let opts = self.options();
        log::notice!("Entering lame duck mode, stop accepting new clients");
        self.event_lame_duck();
        self.announce_lame_duck();
        let clients = self.clients();
        if clients.is_empty() {
            return;
        }
        let grace = opts.lame_duck_grace_period;
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = shutdown.as_mut() => return,
        }
        log::notice!("Closing existing clients");
        let clients = self.clients();
        let spread = opts.lame_duck_duration.saturating_sub(grace);
        let pause = pause_between(spread, clients.len());
        for client in clients {
            client.close(ClosedState::ServerShutdown, true);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.as_mut() => return,
            }
        }
    }

    /// Tells routes and clients that this server is going away.
    fn announce_lame_duck(&self) {
        for entry in self.routes.lock().values() {
            entry.shared.out.push_proto(&self.route_ldm_info());
            entry.shared.out.wake();
        }
        // Without ours: `connect_urls` leaves them out from now on.
        let others = self.connect_urls();
        for client in self.clients() {
            if !client.wants_async_info() {
                continue;
            }
            let info = Info {
                ldm: true,
                ..self.client_info_with(client.cid, client.addr, others.clone())
            };
            client.out.push_proto(&info.to_line());
            client.out.wake();
        }
    }
}

/// nats-server's pacing: the clients are closed evenly over `spread`, but
/// never more than one second apart.
fn pause_between(spread: Duration, clients: usize) -> Duration {
    if clients == 0 {
        return Duration::ZERO;
    }
    (spread / clients as u32).min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing() {
        assert_eq!(
            pause_between(Duration::from_secs(110), 10),
            Duration::from_secs(1)
        );
        assert_eq!(
            pause_between(Duration::from_secs(10), 100),
            Duration::from_millis(100)
        );
        assert_eq!(pause_between(Duration::from_secs(10), 0), Duration::ZERO);
    }
}
