// SPDX-License-Identifier: GPL-2.0
//! The connection table: an RCU hash table of reference-counted entries, each with its own
//! expiry timer, that grows and shrinks with the number of links (keys) its entries have.
//!
//! Generations: the buckets are a [`Buckets`] generation with its own random hash key. A
//! resize (process context, one at a time: [`Table::resize`]) makes a new generation and
//! publishes it as `next`, waits a grace period (from then on every insert goes to `next`),
//! moves the entries bucket by bucket, publishes `next` as `cur`, and frees the old generation
//! after another grace period. [`ipvs_core::table_size`](crate::ipvs_core::table_size) says
//! when and to what size.
//!
//! Keys: every entry is filed under its first key (a connection by its client and virtual
//! service ends), and some also under a second one (a NAT connection by its client and real
//! server ends, which its replies carry), so each direction finds it by one bucket whatever
//! else shares the client's end. Buckets chain [`Link`]s, one per key of an entry; a chain
//! mixes the links of different entries and keys, and walks that visit each entry once (the
//! DoS sweep, flushes, /proc) follow first-key links only.
//!
//! Locking: readers (the softirq datapath, /proc readers) walk buckets under RCU with no lock.
//! Writers (insert from the datapath, unlink from timers and teardown, a move) take the
//! bucket's stripe lock with bottom halves disabled; a move holds the old bucket's stripe and,
//! nested, the new one's. An entry is freed by `call_rcu` after it is unlinked, never under a
//! lock.
//!
//! Readers never miss an entry during a resize: a lookup that finds `next` published walks its
//! bucket of `next`, then its bucket of `cur`, and starts over if a move went through its `cur`
//! bucket's stripe meanwhile (each stripe counts its moves in a sequence number, odd while one
//! is under way). A lookup that finds no `next` needs no check: moves start only a grace period
//! after `next` is published, so none can run during its read-side section. Moved entries go
//! to the tail of their new bucket, behind what was inserted there since, so a bucket still
//! lists the newer of two entries with one tuple first.
//!
//! Entry lifetime: the table holds one reference. Users get more with [`Table::lookup`]; a
//! reference's drop re-arms the expiry timer. The timer unlinks the entry only when the table's
//! reference is the last one (count 1 -> 0 under the stripe lock of its first link, after which
//! no reference can be taken and the second link, if any, is taken out too), otherwise it
//! tries again later. After that unlink the timer is shut down, because
//! the last user's drop may have re-armed it just before, and only then is the free queued.
//!
//! Teardown: [`Table::clear`] runs after the hooks are unregistered and a grace period has
//! passed (the netns core's `pre_exit` -> `synchronize_rcu` -> `exit`), and after the resize
//! work is stopped, so no packet holds a reference. It unlinks what is left and then waits
//! until every entry ever allocated has been freed (`ALLOCATED` sums to 0), including those an
//! expiry timer on another CPU unlinked just before: their `call_rcu` may be queued after a
//! first `rcu_barrier`, so it waits in a loop. Only then may the table, and what entries point
//! to, be freed, and the module text go.
//!
//! Counting: the entries, their links and the allocated nodes are per-CPU counters, so that
//! an insert or a free writes no cache line another CPU writes too (stock keeps one shared
//! `conn_count`); only the once-a-second resize check, /proc and teardown sum them.

use super::bindings;
use super::percpu::PerCpuCounters;
use super::rcu::{RcuLink, ReadGuard, ReadSide, Section};
use super::sync::LockClass;
use crate::ipvs_core::table_size;
use core::marker::PhantomData;
use core::sync::atomic::{fence, AtomicI32, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use kernel::alloc::flags::GFP_KERNEL_ACCOUNT;
use kernel::alloc::KVVec;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;
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
    /// The entry's bucket hash for its key `which` under a generation's `key`: what a lookup
    /// for it computes from the packet with the same key.
    fn hash(&self, key: u32, which: Which) -> u32;
    /// Whether the entry is filed under a second key too. Fixed for the entry's lifetime.
    fn has_second_key(&self) -> bool;
    /// The slab cache the table's entries of this type come from.
    fn node_cache() -> &'static NodeCache<Self>;
}

/// Whether an allocation may sleep.
#[derive(Clone, Copy)]
pub(crate) enum Gfp {
    /// Softirq (the datapath): `GFP_ATOMIC`.
    Atomic,
    /// Process context: `GFP_KERNEL`.
    Kernel,
}

/// The slab cache of one type of table entry (upstream's `ip_vs_conn_cachep`): objects of
/// exactly one node each, so an entry costs its size and no more. Made at module load
/// ([`NodeCache::create`]); destroyed when the returned guard drops, unless a table of its
/// entries is still alive (then it stays, and says so: better a leak than a use after free).
/// A table that is dropped has freed every entry it allocated (`Table::clear`), so counting
/// the tables is enough, and costs the datapath nothing.
pub(crate) struct NodeCache<D: Entry> {
    cache: AtomicPtr<bindings::kmem_cache>,
    /// Tables of `D` made and not yet dropped.
    tables: AtomicUsize,
    name: &'static CStr,
    _entries: PhantomData<fn() -> D>,
}

// SAFETY: the cache pointer is set once before use and the slab allocator synchronises
// itself; the counter is atomic.
unsafe impl<D: Entry> Sync for NodeCache<D> {}

impl<D: Entry> NodeCache<D> {
    pub(crate) const fn new(name: &'static CStr) -> Self {
        NodeCache { cache: AtomicPtr::new(core::ptr::null_mut()), tables: AtomicUsize::new(0), name, _entries: PhantomData }
    }

    /// Creates the cache, for as long as the guard lives (module init to exit, after the last
    /// table of `D` is gone and an RCU barrier).
    pub(crate) fn create(&'static self) -> Result<NodeCacheGuard<D>> {
        if !self.cache.load(Ordering::Acquire).is_null() {
            return Err(EBUSY);
        }
        let size = core::mem::size_of::<Node<D>>() as u32;
        let align = core::mem::align_of::<Node<D>>() as u32;
        // SAFETY: a static name; the cache is destroyed only by the guard's drop.
        let cache = unsafe { bindings::ipvs_rs_kmem_cache_create(self.name.as_char_ptr(), size, align) };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        self.cache.store(cache, Ordering::Release);
        Ok(NodeCacheGuard { owner: self })
    }

    /// An uninitialised object, or null (no memory, or no cache).
    fn alloc(&self, gfp: Gfp) -> *mut Node<D> {
        let cache = self.cache.load(Ordering::Acquire);
        if cache.is_null() {
            return core::ptr::null_mut();
        }
        // SAFETY: a live cache (destroyed only while no table of `D` is left); its objects
        // have `Node<D>`'s size and alignment (`create`).
        unsafe { bindings::ipvs_rs_kmem_cache_alloc(cache, matches!(gfp, Gfp::Atomic)) }.cast::<Node<D>>()
    }

    /// Gives an object back.
    ///
    /// # Safety
    ///
    /// `p` came from [`NodeCache::alloc`] of this cache, holds nothing that needs a drop any
    /// more, and is not used again.
    unsafe fn free(&self, p: *mut Node<D>) {
        let cache = self.cache.load(Ordering::Acquire);
        // SAFETY: per the contract `p` is an object of `cache`, which lives while the table
        // that allocated `p` does (`tables` > 0).
        unsafe { bindings::kmem_cache_free(cache, p.cast()) };
    }
}

/// Destroys its [`NodeCache`] when dropped.
pub(crate) struct NodeCacheGuard<D: Entry + 'static> {
    owner: &'static NodeCache<D>,
}

impl<D: Entry> Drop for NodeCacheGuard<D> {
    fn drop(&mut self) {
        let tables = self.owner.tables.load(Ordering::Acquire);
        if tables != 0 {
            pr_err!("{} tables still alive at unload: their entries' slab cache stays\n", tables);
            return;
        }
        let cache = self.owner.cache.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !cache.is_null() {
            // SAFETY: made by `create`; no table of `D` is left, so nothing is allocated from
            // it, and nothing will be.
            unsafe { bindings::kmem_cache_destroy(cache) };
        }
    }
}

/// Which of an entry's keys a [`Link`] files it under.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Which {
    /// The key every entry has.
    First = 0,
    /// The key of an entry that [`Entry::has_second_key`].
    Second = 1,
}

/// An entry's place in a bucket under one of its keys.
#[repr(C)]
struct Link<D: Entry> {
    /// The next link in the bucket; readers follow it under RCU.
    next: RcuLink<Link<D>>,
    /// The link that points to this one (bucket head or previous `next`); null once unlinked.
    /// Written under the stripe lock only.
    pprev: AtomicPtr<RcuLink<Link<D>>>,
    /// The generation and bucket the link is in. Set under that bucket's stripe lock; a move
    /// changes them holding the old and the new bucket's.
    home: AtomicPtr<Buckets<D>>,
    bucket: AtomicU32,
    /// Which of its entry's links this is; fixed.
    which: Which,
}

impl<D: Entry> Link<D> {
    const fn new(which: Which) -> Self {
        Link {
            next: RcuLink::null(),
            pprev: AtomicPtr::new(core::ptr::null_mut()),
            home: AtomicPtr::new(core::ptr::null_mut()),
            bucket: AtomicU32::new(0),
            which,
        }
    }

    /// The entry this link belongs to.
    fn node(&self) -> &Node<D> {
        let off = core::mem::offset_of!(Node<D>, links) + self.which as usize * core::mem::size_of::<Link<D>>();
        // SAFETY: links are made only inside a node's `links` array (`Table::insert`), at the
        // index `which` names, and live exactly as long as their node, which the borrow of
        // `self` therefore does not outlive.
        unsafe { &*core::ptr::from_ref(self).cast::<u8>().sub(off).cast::<Node<D>>() }
    }
}

#[repr(C)]
struct Node<D: Entry> {
    timer: Opaque<bindings::timer_list>,
    rcu: Opaque<bindings::callback_head>,
    /// Its places in the buckets, by [`Which`]; the second is unused unless
    /// [`Entry::has_second_key`].
    links: [Link<D>; 2],
    refcnt: AtomicI32,
    /// Expiry delay in jiffies, re-armed whenever a reference is dropped.
    timeout: AtomicU32,
    table: *const Table<D>,
    data: D,
}

impl<D: Entry> Node<D> {
    fn link(&self, which: Which) -> &Link<D> {
        let [first, second] = &self.links;
        match which {
            Which::First => first,
            Which::Second => second,
        }
    }

    /// The keys the entry is filed under.
    fn keys(&self) -> &'static [Which] {
        if self.data.has_second_key() {
            &[Which::First, Which::Second]
        } else {
            &[Which::First]
        }
    }

    /// The jiffies the expiry timer is set for, read without its lock: a re-arm racing with
    /// the read may give the value just before it.
    fn expires(&self) -> u64 {
        // SAFETY: the timer was set up at insertion and lives as long as the node; reading
        // its expiry is a plain word read.
        unsafe { core::ptr::read_volatile(&(*self.timer.get()).expires) as u64 }
    }
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

/// One stripe of a generation's buckets: its lock, and the count of moves out of its buckets
/// (odd while one is under way), which lookups during a resize check.
struct Stripe {
    lock: Opaque<bindings::spinlock_t>,
    moves: AtomicU32,
}

/// A generation of buckets: `1 << bits` heads, their stripe locks, and the hash key.
struct Buckets<D: Entry> {
    /// With `conn_tab_bits` up to 20 this is 8 MiB, past what kmalloc gives, so it comes from
    /// kvmalloc, charged to the memory cgroup of the task that allocates it (the netns's
    /// creator for the first generation, the resize work for later ones).
    heads: KVVec<RcuLink<Link<D>>>,
    /// A power of two, no more than the heads.
    stripes: KVec<Stripe>,
    mask: u32,
    bits: u32,
    /// Random for each generation: a remote host cannot aim its flows at one bucket, and a
    /// resize also re-deals the buckets.
    key: u32,
}

/// Every generation's stripe locks are one kind of lock, and the entries' expiry timers another.
static STRIPE_LOCK_CLASS: LockClass = LockClass::new(kernel::c_str!("ipvs_rs_conntab_stripe"));
static EXPIRY_TIMER_CLASS: LockClass = LockClass::new(kernel::c_str!("ipvs_rs_conn_expiry"));

/// Stripe locks: enough to spread contention, few enough to stay small.
const MAX_STRIPES: usize = 1024;

/// The lockdep subclass of the new generation's stripe lock a move takes inside the old one's.
const MOVE_NESTING: i32 = 1;

impl<D: Entry> Buckets<D> {
    fn new(bits: u32) -> Result<KBox<Self>> {
        let bits = bits.min(27);
        let size = 1usize << bits;
        let mut heads = KVVec::with_capacity(size, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..size {
            heads.push(RcuLink::null(), GFP_KERNEL_ACCOUNT)?;
        }
        let nstripes = size.min(MAX_STRIPES);
        let mut stripes = KVec::with_capacity(nstripes, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..nstripes {
            stripes.push(Stripe { lock: Opaque::uninit(), moves: AtomicU32::new(0) }, GFP_KERNEL_ACCOUNT)?;
        }
        for stripe in stripes.iter() {
            // SAFETY: initialises each lock in place; the KVec is full and never grows again,
            // so the locks do not move.
            unsafe { bindings::ipvs_rs_spin_lock_init(stripe.lock.get(), STRIPE_LOCK_CLASS.name(), STRIPE_LOCK_CLASS.key()) };
        }
        let key = super::random_u32();
        Ok(KBox::new(Buckets { heads, stripes, mask: (size - 1) as u32, bits, key }, GFP_KERNEL_ACCOUNT)?)
    }

    /// The bucket of `hash`.
    fn index(&self, hash: u32) -> u32 {
        hash & self.mask
    }

    fn head(&self, bucket: u32) -> &RcuLink<Link<D>> {
        // SAFETY: every bucket number is masked by `mask`, one less than `heads.len()`. (No
        // bounds-check panic path on the packet path.)
        unsafe { self.heads.get_unchecked((bucket & self.mask) as usize) }
    }

    fn stripe(&self, bucket: u32) -> &Stripe {
        // `stripes.len()` is a power of two no larger than the bucket count (see `new`).
        let i = bucket as usize & self.stripes.len().wrapping_sub(1);
        // SAFETY: `i` is masked below `stripes.len()`, which is at least 1. (No bounds-check
        // panic path here: objtool rejects a function that falls through into one.)
        unsafe { self.stripes.get_unchecked(i) }
    }

    fn lock(&self, bucket: u32) -> StripeGuard<'_> {
        let stripe = self.stripe(bucket);
        // SAFETY: initialised in `new`.
        unsafe { bindings::ipvs_rs_spin_lock_bh(stripe.lock.get()) };
        StripeGuard { stripe, nested: false }
    }

    /// The stripe lock of `bucket`, taken inside another generation's (a move): bottom halves
    /// are already disabled by the outer one.
    fn lock_nested(&self, bucket: u32) -> StripeGuard<'_> {
        let stripe = self.stripe(bucket);
        // SAFETY: initialised in `new`; the caller holds a `lock` guard of another generation.
        unsafe { bindings::ipvs_rs_spin_lock_nested(stripe.lock.get(), MOVE_NESTING) };
        StripeGuard { stripe, nested: true }
    }

    /// The entry of `bucket` for which `matches` holds, with a reference taken.
    fn find(&self, bucket: u32, rcu: &ReadGuard, matches: &mut impl FnMut(&D) -> bool) -> Option<ConnRef<D>> {
        let mut link = self.head(bucket).get(rcu);
        while let Some(l) = link {
            // Whichever key filed it here: the match is on the entry's data.
            let node = l.node();
            if matches(&node.data) {
                if let Some(r) = Table::try_get(node) {
                    return Some(r);
                }
            }
            link = l.next.get(rcu);
        }
        None
    }

    /// Links the fresh node `p` at the head of its bucket under each of its keys, with this
    /// generation's hash key, and returns how many links that made. A lookup by the second
    /// key may miss it until it is linked: nothing was sent for the entry yet, so nothing can
    /// answer it.
    ///
    /// # Safety
    ///
    /// `p` is an initialised node, not linked, that no one else can reach yet.
    unsafe fn link_new(&self, p: *mut Node<D>) -> u32 {
        // SAFETY: `p` is ours (contract).
        let node = unsafe { &*p };
        let keys = node.keys();
        for &which in keys {
            let link = node.link(which);
            let bucket = self.index(node.data.hash(self.key, which));
            let _g = self.lock(bucket);
            let head = self.head(bucket);
            let first = head.addr();
            link.home.store(core::ptr::from_ref(self).cast_mut(), Ordering::Relaxed);
            link.bucket.store(bucket, Ordering::Relaxed);
            link.pprev.store(core::ptr::from_ref(head).cast_mut(), Ordering::Relaxed);
            // SAFETY: under the stripe lock we own the bucket's links, and the nodes on them
            // are alive; linked nodes are freed only a grace period after their unlink
            // (`expire_cb`, `clear`), as `RcuLink` requires. The head is published last, so
            // readers see a fully initialised link and node.
            unsafe {
                link.next.publish(first);
                if !first.is_null() {
                    (*first).pprev.store(core::ptr::from_ref(&link.next).cast_mut(), Ordering::Relaxed);
                }
                head.publish(core::ptr::from_ref(link).cast_mut());
            }
        }
        keys.len() as u32
    }

    /// Moves every entry of `bucket` to the tail of its bucket in `new`, in order, bumping the
    /// stripe's move count around it. Process context, under the resize mutex.
    fn move_bucket(&self, bucket: u32, new: &Buckets<D>) {
        let _g = self.lock(bucket);
        let stripe = self.stripe(bucket);
        let moves = stripe.moves.load(Ordering::Relaxed);
        stripe.moves.store(moves.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let head = self.head(bucket);
        loop {
            let p = head.addr();
            if p.is_null() {
                break;
            }
            // SAFETY: `p` is linked in a bucket whose stripe lock we hold, so it and its node
            // are alive and only we change its links (and those pointing to it).
            let link = unsafe { &*p };
            let to = new.index(link.node().data.hash(new.key, link.which));
            let _n = new.lock_nested(to);
            let next = link.next.addr();
            // SAFETY: as above; `next`, if any, is linked after `p` in the same bucket. A reader
            // standing on `p` follows its `next` into the new bucket (or to its end), and finds
            // the move count changed afterwards.
            unsafe {
                head.publish(next);
                if !next.is_null() {
                    (*next).pprev.store(core::ptr::from_ref(head).cast_mut(), Ordering::Relaxed);
                }
                link.next.publish(core::ptr::null_mut());
            }
            // The tail link of the new bucket: its head, or its last entry's `next`.
            let mut tail = new.head(to);
            loop {
                let last = tail.addr();
                if last.is_null() {
                    break;
                }
                // SAFETY: linked in the new bucket, whose stripe lock we hold: alive.
                tail = unsafe { &(*last).next };
            }
            link.home.store(core::ptr::from_ref(new).cast_mut(), Ordering::Relaxed);
            link.bucket.store(to, Ordering::Relaxed);
            link.pprev.store(core::ptr::from_ref(tail).cast_mut(), Ordering::Relaxed);
            // SAFETY: `p`'s node stays allocated until a grace period after its unlink (as in
            // `link_new`); its links are set before it is published.
            unsafe { tail.publish(p) };
        }
        stripe.moves.store(moves.wrapping_add(2), Ordering::Release);
    }
}

/// The table.
#[pin_data(PinnedDrop)]
pub(crate) struct Table<D: Entry> {
    /// The generation lookups and inserts use; never null once `new` returned.
    cur: RcuLink<Buckets<D>>,
    /// During a resize, the generation entries move to (and inserts go to).
    next: RcuLink<Buckets<D>>,
    /// The upper bound of a generation's bits (`conn_tab_bits`).
    max_bits: u32,
    /// `ENTRIES`, `LINKS` and `ALLOCATED`, per CPU.
    counts: PerCpuCounters<3>,
    /// Generations made since the table was.
    resizes: AtomicU32,
    /// Held by a resize, and by the walks that must not see one (they sleep between buckets).
    #[pin]
    resizing: Mutex<()>,
}

// SAFETY: all shared mutation is through atomics, under the stripe locks, or under `resizing`.
unsafe impl<D: Entry> Send for Table<D> {}
// SAFETY: as above.
unsafe impl<D: Entry> Sync for Table<D> {}

/// What the table says of its size.
#[derive(Clone, Copy)]
pub(crate) struct TableSize {
    pub(crate) entries: u32,
    /// The entries' links (one per key).
    pub(crate) links: u32,
    pub(crate) buckets: u32,
    pub(crate) max_buckets: u32,
    pub(crate) resizes: u32,
}

// The table's counters (per CPU, in `Table::counts`):
/// Linked entries.
const ENTRIES: usize = 0;
/// Their links (an entry with a second key has two): the load the size follows.
const LINKS: usize = 1;
/// Entries allocated and not yet freed (linked, or unlinked with their free pending): `clear`
/// waits for the sum to reach 0.
const ALLOCATED: usize = 2;

impl<D: Entry> Table<D> {
    /// A table of the smallest size that grows up to `1 << max_bits` buckets; pinned, as
    /// entries point back to it.
    pub(crate) fn new(max_bits: u32) -> Result<Pin<KBox<Self>>> {
        let first = Buckets::new(table_size::MIN_BITS.min(max_bits))?;
        let counts = PerCpuCounters::new()?;
        let table = KBox::pin_init(
            pin_init!(Table {
                cur: RcuLink::null(),
                next: RcuLink::null(),
                max_bits,
                counts,
                resizes: AtomicU32::new(0),
                resizing <- new_mutex!(()),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        // SAFETY: the generation lives until `clear`'s caller drops the table (our drop), or a
        // grace period after a resize replaced it.
        unsafe { table.cur.publish(KBox::into_raw(first)) };
        D::node_cache().tables.fetch_add(1, Ordering::Relaxed);
        Ok(table)
    }

    /// The sums of the table's counters, each clamped to `0..=u32::MAX`: a CPU's copy read
    /// before another's can make a sum briefly short (an entry counted out on the second
    /// before it was counted in on the first) or over.
    fn totals(&self) -> [u32; 3] {
        self.counts.sum().map(|v| u32::try_from((v as i64).max(0)).unwrap_or(u32::MAX))
    }

    /// The generation in use, for a caller in a read-side section or holding `resizing`.
    fn generation<'a>(&'a self, rcu: &'a impl ReadSide) -> Option<&'a Buckets<D>> {
        self.cur.get(rcu)
    }

    /// Entries, buckets (now and at most) and resizes so far, for /proc.
    pub(crate) fn size(&self) -> TableSize {
        let rcu = ReadGuard::new();
        let buckets = self.generation(&rcu).map_or(0, |b| b.mask.wrapping_add(1));
        let totals = self.totals();
        TableSize {
            entries: totals[ENTRIES],
            links: totals[LINKS],
            buckets,
            max_buckets: 1u32 << self.max_bits.min(31),
            resizes: self.resizes.load(Ordering::Relaxed),
        }
    }

    /// The most links any bucket holds: a walk over every bucket that pauses its read-side
    /// section every few (a resize meanwhile makes the figure approximate). Process context.
    pub(crate) fn longest_chain(&self) -> u32 {
        let mut rcu = ReadGuard::new();
        let (mut longest, mut bucket) = (0u32, 0u32);
        while let Some(b) = self.generation(&rcu) {
            if bucket > b.mask {
                break;
            }
            let mut n = 0u32;
            let mut link = b.head(bucket).get(&rcu);
            while let Some(l) = link {
                n += 1;
                link = l.next.get(&rcu);
            }
            longest = longest.max(n);
            bucket += 1;
            if bucket % WALK_PAUSE_EVERY == 0 {
                rcu.pause();
            }
        }
        longest
    }

    /// Finds an entry for which `matches` holds and takes a reference; `hash` gives the bucket
    /// hash of what is looked for under a generation's key.
    pub(crate) fn lookup(&self, hash: impl Fn(u32) -> u32, matches: impl FnMut(&D) -> bool) -> Option<ConnRef<D>> {
        self.lookup_in(&ReadGuard::new(), hash, matches)
    }

    /// [`Table::lookup`] inside the caller's read-side section `rcu`.
    pub(crate) fn lookup_in(
        &self,
        rcu: &ReadGuard,
        hash: impl Fn(u32) -> u32,
        mut matches: impl FnMut(&D) -> bool,
    ) -> Option<ConnRef<D>> {
        loop {
            // `next` before `cur`: a resize publishes `cur` before it withdraws `next`, so seeing
            // no `next` means seeing the `cur` it left.
            let next = self.next.get(rcu);
            let cur = self.generation(rcu)?;
            let bucket = cur.index(hash(cur.key));
            let Some(next) = next else {
                return cur.find(bucket, rcu, &mut matches);
            };
            let stripe = cur.stripe(bucket);
            let moves = stripe.moves.load(Ordering::Acquire);
            if moves & 1 == 0 {
                // `next` first: what was inserted during the resize is newer than anything
                // still in `cur`.
                if let Some(r) = next.find(next.index(hash(next.key)), rcu, &mut matches) {
                    return Some(r);
                }
                if let Some(r) = cur.find(bucket, rcu, &mut matches) {
                    return Some(r);
                }
                fence(Ordering::Acquire);
                if stripe.moves.load(Ordering::Relaxed) == moves {
                    return None;
                }
            }
            core::hint::spin_loop();
        }
    }

    /// Lets every entry for which `doomed` holds expire at once (entries dying already are
    /// skipped). Process context: it yields the CPU between buckets, like upstream's
    /// `cond_resched_rcu`, so a large table does not stall others; no resize runs meanwhile.
    pub(crate) fn expire_where(&self, mut doomed: impl FnMut(&D) -> bool) {
        let _no_resize = self.resizing.lock();
        let mut bucket = 0u32;
        loop {
            {
                let rcu = ReadGuard::new();
                let Some(b) = self.generation(&rcu) else { return };
                if bucket > b.mask {
                    return;
                }
                let mut link = first_keyed(b.head(bucket).get(&rcu), &rcu);
                while let Some(l) = link {
                    let node = l.node();
                    if doomed(&node.data) {
                        if let Some(r) = Self::try_get(node) {
                            r.expire_now();
                        }
                    }
                    link = first_keyed(l.next.get(&rcu), &rcu);
                }
            }
            if bucket % 64 == 63 {
                // SAFETY: process context, no lock or RCU read section held here.
                unsafe { bindings::ipvs_rs_cond_resched() };
            }
            bucket += 1;
        }
    }

    /// The DoS defense's sweep (upstream's `ip_vs_random_dropentry`): looks at the entries of
    /// `table size >> shift` buckets picked at random (at least one) and lets those for which
    /// `doomed` holds expire at once. Process context: yields the CPU between buckets; no
    /// resize runs meanwhile.
    pub(crate) fn expire_sampled(&self, shift: u32, mut doomed: impl FnMut(&D, Sample) -> bool) {
        let _no_resize = self.resizing.lock();
        let picks = (self.size().buckets >> shift).max(1);
        for i in 0..picks {
            {
                let rcu = ReadGuard::new();
                let Some(b) = self.generation(&rcu) else { return };
                let now = jiffies();
                let mut link = first_keyed(b.head(super::random_u32()).get(&rcu), &rcu);
                while let Some(l) = link {
                    let node = l.node();
                    // A racing re-arm only shifts the idle time by one packet.
                    let left = node.expires().wrapping_sub(now) as i64;
                    let sample = Sample {
                        held: node.refcnt.load(Ordering::Relaxed) > 1,
                        idle: i64::from(node.timeout.load(Ordering::Relaxed)).wrapping_sub(left),
                    };
                    if doomed(&node.data, sample) {
                        if let Some(r) = Self::try_get(node) {
                            r.expire_now();
                        }
                    }
                    link = first_keyed(l.next.get(&rcu), &rcu);
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

    /// Inserts a new entry; it expires `timeout` jiffies after the returned reference is
    /// dropped. If no memory can be had, the data comes back to the caller, so that what it
    /// accounts for (a dest's connection counters) can be given back.
    pub(crate) fn insert(&self, timeout: u32, data: D, gfp: Gfp) -> Result<ConnRef<D>, D> {
        // Allocated before the read-side section: with `Gfp::Kernel` it may sleep.
        let p = self.new_node(timeout, data, gfp)?;
        // SAFETY: `p` is fresh from `new_node`.
        unsafe { self.link(&ReadGuard::new(), p) }
    }

    /// [`Table::insert`] from softirq, inside the caller's read-side section `rcu` (the
    /// datapath's: taking a section of its own would cost a lock and unlock a new flow).
    pub(crate) fn insert_in(&self, rcu: &ReadGuard, timeout: u32, data: D) -> Result<ConnRef<D>, D> {
        let p = self.new_node(timeout, data, Gfp::Atomic)?;
        // SAFETY: `p` is fresh from `new_node`.
        unsafe { self.link(rcu, p) }
    }

    /// A fresh node for `data`, counted as allocated, its timer set up, not yet reachable.
    fn new_node(&self, timeout: u32, data: D, gfp: Gfp) -> Result<*mut Node<D>, D> {
        let cache = D::node_cache();
        let p = cache.alloc(gfp);
        if p.is_null() {
            return Err(data);
        }
        let node = Node {
            timer: Opaque::uninit(),
            rcu: Opaque::uninit(),
            links: [Link::new(Which::First), Link::new(Which::Second)],
            refcnt: AtomicI32::new(2), // the table's and the caller's
            timeout: AtomicU32::new(timeout),
            table: self,
            data,
        };
        // SAFETY: `p` is a fresh object of the cache, of `Node<D>`'s size and alignment.
        unsafe { p.write(node) };
        self.counts.add(ALLOCATED, 1);
        // SAFETY: `p` is our fresh node; the timer is set up before anyone can arm it. Its
        // expiry time is set too, though the timer is armed only when the returned reference
        // is dropped: readers (/proc, the DoS defense's sweep) read it as soon as the node is
        // linked, and `init_timer` leaves it as the allocator did (a freed object's poison
        // under slub_debug, which /proc once turned into an overflow panic).
        unsafe {
            super::timer::init((*p).timer.get(), Some(expire_cb::<D>), &EXPIRY_TIMER_CLASS);
            (*(*p).timer.get()).expires = jiffies().wrapping_add(u64::from(timeout)) as _;
        }
        Ok(p)
    }

    /// Links the fresh node `p` (from [`Table::new_node`]) into the generation inserts go to,
    /// and hands out the caller's reference; without a generation, frees it and gives back its
    /// data.
    ///
    /// # Safety
    ///
    /// `p` came from [`Table::new_node`] of this table and was neither linked nor freed since.
    unsafe fn link(&self, rcu: &ReadGuard, p: *mut Node<D>) -> Result<ConnRef<D>, D> {
        // During a resize into `next`: a move may already have passed the bucket of `cur`
        // this would go to. Without one, no move starts before the section `rcu` ends.
        let Some(b) = self.next.get(rcu).or_else(|| self.generation(rcu)) else {
            // No generation (not after `new`): the node was never reachable. Its other
            // fields need no drop.
            // SAFETY: `p` was written by `new_node` and no one else has seen it (contract);
            // `data` is moved out once, and the object goes back to the cache it came from.
            let data = unsafe {
                let data = core::ptr::read(&(*p).data);
                D::node_cache().free(p);
                data
            };
            self.counts.sub(ALLOCATED, 1);
            return Err(data);
        };
        // SAFETY: `p` is fresh and not yet reachable (contract).
        let links = unsafe { b.link_new(p) };
        self.counts.add(ENTRIES, 1);
        self.counts.add(LINKS, u64::from(links));
        Ok(ConnRef { node: p })
    }

    /// Unlinks `p` if still linked and no one but the table holds it (or `force`): decided
    /// under the stripe lock of its first link's bucket, and then its second link, if any,
    /// follows.
    ///
    /// # Safety
    ///
    /// `p` must be a node of this table that has not been freed.
    unsafe fn unlink(&self, p: *mut Node<D>, force: bool) -> bool {
        // SAFETY: per the contract the node is alive.
        let node = unsafe { &*p };
        let rcu = ReadGuard::new();
        if !Self::unlink_link(node.link(Which::First), Some(force), &rcu) {
            return false;
        }
        // No reference can be taken any more, so no one else unlinks the second link.
        let keys = node.keys();
        if keys.len() > 1 {
            Self::unlink_link(node.link(Which::Second), None, &rcu);
        }
        self.counts.sub(ENTRIES, 1);
        self.counts.sub(LINKS, keys.len() as u64);
        true
    }

    /// Takes `link` out of its bucket, under the bucket's stripe lock, if it is in one. With
    /// `decide` (the first link) only if `force` is given there or the table's reference is
    /// the last one (count 1 -> 0, after which no reference can be taken).
    fn unlink_link(link: &Link<D>, decide: Option<bool>, _rcu: &ReadGuard) -> bool {
        loop {
            let home = link.home.load(Ordering::Acquire);
            let bucket = link.bucket.load(Ordering::Relaxed);
            if home.is_null() {
                return false;
            }
            // SAFETY: the generation a link is in is freed only a grace period after the
            // resize that moved every link out of it, and we are in a read-side section
            // (`_rcu`) that began while the link was in it.
            let b = unsafe { &*home };
            let _g = b.lock(bucket);
            if link.home.load(Ordering::Relaxed) != home || link.bucket.load(Ordering::Relaxed) != bucket {
                // Moved meanwhile: lock its new bucket.
                continue;
            }
            let pprev = link.pprev.load(Ordering::Relaxed);
            if pprev.is_null() {
                return false;
            }
            if let Some(force) = decide {
                if !force && link.node().refcnt.compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed).is_err() {
                    return false;
                }
            }
            let next = link.next.addr();
            // SAFETY: links change only under this lock; `pprev` and `next` are the links of
            // live nodes (or the bucket head) next to ours.
            unsafe {
                (*pprev).publish(next);
                if !next.is_null() {
                    (*next).pprev.store(pprev, Ordering::Relaxed);
                }
            }
            link.pprev.store(core::ptr::null_mut(), Ordering::Relaxed);
            return true;
        }
    }

    /// Resizes the table if its load asks for it (`table_size::resize_to`). Process context
    /// (the netns's resize work); without memory for the new generation it stays as it is.
    pub(crate) fn resize(&self) {
        let _resizing = self.resizing.lock();
        let old = self.cur.addr();
        // SAFETY: `cur` is never null after `new`, and only a resize (we hold its mutex)
        // replaces and frees it.
        let old_ref = unsafe { &*old };
        let Some(bits) = table_size::resize_to(self.totals()[LINKS], old_ref.bits, self.max_bits) else {
            return;
        };
        let Ok(new) = Buckets::<D>::new(bits) else { return };
        let new = KBox::into_raw(new);
        // SAFETY: `new` lives until a later resize replaces it and a grace period passes.
        unsafe { self.next.publish(new) };
        // Every insert that may still go to `old` is in a read-side section begun before.
        // SAFETY: process context, no lock held but the mutex.
        unsafe { bindings::synchronize_rcu() };
        // SAFETY: `new` is ours until freed by a later resize, which needs our mutex.
        let new_ref = unsafe { &*new };
        for bucket in 0..=old_ref.mask {
            old_ref.move_bucket(bucket, new_ref);
            if bucket % 64 == 63 {
                // SAFETY: process context, no spinlock or RCU read section held here.
                unsafe { bindings::ipvs_rs_cond_resched() };
            }
        }
        // SAFETY: as above for `new`; `cur` first, see `lookup`.
        unsafe {
            self.cur.publish(new);
            self.next.publish(core::ptr::null_mut());
        }
        self.resizes.fetch_add(1, Ordering::Relaxed);
        // No reader, insert or unlink is left in `old`.
        // SAFETY: process context, as above; then `old` is unreachable and empty.
        unsafe {
            bindings::synchronize_rcu();
            drop(KBox::from_raw(old));
        }
    }

    /// Calls `f` on every entry, under RCU, with no resize under way (the caller holds
    /// `resizing`).
    fn for_each_locked(&self, mut f: impl FnMut(&D)) {
        let rcu = ReadGuard::new();
        let Some(b) = self.generation(&rcu) else { return };
        for head in b.heads.iter() {
            let mut link = first_keyed(head.get(&rcu), &rcu);
            while let Some(l) = link {
                f(&l.node().data);
                link = first_keyed(l.next.get(&rcu), &rcu);
            }
        }
    }

    /// Removes and frees every entry, and returns once all are freed. Process context, after
    /// the users (hooks, the resize work) are gone and a grace period has passed.
    pub(crate) fn clear(&self) {
        let _resizing = self.resizing.lock();
        // First let every entry drop its references on the others, while none is freed.
        self.for_each_locked(|d| d.detach());
        let cur = self.cur.addr();
        // SAFETY: `cur` is null (a table whose `new` failed half way) or the live generation,
        // which no one else replaces while we hold the mutex.
        if let Some(b) = unsafe { cur.as_ref() } {
            for (i, head) in b.heads.iter().enumerate() {
                loop {
                    let unlinked = {
                        let rcu = ReadGuard::new();
                        let Some(link) = head.get(&rcu) else { break };
                        let p = core::ptr::from_ref(link.node()).cast_mut();
                        // SAFETY: reached under RCU, so alive for the section.
                        unsafe { self.unlink(p, true) }.then_some(p)
                    };
                    match unlinked {
                        // SAFETY: after the forced unlink no new reference can be taken and the
                        // timer callback finds the entry unlinked and does nothing, so after
                        // timer_shutdown_sync nothing else touches it and we may queue the free.
                        Some(p) => unsafe {
                            bindings::timer_shutdown_sync((*p).timer.get());
                            bindings::call_rcu((*p).rcu.get(), Some(free_cb::<D>));
                        },
                        // Its expiry timer on another CPU unlinked its first link and is taking
                        // the second (this one) out.
                        None => core::hint::spin_loop(),
                    }
                }
                if i % 64 == 63 {
                    // SAFETY: process context, no spinlock or RCU read section held here.
                    unsafe { bindings::ipvs_rs_cond_resched() };
                }
            }
        }
        // Entries an expiry timer unlinked before us are not in any bucket, but their callback
        // may still be running (`expired()` touches what the entry points to) or their free
        // may not be queued yet. Each round waits for the callbacks queued so far.
        // No entry is allocated any more, so each CPU's copy only goes down: a sum of 0 read
        // copy by copy means 0 at the end of the read.
        while self.counts.sum()[ALLOCATED] != 0 {
            super::rcu::barrier();
        }
        fence(Ordering::Acquire);
    }
}

#[pinned_drop]
impl<D: Entry> PinnedDrop for Table<D> {
    fn drop(self: Pin<&mut Self>) {
        self.clear();
        let cur = self.cur.addr();
        if !cur.is_null() {
            // SAFETY: every entry is freed (`clear`), no reader is left (the users are gone, a
            // grace period passed) and no resize runs (its work was stopped first).
            drop(unsafe { KBox::from_raw(cur) });
        }
        // Every entry of this table is freed: the cache may go once no other table is left.
        D::node_cache().tables.fetch_sub(1, Ordering::Release);
    }
}

struct StripeGuard<'a> {
    stripe: &'a Stripe,
    nested: bool,
}

impl Drop for StripeGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in `Buckets::lock` (with bottom halves) or `lock_nested` (inside one).
        unsafe {
            if self.nested {
                bindings::ipvs_rs_spin_unlock(self.stripe.lock.get());
            } else {
                bindings::ipvs_rs_spin_unlock_bh(self.stripe.lock.get());
            }
        }
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
        } else if !(*p).link(Which::First).pprev.load(Ordering::Relaxed).is_null() {
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
/// of the table, shifts for a change anywhere before it). A walk follows the generation in
/// use at each step: a resize while a reader is between reads may make it miss or repeat
/// entries, as bucket numbers then name other buckets.
pub(crate) struct Cursor<D: Entry> {
    /// Bucket of the entry; [`PAST_END`] once the walk is past the end.
    bucket: usize,
    /// Index of the entry among the first-key links of its bucket.
    index: usize,
    /// Entries of the walk before this one.
    ordinal: u64,
    /// The entry's first-key link, or null when not on one (before the first lookup, or past
    /// the end).
    node: *const Link<D>,
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

/// A [`Cursor`]'s bucket once its walk is past the end, whatever the table's size then.
const PAST_END: usize = usize::MAX;

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
        let node = Self::current(cur, rcu)?.node();
        // A racing re-arm gives a slightly stale value, which /proc tolerates.
        Some((&node.data, node.expires().saturating_sub(jiffies())))
    }

    /// The link `cur` stands on, if it found it in the section held now.
    fn current<'s>(cur: &Cursor<D>, rcu: &'s Section) -> Option<&'s Link<D>> {
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
        let Some(head) = self.generation(&*rcu).and_then(|b| b.heads.get(cur.bucket)) else {
            cur.node = core::ptr::null();
            cur.bucket = PAST_END;
            cur.epoch = rcu.epoch();
            return;
        };
        let mut at_index = None;
        let mut link = first_keyed(head.get(&*rcu), &*rcu);
        let mut i = 0;
        while let Some(l) = link {
            if core::ptr::eq(l, cur.node) {
                cur.index = i;
                cur.epoch = rcu.epoch();
                return;
            }
            if i == cur.index {
                at_index = Some(core::ptr::from_ref(l));
            }
            link = first_keyed(l.next.get(&*rcu), &*rcu);
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
        let next = Self::current(cur, rcu).and_then(|l| first_keyed(l.next.get(&*rcu), &*rcu)).map(core::ptr::from_ref);
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
            cur.bucket = cur.bucket.saturating_add(1);
            cur.index = 0;
            *crossed += 1;
            if *crossed % WALK_PAUSE_EVERY == 0 {
                rcu.pause();
            }
            cur.epoch = rcu.epoch();
            let Some(head) = self.generation(&*rcu).and_then(|b| b.heads.get(cur.bucket)) else {
                cur.bucket = PAST_END;
                cur.node = core::ptr::null();
                return;
            };
            cur.node = first_keyed(head.get(&*rcu), &*rcu).map_or(core::ptr::null(), core::ptr::from_ref);
            if !cur.node.is_null() {
                return;
            }
        }
    }
}

/// The first link from `link` on (itself included) that files its entry under its first key:
/// what walks that visit each entry once follow.
fn first_keyed<'s, D: Entry>(mut link: Option<&'s Link<D>>, rcu: &'s impl ReadSide) -> Option<&'s Link<D>> {
    while let Some(l) = link {
        if l.which == Which::First {
            return Some(l);
        }
        link = l.next.get(rcu);
    }
    None
}

/// Frees an unlinked entry after its grace period.
///
/// # Safety
///
/// Only `call_rcu` may call it, for the `rcu` head of a node queued by this table.
unsafe extern "C" fn free_cb<D: Entry>(head: *mut bindings::callback_head) {
    let off = core::mem::offset_of!(Node<D>, rcu);
    // SAFETY: `head` is the `rcu` field of a node of `D::node_cache()` (see `insert`),
    // unlinked and with no reader left after the grace period: we own it, and drop and free it
    // once.
    let table = unsafe {
        let node = head.cast::<u8>().sub(off).cast::<Node<D>>();
        let table = (*node).table;
        core::ptr::drop_in_place(node);
        D::node_cache().free(node);
        table
    };
    fence(Ordering::Release);
    // SAFETY: the table outlives its entries: `clear` (run before the table is freed) waits
    // for this count, which we drop last, after the entry and its data are gone.
    unsafe { (*table).counts.sub(ALLOCATED, 1) };
}
