//! Retiring unlinked objects to the epoch collector, and making sure the
//! collector keeps up with what the sublist retires.
//!
//! Every object the trie or the cache unlinks goes through [`retire`] or
//! [`retire_with`] (I4): a deferred destruction, counted. crossbeam-epoch
//! frees retired garbage only when a thread *collects*, which it does on its
//! own once every 128 outermost pins and then for at most 8 sealed bags (512
//! objects). A server pins once per read batch and may subscribe and
//! unsubscribe hundreds of distinct subjects inside it, retiring thousands of
//! objects per pin: left alone, the collector's queue grows without bound
//! (about 1 KB per SUB/UNSUB pair of fresh subjects).
//!
//! So the sublist helps: after each change (and each cache install), the
//! thread that made it calls [`keep_up`]. Once the thread has retired a bag's
//! worth of objects since it last helped, and more than [`BACKLOG`] retired
//! objects are still waiting in the collector, it collects (`Guard::flush`)
//! until a collection frees nothing more. Garbage retired under a guard that
//! is still pinned cannot be freed yet; it is freed by a later call, on this
//! thread or another, once the pin is gone.
//!
//! This module never frees anything itself and never decides *when* an
//! object is unreachable: crossbeam's epochs do (I4). It only asks the
//! collector to do its work sooner.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crossbeam_epoch::{Guard, Pointer, Shared};

/// Retired objects not yet freed, across every sublist of the process (they
/// share crossbeam's global collector). A heuristic: only its order of
/// magnitude decides anything.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Retired objects waiting in the collector before a writer helps collect.
/// (Under Miri, whose tour makes only a few changes, a handful, so that the
/// tour runs through `collect`.)
#[cfg(not(loom))]
const BACKLOG: usize = if cfg!(miri) { 4 } else { 4096 };

/// How many objects a thread retires between two attempts to help: one of
/// crossbeam's bags, so that a `flush` (which seals the thread's partly
/// filled bag) seals a nearly full one (crossbeam's bags hold 4 under Miri).
#[cfg(not(loom))]
const STRIDE: usize = if cfg!(miri) { 4 } else { 64 };

/// Collections per attempt at most (each frees at most 8 bags).
#[cfg(not(loom))]
const MAX_FLUSHES: usize = 64;

thread_local! {
    /// Objects this thread retired since it last tried to help.
    static SINCE: Cell<usize> = const { Cell::new(0) };
}

/// Retires `ptr` for destruction once no pinned thread can reach it.
///
/// # Safety
/// As `Guard::defer_destroy`: `ptr` was unlinked from every location a
/// reader can reach from now on (I4), and nothing else will free it (I5).
pub(crate) unsafe fn retire<T>(guard: &Guard, ptr: Shared<'_, T>) {
    let addr = ptr.into_usize();
    // SAFETY: forwarded from the caller's contract. `addr` is crossbeam's own
    // encoding of that allocation (tag bits included), which `from_usize`
    // turns back into the owning pointer.
    unsafe {
        retire_with(guard, move || {
            drop(crossbeam_epoch::Owned::<T>::from_usize(addr));
        })
    };
}

/// Runs `free` once no pinned thread can reach what it frees.
///
/// # Safety
/// As `Guard::defer_unchecked`: what `free` destroys must be unreachable
/// for every thread that pins from now on (I4), and owned by `free` alone.
pub(crate) unsafe fn retire_with(guard: &Guard, free: impl FnOnce()) {
    PENDING.fetch_add(1, Relaxed);
    SINCE.with(|n| n.set(n.get() + 1));
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        guard.defer_unchecked(move || {
            free();
            PENDING.fetch_sub(1, Relaxed);
        })
    };
}

/// After a change: if this thread has retired a bag's worth of objects and
/// the collector is behind, collect until it frees nothing more.
///
/// Under loom every change collects once: the counters above live outside
/// the model (they would make its executions differ), and the models must
/// run through `flush` next to the readers they race.
#[cfg(loom)]
pub(crate) fn keep_up(guard: &Guard) {
    guard.flush();
}

/// After a cache install: as [`keep_up`].
#[cfg(not(loom))]
#[inline]
pub(crate) fn keep_up_after_install(guard: &Guard) {
    keep_up(guard);
}

/// Under loom a reader's install does not collect: it is the same `flush` a
/// writer makes (modelled beside pinned readers in every model), and in the
/// readers too it multiplied the models' executions (remove ‖ match 5×
/// longer, reclamation 5×) without a new interleaving of our own code.
#[cfg(loom)]
pub(crate) fn keep_up_after_install(_guard: &Guard) {}

/// After a change: if this thread has retired a bag's worth of objects and
/// the collector is behind, collect until it frees nothing more.
#[cfg(not(loom))]
#[inline]
pub(crate) fn keep_up(guard: &Guard) {
    let due = SINCE.with(|n| {
        let due = n.get() >= STRIDE;
        if due {
            n.set(0);
        }
        due
    });
    if due && PENDING.load(Relaxed) > BACKLOG {
        collect(guard);
    }
}

#[cfg(not(loom))]
#[cold]
fn collect(guard: &Guard) {
    let mut pending = PENDING.load(Relaxed);
    // The first collection may only advance the epoch; stop after two that
    // free nothing (what is left was retired under pins still held).
    let mut idle = 0;
    for _ in 0..MAX_FLUSHES {
        guard.flush();
        let now = PENDING.load(Relaxed);
        if now < pending {
            idle = 0;
        } else {
            idle += 1;
            if idle == 2 {
                break;
            }
        }
        pending = now;
        if pending <= BACKLOG / 2 {
            break;
        }
    }
}
