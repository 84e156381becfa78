//! `sublist`: the NATS subject trie — lock-free matching, epoch reclamation,
//! and a coherent, bounded match cache.
//!
//! This crate is the performance core of the server. It knows nothing of
//! sockets, connections or the protocol: subscriptions are opaque handles of
//! the caller's type `S` (no back-references, unlike nats-server's sublist,
//! which points at `*client`).
//!
//! # Semantics
//! Those of nats-server's `sublist.go` (`docs/architecture.md#the-tries-semantics`): tokens
//! split on `.`, `*` matches one token, `>` one or more trailing tokens;
//! `foo.>` does not match `foo`; a published subject containing `*`/`>` is
//! routed literally through the wildcard slots. A result lists each plain
//! subscription once and each queue group once, with its matching members.
//!
//! # Concurrency contract
//! * [`Sublist::match_in`] and the other readers take no lock and never wait
//!   on a writer. Any number of threads match while others insert and remove.
//! * Writers ([`Sublist::insert`], [`Sublist::remove`],
//!   [`Sublist::remove_batch`]) serialise on one mutex among themselves.
//! * **C1 (coherence, cache included):** once `insert(s)` returns, every match
//!   that starts afterwards (in happens-before order) sees `s`; once
//!   `remove(s)` returns, none does. A match concurrent with a change may see
//!   either state. The protocol is described in `cache.rs`.
//!
//! # Invariants
//! The `// SAFETY:` comments and the loom models cite these by number.
//! * **I1 — single writer.** Every store into the trie's atomics (table slots,
//!   wildcard slots, `next` levels, subscription arrays, queue sets) is made
//!   while holding the writer lock. Readers only load.
//! * **I2 — publish complete objects.** A node, level or table is fully
//!   initialised before the Release store that makes it reachable; readers
//!   load with Acquire.
//! * **I3 — immutable once published.** Subscription arrays, queue sets,
//!   cache entries (except their `confirmed` flag) and match results are
//!   never written after publication; changes build a new copy and swap it in.
//!   A table's slots change only by single-pointer stores (node ↔ tombstone),
//!   and a table never shrinks or rehashes in place: it is replaced.
//! * **I4 — deferred reclamation.** Anything unlinked from a reachable
//!   location is retired through `reclaim::retire` (crossbeam-epoch's deferred
//!   destruction), never freed directly, so it stays valid for every thread
//!   pinned when it was unlinked. References handed out are bounded by the
//!   guard's lifetime.
//! * **I5 — ownership.** A level owns the nodes in its current table and its
//!   wildcard slots; a node owns its arrays, queue set and next level; a
//!   replaced table owns nothing but its slot array. An object is dropped only
//!   when unreachable (after its epoch, or when the whole sublist is dropped),
//!   and a pruned node is always empty, so retiring it never frees live
//!   children.
//!
//! # Memory
//! A pinned guard keeps alive everything retired since it was pinned: old
//! subscription arrays, pruned nodes, replaced tables, evicted cache entries.
//! Guards must therefore be short-lived (a batch of messages, not a
//! connection's lifetime). Retired objects are freed at most two epoch
//! advances later, once no thread pinned before their retirement is still
//! pinned. crossbeam collects only a little at a time on its own, so every
//! change helps it keep up (`reclaim.rs`): a caller that makes hundreds of
//! changes under one guard does not pile up garbage. `tests/reclaim.rs` checks
//! that memory returns to its baseline after heavy churn, and
//! `tests/reclaim_batched.rs` that it stays flat through 200k distinct
//! subscribe/unsubscribe pairs made the way a server makes them.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod array;
mod cache;
mod node;
mod reclaim;
mod result;
mod stats;
pub mod subject;
mod sync;
mod trie;

pub use crossbeam_epoch::{Collector, Guard};
pub use result::{MatchResult, QueueGroup};
pub use stats::Stats;
pub use trie::{Config, MatchRef, Sublist, SublistError, Subscribed, DEFAULT_CACHE_SLOTS};
