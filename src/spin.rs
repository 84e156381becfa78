//! A short spin of one runtime worker after traffic, so that the next
//! message is picked up without waking a parked thread.
//!
//! **Why.** On a quiet machine a runtime worker with nothing to do parks in
//! `epoll_wait`, and its CPU goes idle; on virtual machines waking an idle
//! vCPU costs tens of microseconds, paid again on every hop of a
//! request/reply round trip. Go's scheduler spins idle threads briefly
//! before parking them for the same reason. Here one task, woken by any
//! connection that just handled data, yields in a loop for [`SPIN`]: each
//! yield makes its worker poll the I/O driver without blocking, so bytes that
//! arrive meanwhile are handled at once. An idle server does not spin.
//!
//! **Must never:** hold a lock, delay a connection task (it only yields), or
//! spin without recent traffic.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long the worker keeps polling after the last batch of traffic.
pub const SPIN: Duration = Duration::from_micros(100);

pub struct Spinner {
    base: Instant,
    /// Nanoseconds after `base` until which to spin.
    until: AtomicU64,
    parked: AtomicBool,
    wake: Notify,
}

impl Default for Spinner {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            until: AtomicU64::new(0),
            parked: AtomicBool::new(true),
            wake: Notify::new(),
        }
    }
}

impl Spinner {
    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Traffic was just handled: spin for [`SPIN`] from now.
    #[inline]
    pub fn touch(&self) {
        self.until
            .store(self.now() + SPIN.as_nanos() as u64, SeqCst);
        if self.parked.load(SeqCst) && self.parked.swap(false, SeqCst) {
            self.wake.notify_one();
        }
    }

    /// The spinning task; runs until the runtime ends.
    pub async fn run(&self) {
        loop {
            while self.now() < self.until.load(SeqCst) {
                tokio::task::yield_now().await;
            }
            self.parked.store(true, SeqCst);
            if self.now() < self.until.load(SeqCst) {
                self.parked.store(false, SeqCst);
                continue;
            }
            self.wake.notified().await;
        }
    }
}

impl Spinner {
    /// Whether the spinning task is (about to be) spinning.
    pub fn is_spinning(&self) -> bool {
        !self.parked.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    async fn until(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..1000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting until {what}");
    }

    /// Traffic starts a spin, which ends by itself; the task then parks and
    /// a later touch starts it again. Other tasks on the same (single)
    /// worker keep running while it spins.
    #[tokio::test(flavor = "current_thread")]
    async fn spins_after_traffic_then_parks() {
        let spinner = Arc::new(Spinner::default());
        let task = {
            let spinner = spinner.clone();
            tokio::spawn(async move { spinner.run().await })
        };
        tokio::task::yield_now().await;
        assert!(!spinner.is_spinning(), "no traffic, no spin");
        for _ in 0..3 {
            spinner.touch();
            assert!(spinner.is_spinning());
            let other = tokio::spawn(async { 42 });
            assert_eq!(other.await.unwrap(), 42, "the spin yields to other tasks");
            until("the spin ends", || !spinner.is_spinning()).await;
        }
        task.abort();
    }
}
