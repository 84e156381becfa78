//! A short spin of one runtime worker after traffic, so that the next
//! message is picked up without waking a parked thread.
//!
//! **Why.** On a quiet machine a runtime worker with nothing to do parks in
//! `epoll_wait`, and its CPU goes idle; on virtual machines waking an idle
//! vCPU costs tens of microseconds, paid again on every hop of a
//! request/reply round trip. Go's scheduler spins idle threads briefly
//! before parking them for the same reason. Here one task, woken by any
//! connection whose last batch sent something to someone, yields in a loop
//! for up to [`SPIN`]: each yield makes its worker poll the I/O driver without
//! blocking, so bytes that arrive meanwhile are handled at once. An idle
//! server does not spin.
//!
//! **Only after sending.** What the spin catches quickly is an answer to
//! what we just sent (a reply to a delivered request, the next request after
//! a reply, the next publish after our `PONG`). A batch that sent nothing
//! invites no answer, and spinning after it only takes a CPU from the
//! publisher feeding us.
//!
//! **Only as long as it pays.** Each batch's distance from the one before
//! sets the window ([`next_window`]): a batch that a spin of `d` ≤ [`SPIN`]
//! would have caught keeps the window at least `2d`; a batch after a longer
//! pause shrinks it by an eighth, and below [`SPIN_MIN`] no spin starts. So
//! request/reply keeps spinning while a trickle of messages stops.
//!
//! **Spinning politely.** Each turn also gives the CPU to any other runnable
//! thread of its scheduling group (`sched_yield`), so the spin only uses an
//! otherwise idle CPU (threads of another Linux autogroup it cannot yield
//! to: the scheduler shares the CPUs between groups first).
//!
//! What each of these rules bought is measured in
//! `docs/performance.md#what-bought-what`.
//!
//! **Must never:** hold a lock, delay a connection task (it only yields),
//! spin without recent traffic that sent something, spin longer than
//! [`SPIN`] after it, or keep a CPU from another thread of its group that
//! wants it.

use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The longest the worker keeps polling after a batch of traffic.
pub const SPIN: Duration = Duration::from_micros(100);

/// A spin window shorter than this is not worth waking the spinning task
/// for: the batch starts none.
const SPIN_MIN: Duration = Duration::from_micros(10);

/// [`SPIN`] and [`SPIN_MIN`] in nanoseconds, the unit of the window.
const SPIN_NS: u64 = SPIN.as_nanos() as u64;
const SPIN_MIN_NS: u64 = SPIN_MIN.as_nanos() as u64;

/// The spin window after a batch that came `gap` nanoseconds after the one
/// before, given the current `window` (see "Only as long as it pays").
fn next_window(window: u64, gap: u64) -> u64 {
    if gap <= SPIN_NS {
        // A spin of `gap` would have caught this batch: keep at least
        // twice that.
        window.max((2 * gap).min(SPIN_NS))
    } else {
        // No spin within SPIN would have caught it: shrink by an eighth.
        window - window / 8
    }
}

pub struct Spinner {
    base: Instant,
    /// Nanoseconds after `base` until which to spin.
    until: AtomicU64,
    /// Nanoseconds after `base` of the last touch.
    last: AtomicU64,
    /// The current spin window, nanoseconds ([`next_window`]).
    window: AtomicU64,
    parked: AtomicBool,
    wake: Notify,
}

impl Default for Spinner {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            until: AtomicU64::new(0),
            last: AtomicU64::new(0),
            window: AtomicU64::new(SPIN_NS),
            parked: AtomicBool::new(true),
            wake: Notify::new(),
        }
    }
}

impl Spinner {
    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Traffic that may be answered was just handled: spin for the current
    /// window from now (at most [`SPIN`]), unless the window has shrunk
    /// below [`SPIN_MIN`]. Racing touches may lose each other's window
    /// updates: the window is a heuristic, never a correctness matter.
    #[inline]
    pub fn touch(&self) {
        let now = self.now();
        let gap = now.saturating_sub(self.last.swap(now, Relaxed));
        let window = next_window(self.window.load(Relaxed), gap);
        self.window.store(window, Relaxed);
        if window >= SPIN_MIN_NS {
            self.spin_until(now + window);
        }
    }

    /// Spins until `until` (nanoseconds after `base`), waking the spinning
    /// task if it is parked.
    fn spin_until(&self, until: u64) {
        self.until.store(until, SeqCst);
        if self.parked.load(SeqCst) && self.parked.swap(false, SeqCst) {
            self.wake.notify_one();
        }
    }

    /// The spinning task; runs until the runtime ends.
    pub async fn run(&self) {
        loop {
            while self.now() < self.until.load(SeqCst) {
                // A system call of a microsecond or so, not a wait: it
                // returns once no other thread wants this CPU.
                std::thread::yield_now();
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
    use crate::testing::until;
    use std::sync::Arc;

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

    const US: u64 = 1_000;

    /// Paced traffic shrinks the window until batches start no spin; one
    /// batch that a spin would have caught brings it back; request/reply
    /// (short gaps between the hops, long ones between requests) keeps a
    /// window that covers a hop.
    #[test]
    fn the_window_follows_the_gaps_between_batches() {
        let (max, min) = (SPIN_NS, SPIN_MIN_NS);
        let mut window = max;
        for _ in 0..30 {
            window = next_window(window, 200 * US);
        }
        assert!(window < min, "still {window} ns after 30 paused batches");
        window = next_window(window, 30 * US);
        assert_eq!(window, 60 * US, "a batch 30 µs after the last one");
        for _ in 0..100 {
            window = next_window(window, 30 * US);
        }
        assert_eq!(window, 60 * US, "steady traffic keeps it");
        assert_eq!(next_window(window, 80 * US), max, "capped at SPIN");

        // Requests 1 ms apart, each answered 25 µs later.
        let mut window = max;
        for _ in 0..1000 {
            window = next_window(window, 1000 * US); // the request
            assert!(
                window > 25 * US,
                "the spin after a request misses its reply"
            );
            window = next_window(window, 25 * US); // the reply
        }
    }

    /// The same through [`Spinner::touch`], in real time: touches more than
    /// [`SPIN`] apart stop starting spins, and touches close together start
    /// them again.
    #[test]
    fn paced_touches_stop_spinning_and_close_ones_restart_it() {
        let spinner = Spinner::default();
        for _ in 0..30 {
            spinner.touch();
            std::thread::sleep(Duration::from_millis(1));
        }
        let until = spinner.until.load(SeqCst);
        spinner.touch();
        assert_eq!(spinner.until.load(SeqCst), until, "a paused batch spun");
        // 20 µs apart: a spin of 20 µs would catch each, so the window
        // grows to 40 µs. Waited out on the CPU rather than slept: a sleep
        // on a busy machine (or beside this module's test that keeps a CPU
        // busy) oversleeps past SPIN every time; a thread preempted now and
        // then only costs a round.
        let restarted = (0..1000).any(|_| {
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_micros(20) {
                std::hint::spin_loop();
            }
            spinner.touch();
            spinner.until.load(SeqCst) != until
        });
        assert!(restarted, "close batches started no spin");
    }

    /// While it spins, a busy thread on the same CPU gets turns between the
    /// spin's turns, instead of only when the kernel preempts the spin (every
    /// few milliseconds, longer than this test): the spin takes no CPU
    /// another thread wants. Seen here: the busy thread ran in about 70 of
    /// 200 turns with the yield (Linux 6.18), in none without it.
    #[test]
    fn the_spin_leaves_the_cpu_to_a_thread_that_wants_it() {
        use rustix::thread::{sched_getcpu, sched_setaffinity, CpuSet};
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        let mut one_cpu = CpuSet::new();
        one_cpu.set(sched_getcpu());
        sched_setaffinity(None, &one_cpu).unwrap();
        let progress = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let busy = {
            let (progress, stop, one_cpu) = (progress.clone(), stop.clone(), one_cpu);
            std::thread::spawn(move || {
                sched_setaffinity(None, &one_cpu).unwrap();
                while !stop.load(Relaxed) {
                    progress.fetch_add(1, Relaxed);
                }
            })
        };
        while progress.load(Relaxed) == 0 {
            std::thread::yield_now();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // Turns of this loop in which the busy thread ran, out of TURNS.
        const TURNS: usize = 200;
        let ran = rt.block_on(async {
            let spinner = Arc::new(Spinner::default());
            let task = {
                let spinner = spinner.clone();
                tokio::spawn(async move { spinner.run().await })
            };
            let mut ran = 0;
            for _ in 0..TURNS {
                // A full spin every turn: this test is about the spin's
                // loop, not its window (which the busy thread's time
                // slices, longer than SPIN, would shrink to nothing).
                spinner.spin_until(spinner.now() + SPIN_NS);
                let before = progress.load(Relaxed);
                // The spin's task takes one turn.
                tokio::task::yield_now().await;
                if progress.load(Relaxed) != before {
                    ran += 1;
                }
            }
            task.abort();
            ran
        });
        stop.store(true, Relaxed);
        busy.join().unwrap();
        assert!(
            ran >= TURNS / 10,
            "the busy thread ran in {ran} of {TURNS} turns of the spin"
        );
    }
}
