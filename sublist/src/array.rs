//! [`SubArray`]: a length-prefixed array of subscriptions in one allocation,
//! pointable by crossbeam-epoch's `Atomic`.
//!
//! crossbeam-epoch offers `Atomic<[MaybeUninit<T>]>` for this, but its
//! `deref_mut` derives the element pointer from a shared reference to the
//! header, so writing the elements through it is undefined behaviour under
//! both Stacked and Tree Borrows (Miri reports it). This type does the same
//! job with pointers that keep the allocation's full provenance.
//!
//! Layout: `len: usize`, then `len` elements of `S` at the first offset
//! aligned for `S`. The type must never be constructed other than through
//! `Owned::init`, and its elements are initialised by the writer before the
//! array is published (I3).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::mem::MaybeUninit;
use std::ptr;

use crossbeam_epoch::Pointable;

/// The elements of an array; only ever seen behind a reference made by
/// [`Pointable::deref`] or [`Pointable::deref_mut`].
#[repr(transparent)]
pub(crate) struct SubArray<S>([MaybeUninit<S>]);

impl<S> SubArray<S> {
    /// The elements, possibly uninitialised.
    pub(crate) fn slots_mut(&mut self) -> &mut [MaybeUninit<S>] {
        &mut self.0
    }

    /// The elements as initialised values.
    ///
    /// # Safety
    /// Every element must be initialised (I3: true of every published array).
    pub(crate) unsafe fn assume_init(&self) -> &[S] {
        // SAFETY: `MaybeUninit<S>` has the layout of `S`, and the caller
        // guarantees every element is initialised.
        unsafe { &*(&self.0 as *const [MaybeUninit<S>] as *const [S]) }
    }

    /// Layout of an array of `len` elements, and the elements' offset.
    fn layout(len: usize) -> (Layout, usize) {
        let (layout, offset) = Layout::new::<usize>()
            .extend(Layout::array::<S>(len).expect("array size overflow"))
            .expect("array size overflow");
        (layout.pad_to_align(), offset)
    }

    /// # Safety
    /// `addr` came from [`Pointable::init`] for this type and is not freed.
    unsafe fn elements(addr: usize) -> *mut [MaybeUninit<S>] {
        let base = ptr::with_exposed_provenance_mut::<u8>(addr);
        // SAFETY: the header `len` was written by `init` at the start of
        // this live allocation.
        let len = unsafe { base.cast::<usize>().read() };
        let (_, offset) = Self::layout(len);
        // SAFETY: `offset` lies within the allocation (computed from the
        // same layout that `init` allocated).
        let first = unsafe { base.add(offset) }.cast::<MaybeUninit<S>>();
        ptr::slice_from_raw_parts_mut(first, len)
    }
}

// `Pointable` is crossbeam-epoch's interface for what `Atomic`, `Owned` and
// `Shared` may point to; the encoded pointer is the allocation's address,
// exposed so that provenance survives the round trip through `usize`.
impl<S> Pointable for SubArray<S> {
    const ALIGN: usize = {
        let (a, b) = (std::mem::align_of::<usize>(), std::mem::align_of::<S>());
        if a > b {
            a
        } else {
            b
        }
    };

    type Init = usize;

    unsafe fn init(len: usize) -> usize {
        let (layout, _) = Self::layout(len);
        // SAFETY: the layout has non-zero size (it holds a `usize`).
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            handle_alloc_error(layout);
        }
        // SAFETY: freshly allocated, aligned for `usize`, large enough.
        unsafe { base.cast::<usize>().write(len) };
        base.expose_provenance()
    }

    unsafe fn deref<'a>(addr: usize) -> &'a Self {
        // SAFETY: the caller (crossbeam) guarantees `addr` is a live
        // allocation from `init`; `SubArray` is a transparent wrapper of the
        // slice, so the fat pointer cast keeps the length.
        unsafe { &*(Self::elements(addr) as *const Self) }
    }

    unsafe fn deref_mut<'a>(addr: usize) -> &'a mut Self {
        // SAFETY: as in `deref`, and the caller guarantees exclusive access
        // (an `Owned` not yet published).
        unsafe { &mut *(Self::elements(addr) as *mut Self) }
    }

    unsafe fn drop(addr: usize) {
        // SAFETY: `addr` is a live allocation from `init`; the elements were
        // dropped by the owner beforehand if they were initialised (this only
        // frees the memory, as `MaybeUninit` does not drop its content).
        unsafe {
            let base = ptr::with_exposed_provenance_mut::<u8>(addr);
            let len = base.cast::<usize>().read();
            dealloc(base, Self::layout(len).0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_epoch::Owned;

    #[test]
    fn round_trip_various_alignments() {
        fn check<S: Clone + PartialEq + std::fmt::Debug>(items: &[S]) {
            let mut owned = Owned::<SubArray<S>>::init(items.len());
            for (slot, item) in owned.slots_mut().iter_mut().zip(items) {
                slot.write(item.clone());
            }
            // SAFETY: all initialised just above.
            assert_eq!(unsafe { owned.assume_init() }, items);
            for slot in owned.slots_mut() {
                // SAFETY: initialised above, dropped once here.
                unsafe { slot.assume_init_drop() };
            }
        }
        check::<u8>(&[1, 2, 3]);
        check::<u64>(&[u64::MAX, 7]);
        check::<u128>(&[1, 2, 3, 4]);
        check::<String>(&["a".to_string(), "bc".to_string()]);
        check::<u32>(&[]);
    }
}
