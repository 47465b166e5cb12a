// SPDX-License-Identifier: GPL-2.0
//! The connection table: an RCU hash table of reference-counted entries, each with its own
//! expiry timer, sized by `conn_tab_bits`.
//!
//! Locking: readers (the softirq datapath, /proc readers) walk buckets under RCU with no lock.
//! Writers (insert from the datapath, unlink from timers and teardown) take the bucket's stripe
//! lock with bottom halves disabled. An entry is freed by `call_rcu` after it is unlinked, never
//! under a lock.
//!
//! Entry lifetime: the table holds one reference. Users get more with [`Table::lookup`]; a
//! reference's drop re-arms the expiry timer. The timer unlinks the entry only when the table's
//! reference is the last one (count 1 -> 0 under the stripe lock, after which no reference can
//! be taken), otherwise it tries again later. After that unlink the timer is shut down, because
//! the last user's drop may have re-armed it just before, and only then is the free queued.
//!
//! Teardown: [`Table::clear`] runs after the hooks are unregistered and a grace period has
//! passed (the netns core's `pre_exit` -> `synchronize_rcu` -> `exit`), so no packet holds a
//! reference. It unlinks what is left and then waits until every entry ever allocated has been
//! freed (`allocated` reaches 0), including those an expiry timer on another CPU unlinked just
//! before: their `call_rcu` may be queued after a first `rcu_barrier`, so it waits in a loop.
//! Only then may the table, and what entries point to, be freed, and the module text go.

use super::bindings;
use super::rcu::{RcuLink, ReadGuard, Section};
use super::sync::LockClass;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, Ordering};
use kernel::alloc::flags::GFP_KERNEL_ACCOUNT;
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::types::Opaque;

/// What an entry carries.
pub(crate) trait Entry: Sized + Send + Sync + 'static {
    /// Called once when the entry leaves the table by expiring (not at teardown).
    fn expired(&self);
    /// Called when the expiry timer fires while others still hold references (a template
    /// with connections it controls): the new expiry delay in jiffies.
    fn retry_timeout(&self) -> u32;
    /// Called on every entry at teardown, while all entries are still alive, to give back
    /// references the entry holds on others (so none points to a freed entry later).
    fn detach(&self);
}

#[repr(C)]
struct Node<D: Entry> {
    timer: Opaque<bindings::timer_list>,
    rcu: Opaque<bindings::callback_head>,
    /// Next entry in the bucket; readers follow it under RCU.
    next: RcuLink<Node<D>>,
    /// The link that points to us (bucket head or previous `next`); null once unlinked.
    /// Written under the stripe lock only.
    pprev: AtomicPtr<RcuLink<Node<D>>>,
    refcnt: AtomicI32,
    /// Expiry delay in jiffies, re-armed whenever a reference is dropped.
    timeout: AtomicU32,
    bucket: u32,
    table: *const Table<D>,
    data: D,
}

/// A counted reference to an entry.
pub(crate) struct ConnRef<D: Entry> {
    node: *mut Node<D>,
}

// SAFETY: the reference keeps the node alive; its data is Sync.
unsafe impl<D: Entry> Send for ConnRef<D> {}
// SAFETY: as above.
unsafe impl<D: Entry> Sync for ConnRef<D> {}

impl<D: Entry> ConnRef<D> {
    fn node(&self) -> &Node<D> {
        // SAFETY: we hold a reference, so the table cannot unlink and free the node.
        unsafe { &*self.node }
    }

    /// Drops the reference without re-arming the expiry timer (the packet is discarded, so
    /// the connection should not look alive).
    pub(crate) fn release_quietly(self) {
        self.node().refcnt.fetch_sub(1, Ordering::Release);
        core::mem::forget(self);
    }

    /// Drops the reference and lets the connection expire at once.
    pub(crate) fn expire_now(self) {
        self.set_timeout(0);
    }

    pub(crate) fn data(&self) -> &D {
        &self.node().data
    }

    /// Sets the expiry delay applied when this reference is dropped.
    pub(crate) fn set_timeout(&self, jiffies: u32) {
        self.node().timeout.store(jiffies, Ordering::Relaxed);
    }

    /// Another counted reference to the same entry.
    pub(crate) fn clone_ref(&self) -> ConnRef<D> {
        // We hold a reference, so the count is positive and the node alive.
        self.node().refcnt.fetch_add(1, Ordering::Relaxed);
        ConnRef { node: self.node }
    }
}

/// A counted reference stored inside another entry (a connection's template), released
/// without touching the referenced entry's timer, the way a controlled connection leaves
/// its template's expiry alone.
pub(crate) struct Held<D: Entry> {
    node: AtomicPtr<Node<D>>,
}

// SAFETY: the held reference keeps the node alive; its data is Sync.
unsafe impl<D: Entry> Send for Held<D> {}
// SAFETY: as above.
unsafe impl<D: Entry> Sync for Held<D> {}

impl<D: Entry> Held<D> {
    pub(crate) fn new(r: Option<ConnRef<D>>) -> Self {
        let p = r.map_or(core::ptr::null_mut(), |r| {
            let p = r.node;
            // The reference's count moves into `self`.
            core::mem::forget(r);
            p
        });
        Held { node: AtomicPtr::new(p) }
    }

    /// The referenced entry's data, while the reference is held.
    pub(crate) fn get(&self) -> Option<&D> {
        let p = self.node.load(Ordering::Acquire);
        // SAFETY: a non-null pointer carries a counted reference, dropped only by `release`
        // or `drop`, which need the owner to be leaving (no one else can use `&self` then:
        // `release` runs from the owner's expiry, after its last user is gone).
        (!p.is_null()).then(|| unsafe { &(*p).data })
    }

    /// The referenced entry's data and its current expiry delay in jiffies.
    pub(crate) fn get_with_timeout(&self) -> Option<(&D, u32)> {
        let p = self.node.load(Ordering::Acquire);
        // SAFETY: as in `get`.
        (!p.is_null()).then(|| unsafe { (&(*p).data, (*p).timeout.load(Ordering::Relaxed)) })
    }

    /// Gives the reference back without re-arming the referenced entry's timer.
    pub(crate) fn release(&self) {
        let p = self.node.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            ConnRef { node: p }.release_quietly();
        }
    }
}

impl<D: Entry> Drop for Held<D> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<D: Entry> Drop for ConnRef<D> {
    fn drop(&mut self) {
        let node = self.node();
        let t = node.timeout.load(Ordering::Relaxed);
        // SAFETY: the timer was set up at insertion; we still hold a reference, so the node
        // is alive and the expiry callback cannot free it concurrently.
        unsafe { bindings::mod_timer(node.timer.get(), jiffies().wrapping_add(u64::from(t)) as _) };
        node.refcnt.fetch_sub(1, Ordering::Release);
    }
}

use super::jiffies;

/// How an entry looks to [`Table::expire_sampled`].
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    /// Someone besides the table holds the entry (a packet in flight, or connections a
    /// template controls).
    pub(crate) held: bool,
    /// Jiffies since the expiry timer was last re-armed: the timeout minus the time left.
    pub(crate) idle: i64,
}

/// The table.
pub(crate) struct Table<D: Entry> {
    /// `1 << bits` bucket heads. With `conn_tab_bits` up to 20 this is 8 MiB, past what
    /// kmalloc gives, so it comes from kvmalloc, charged to the netns creator's memory cgroup.
    buckets: KVVec<RcuLink<Node<D>>>,
    locks: KVec<Opaque<bindings::spinlock_t>>,
    mask: u32,
    /// Linked entries.
    count: AtomicU32,
    /// Entries allocated and not yet freed (linked, or unlinked with their free pending);
    /// `clear` waits for it to reach 0.
    allocated: AtomicU32,
}

// SAFETY: all shared mutation is through atomics or under the stripe locks.
unsafe impl<D: Entry> Send for Table<D> {}
// SAFETY: as above.
unsafe impl<D: Entry> Sync for Table<D> {}

/// Every table's stripe locks are one kind of lock, and the entries' expiry timers another.
static STRIPE_LOCK_CLASS: LockClass = LockClass::new(kernel::c_str!("ipvs_rs_conntab_stripe"));
static EXPIRY_TIMER_CLASS: LockClass = LockClass::new(kernel::c_str!("ipvs_rs_conn_expiry"));

/// Stripe locks: enough to spread contention, few enough to stay small.
const MAX_LOCKS: usize = 1024;

impl<D: Entry> Table<D> {
    /// A table of `1 << bits` buckets, boxed so entries can point back to it.
    pub(crate) fn new(bits: u32) -> Result<KBox<Self>> {
        let size = 1usize << bits.min(27);
        let mut buckets = KVVec::with_capacity(size, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..size {
            buckets.push(RcuLink::null(), GFP_KERNEL_ACCOUNT)?;
        }
        let nlocks = size.min(MAX_LOCKS);
        let mut locks = KVec::with_capacity(nlocks, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..nlocks {
            locks.push(Opaque::uninit(), GFP_KERNEL_ACCOUNT)?;
        }
        for lock in locks.iter() {
            // SAFETY: initialises each lock in place; the KVec is full and never grows again,
            // so the locks do not move.
            unsafe { bindings::ipvs_rs_spin_lock_init(lock.get(), STRIPE_LOCK_CLASS.name(), STRIPE_LOCK_CLASS.key()) };
        }
        let table = Table { buckets, locks, mask: (size - 1) as u32, count: AtomicU32::new(0), allocated: AtomicU32::new(0) };
        Ok(KBox::new(table, GFP_KERNEL_ACCOUNT)?)
    }

    fn lock(&self, bucket: u32) -> StripeGuard<'_> {
        // `locks.len()` is a power of two no larger than the bucket count (see `new`).
        let i = bucket as usize & self.locks.len().wrapping_sub(1);
        // SAFETY: `i` is masked below `locks.len()`, which is at least 1. (No bounds-check
        // panic path here: objtool rejects a function that falls through into one.)
        let lock = unsafe { self.locks.get_unchecked(i) };
        // SAFETY: initialised in `new`.
        unsafe { bindings::ipvs_rs_spin_lock_bh(lock.get()) };
        StripeGuard { lock }
    }

    /// Finds an entry of bucket `hash` for which `matches` holds, and takes a reference.
    pub(crate) fn lookup(&self, hash: u32, mut matches: impl FnMut(&D) -> bool) -> Option<ConnRef<D>> {
        let rcu = ReadGuard::new();
        let head = &self.buckets[(hash & self.mask) as usize];
        let mut link = head.get(&rcu);
        while let Some(node) = link {
            if matches(&node.data) {
                if let Some(r) = Self::try_get(node) {
                    return Some(r);
                }
            }
            link = node.next.get(&rcu);
        }
        None
    }

    /// Lets every entry for which `doomed` holds expire at once (entries dying already are
    /// skipped). Process context: it yields the CPU between buckets, like upstream's
    /// `cond_resched_rcu`, so a large table does not stall others.
    pub(crate) fn expire_where(&self, mut doomed: impl FnMut(&D) -> bool) {
        for (i, head) in self.buckets.iter().enumerate() {
            {
                let rcu = ReadGuard::new();
                let mut link = head.get(&rcu);
                while let Some(node) = link {
                    if doomed(&node.data) {
                        if let Some(r) = Self::try_get(node) {
                            r.expire_now();
                        }
                    }
                    link = node.next.get(&rcu);
                }
            }
            if i % 64 == 63 {
                // SAFETY: process context, no lock or RCU read section held here.
                unsafe { bindings::ipvs_rs_cond_resched() };
            }
        }
    }

    /// The DoS defense's sweep (upstream's `ip_vs_random_dropentry`): looks at the entries of
    /// `table size >> shift` buckets picked at random (at least one) and lets those for which
    /// `doomed` holds expire at once. Process context: yields the CPU between buckets.
    pub(crate) fn expire_sampled(&self, shift: u32, mut doomed: impl FnMut(&D, Sample) -> bool) {
        let picks = (self.buckets.len() >> shift).max(1);
        for i in 0..picks {
            let bucket = super::random_u32() & self.mask;
            if let Some(head) = self.buckets.get(bucket as usize) {
                let rcu = ReadGuard::new();
                let now = jiffies();
                let mut link = head.get(&rcu);
                while let Some(node) = link {
                    // SAFETY: reading the expiry of a live timer; a racing re-arm gives a
                    // slightly stale value, which only shifts the idle time by one packet.
                    let expires = unsafe { core::ptr::read_volatile(&(*node.timer.get()).expires) } as u64;
                    let left = expires.wrapping_sub(now) as i64;
                    let sample = Sample {
                        held: node.refcnt.load(Ordering::Relaxed) > 1,
                        idle: i64::from(node.timeout.load(Ordering::Relaxed)).wrapping_sub(left),
                    };
                    if doomed(&node.data, sample) {
                        if let Some(r) = Self::try_get(node) {
                            r.expire_now();
                        }
                    }
                    link = node.next.get(&rcu);
                }
            }
            if i % 16 == 15 {
                // SAFETY: process context, no lock or RCU read section held here.
                unsafe { bindings::ipvs_rs_cond_resched() };
            }
        }
    }

    /// A counted reference to a node reached under RCU, unless it is dying (count already 0).
    fn try_get(node: &Node<D>) -> Option<ConnRef<D>> {
        let mut c = node.refcnt.load(Ordering::Relaxed);
        while c > 0 {
            match node.refcnt.compare_exchange_weak(c, c + 1, Ordering::Acquire, Ordering::Relaxed) {
                // The count we took keeps the node alive beyond the RCU section.
                Ok(_) => return Some(ConnRef { node: core::ptr::from_ref(node).cast_mut() }),
                Err(now) => c = now,
            }
        }
        None
    }

    /// Inserts a new entry in bucket `hash`; it expires `timeout` jiffies after the returned
    /// reference is dropped. If no memory can be had, the data comes back to the caller, so
    /// that what it accounts for (a dest's connection counters) can be given back.
    pub(crate) fn insert(&self, hash: u32, timeout: u32, data: D, flags: kernel::alloc::Flags) -> Result<ConnRef<D>, D> {
        let bucket = hash & self.mask;
        let Ok(slot) = KBox::<Node<D>>::new_uninit(flags) else {
            return Err(data);
        };
        let node = KBox::write(
            slot,
            Node {
                timer: Opaque::uninit(),
                rcu: Opaque::uninit(),
                next: RcuLink::null(),
                pprev: AtomicPtr::new(core::ptr::null_mut()),
                refcnt: AtomicI32::new(2), // the table's and the caller's
                timeout: AtomicU32::new(timeout),
                bucket,
                table: self,
                data,
            },
        );
        self.allocated.fetch_add(1, Ordering::Relaxed);
        let p = KBox::into_raw(node);
        // SAFETY: `p` is our fresh node; the timer is set up before anyone can arm it. Its
        // expiry time is set too, though the timer is armed only when the returned reference
        // is dropped: readers (/proc, the DoS defense's sweep) read it as soon as the node is
        // linked, and `init_timer` leaves it as the allocator did (a freed object's poison
        // under slub_debug, which /proc once turned into an overflow panic).
        unsafe {
            super::timer::init((*p).timer.get(), Some(expire_cb::<D>), &EXPIRY_TIMER_CLASS);
            (*(*p).timer.get()).expires = jiffies().wrapping_add(u64::from(timeout)) as _;
        }
        {
            let _g = self.lock(bucket);
            let head = &self.buckets[bucket as usize];
            let first = head.addr();
            // SAFETY: under the stripe lock we own the bucket's links and the nodes on them
            // are alive; `p` is not yet visible. Linked nodes are freed only a grace period
            // after their unlink (`expire_cb`, `clear`), as `RcuLink` requires. The head is
            // published last, so readers see a fully initialised node.
            unsafe {
                (*p).next.publish(first);
                (*p).pprev.store(core::ptr::from_ref(head).cast_mut(), Ordering::Relaxed);
                if !first.is_null() {
                    (*first).pprev.store(core::ptr::from_ref(&(*p).next).cast_mut(), Ordering::Relaxed);
                }
                head.publish(p);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(ConnRef { node: p })
    }

    /// Unlinks `p` if still linked and no one but the table holds it (or `force`). Under the
    /// stripe lock.
    ///
    /// # Safety
    ///
    /// `p` must be a node of this table that has not been freed.
    unsafe fn unlink(&self, p: *mut Node<D>, force: bool) -> bool {
        // SAFETY: per the contract the node is alive; links change only under this lock.
        unsafe {
            let node = &*p;
            let _g = self.lock(node.bucket);
            let pprev = node.pprev.load(Ordering::Relaxed);
            if pprev.is_null() {
                return false;
            }
            if !force && node.refcnt.compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed).is_err() {
                return false;
            }
            let next = node.next.addr();
            (*pprev).publish(next);
            if !next.is_null() {
                (*next).pprev.store(pprev, Ordering::Relaxed);
            }
            node.pprev.store(core::ptr::null_mut(), Ordering::Relaxed);
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Calls `f` on every entry with the jiffies left until it expires, under RCU (for
    /// /proc). `f` returns false to stop.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&D, u64) -> bool) {
        let now = jiffies();
        let rcu = ReadGuard::new();
        for head in self.buckets.iter() {
            let mut link = head.get(&rcu);
            while let Some(node) = link {
                // SAFETY: reading the expiry of a live timer; a racing re-arm gives a
                // slightly stale value, which /proc tolerates.
                let expires = unsafe { core::ptr::read_volatile(&(*node.timer.get()).expires) } as u64;
                if !f(&node.data, expires.saturating_sub(now)) {
                    return;
                }
                link = node.next.get(&rcu);
            }
        }
    }

    /// Removes and frees every entry, and returns once all are freed. Process context, after
    /// the users (hooks) are gone and a grace period has passed.
    pub(crate) fn clear(&self) {
        // First let every entry drop its references on the others, while none is freed.
        self.for_each(|d, _| {
            d.detach();
            true
        });
        for (i, head) in self.buckets.iter().enumerate() {
            loop {
                let p = head.addr();
                if p.is_null() {
                    break;
                }
                // SAFETY: `p` is linked, hence alive; after the forced unlink no new reference
                // can be taken and the timer callback finds it unlinked and does nothing, so
                // after timer_shutdown_sync nothing else touches it and we may queue the free.
                unsafe {
                    if self.unlink(p, true) {
                        bindings::timer_shutdown_sync((*p).timer.get());
                        bindings::call_rcu((*p).rcu.get(), Some(free_cb::<D>));
                    }
                }
            }
            if i % 64 == 63 {
                // SAFETY: process context, no lock or RCU read section held here.
                unsafe { bindings::ipvs_rs_cond_resched() };
            }
        }
        // Entries an expiry timer unlinked before us are not in any bucket, but their callback
        // may still be running (`expired()` touches what the entry points to) or their free
        // may not be queued yet. Each round waits for the callbacks queued so far.
        while self.allocated.load(Ordering::Acquire) != 0 {
            super::rcu::barrier();
        }
    }
}

impl<D: Entry> Drop for Table<D> {
    fn drop(&mut self) {
        self.clear();
    }
}

struct StripeGuard<'a> {
    lock: &'a Opaque<bindings::spinlock_t>,
}

impl Drop for StripeGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in `Table::lock`.
        unsafe { bindings::ipvs_rs_spin_unlock_bh(self.lock.get()) };
    }
}

/// The expiry timer of an entry.
///
/// # Safety
///
/// Only the timer core may call it, for the timer embedded in a live `Node<D>`.
unsafe extern "C" fn expire_cb<D: Entry>(timer: *mut bindings::timer_list) {
    // `timer` is the first field of the #[repr(C)] node.
    let p = timer.cast::<Node<D>>();
    // SAFETY: the node is alive while its timer can fire: it is freed only after being
    // unlinked here (we are the timer) or after timer_delete_sync in `clear`.
    unsafe {
        let table = &*(*p).table;
        if table.unlink(p, false) {
            // The last user's drop may have re-armed us between our start and the unlink;
            // nobody can re-arm after it (no reference can be taken), so this leaves the timer
            // dead before the free is queued. Not `_sync`: we are that timer's callback.
            bindings::timer_shutdown((*p).timer.get());
            (*p).data.expired();
            bindings::call_rcu((*p).rcu.get(), Some(free_cb::<D>));
        } else if !(*p).pprev.load(Ordering::Relaxed).is_null() {
            // Still in use: like upstream's `expire_later`, the entry gets a new (longer)
            // timeout and is looked at again then.
            // An entry asked to expire now (timeout 0) was only held by a packet in flight:
            // look again at the next tick rather than a minute later.
            let t = if (*p).timeout.load(Ordering::Relaxed) == 0 {
                1
            } else {
                let t = (*p).data.retry_timeout().max(1);
                (*p).timeout.store(t, Ordering::Relaxed);
                t
            };
            bindings::mod_timer((*p).timer.get(), (jiffies() + u64::from(t)) as _);
        }
    }
}

/// A place in a walk over the whole table that survives leaving the RCU read-side section,
/// for /proc readers that list the table a few entries per `read()`: the bucket, the index in
/// it, how many entries the walk has passed (its ordinal), and the entry it stands on.
///
/// The entry's pointer is dereferenced only in the section epoch it was found in (see
/// [`Section`]); in any later epoch it is only compared, by address, with entries found anew
/// in its bucket, to pick up exactly where the walk left off even if entries before it in the
/// bucket came or went. Entries inserted or removed while a reader is between reads may be
/// missed or shown twice only around the place where that happened (an entry removed from the
/// cursor's bucket before it shifts it by one; upstream's walk, which counts from the start
/// of the table, shifts for a change anywhere before it).
pub(crate) struct Cursor<D: Entry> {
    /// Bucket of the entry; the bucket count once the walk is past the end.
    bucket: usize,
    /// Index of the entry in its bucket.
    index: usize,
    /// Entries of the walk before this one.
    ordinal: u64,
    /// The entry, or null when not on one (before the first lookup, or past the end).
    node: *const Node<D>,
    /// The [`Section::epoch`] in which `node` was found.
    epoch: u64,
}

impl<D: Entry> Clone for Cursor<D> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<D: Entry> Copy for Cursor<D> {}

impl<D: Entry> Default for Cursor<D> {
    /// Before the first entry of the first bucket.
    fn default() -> Self {
        Cursor { bucket: 0, index: 0, ordinal: 0, node: core::ptr::null(), epoch: 0 }
    }
}

/// Buckets a walk crosses between two pauses of its read-side section.
const WALK_PAUSE_EVERY: u32 = 64;

impl<D: Entry> Table<D> {
    /// Moves `cur` to the entry with ordinal `want` (the `want`-th of a walk in bucket order)
    /// and says whether there is one. It continues from where `cur` stands when `want` is not
    /// behind it (the next entry, or the same one again after the reader left the section),
    /// and starts over from the first bucket otherwise. The section is paused every few
    /// buckets so a walk over a large, sparse table does not hold it long. Process context.
    pub(crate) fn seek(&self, cur: &mut Cursor<D>, want: u64, rcu: &mut Section) -> bool {
        if !rcu.held() {
            return false;
        }
        if want < cur.ordinal {
            *cur = Cursor::default();
        }
        if cur.node.is_null() || cur.epoch != rcu.epoch() {
            self.refind(cur, rcu);
        }
        let mut crossed = 0;
        while cur.ordinal < want && !cur.node.is_null() {
            self.step(cur, rcu, &mut crossed);
            cur.ordinal += 1;
        }
        !cur.node.is_null()
    }

    /// The entry `cur` stands on and the jiffies left until it expires, when `cur` found it
    /// in the section held now.
    pub(crate) fn at<'s>(&'s self, cur: &Cursor<D>, rcu: &'s Section) -> Option<(&'s D, u64)> {
        let node = Self::current(cur, rcu)?;
        // SAFETY: reading the expiry of a live timer; a racing re-arm gives a slightly stale
        // value, which /proc tolerates.
        let expires = unsafe { core::ptr::read_volatile(&(*node.timer.get()).expires) } as u64;
        Some((&node.data, expires.saturating_sub(jiffies())))
    }

    /// The node `cur` stands on, if it found it in the section held now.
    fn current<'s>(cur: &Cursor<D>, rcu: &'s Section) -> Option<&'s Node<D>> {
        if cur.node.is_null() || !rcu.held() || cur.epoch != rcu.epoch() {
            return None;
        }
        // SAFETY: `cur.node` was reached from a bucket in this very read-side section (same
        // epoch, still held; epochs are never reused), so it is not freed before the section
        // ends, and the returned borrow of `rcu` ends before the section can be paused or
        // left (both need `&mut Section`).
        Some(unsafe { &*cur.node })
    }

    /// Finds `cur`'s place again in a new section: its entry by address in its bucket, else
    /// the entry now at its index there, else the first entry of the buckets after it.
    fn refind(&self, cur: &mut Cursor<D>, rcu: &mut Section) {
        if !rcu.held() {
            return;
        }
        let Some(head) = self.buckets.get(cur.bucket) else {
            cur.node = core::ptr::null();
            cur.bucket = self.buckets.len();
            cur.epoch = rcu.epoch();
            return;
        };
        let mut at_index = None;
        let mut link = head.get(&*rcu);
        let mut i = 0;
        while let Some(node) = link {
            if core::ptr::eq(node, cur.node) {
                cur.index = i;
                cur.epoch = rcu.epoch();
                return;
            }
            if i == cur.index {
                at_index = Some(core::ptr::from_ref(node));
            }
            link = node.next.get(&*rcu);
            i += 1;
        }
        cur.epoch = rcu.epoch();
        match at_index {
            Some(p) => cur.node = p,
            None => {
                cur.node = core::ptr::null();
                self.next_bucket(cur, rcu, &mut 0);
            }
        }
    }

    /// Moves `cur` from its entry to the next one of the walk. (`seek` finds its place again
    /// whenever the epoch changed, and every move records the epoch it found its entry in, so
    /// the entry is always current here; if it were not, the walk would go on at the next
    /// bucket.)
    fn step(&self, cur: &mut Cursor<D>, rcu: &mut Section, crossed: &mut u32) {
        let next = Self::current(cur, rcu).and_then(|n| n.next.get(&*rcu)).map(core::ptr::from_ref);
        match next {
            Some(next) => {
                cur.node = next;
                cur.index += 1;
            }
            None => self.next_bucket(cur, rcu, crossed),
        }
    }

    /// Moves `cur` to the first entry of the first non-empty bucket after its own, or past
    /// the end; pauses the section every [`WALK_PAUSE_EVERY`] buckets (nothing found before
    /// a pause is kept: only the bucket number is).
    fn next_bucket(&self, cur: &mut Cursor<D>, rcu: &mut Section, crossed: &mut u32) {
        loop {
            cur.bucket += 1;
            cur.index = 0;
            *crossed += 1;
            if *crossed % WALK_PAUSE_EVERY == 0 {
                rcu.pause();
            }
            cur.epoch = rcu.epoch();
            let Some(head) = self.buckets.get(cur.bucket) else {
                cur.bucket = self.buckets.len();
                cur.node = core::ptr::null();
                return;
            };
            cur.node = head.get(&*rcu).map_or(core::ptr::null(), core::ptr::from_ref);
            if !cur.node.is_null() {
                return;
            }
        }
    }
}

/// Frees an unlinked entry after its grace period.
///
/// # Safety
///
/// Only `call_rcu` may call it, for the `rcu` head of a node queued by this table.
unsafe extern "C" fn free_cb<D: Entry>(head: *mut bindings::callback_head) {
    let off = core::mem::offset_of!(Node<D>, rcu);
    // SAFETY: `head` is the `rcu` field of a node from `KBox::into_raw`, unlinked and with no
    // reader left after the grace period.
    let node = unsafe { KBox::from_raw(head.cast::<u8>().sub(off).cast::<Node<D>>()) };
    let table = node.table;
    drop(node);
    // SAFETY: the table outlives its entries: `clear` (run before the table is freed) waits
    // for this count, which we drop last, after the entry and its data are gone.
    unsafe { (*table).allocated.fetch_sub(1, Ordering::Release) };
}
