//! Applying a reloaded configuration (SIGHUP, `docs/operations.md#reload`) to the
//! running server.
//!
//! `cli::reload` re-reads the file, re-applies the command-line flags on top
//! (flags keep winning after a reload, nats-server#6606) and refuses a change
//! that cannot be made live; this module makes the accepted changes take
//! effect: logging, authorization (existing clients are re-checked and cut
//! with `Authorization Violation` if they no longer pass), `max_connections`
//! (surplus clients closed), routes added or removed, the pid file, and every
//! limit read per new connection. It is all or nothing: nothing is applied
//! unless the whole new configuration was accepted.

use std::sync::Arc;

use crate::auth::{Auth, AuthOutcome};
use crate::config::{Change, Options, ReloadError};
use crate::log;
use crate::process::cli::{self, Cli};
use crate::process::launch::log_config;
use crate::server::close::ClosedState;
use crate::server::Server;

impl Server {
    /// Reloads from the command line's configuration file. On success the
    /// changes (for `Reloaded: …` lines) are returned and already in effect.
    pub fn reload(self: &Arc<Self>, cli: &Cli) -> Result<Vec<Change>, ReloadError> {
        let old = self.options();
        let (new, changes) = cli::reload(cli, &old)?;
        self.apply(&old, new);
        Ok(changes)
    }

    fn apply(self: &Arc<Self>, old: &Options, new: Options) {
        if let Err(e) = log::reconfigure(log_config(&new)) {
            log::error!("Error reconfiguring the logger: {e}");
        }
        if new.pid_file != old.pid_file {
            if let Some(pid_file) = &new.pid_file {
                if let Err(e) = std::fs::write(pid_file, std::process::id().to_string()) {
                    log::error!("Could not write pidfile: {e}");
                }
            }
        }
        let auth = Auth::from_options(&new);
        let old_routes: Vec<String> = old.cluster.routes.iter().map(|u| u.raw.clone()).collect();
        let new_routes = new.cluster.routes.clone();
        let max_connections = new.max_connections;
        if new.tls != old.tls {
            if let Err(e) = self.load_tls(&new) {
                log::error!("Error loading TLS configuration: {e}");
            }
        }
        self.accounts.apply(&new);
        self.build_imports(&new);
        self.set_options(new);
        self.set_auth(auth);
        self.recheck_clients();
        self.enforce_max_connections(max_connections);
        if self.cluster.enabled() {
            for raw in &old_routes {
                if !new_routes.iter().any(|u| &u.raw == raw) {
                    self.remove_solicited(raw);
                }
            }
            for url in new_routes {
                if !old_routes.contains(&url.raw) {
                    self.spawn_solicit(url, true);
                }
            }
        }
    }

    /// Cuts clients whose credentials no longer pass; gives the others their
    /// new permissions and drops the subscriptions those no longer allow
    /// (with the violation error, as nats-server does).
    fn recheck_clients(&self) {
        let auth = self.auth();
        for client in self.clients() {
            let connect = client.connect.lock().clone();
            let Some(connect) = connect else {
                continue;
            };
            let nonce = client.nonce.lock().clone();
            match connect.recheck(&auth, nonce.as_deref()) {
                AuthOutcome::Denied { .. } => {
                    client.out.push_proto(b"-ERR 'Authorization Violation'\r\n");
                    log::error!("{} - authentication error", client.prefix());
                    client.close(ClosedState::AuthenticationViolation, true);
                }
                AuthOutcome::Allowed {
                    permissions,
                    account,
                    ..
                } => {
                    // A user whose account went away or changed is cut, as
                    // its subscriptions live in the old account's trie.
                    let bound = client.account();
                    let name = account.as_deref().unwrap_or(crate::config::GLOBAL_ACCOUNT);
                    let same = bound.as_ref().is_some_and(|b| {
                        &*b.name == name
                            && self
                                .accounts
                                .get(name)
                                .is_some_and(|now| Arc::ptr_eq(&now, b))
                    });
                    if !same {
                        client.out.push_proto(b"-ERR 'Authorization Violation'\r\n");
                        log::error!("{} - authentication error", client.prefix());
                        client.close(ClosedState::AuthenticationViolation, true);
                        continue;
                    }
                    client.set_permissions(permissions.clone());
                    let Some(perms) = permissions else {
                        client.set_delivery_deny(None);
                        continue;
                    };
                    let subs: Vec<_> = client.subs.lock().values().cloned().collect();
                    for sub in subs {
                        if perms.can_subscribe(&sub.subject, sub.queue.as_deref()) {
                            continue;
                        }
                        let text = match sub.queue.as_deref() {
                            None => format!("-ERR 'Permissions Violation for Subscription to {:?}'\r\n", &*sub.subject),
                            Some(q) => format!(
                                "-ERR 'Permissions Violation for Subscription to {:?} using queue {q:?}'\r\n",
                                &*sub.subject
                            ),
                        };
                        client.out.push_proto(text.as_bytes());
                        client.out.wake();
                        self.remove_sub(&sub);
                    }
                }
            }
        }
    }

    /// Closes random clients until at most `max` remain.
    fn enforce_max_connections(&self, max: usize) {
        let mut clients = self.clients();
        if clients.len() <= max {
            return;
        }
        fastrand::shuffle(&mut clients);
        let surplus = clients.len() - max;
        for client in clients.into_iter().take(surplus) {
            client
                .out
                .push_proto(b"-ERR 'maximum connections exceeded'\r\n");
            client.close(ClosedState::MaxConnectionsExceeded, true);
        }
        log::notice!("Closed {surplus} connections to fall within max_connections");
    }
}
