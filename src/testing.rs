//! Helpers shared by the unit tests of several modules.
//!
//! Owns nothing the server uses: compiled for tests only.

use std::time::Duration;

/// Waits (up to a second, in 1 ms steps) until `cond` holds; panics naming
/// `what` if it never does.
pub(crate) async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting until {what}");
}
