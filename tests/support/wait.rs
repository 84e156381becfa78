//! The timeout policy of the tests: how long to wait for what, and the
//! bounded helpers that wait. Owns every "how long"; a test never loops
//! without one of these bounds.

use std::future::Future;
use std::time::Duration;

use tokio::time::{sleep, Instant};

/// How long a read waits for bytes that must *not* come.
pub const QUIET: Duration = Duration::from_millis(150);
/// How long a read on an open connection waits for bytes that must come.
pub const WAIT: Duration = Duration::from_secs(2);
/// How long a state that must be reached may take: a poll ([`eventually`],
/// [`until`]), a monitoring answer, a client library's round trip, an
/// in-process cluster forming.
pub const SETTLE: Duration = Duration::from_secs(10);
/// How long something slow may take: containers, clusters of real servers.
pub const SLOW: Duration = Duration::from_secs(20);
/// How often the pollers look.
const POLL: Duration = Duration::from_millis(20);

/// `fut`'s output, or a test failure naming `what` after `bound`.
pub async fn timeout<T>(what: &str, bound: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(bound, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {bound:?} waiting for {what}"))
}

/// Polls `f` until it returns `Some`, for at most [`SETTLE`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(POLL).await;
    }
}

/// Polls `cond` until it holds, for at most [`SETTLE`]; fails the test,
/// naming `what`, after that.
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(POLL).await;
    }
}

/// [`until`] for tests without a runtime: polls `cond` from this thread.
pub fn until_blocking(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + SETTLE;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}
