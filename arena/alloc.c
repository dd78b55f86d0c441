/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alloc.c — the public allocation calls: alloc, retain, ack, disown, offsets.
 *
 * Allocation is "permissive": it starts at this handle's home sector and skips any
 * sector whose lock is busy; it waits only when every sector that might serve it is
 * busy. A free never waits: the last ack claims the block (ALLOCATED -> PENDING in one
 * CAS), frees it at once if the sector's try-lock succeeds, and otherwise pushes it
 * on the sector's deferred stack for the holder to merge.
 *
 * An intent record covers each free from before the claim until the block is merged
 * or on the stack, so a free interrupted by kill -9 is finished by whoever next holds
 * the sector after the process is found dead.
 */
#include "arena_internal.h"

static inline bool usable(const am_arena *a)
{
    return a && !atomic_load_explicit(&a->forked, memory_order_relaxed);
}

/* After stealing a dead holder's lock, reclaim what that participant owned. */
static void reclaim_if_dead_seen(am_arena *a)
{
    if (__builtin_expect(atomic_load_explicit(&a->dead_seen, memory_order_relaxed), 0)) {
        (void)am_arena_reclaim(a);
    }
}

/* The sector this thread last allocated from in arena handle `spread_for` (its home):
 * each participant starts at its own, so processes rarely meet on one lock. */
static _Thread_local const am_arena *spread_for;
static _Thread_local unsigned thread_spread;

/* One pass over the known sectors that could hold `need` bytes (see am_try_alloc):
 * 0 with *out, or the error to report if nothing else works. */
static int alloc_from_sectors(am_arena *a, uint64_t need, void **out)
{
    unsigned n = am_sectors(a);
    unsigned home = spread_for == a && thread_spread < n ? thread_spread : a->slot % n;
    int rc = AM_ENOMEM;
    /* Pass 0 skips busy sectors; pass 1 waits for those it skipped, AM_ALLOC_WAIT_NS at
     * most in all: a holder that does not let go is a paused process (SIGSTOP), and it
     * must not stall an allocation forever (AM_ETIMEDOUT). */
    uint8_t busy[AM_MAX_SECTORS];
    unsigned nbusy = 0;
    uint64_t deadline = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < n; i++) {
            unsigned k = home + i < n ? home + i : home + i - n;
            if (pass == 0) busy[k] = 0;
            if (atomic_load_explicit(&a->sectors[k].corrupt, memory_order_relaxed) || am_sector_bytes(a, k) < need ||
                atomic_load_explicit(&a->sectors[k].released, memory_order_relaxed)) {
                continue;
            }
            if (pass == 0) {
                if (!am_sector_trylock(a, k)) { busy[k] = 1; nbusy++; continue; }
            } else {
                if (!busy[k]) continue;
                if (deadline == 0) deadline = am_now_ns() + AM_ALLOC_WAIT_NS;
                int l = am_sector_lock_until(a, k, deadline);
                if (l == AM_ETIMEDOUT) {
                    if (rc == AM_ENOMEM) rc = l;
                    continue;
                }
                if (l != 0) {                             /* repair found it broken */
                    am_sector_unlock(a, k);
                    rc = AM_ECORRUPT;
                    continue;
                }
            }
            uint64_t off = 0;
            int r = am_sector_drain(a, k);
            if (r == 0) r = atomic_load_explicit(&a->sectors[k].released, memory_order_relaxed) ? AM_ENOMEM
                                                                                              : am_tlsf_alloc(a, k, need, &off);
            am_sector_recover(a, k, r);
            am_sector_note_idle(a, k);                        /* in use now, or still idle */
            am_sector_unlock(a, k);
            if (r == 0) {
                *out = a->base + off + AM_HDR;
                spread_for = a;                               /* stay where it worked */
                thread_spread = k;
                return 0;
            }
            if (r == AM_ECORRUPT) rc = r;
        }
        if (nbusy == 0) break;
    }
    return rc;
}

/* The known sectors first; when none has room, a grown (or taken back) sector, a few
 * times over (racing allocators may take the room a grower made). */
int am_try_alloc(am_arena *a, size_t size, void **out)
{
    if (!out) return AM_EINVAL;
    *out = NULL;
    if (!usable(a)) return AM_EINVAL;
    uint64_t need = am_block_bytes(size);
    if (need == 0 || need > a->g.max_size) return AM_ETOOBIG;
    am_release_idle(a);
    int rc = AM_ENOMEM;
    for (int attempt = 0; attempt < 4; attempt++) {
        rc = alloc_from_sectors(a, need, out);
        if (rc == AM_ENOMEM && a->g.max_size == a->g.size && need > a->g.sector_size) rc = AM_ETOOBIG;
        if (rc != AM_ENOMEM || a->g.max_size == a->g.size) break;   /* found, or cannot grow */
        int g = am_grow(a, need);
        if (g != 0) {
            rc = g;
            break;
        }
    }
    reclaim_if_dead_seen(a);
    return rc;
}

void *am_alloc(am_arena *a, size_t size)
{
    void *p;
    return am_try_alloc(a, size, &p) == 0 ? p : NULL;
}

/* The block behind payload pointer p, located and sanity-checked (not its state). */
typedef struct block_ref {
    uint64_t  off;      /* offset of its header */
    unsigned  k;        /* its sector           */
    am_block *b;
} block_ref;

/* The block whose payload is at offset off (checked: it may come from anywhere, a
 * pointer a caller passed or an offset read from shared memory). */
static int find_payload(am_arena *a, uint64_t off, block_ref *r)
{
    if (!usable(a) || off < a->g.heap_off + AM_HDR || off >= a->g.max_size) return AM_EINVAL;
    uint64_t o = off - AM_HDR;
    int k = am_sector_of(a, o);
    /* A released sector's pages are given back: not even read (a read would bring a
     * page back, or fault on a full filesystem). */
    if (k < 0 || atomic_load_explicit(&a->sectors[k].released, memory_order_acquire)) return AM_EINVAL;
    am_block *b = am_blk_checked(a, (unsigned)k, o);
    if (!b || am_blk_size(a, (unsigned)k, o, b) == 0) return AM_EINVAL;
    *r = (block_ref){ o, (unsigned)k, b };
    return 0;
}

/* The block behind payload pointer p (a pointer below the mapping wraps to an offset
 * past it, and is refused with the rest). */
static int find_block(am_arena *a, const void *p, block_ref *r)
{
    if (!usable(a) || !p) return AM_EINVAL;
    return find_payload(a, (uint64_t)((uintptr_t)p - (uintptr_t)a->base), r);
}

int am_retain(am_arena *a, void *p, uint32_t n)
{
    block_ref r;
    int rc = find_block(a, p, &r);
    if (rc) return rc;
    uint32_t st = atomic_load_explicit(&r.b->st, memory_order_relaxed);
    do {
        if (AM_ST_STATE(st) != AM_BLK_ALLOCATED || n > AM_MAX_REFS - AM_ST_REFS(st)) return AM_EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(&r.b->st, &st, st + (n << 2),
                                                    memory_order_relaxed, memory_order_relaxed));
    return 0;
}

static int ack(am_arena *a, void *p, bool defer);

int am_ack(am_arena *a, void *p)
{
    return ack(a, p, false);
}

int am_ack_deferred(am_arena *a, void *p)
{
    return ack(a, p, true);
}

static int ack(am_arena *a, void *p, bool defer)
{
    block_ref r;
    int rc = find_block(a, p, &r);
    if (rc) return rc;
    uint32_t st = atomic_load_explicit(&r.b->st, memory_order_acquire);
    for (;;) {
        if (AM_ST_STATE(st) != AM_BLK_ALLOCATED || AM_ST_REFS(st) == 0) return AM_EINVAL;
        if (AM_ST_REFS(st) > 1) {
            if (atomic_compare_exchange_weak_explicit(&r.b->st, &st, st - (1u << 2),
                                                      memory_order_release, memory_order_acquire)) {
                return 0;
            }
            continue;
        }
        /* The last reference: record the intent, then claim the block. */
        unsigned ix = am_intent_claim(a, r.off, atomic_load_explicit(&r.b->gen, memory_order_relaxed));
        if (!atomic_compare_exchange_strong_explicit(&r.b->st, &st, AM_ST_MAKE(AM_BLK_PENDING, 0),
                                                     memory_order_acq_rel, memory_order_acquire)) {
            am_intent_release(a, ix);
            continue;
        }
        AM_CRASH_POINT(FREE_CLAIMED);
        if (!defer && am_sector_trylock(a, r.k)) {
            rc = am_tlsf_free(a, r.k, r.off);
            am_intent_release(a, ix);
            if (rc == 0) rc = am_sector_drain(a, r.k);
            am_sector_recover(a, r.k, rc);
            am_sector_note_idle(a, r.k);
            am_sector_unlock(a, r.k);
            am_release_idle(a);
        } else {
            am_sector_push(a, r.k, r.off);          /* the next holder merges it */
            AM_CRASH_POINT(FREE_PUSHED);
            am_intent_release(a, ix);
        }
        return rc == AM_ECORRUPT ? rc : 0;
    }
}

/* Give up our ownership of block b. While the word names us only we write it (a
 * reclaim frees a participant's blocks only once it is dead), so a check and a store do
 * what a CAS would, without the locked instruction: on x86 that would wait for every
 * store of the message still in this CPU's store buffer, and for the line the
 * receiver's probe shares. */
static int disown(am_arena *a, am_block *b)
{
    if (atomic_load_explicit(&b->owner, memory_order_relaxed) != a->slot + 1) return AM_EPERM;
    atomic_store_explicit(&b->owner, 0, memory_order_release);
    return 0;
}

int am_disown(am_arena *a, void *p)
{
    block_ref r;
    int rc = find_block(a, p, &r);
    if (rc) return rc;
    if (AM_ST_STATE(atomic_load_explicit(&r.b->st, memory_order_acquire)) != AM_BLK_ALLOCATED) return AM_EINVAL;
    return disown(a, r.b);
}

int am_block_disown_identified(am_arena *a, void *p)
{
    return disown(a, (am_block *)((uint8_t *)p - AM_HDR));
}

uint64_t am_offset(am_arena *a, const void *p)
{
    if (!a || !p) return 0;
    const uint8_t *q = p;
    if (q < a->base + a->g.heap_off || !am_in_heap(a, (uint64_t)(q - a->base))) return 0;
    return (uint64_t)(q - a->base);
}

void *am_ptr(am_arena *a, uint64_t off)
{
    if (!a || off < a->g.heap_off || off >= a->g.max_size || !am_in_heap(a, off) || (off & (AM_GRAN - 1)) != 0) {
        return NULL;
    }
    return a->base + off;
}

size_t am_block_size(am_arena *a, const void *p)
{
    block_ref r;
    if (find_block(a, p, &r) != 0) return 0;
    if (AM_ST_STATE(atomic_load_explicit(&r.b->st, memory_order_acquire)) != AM_BLK_ALLOCATED) return 0;
    return (size_t)(am_blk_size(a, r.k, r.off, r.b) - AM_HDR);
}

/* ---- for the channel layer (arena_internal.h) */

int am_block_identify(am_arena *a, const void *p, uint64_t *off, uint32_t *gen, size_t *payload)
{
    block_ref r;
    int rc = find_block(a, p, &r);
    if (rc) return rc;
    if (AM_ST_STATE(atomic_load_explicit(&r.b->st, memory_order_acquire)) != AM_BLK_ALLOCATED) return AM_EINVAL;
    *off = r.off + AM_HDR;
    *gen = atomic_load_explicit(&r.b->gen, memory_order_relaxed);
    if (payload) *payload = (size_t)(am_blk_size(a, r.k, r.off, r.b) - AM_HDR);
    return 0;
}

/* The live allocation {off, gen}: its payload pointer and block, or NULL. */
static void *live_block(am_arena *a, uint64_t off, uint32_t gen, block_ref *r)
{
    if (find_payload(a, off, r) != 0) return NULL;
    void *p = a->base + off;
    if (AM_ST_STATE(atomic_load_explicit(&r->b->st, memory_order_acquire)) != AM_BLK_ALLOCATED ||
        atomic_load_explicit(&r->b->gen, memory_order_relaxed) != gen) {
        return NULL;
    }
    return p;
}

void *am_block_adopt(am_arena *a, uint64_t off, uint32_t gen, am_gen_batch *gb, size_t *payload)
{
    block_ref r;
    void *p = live_block(a, off, gen, &r);
    if (!p || AM_ST_REFS(atomic_load_explicit(&r.b->st, memory_order_acquire)) != 1) return NULL;
    /* The caller took the only reference to it out of a ring nobody else consumes, so
     * nobody frees, adopts or owns it meanwhile: a check (a block somebody owns is
     * refused) and a store, no CAS (as in am_disown). Owner first: once the generation
     * moves, a death leaves a block the arena gives back as this participant's. */
    if (atomic_load_explicit(&r.b->owner, memory_order_relaxed) != 0) return NULL;
    atomic_store_explicit(&r.b->owner, a->slot + 1, memory_order_relaxed);
    am_gen_run *e = &gb->e[r.k % AM_GEN_BATCHES];
    if (e->left == 0 || e->sector != r.k) {
        e->sector = r.k;
        e->next = atomic_fetch_add_explicit(&a->sectors[r.k].alloc_gen, AM_GEN_BATCH, memory_order_relaxed) + 1;
        e->left = AM_GEN_BATCH;
    }
    uint32_t g = e->next++;
    e->left--;
    atomic_store_explicit(&r.b->gen, g, memory_order_release);
    if (payload) *payload = (size_t)(am_blk_size(a, r.k, r.off, r.b) - AM_HDR);
    return p;
}

const _Atomic uint32_t *am_block_gen_word(const void *p)
{
    return &((const am_block *)((const uint8_t *)p - AM_HDR))->gen;
}

bool am_block_owned(am_arena *a, const void *p)
{
    block_ref r;
    return find_block(a, p, &r) == 0 &&
           AM_ST_STATE(atomic_load_explicit(&r.b->st, memory_order_acquire)) == AM_BLK_ALLOCATED &&
           atomic_load_explicit(&r.b->owner, memory_order_acquire) == a->slot + 1;
}

void *am_block_probe(am_arena *a, uint64_t off, uint32_t gen, uint32_t *owner, size_t *payload)
{
    block_ref r;
    void *p = live_block(a, off, gen, &r);
    if (!p) return NULL;
    if (owner) *owner = atomic_load_explicit(&r.b->owner, memory_order_acquire);
    if (payload) *payload = (size_t)(am_blk_size(a, r.k, r.off, r.b) - AM_HDR);
    return p;
}
