/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sector.c — a sector's lock, its deferred-free stack, and its repair.
 *
 * The lock is a try-lock stamped with its holder ({gen, slot + 1}), so a waiter can
 * tell a dead holder (am_stamp_dead) and steal the lock by CAS on that exact stamp;
 * the thief then repairs the sector from its physical chain, which the order of
 * header writes in tlsf.c keeps walkable at every instruction.
 *
 * Frees never wait: a block whose sector is busy is pushed on the sector's deferred
 * stack (many pushers, one popper — the lock holder — so a plain CAS is ABA-free).
 * Whoever takes the lock drains the stack before it reads the free lists (alloc,
 * check, stats, reclaim all do), so a pushed block is always merged before anyone
 * could miss it. That is why unlocking is a plain release store with no re-check of
 * the stack: a push that races with an unlock waits, harmlessly, for the next holder.
 */
#include <sched.h>
#include "arena_internal.h"

int am_sector_lock_until(am_arena *a, unsigned k, uint64_t deadline)
{
    am_sector *s = &a->sectors[k];
    for (unsigned spins = 1;; spins++) {
        if (am_sector_trylock(a, k)) return 0;
        if (spins % 128 == 0) {
            if (deadline != UINT64_MAX && am_now_ns() >= deadline) return AM_ETIMEDOUT;
            uint64_t holder = atomic_load_explicit(&s->lock, memory_order_relaxed);
            if (holder && am_stamp_dead(a, holder) &&
                atomic_compare_exchange_strong_explicit(&s->lock, &holder, a->stamp,
                                                        memory_order_acquire, memory_order_relaxed)) {
                atomic_store_explicit(&a->dead_seen, 1, memory_order_relaxed);
                return am_sector_repair(a, k);
            }
            sched_yield();
        } else {
            am_cpu_relax();
        }
    }
}

void am_sector_push(am_arena *a, unsigned k, uint64_t off)
{
    am_sector *s = &a->sectors[k];
    am_block *b = am_blk(a, off);
    uint32_t top = atomic_load_explicit(&s->pending, memory_order_relaxed);
    do {
        atomic_store_explicit(&b->pend, top, memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&s->pending, &top, (uint32_t)(off / AM_GRAN),
                                                    memory_order_release, memory_order_relaxed));
}

/* A PENDING block of sector k at off16, or NULL (the stack is then corrupt). */
static am_block *pending_block(am_arena *a, unsigned k, uint32_t off16)
{
    am_block *b = am_blk_checked(a, k, (uint64_t)off16 * AM_GRAN);
    if (!b || AM_ST_STATE(atomic_load_explicit(&b->st, memory_order_acquire)) != AM_BLK_PENDING) return NULL;
    return b;
}

int am_sector_drain_slow(am_arena *a, unsigned k)
{
    am_sector *s = &a->sectors[k];
    uint32_t top;
    while ((top = atomic_load_explicit(&s->pending, memory_order_acquire)) != 0) {
        am_block *b = pending_block(a, k, top);
        if (!b) {
            /* Drop the stack rather than walk garbage: leaks, never double-frees. */
            atomic_store_explicit(&s->pending, 0, memory_order_relaxed);
            return am_check_fail("sector %u: deferred stack holds a bad block", k);
        }
        uint64_t off = (uint64_t)top * AM_GRAN;
        unsigned ix = am_intent_claim(a, off, atomic_load_explicit(&b->gen, memory_order_relaxed));
        uint32_t next = atomic_load_explicit(&b->pend, memory_order_relaxed);
        /* Only pushes change the top under us, so a failed CAS just means retry. */
        if (!atomic_compare_exchange_strong_explicit(&s->pending, &top, next,
                                                     memory_order_acq_rel, memory_order_relaxed)) {
            am_intent_release(a, ix);
            continue;
        }
        AM_CRASH_POINT(DRAIN_POPPED);
        int rc = am_tlsf_free(a, k, off);
        am_intent_release(a, ix);
        if (rc) return rc;          /* the caller recovers the sector */
    }
    return 0;
}

/* Is the block at off16 on sector k's deferred stack? (lock held: nothing is popped) */
static int on_stack(am_arena *a, unsigned k, uint32_t off16)
{
    uint32_t cur = atomic_load_explicit(&a->sectors[k].pending, memory_order_acquire);
    uint64_t limit = am_sector_bytes(a, k) / AM_MIN_BLOCK + 1;
    for (uint64_t n = 0; cur && n < limit; n++) {
        if (cur == off16) return 1;
        am_block *b = pending_block(a, k, cur);
        if (!b) return -1;
        cur = atomic_load_explicit(&b->pend, memory_order_relaxed);
    }
    return cur ? -1 : 0;
}

int am_sector_release_locked(am_arena *a, unsigned k, uint64_t off)
{
    am_block *b = am_blk(a, off);
    unsigned ix = am_intent_claim(a, off, atomic_load_explicit(&b->gen, memory_order_relaxed));
    uint32_t st = atomic_load_explicit(&b->st, memory_order_acquire);
    int rc = 0;
    while (AM_ST_STATE(st) == AM_BLK_ALLOCATED &&
           !atomic_compare_exchange_weak_explicit(&b->st, &st, AM_ST_MAKE(AM_BLK_PENDING, 0),
                                                  memory_order_acq_rel, memory_order_acquire)) {
    }
    if (AM_ST_STATE(st) == AM_BLK_ALLOCATED) {  /* we claimed it */
        AM_CRASH_POINT(RECLAIM_CLAIMED);
        rc = am_tlsf_free(a, k, off);
        if (rc == 0) rc = 1;
    }
    am_intent_release(a, ix);
    return rc;
}

int am_sector_resolve_intents(am_arena *a, unsigned k, unsigned slot)
{
    am_participant *p = &a->parts[slot];
    int rc = 0;
    for (unsigned i = 0; i < AM_INTENTS; i++) {
        uint64_t v = atomic_load_explicit(&p->intent[i], memory_order_acquire);
        if (v == 0) continue;
        uint64_t off = (v & 0xffffffffu) * AM_GRAN;
        int ks = am_sector_of(a, off);
        if (ks >= 0 && (unsigned)ks != k) continue;  /* another sector's business */
        am_block *b = ks >= 0 ? am_blk_checked(a, k, off) : NULL;
        if (b && AM_ST_STATE(atomic_load_explicit(&b->st, memory_order_acquire)) == AM_BLK_PENDING &&
            atomic_load_explicit(&b->gen, memory_order_relaxed) == (uint32_t)(v >> 32)) {
            int there = on_stack(a, k, (uint32_t)(off / AM_GRAN));
            if (there < 0) rc = am_check_fail("sector %u: deferred stack is corrupt", k);
            if (there == 0) {  /* the dead claimed it and never pushed it: finish */
                AM_CRASH_POINT(RESOLVE_INTENT);
                int r = am_tlsf_free(a, k, off);
                if (r) rc = r;
            }
        }
        atomic_compare_exchange_strong_explicit(&p->intent[i], &v, 0, memory_order_acq_rel, memory_order_relaxed);
    }
    return rc;
}

/* First pass: walk the chain, fix check words, merge runs of free blocks. Each merge
 * is one store that leaves a valid tiling, so a repairer may die here too. */
static int merge_free_runs(am_arena *a, unsigned k)
{
    uint64_t end = am_sector_end(a, k), off = am_sector_start(a, k);
    uint64_t last_free = 0, run = 0;
    while (off < end) {
        am_block *b = am_blk(a, off);
        uint64_t size = am_blk_size(a, k, off, b);
        if (size == 0) return am_check_fail("sector %u: chain broken at %llu", k, (unsigned long long)off);
        if (atomic_load_explicit(&b->check, memory_order_relaxed) != am_block_check(off)) {
            atomic_store_explicit(&b->check, am_block_check(off), memory_order_relaxed);
        }
        bool is_free = AM_ST_STATE(atomic_load_explicit(&b->st, memory_order_acquire)) == AM_BLK_FREE;
        if (is_free && last_free) {
            run += size;
            atomic_store_explicit(&am_blk(a, last_free)->size16, (uint32_t)(run / AM_GRAN), memory_order_release);
            AM_CRASH_POINT(REPAIR_MERGE);
        } else {
            last_free = is_free ? off : 0;
            run = size;
        }
        off += size;
    }
    return 0;
}

/* Second pass: previous-size hints, free lists and bitmaps, counters, from the chain.
 * The chain is re-checked: a hostile peer may have written it since the first pass. */
static int rebuild_lists(am_arena *a, unsigned k)
{
    am_tlsf_clear(a, k);
    uint64_t used = 0, prev = 0, end = am_sector_end(a, k);
    for (uint64_t off = am_sector_start(a, k); off < end;) {
        am_block *b = am_blk(a, off);
        uint64_t size = am_blk_size(a, k, off, b);
        if (size == 0) return am_check_fail("sector %u: chain broken at %llu", k, (unsigned long long)off);
        atomic_store_explicit(&b->prev16, (uint32_t)(prev / AM_GRAN), memory_order_relaxed);
        if (AM_ST_STATE(atomic_load_explicit(&b->st, memory_order_acquire)) == AM_BLK_FREE) {
            int rc = am_tlsf_insert(a, k, off);
            if (rc) return rc;
            AM_CRASH_POINT(REPAIR_REBUILD);
        } else {
            used++;
        }
        prev = size;
        off += size;
    }
    atomic_store_explicit(&a->sectors[k].used_blocks, used, memory_order_relaxed);
    return 0;
}

int am_sector_repair(am_arena *a, unsigned k)
{
    am_sector *s = &a->sectors[k];
    if (atomic_load_explicit(&s->released, memory_order_acquire)) {
        /* Its pages are given back (or about to be): no chain to walk, no block in it. */
        am_tlsf_clear(a, k);
        return 0;
    }
    int rc = merge_free_runs(a, k);
    AM_CRASH_POINT(REPAIR_CLEARED);
    if (rc == 0) rc = rebuild_lists(a, k);
    if (rc) {
        atomic_store_explicit(&s->corrupt, 1, memory_order_relaxed);   /* fenced off */
        return rc;
    }
    /* Unfinished frees of dead processes (PENDING blocks named by intent records) are
     * left to am_reclaim_slot, which holds the dead slot's byte lock and so reads an
     * intent table nobody alive is using; until then those blocks are just unusable. */
    atomic_fetch_add_explicit(&s->repairs, 1, memory_order_relaxed);
    return 0;
}
