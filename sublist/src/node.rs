//! The trie's building blocks: nodes, levels and the per-level token table.
//!
//! Shape (as in nats-server's sublist): a [`Level`] holds the children of one
//! token position — literal tokens in a [`Table`], plus two dedicated slots for
//! `*` and `>`. A [`Node`] holds the subscriptions whose subject ends at it and,
//! lazily, the next level.
//!
//! Concurrency: every field a reader follows is a `crossbeam_epoch::Atomic`.
//! Only the single writer (holding the sublist's writer lock) stores into them,
//! and it never mutates an object a reader can already see except through those
//! atomics: subscription arrays and queue sets are copy-on-write, and a table is
//! replaced, not rehashed in place, when it grows. What a writer unlinks it
//! retires with `defer_destroy`, so a pinned reader keeps a consistent,
//! live snapshot of whatever it reached (invariants I1–I5 in `lib.rs`).
//!
//! This module must never take a lock or wait: both readers and the writer run
//! through it, and readers must stay lock-free.

use std::sync::Arc;

use compact_str::CompactString;
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Pointer, Shared};

use crate::array::SubArray;
use crate::result::MatchResult;
use crate::sync::{AtomicU64, AtomicUsize, Ordering::*};

/// Tag of a table slot whose node was removed (a tombstone). Readers probe
/// past it; the writer may reuse it.
const TOMBSTONE: usize = 1;
/// Smallest table capacity.
const MIN_TABLE: usize = 4;

/// One position in a subject: the subscriptions ending here and the level
/// below.
pub(crate) struct Node<S> {
    /// Hash of `token` under the sublist's hasher (literal children only).
    pub(crate) hash: u64,
    /// The token this node stands for; empty for `*` and `>` nodes.
    pub(crate) token: CompactString,
    /// Plain subscriptions; null when there are none. I3.
    plain: Atomic<SubArray<S>>,
    /// Queue subscriptions grouped by name; null when there are none. I3.
    queues: Atomic<QueueSet<S>>,
    /// Children; null until a longer subject passes through this node.
    pub(crate) next: Atomic<Level<S>>,
}

/// The queue groups of one node. Replaced as a whole on every change.
pub(crate) struct QueueSet<S> {
    pub(crate) groups: Vec<(Arc<str>, Box<[S]>)>,
}

/// The children of one token position.
pub(crate) struct Level<S> {
    /// Literal children; null until the first one is added.
    table: Atomic<Table<S>>,
    /// The `*` child.
    pub(crate) pwc: Atomic<Node<S>>,
    /// The `>` child.
    pub(crate) fwc: Atomic<Node<S>>,
}

/// An open-addressing (linear probing) table of literal children with a single
/// writer and lock-free readers.
///
/// Slots only ever go null → node → tombstone → node: a reader probing for a
/// token can therefore stop at the first null slot. The table does not own the
/// nodes it points to (its [`Level`] does), so an old table retired after a
/// resize frees only its slot array.
struct Table<S> {
    slots: Box<[Slot<S>]>,
    /// Nodes present (writer-maintained).
    live: AtomicUsize,
    /// Slots that are not null: live nodes plus tombstones (writer-maintained).
    used: AtomicUsize,
}

/// One open-addressing slot: the node and, beside it, its token's hash, so
/// that a probe compares hashes within the slot array's cache lines and
/// dereferences a node only when the hash matches. A miss — the common case
/// when publishes spread over many subjects — then costs no node loads.
struct Slot<S> {
    /// Hash of the node last stored here (stale once the slot is a
    /// tombstone; rewritten before the node pointer when it is reused).
    hash: AtomicU64,
    node: Atomic<Node<S>>,
}

impl<S> Node<S> {
    pub(crate) fn new(hash: u64, token: &str) -> Self {
        Self {
            hash,
            token: CompactString::new(token),
            plain: Atomic::null(),
            queues: Atomic::null(),
            next: Atomic::null(),
        }
    }

    /// The plain subscriptions as of this instant.
    pub(crate) fn plain<'g>(&self, guard: &'g Guard) -> &'g [S] {
        load_array(&self.plain, guard)
    }

    /// The queue groups as of this instant.
    pub(crate) fn queues<'g>(&self, guard: &'g Guard) -> &'g [(Arc<str>, Box<[S]>)] {
        let set = self.queues.load(Acquire, guard);
        // SAFETY: I3 — a queue set is fully built before it is published and
        // never mutated afterwards; I4 — it is retired with `defer_destroy`, so
        // it outlives `guard`.
        match unsafe { set.as_ref() } {
            Some(set) => &set.groups,
            None => &[],
        }
    }

    /// The next level, if any.
    pub(crate) fn next<'g>(&self, guard: &'g Guard) -> Option<&'g Level<S>> {
        // SAFETY: I2 — a level is published fully initialised; I4 — it is only
        // freed by deferred destruction after being unlinked, so it outlives
        // `guard`.
        unsafe { self.next.load(Acquire, guard).as_ref() }
    }

    /// Any subscription at this node?
    pub(crate) fn has_subs(&self, guard: &Guard) -> bool {
        !self.plain.load(Acquire, guard).is_null() || !self.queues.load(Acquire, guard).is_null()
    }

    /// Appends this node's subscriptions to a result.
    pub(crate) fn add_to(&self, out: &mut MatchResult<S>, guard: &Guard)
    where
        S: Clone,
    {
        out.plain.extend_from_slice(self.plain(guard));
        for (name, members) in self.queues(guard) {
            out.add_queue(name, members);
        }
    }

    /// Writer only: adds a plain subscription. Returns false (and changes
    /// nothing) when an equal one is already here.
    pub(crate) fn insert_plain(&self, value: S, guard: &Guard) -> bool
    where
        S: Clone + PartialEq,
    {
        let current = self.plain(guard);
        if current.contains(&value) {
            return false;
        }
        let next = current.iter().cloned().chain(std::iter::once(value));
        store_array(&self.plain, next, current.len() + 1, guard);
        true
    }

    /// Writer only: removes a plain subscription. Returns false when absent.
    pub(crate) fn remove_plain(&self, value: &S, guard: &Guard) -> bool
    where
        S: Clone + PartialEq,
    {
        let current = self.plain(guard);
        let Some(at) = current.iter().position(|s| s == value) else {
            return false;
        };
        let rest = current
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != at)
            .map(|(_, s)| s.clone());
        store_array(&self.plain, rest, current.len() - 1, guard);
        true
    }

    /// Writer only: adds a member to queue group `queue`. Returns false when
    /// an equal member is already in that group.
    pub(crate) fn insert_queue(&self, queue: &str, value: S, guard: &Guard) -> bool
    where
        S: Clone + PartialEq,
    {
        let current = self.queues(guard);
        let mut groups: Vec<(Arc<str>, Box<[S]>)> = Vec::with_capacity(current.len() + 1);
        let mut placed = false;
        for (name, members) in current {
            if &**name == queue {
                if members.contains(&value) {
                    return false;
                }
                let grown: Box<[S]> = members
                    .iter()
                    .cloned()
                    .chain(std::iter::once(value.clone()))
                    .collect();
                groups.push((Arc::clone(name), grown));
                placed = true;
            } else {
                groups.push((Arc::clone(name), members.clone()));
            }
        }
        if !placed {
            groups.push((Arc::from(queue), Box::new([value])));
        }
        self.store_queues(groups, guard);
        true
    }

    /// Writer only: removes a member from queue group `queue` (dropping the
    /// group when it empties). Returns false when absent.
    pub(crate) fn remove_queue(&self, queue: &str, value: &S, guard: &Guard) -> bool
    where
        S: Clone + PartialEq,
    {
        let current = self.queues(guard);
        let Some(g) = current
            .iter()
            .position(|(n, m)| &**n == queue && m.contains(value))
        else {
            return false;
        };
        let mut groups = Vec::with_capacity(current.len());
        for (i, (name, members)) in current.iter().enumerate() {
            if i != g {
                groups.push((Arc::clone(name), members.clone()));
                continue;
            }
            let rest: Box<[S]> = members.iter().filter(|m| *m != value).cloned().collect();
            if !rest.is_empty() {
                groups.push((Arc::clone(name), rest));
            }
        }
        self.store_queues(groups, guard);
        true
    }

    fn store_queues(&self, groups: Vec<(Arc<str>, Box<[S]>)>, guard: &Guard) {
        let new = if groups.is_empty() {
            Shared::null()
        } else {
            Owned::new(QueueSet { groups }).into_shared(guard)
        };
        let old = self.queues.swap(new, AcqRel, guard);
        if !old.is_null() {
            // SAFETY: I4 — `old` was just unlinked by the only writer, so no new
            // reader can reach it; readers already holding it are pinned, and
            // the destructor runs only after they unpin.
            unsafe { crate::reclaim::retire(guard, old) };
        }
    }
}

impl<S> Drop for Node<S> {
    fn drop(&mut self) {
        // SAFETY: I5 — a node is dropped only when no thread can reach it
        // (deferred destruction after unlinking, or the whole trie being
        // dropped), so we own everything it points to and need no protection.
        unsafe {
            let guard = epoch::unprotected();
            free_array(self.plain.load(Relaxed, guard));
            let queues = self.queues.load(Relaxed, guard);
            if !queues.is_null() {
                drop(queues.into_owned());
            }
            let next = self.next.load(Relaxed, guard);
            if !next.is_null() {
                drop(next.into_owned());
            }
        }
    }
}

impl<S> Level<S> {
    pub(crate) fn new() -> Self {
        Self {
            table: Atomic::null(),
            pwc: Atomic::null(),
            fwc: Atomic::null(),
        }
    }

    /// The literal child for `token`, if present. Lock-free.
    pub(crate) fn literal<'g>(
        &self,
        hash: u64,
        token: &str,
        guard: &'g Guard,
    ) -> Option<&'g Node<S>> {
        let table = self.table(guard)?;
        table.find(hash, token, guard).map(|(_, node)| node)
    }

    /// The `*` child.
    pub(crate) fn pwc<'g>(&self, guard: &'g Guard) -> Option<&'g Node<S>> {
        // SAFETY: I2 and I4, as for every node pointer.
        unsafe { self.pwc.load(Acquire, guard).as_ref() }
    }

    /// The `>` child.
    pub(crate) fn fwc<'g>(&self, guard: &'g Guard) -> Option<&'g Node<S>> {
        // SAFETY: I2 and I4, as for every node pointer.
        unsafe { self.fwc.load(Acquire, guard).as_ref() }
    }

    fn table<'g>(&self, guard: &'g Guard) -> Option<&'g Table<S>> {
        // SAFETY: I2 — tables are published fully initialised; I4 — a replaced
        // table is retired with deferred destruction and outlives `guard`.
        unsafe { self.table.load(Acquire, guard).as_ref() }
    }

    /// Calls `f` with every literal child. Lock-free; a child added or removed
    /// concurrently may or may not be seen.
    pub(crate) fn for_each_literal<'g>(&'g self, guard: &'g Guard, mut f: impl FnMut(&'g Node<S>)) {
        if let Some(table) = self.table(guard) {
            for slot in table.slots.iter() {
                // SAFETY: I2 and I4, as for every node pointer.
                if let Some(node) = unsafe { slot.node.load(Acquire, guard).as_ref() } {
                    f(node);
                }
            }
        }
    }

    /// Writer only: no children at all.
    pub(crate) fn is_empty(&self, guard: &Guard) -> bool {
        self.pwc.load(Relaxed, guard).is_null()
            && self.fwc.load(Relaxed, guard).is_null()
            && self.table(guard).is_none_or(|t| t.live.load(Relaxed) == 0)
    }

    /// Writer only: the literal child for `token`, created if missing. The
    /// bool says whether it was created.
    pub(crate) fn literal_or_insert<'g>(
        &self,
        hash: u64,
        token: &str,
        guard: &'g Guard,
    ) -> (&'g Node<S>, bool) {
        if let Some(node) = self.literal(hash, token, guard) {
            return (node, false);
        }
        let table = self.table_with_room(guard);
        let node = Owned::new(Node::new(hash, token)).into_shared(guard);
        table.insert(node, guard);
        // SAFETY: we just allocated it; I4 keeps it alive while `guard` lives.
        (unsafe { node.deref() }, true)
    }

    /// Writer only: unlinks the literal child for `token` and returns it for
    /// the caller to retire.
    pub(crate) fn unlink_literal<'g>(
        &self,
        hash: u64,
        token: &str,
        guard: &'g Guard,
    ) -> Option<Shared<'g, Node<S>>> {
        let table = self.table(guard)?;
        let (slot, _) = table.find(hash, token, guard)?;
        let node = table.slots[slot]
            .node
            .swap(Shared::null().with_tag(TOMBSTONE), AcqRel, guard);
        table.live.fetch_sub(1, Relaxed);
        if table.live.load(Relaxed) == 0 {
            // Free the whole table rather than keep a slot array of tombstones.
            let old = self.table.swap(Shared::null(), AcqRel, guard);
            // SAFETY: I4 — unlinked by the only writer; readers still probing
            // it are pinned. A table does not own its nodes, so this frees
            // only the slot array.
            unsafe { crate::reclaim::retire(guard, old) };
        }
        Some(node)
    }

    /// Writer only: the current table, replaced by a larger (or tombstone-free)
    /// copy when one more insert would push it past 3/4 full.
    fn table_with_room<'g>(&self, guard: &'g Guard) -> &'g Table<S> {
        let current = self.table.load(Acquire, guard);
        // SAFETY: I2/I4 as in `table`.
        if let Some(table) = unsafe { current.as_ref() } {
            if (table.used.load(Relaxed) + 1) * 4 <= table.slots.len() * 3 {
                return table;
            }
        }
        // SAFETY: as above.
        let live = unsafe { current.as_ref() }.map_or(0, |t| t.live.load(Relaxed));
        let capacity = ((live + 1) * 2).next_power_of_two().max(MIN_TABLE);
        let fresh = Table::with_capacity(capacity);
        // SAFETY: as above.
        if let Some(old) = unsafe { current.as_ref() } {
            for slot in old.slots.iter() {
                let node = slot.node.load(Relaxed, guard);
                if !node.is_null() && node.tag() == 0 {
                    fresh.insert(node, guard);
                }
            }
        }
        let fresh = Owned::new(fresh).into_shared(guard);
        self.table.store(fresh, Release);
        if !current.is_null() {
            // SAFETY: I4 — replaced by the only writer; readers still probing
            // the old table are pinned. Only the slot array is freed (I5: the
            // level, not the table, owns the nodes).
            unsafe { crate::reclaim::retire(guard, current) };
        }
        // SAFETY: just published; I4.
        unsafe { fresh.deref() }
    }
}

impl<S> Level<S> {
    /// Detaches every child this level owns (I5), leaving it empty, and frees
    /// its table's slot array. Only for a level nothing else can reach.
    fn take_children(&mut self, into: &mut Vec<Owned<Node<S>>>) {
        // SAFETY: I5 — called only from `Drop`, when no thread can reach this
        // level; it owns the nodes in its current table and its wildcard
        // slots, and each is detached exactly once (the slots are nulled).
        unsafe {
            let guard = epoch::unprotected();
            let table = self.table.swap(Shared::null(), Relaxed, guard);
            if !table.is_null() {
                for slot in table.deref().slots.iter() {
                    let node = slot.node.load(Relaxed, guard);
                    if !node.is_null() && node.tag() == 0 {
                        into.push(node.into_owned());
                    }
                }
                drop(table.into_owned());
            }
            for child in [&self.pwc, &self.fwc] {
                let node = child.swap(Shared::null(), Relaxed, guard);
                if !node.is_null() {
                    into.push(node.into_owned());
                }
            }
        }
    }
}

impl<S> Drop for Level<S> {
    /// Frees the whole subtree without recursion: a subject may have as many
    /// tokens as the control line allows (100k and more), and a recursive
    /// drop would overflow the stack. Every node below is detached from its
    /// level before it is dropped, so each `Node::drop` here is shallow.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        while let Some(node) = pending.pop() {
            // SAFETY: I5 — we own `node` (detached above), so its next level
            // is ours alone.
            let next = unsafe {
                node.next
                    .swap(Shared::null(), Relaxed, epoch::unprotected())
            };
            if !next.is_null() {
                // SAFETY: as above; detached, so freed once.
                let mut next = unsafe { next.into_owned() };
                next.take_children(&mut pending);
            }
        }
    }
}

impl<S> Table<S> {
    fn with_capacity(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self {
            slots: (0..capacity)
                .map(|_| Slot {
                    hash: AtomicU64::new(0),
                    node: Atomic::null(),
                })
                .collect(),
            live: AtomicUsize::new(0),
            used: AtomicUsize::new(0),
        }
    }

    /// Probes for `token`; returns its slot index and node.
    fn find<'g>(&self, hash: u64, token: &str, guard: &'g Guard) -> Option<(usize, &'g Node<S>)> {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let slot = &self.slots[i];
            let p = slot.node.load(Acquire, guard);
            if p.is_null() {
                if p.tag() != TOMBSTONE {
                    return None;
                }
            } else if slot.hash.load(Relaxed) == hash {
                // The Acquire load of `p` makes the hash stored before it
                // visible (I2); a later reuse of the slot can only show a
                // newer hash, for a node that replaced `p` after `p` was
                // unlinked, which reads as "not found", as after the remove.
                // SAFETY: I2 and I4, as for every node pointer.
                let node = unsafe { p.deref() };
                if node.token == token {
                    return Some((i, node));
                }
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Writer only: places `node` (whose token is absent) in the first free
    /// slot of its probe sequence. The caller guarantees room (3/4 bound).
    fn insert(&self, node: Shared<'_, Node<S>>, guard: &Guard) {
        let mask = self.slots.len() - 1;
        // SAFETY: the caller passes a live node (just allocated or taken from
        // the table being replaced, both protected by `guard`).
        let hash = unsafe { node.deref() }.hash;
        let mut i = hash as usize & mask;
        loop {
            let p = self.slots[i].node.load(Relaxed, guard);
            if p.is_null() {
                if p.tag() != TOMBSTONE {
                    self.used.fetch_add(1, Relaxed);
                }
                // I2: the hash first, then Release publishes the node (and,
                // with it, the hash) to readers that Acquire the pointer.
                self.slots[i].hash.store(hash, Relaxed);
                self.slots[i].node.store(node, Release);
                self.live.fetch_add(1, Relaxed);
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Reads a published subscription array.
fn load_array<'g, S>(array: &Atomic<SubArray<S>>, guard: &'g Guard) -> &'g [S] {
    let shared = array.load(Acquire, guard);
    // SAFETY: I4 — arrays are retired with deferred destruction, so this one
    // outlives `guard`.
    match unsafe { shared.as_ref() } {
        // SAFETY: I3 — every element of a published array was initialised
        // before the Release store that published it, and none is ever
        // written again.
        Some(elems) => unsafe { elems.assume_init() },
        None => &[],
    }
}

/// Writer only: builds a new array of `len` items and publishes it in place of
/// the current one, retiring the old array.
fn store_array<S>(
    array: &Atomic<SubArray<S>>,
    items: impl Iterator<Item = S>,
    len: usize,
    guard: &Guard,
) {
    let new = if len == 0 {
        Shared::null()
    } else {
        let mut owned = Owned::<SubArray<S>>::init(len);
        let mut filled = 0;
        for (slot, item) in owned.slots_mut().iter_mut().zip(items) {
            slot.write(item);
            filled += 1;
        }
        assert_eq!(filled, len, "subscription array length mismatch");
        owned.into_shared(guard)
    };
    // I3: AcqRel (Release) publishes the initialised elements.
    let old = array.swap(new, AcqRel, guard);
    if old.is_null() {
        return;
    }
    let addr = old.into_usize();
    // SAFETY: I4 — `old` was unlinked by the only writer; pinned readers may
    // still read it, and the closure runs only after they have all unpinned,
    // at which point it owns the array exclusively (I5). I3: fully initialised.
    unsafe { crate::reclaim::retire_with(guard, move || free_array_addr::<S>(addr)) };
}

/// Frees an array immediately, dropping its elements.
///
/// # Safety
/// The caller must own the array exclusively (I5), and it must be fully
/// initialised (I3).
unsafe fn free_array<S>(shared: Shared<'_, SubArray<S>>) {
    if !shared.is_null() {
        // SAFETY: forwarded from the caller's contract.
        unsafe { free_array_addr::<S>(shared.into_usize()) }
    }
}

/// # Safety
/// As [`free_array`]; `addr` is the untagged address of an array allocated by
/// `Owned::<SubArray<S>>::init`.
unsafe fn free_array_addr<S>(addr: usize) {
    // SAFETY: exclusive ownership and full initialisation are the caller's
    // contract; `addr` is crossbeam's own encoding of that allocation.
    unsafe {
        let mut owned = Owned::<SubArray<S>>::from_usize(addr);
        for elem in owned.slots_mut() {
            elem.assume_init_drop();
        }
        drop(owned);
    }
}
