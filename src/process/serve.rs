//! Serving: [`start`] binds the client listener and brings up the route
//! listener and monitoring in the background (tests, embedding); [`run`]
//! serves on a bound listener until a shutdown future resolves; and
//! [`Server::serve`] is the client accept loop, which hands each socket to
//! `client::serve`, enters lame duck mode when asked, and at the end closes
//! every connection, flushing what is queued.
//!
//! **Must never:** do a connection's work in the accept loop, or return from
//! [`Server::serve`] before connections had their grace to flush.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::client;
use crate::config::Options;
use crate::log;
use crate::server::Server;

impl Server {
    /// Accepts clients until `shutdown` resolves (or [`Server::shutdown`] is
    /// called), then closes every connection, flushing what is queued.
    pub async fn serve(
        self: &Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        let tracker = TaskTracker::new();
        let spinner = {
            let server = self.clone();
            tokio::spawn(async move { server.spinner.run().await })
        };
        tokio::pin!(shutdown);
        crate::monitor::system::start(self);
        self.start_system_events();
        self.ready.store(true, Relaxed);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, addr)) => {
                        let cid = self.next_cid();
                        tracker.spawn(client::serve(self.clone(), socket, addr, cid));
                    }
                    Err(e) => {
                        log::error!("Temporary Client Accept Error({e}), sleeping 10ms");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = &mut shutdown => break,
                _ = self.shutdown_token().cancelled() => break,
                _ = self.lame_duck.notified() => {
                    // Stop accepting, then let clients go gradually.
                    drop(listener);
                    self.run_lame_duck(&mut shutdown).await;
                    break;
                }
            }
        }
        self.ready.store(false, Relaxed);
        // Every client and route closes, each flushing what it has queued.
        self.shutdown();
        tracker.close();
        self.route_tasks.close();
        let grace = self.options().write_deadline + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, async {
            tracker.wait().await;
            self.route_tasks.wait().await;
        })
        .await;
        spinner.abort();
    }
}

/// Runs a server on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    opts: Options,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let server = Server::new(opts, listener.local_addr()?).map_err(io::Error::other)?;
    server.serve(listener, shutdown).await;
    Ok(())
}

/// A server running in the background (tests, embedding).
pub struct Running {
    pub server: Arc<Server>,
    pub addr: SocketAddr,
    /// The route listener, when clustering is on.
    pub cluster_addr: Option<SocketAddr>,
    /// The monitoring listener's address, when `http_port` is set.
    pub monitor_addr: Option<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
    monitor: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Shuts down and waits for every connection to finish.
    pub async fn stop(self) {
        self.server.shutdown();
        let _ = self.task.await;
        if let Some(mut monitor) = self.monitor {
            // In-flight monitoring requests finish; a stuck one is cut.
            if tokio::time::timeout(Duration::from_secs(5), &mut monitor)
                .await
                .is_err()
            {
                monitor.abort();
            }
        }
    }
}

/// Binds `opts.host:opts.port` (port 0 or -1 = random) and serves in the
/// background, with the monitoring endpoints when `http_port` is set.
pub async fn start(opts: Options) -> io::Result<Running> {
    let port = if opts.port < 0 { 0 } else { opts.port as u16 };
    let listener = crate::listen::bind(&opts.host, port).await?;
    let addr = listener.local_addr()?;
    let server = Server::new(opts, addr).map_err(io::Error::other)?;
    let monitor = crate::monitor::start_configured(&server).await?;
    let task = {
        let server = server.clone();
        tokio::spawn(async move { server.serve(listener, std::future::pending()).await })
    };
    let cluster_addr = server.start_cluster().await?;
    let (monitor_addr, monitor) = monitor.unzip();
    Ok(Running {
        server,
        addr,
        cluster_addr,
        monitor_addr,
        task,
        monitor,
    })
}
