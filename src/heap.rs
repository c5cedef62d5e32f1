//! The wasm32 build's global allocator: one free list per power-of-two size class, fresh blocks
//! cut from pages that `memory.grow` adds. No splitting, no merging, no headers.
//!
//! Why not std's dlmalloc: it is 4.7 KB of the .wasm, and this is a few hundred bytes. Measured
//! in the thirteenth session on the whole package: -2,192 B gzip; a bump allocator that never
//! frees, the floor for any allocator, was -2,578 B. talc, tried in the eighth session, trapped
//! once in WebKit and was taken back.
//!
//! The page allocates little and briefly (tokens, URLs, JSON texts, response bodies), so the
//! cost of rounding up to a power of two (at most twice the bytes asked for, held for as long as
//! the block lives) is small, and a freed block waits in its class's list for the next request
//! of that class. Memory is never given back, as with dlmalloc on wasm32.
//!
//! The logic is plain Rust over a `grow` function, so that native tests drive it over a buffer
//! (`tests` below: random sequences checked for overlap, alignment and contents).

use core::alloc::Layout;

/// The smallest block: 16 bytes, room for the free list's link and the alignment of every
/// type this crate and its dependencies allocate.
const MIN_SHIFT: u32 = 4;
/// Blocks up to 2 GiB (the largest class whose size fits `usize` with room to spare).
const CLASSES: usize = 31 - MIN_SHIFT as usize + 1;
/// Blocks are aligned to their size up to this: enough for any `Layout` whose alignment is at
/// most this (a class is never smaller than the alignment asked for). Larger alignments fail.
const MAX_ALIGN: usize = 4096;
/// A wasm page.
pub(crate) const PAGE: usize = 65536;

/// The allocator's state: the free lists, and the part of the last pages not yet cut.
pub(crate) struct Heap {
    free: [usize; CLASSES],
    next: usize,
    end: usize,
}

impl Heap {
    pub(crate) const fn new() -> Heap {
        Heap {
            free: [0; CLASSES],
            next: 0,
            end: 0,
        }
    }

    /// The class of a layout, and its block size.
    fn class(layout: Layout) -> Option<(usize, usize)> {
        let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
        if layout.align() > MAX_ALIGN || size > 1 << (MIN_SHIFT as usize + CLASSES - 1) {
            return None;
        }
        let shift = size.next_power_of_two().trailing_zeros();
        Some(((shift - MIN_SHIFT) as usize, 1 << shift))
    }

    /// A block for `layout`, or null. `grow(pages)` adds pages to the memory and returns the
    /// address where they start, or `None`.
    ///
    /// # Safety
    /// Every block handed out and not yet freed is the caller's; `read_link` and `write_link`
    /// access the first word of a free block, which must be memory `grow` gave.
    pub(crate) unsafe fn alloc(
        &mut self,
        layout: Layout,
        grow: &mut dyn FnMut(usize) -> Option<usize>,
        read_link: &dyn Fn(usize) -> usize,
    ) -> usize {
        let Some((class, size)) = Heap::class(layout) else {
            return 0;
        };
        let head = self.free[class];
        if head != 0 {
            self.free[class] = read_link(head);
            return head;
        }
        let align = size.min(MAX_ALIGN);
        // Checked: a memory near 4 GiB must not wrap an address around to a small one.
        let fits = |next: usize, end: usize| {
            let start = next.checked_add(align - 1)? & !(align - 1);
            Some(start).filter(|_| start.checked_add(size).is_some_and(|e| e <= end))
        };
        let start = match fits(self.next, self.end) {
            Some(start) => start,
            None => {
                // Enough pages for the block at any alignment. When they follow the current end
                // (nothing else grows this memory), the rest of the current pages is used first.
                let pages = (size + align).div_ceil(PAGE);
                let Some(at) = grow(pages) else {
                    return 0;
                };
                let Some(end) = at.checked_add(pages * PAGE) else {
                    return 0;
                };
                if at != self.end {
                    self.next = at;
                }
                self.end = end;
                match fits(self.next, end) {
                    Some(start) => start,
                    None => return 0,
                }
            }
        };
        self.next = start + size;
        start
    }

    /// Returns a block to its class's list.
    ///
    /// # Safety
    /// `block` came from `alloc` with the same `layout` and is not used again.
    pub(crate) unsafe fn free(
        &mut self,
        block: usize,
        layout: Layout,
        write_link: &dyn Fn(usize, usize),
    ) {
        if let Some((class, _)) = Heap::class(layout) {
            write_link(block, self.free[class]);
            self.free[class] = block;
        }
    }

    /// Whether a block of `old` also holds `new` (same class): then `realloc` keeps it.
    pub(crate) fn same_block(old: Layout, new: Layout) -> bool {
        matches!((Heap::class(old), Heap::class(new)), (Some(a), Some(b)) if a == b)
    }
}

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod global {
    use super::{Heap, PAGE};
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    struct Global(UnsafeCell<Heap>);

    // wasm32 without the atomics feature has one thread: nothing else can reach the heap.
    unsafe impl Sync for Global {}

    #[global_allocator]
    static HEAP: Global = Global(UnsafeCell::new(Heap::new()));

    fn grow(pages: usize) -> Option<usize> {
        let old = core::arch::wasm32::memory_grow(0, pages);
        (old != usize::MAX).then(|| old * PAGE)
    }

    fn read_link(block: usize) -> usize {
        // SAFETY: a free block's first word, in memory `grow` gave.
        unsafe { *(block as *const usize) }
    }

    fn write_link(block: usize, link: usize) {
        // SAFETY: as above; the block is no longer in use.
        unsafe { *(block as *mut usize) = link }
    }

    unsafe impl GlobalAlloc for Global {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            (*self.0.get()).alloc(layout, &mut grow, &read_link) as *mut u8
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            (*self.0.get()).free(ptr as usize, layout, &write_link)
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let new = Layout::from_size_align_unchecked(new_size, layout.align());
            if Heap::same_block(layout, new) {
                return ptr;
            }
            let block = self.alloc(new);
            if !block.is_null() {
                core::ptr::copy_nonoverlapping(ptr, block, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            block
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Heap, MAX_ALIGN, PAGE};
    use core::alloc::Layout;
    use std::cell::RefCell;

    /// A memory of `PAGE`-sized pages that grows like a wasm memory, starting past address 0.
    struct Memory {
        bytes: RefCell<Vec<u8>>,
        limit: usize,
    }

    impl Memory {
        fn word(&self, at: usize) -> usize {
            let b = self.bytes.borrow();
            usize::from_le_bytes(b[at..at + 8].try_into().unwrap())
        }
    }

    /// Random allocations, frees and reallocations of sizes from 0 to 100 KB and alignments up
    /// to 4096, each block filled with its own byte: no two live blocks overlap, each is aligned
    /// and inside the memory, and a block's contents survive until it is freed (and a
    /// reallocation's, up to the smaller size).
    #[test]
    fn blocks_never_overlap_and_keep_their_contents() {
        let memory = Memory {
            bytes: RefCell::new(vec![0; PAGE]),
            limit: 4096 * PAGE,
        };
        let mut heap = Heap::new();
        let mut grow = |pages: usize| {
            let mut b = memory.bytes.borrow_mut();
            if b.len() + pages * PAGE > memory.limit {
                return None;
            }
            let at = b.len();
            b.resize(at + pages * PAGE, 0);
            Some(at)
        };
        let read = |at: usize| memory.word(at);
        let write = |at: usize, link: usize| {
            memory.bytes.borrow_mut()[at..at + 8].copy_from_slice(&link.to_le_bytes())
        };
        let mut live: Vec<(usize, Layout, u8)> = Vec::new();
        let mut seed = 0x9e37_79b9_u32;
        let mut rand = |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed % n
        };
        let fill = |at: usize, len: usize, tag: u8| {
            memory.bytes.borrow_mut()[at..at + len].fill(tag);
        };
        let check = |at: usize, len: usize, tag: u8| {
            let b = memory.bytes.borrow();
            assert!(
                b[at..at + len].iter().all(|&x| x == tag),
                "block at {at} changed"
            );
        };
        for step in 0..10_000u32 {
            let op = rand(10);
            if op < 4 || live.is_empty() {
                let size = match rand(4) {
                    0 => rand(17) as usize,
                    1 => rand(300) as usize,
                    2 => rand(5000) as usize,
                    _ => rand(100_000) as usize,
                };
                let widest = if rand(50) == 0 { 13 } else { 5 };
                let align = 1 << rand(widest);
                let layout = Layout::from_size_align(size, align).unwrap();
                let at = unsafe { heap.alloc(layout, &mut grow, &read) };
                assert_ne!(at, 0, "step {step}: out of memory");
                assert_eq!(at % align, 0);
                assert!(at + size <= memory.bytes.borrow().len());
                for &(other, l, _) in &live {
                    assert!(
                        at + size.max(1) <= other || other + l.size().max(1) <= at,
                        "step {step}: {at}+{size} overlaps {other}+{}",
                        l.size()
                    );
                }
                let tag = (step % 251) as u8 + 1;
                fill(at, size, tag);
                live.push((at, layout, tag));
            } else if op < 8 {
                let (at, layout, tag) = live.swap_remove(rand(live.len() as u32) as usize);
                check(at, layout.size(), tag);
                unsafe { heap.free(at, layout, &write) };
            } else {
                // A reallocation, as GlobalAlloc::realloc does it.
                let i = rand(live.len() as u32) as usize;
                let (at, layout, tag) = live[i];
                let new_size = (layout.size() * (1 + rand(3) as usize) / 2).max(rand(64) as usize);
                let new = Layout::from_size_align(new_size, layout.align()).unwrap();
                let moved = if Heap::same_block(layout, new) {
                    at
                } else {
                    let to = unsafe { heap.alloc(new, &mut grow, &read) };
                    assert_ne!(to, 0);
                    let keep = layout.size().min(new_size);
                    let copy = memory.bytes.borrow()[at..at + keep].to_vec();
                    memory.bytes.borrow_mut()[to..to + keep].copy_from_slice(&copy);
                    unsafe { heap.free(at, layout, &write) };
                    to
                };
                check(moved, layout.size().min(new_size), tag);
                fill(moved, new_size, tag);
                live[i] = (moved, new, tag);
                for (j, &(other, l, _)) in live.iter().enumerate() {
                    assert!(
                        j == i
                            || moved + new_size.max(1) <= other
                            || other + l.size().max(1) <= moved,
                        "step {step}: a reallocation overlaps"
                    );
                }
            }
        }
        for (at, layout, tag) in live {
            check(at, layout.size(), tag);
        }
        // Freed blocks are used again: the memory stayed far below what was allocated in all.
        assert!(memory.bytes.borrow().len() < 1024 * PAGE);
    }

    #[test]
    fn refuses_what_it_cannot_align_or_hold_and_reports_a_full_memory() {
        let mut heap = Heap::new();
        let mut grow = |_| None;
        let read = |_: usize| -> usize { unreachable!() };
        for layout in [
            Layout::from_size_align(8, MAX_ALIGN * 2).unwrap(),
            Layout::from_size_align(usize::MAX / 2, 1).unwrap(),
            Layout::from_size_align(16, 1).unwrap(),
        ] {
            assert_eq!(unsafe { heap.alloc(layout, &mut grow, &read) }, 0);
        }
    }
}
