//! The one place that chooses between std and loom synchronisation types.
//!
//! Everything on a path that a loom model exercises (the writer lock, the
//! atomics of the trie and of the cache) comes from here, so that building with
//! `--cfg loom` swaps them all for loom's instrumented versions, the way tokio's
//! `loom` module and bytes' `src/loom.rs` do. crossbeam-epoch has its own shim,
//! switched by `--cfg crossbeam_loom` (see `scripts/loom`).
//!
//! This module must never grow logic: it only re-exports or thinly wraps.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

pub(crate) use std::sync::atomic::Ordering;

/// A mutual-exclusion lock with parking_lot's infallible `lock()` signature.
///
/// Writers of the trie serialise on it; readers never touch it.
pub(crate) struct Mutex<T> {
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
}

#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
            #[cfg(not(loom))]
            inner: parking_lot::Mutex::new(value),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(loom)]
        {
            // A poisoned lock means a writer panicked half-way; the trie is
            // still memory-safe (every step publishes a complete object), so
            // carry on as parking_lot would.
            self.inner.lock().unwrap_or_else(|e| e.into_inner())
        }
        #[cfg(not(loom))]
        {
            self.inner.lock()
        }
    }
}
