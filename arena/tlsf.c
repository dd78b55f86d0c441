/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tlsf.c — one sector's Two-Level Segregated Fit allocator.
 *
 * TLSF finds a free block in O(1) by keeping one free list per size class and two
 * levels of bitmaps saying which lists are non-empty. A request is rounded *up* to the
 * next class boundary before the search (mapping_search), so any block in the class
 * found is big enough; a block is filed by its size rounded *down* (mapping_insert).
 *
 * Crash robustness rests on the order of header writes (see shm_layout.h): the new
 * header is written completely before the one store (size16) that links it into the
 * physical chain, so a sector can be walked by sizes at every instruction, and lists
 * and bitmaps can be rebuilt from the chain.
 *
 * Every function here runs with the sector lock held. Links read from shared memory
 * are checked: a bad one gives AM_ECORRUPT.
 */
#include "arena_internal.h"

static inline unsigned fls64(uint64_t x) /* index of the highest set bit, x > 0 */
{
    return 63u - (unsigned)__builtin_clzll(x);
}

static inline void mapping_insert(uint64_t size, unsigned *fl, unsigned *sl)
{
    if (size < AM_SMALL_LIMIT) {
        *fl = 0;
        *sl = (unsigned)(size / AM_GRAN);
    } else {
        unsigned f = fls64(size);
        *sl = (unsigned)(size >> (f - AM_SL_LOG)) ^ AM_SL_COUNT;
        *fl = f - AM_FL_SHIFT;
    }
}

static inline int mapping_search(uint64_t size, unsigned *fl, unsigned *sl)
{
    if (size >= AM_SMALL_LIMIT) {
        size += (1ull << (fls64(size) - AM_SL_LOG)) - 1; /* round up to the next class */
    }
    mapping_insert(size, fl, sl);
    return *fl < AM_FL_COUNT ? 0 : -1;
}

void am_tlsf_mapping_insert(uint64_t size, unsigned *fl, unsigned *sl) { mapping_insert(size, fl, sl); }
int am_tlsf_mapping_search(uint64_t size, unsigned *fl, unsigned *sl) { return mapping_search(size, fl, sl); }

uint64_t am_block_bytes(size_t payload)
{
    if (payload > AM_MAX_SIZE) return 0;
    uint64_t b = ((uint64_t)payload + AM_GRAN - 1) / AM_GRAN * AM_GRAN + AM_HDR;
    return b < AM_MIN_BLOCK ? AM_MIN_BLOCK : b;
}

static inline am_free_links *links(am_arena *a, uint64_t off)
{
    return (am_free_links *)(a->base + off + AM_HDR);
}

/* Bitmaps are written only by the sector's lock holder (and read racily by tools):
 * a plain load and store, no locked read-modify-write on the hot path. */
static inline void set_bits(_Atomic uint32_t *w, uint32_t bits)
{
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | bits, memory_order_relaxed);
}
static inline uint32_t clear_bits(_Atomic uint32_t *w, uint32_t bits)
{
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed) & ~bits;
    atomic_store_explicit(w, v, memory_order_relaxed);
    return v;
}

/* A free-list neighbour read from shared memory: 0 (none), or an offset whose header
 * and links lie inside sector k. That is what keeps the list code's reads and writes
 * in bounds; whether the block there is really free is the checker's business (and
 * am_tlsf_alloc checks the block it takes). */
static inline int link_ok(const am_arena *a, unsigned k, uint32_t off16)
{
    uint64_t off = (uint64_t)off16 * AM_GRAN, start = am_sector_start(a, k);
    return off16 == 0 || (off >= start && off - start <= am_sector_bytes(a, k) - AM_MIN_BLOCK);
}

void am_tlsf_clear(am_arena *a, unsigned k)
{
    am_sector *s = &a->sectors[k];
    atomic_store_explicit(&s->fl_bitmap, 0, memory_order_relaxed);
    for (unsigned f = 0; f < AM_FL_COUNT; f++) {
        atomic_store_explicit(&s->sl_bitmap[f], 0, memory_order_relaxed);
        for (unsigned l = 0; l < AM_SL_COUNT; l++) {
            atomic_store_explicit(&s->heads[f][l], 0, memory_order_relaxed);
        }
    }
    atomic_store_explicit(&s->free_bytes, 0, memory_order_relaxed);
    atomic_store_explicit(&s->free_blocks, 0, memory_order_relaxed);
}

/* File the free block at off in the list of its size class. */
int am_tlsf_insert(am_arena *a, unsigned k, uint64_t off)
{
    am_sector *s = &a->sectors[k];
    am_block *b = am_blk(a, off);
    uint64_t size = am_blk_size(a, k, off, b);
    if (size == 0) return am_check_fail("sector %u: free block at %llu has a bad size", k, (unsigned long long)off);
    unsigned fl, sl;
    mapping_insert(size, &fl, &sl);
    uint32_t head = atomic_load_explicit(&s->heads[fl][sl], memory_order_relaxed);
    if (!link_ok(a, k, head)) return am_check_fail("sector %u: bad list head", k);
    am_free_links *l = links(a, off);
    atomic_store_explicit(&l->next16, head, memory_order_relaxed);
    atomic_store_explicit(&l->prev16, 0, memory_order_relaxed);
    if (head) atomic_store_explicit(&links(a, (uint64_t)head * AM_GRAN)->prev16, (uint32_t)(off / AM_GRAN), memory_order_relaxed);
    atomic_store_explicit(&s->heads[fl][sl], (uint32_t)(off / AM_GRAN), memory_order_relaxed);
    set_bits(&s->sl_bitmap[fl], 1u << sl);
    set_bits(&s->fl_bitmap, 1u << fl);
    atomic_store_explicit(&s->free_bytes, atomic_load_explicit(&s->free_bytes, memory_order_relaxed) + size, memory_order_relaxed);
    atomic_store_explicit(&s->free_blocks, atomic_load_explicit(&s->free_blocks, memory_order_relaxed) + 1, memory_order_relaxed);
    return 0;
}

/* Unlink the free block at off (of the given size) from its list. */
static int tlsf_remove(am_arena *a, unsigned k, uint64_t off, uint64_t size)
{
    am_sector *s = &a->sectors[k];
    unsigned fl, sl;
    mapping_insert(size, &fl, &sl);
    am_free_links *l = links(a, off);
    uint32_t next = atomic_load_explicit(&l->next16, memory_order_relaxed);
    uint32_t prev = atomic_load_explicit(&l->prev16, memory_order_relaxed);
    if (!link_ok(a, k, next) || !link_ok(a, k, prev)) {
        return am_check_fail("sector %u: free block at %llu has bad links", k, (unsigned long long)off);
    }
    if (next) atomic_store_explicit(&links(a, (uint64_t)next * AM_GRAN)->prev16, prev, memory_order_relaxed);
    if (prev) {
        atomic_store_explicit(&links(a, (uint64_t)prev * AM_GRAN)->next16, next, memory_order_relaxed);
    } else {
        if (atomic_load_explicit(&s->heads[fl][sl], memory_order_relaxed) != off / AM_GRAN) {
            return am_check_fail("sector %u: block %llu is not where its size files it", k, (unsigned long long)off);
        }
        atomic_store_explicit(&s->heads[fl][sl], next, memory_order_relaxed);
        if (next == 0 && clear_bits(&s->sl_bitmap[fl], 1u << sl) == 0) clear_bits(&s->fl_bitmap, 1u << fl);
    }
    atomic_store_explicit(&s->free_bytes, atomic_load_explicit(&s->free_bytes, memory_order_relaxed) - size, memory_order_relaxed);
    atomic_store_explicit(&s->free_blocks, atomic_load_explicit(&s->free_blocks, memory_order_relaxed) - 1, memory_order_relaxed);
    return 0;
}

/* Head of the first non-empty list at or above class (fl, sl), 0 if none. */
static uint32_t find_suitable(am_sector *s, unsigned fl, unsigned sl)
{
    /* Bitmaps come from shared memory: bits beyond the classes that exist are masked
     * off, so no index derived from them leaves the tables. */
    const uint32_t sl_valid = (1u << AM_SL_COUNT) - 1, fl_valid = (1u << AM_FL_COUNT) - 1;
    uint32_t sl_map = atomic_load_explicit(&s->sl_bitmap[fl], memory_order_relaxed) & (~0u << sl) & sl_valid;
    if (!sl_map) {
        uint32_t fl_map = fl + 1 < 32 ? atomic_load_explicit(&s->fl_bitmap, memory_order_relaxed) & (~0u << (fl + 1)) & fl_valid : 0;
        if (!fl_map) return 0;
        fl = (unsigned)__builtin_ctz(fl_map);
        sl_map = atomic_load_explicit(&s->sl_bitmap[fl], memory_order_relaxed) & sl_valid;
        if (!sl_map) return 0;
    }
    sl = (unsigned)__builtin_ctz(sl_map);
    return atomic_load_explicit(&s->heads[fl][sl], memory_order_relaxed);
}

/* When the rounded-up class is empty, a block of the request's own class may still
 * fit (the largest allocations depend on it): look at a few of them. */
static uint32_t find_in_own_class(am_arena *a, unsigned k, uint64_t need)
{
    unsigned fl, sl;
    mapping_insert(need, &fl, &sl);
    if (fl >= AM_FL_COUNT) return 0;
    uint32_t cur = atomic_load_explicit(&a->sectors[k].heads[fl][sl], memory_order_relaxed);
    for (int n = 0; cur && n < 8; n++) {
        uint64_t off = (uint64_t)cur * AM_GRAN;
        am_block *b = am_blk_checked(a, k, off);
        if (!b) return 0;
        if (am_blk_size(a, k, off, b) >= need) return cur;
        cur = atomic_load_explicit(&links(a, off)->next16, memory_order_relaxed);
    }
    return 0;
}

/* Write a complete free header at off; it is not linked in until a size16 store. */
static void write_free_header(am_arena *a, uint64_t off, uint64_t size, uint64_t prev)
{
    am_block *r = am_blk(a, off);
    atomic_store_explicit(&r->prev16, (uint32_t)(prev / AM_GRAN), memory_order_relaxed);
    atomic_store_explicit(&r->st, AM_ST_MAKE(AM_BLK_FREE, 0), memory_order_relaxed);
    atomic_store_explicit(&r->owner, 0, memory_order_relaxed);
    atomic_store_explicit(&r->pend, 0, memory_order_relaxed);
    atomic_store_explicit(&r->gen, 0, memory_order_relaxed);
    atomic_store_explicit(&r->check, am_block_check(off), memory_order_relaxed);
    atomic_store_explicit(&r->size16, (uint32_t)(size / AM_GRAN), memory_order_release);
}

/* Fix the prev16 hint of the block after the one at off (if any). */
static void set_next_prev(am_arena *a, unsigned k, uint64_t off, uint64_t size)
{
    uint64_t next = off + size;
    if (next < am_sector_end(a, k)) {
        atomic_store_explicit(&am_blk(a, next)->prev16, (uint32_t)(size / AM_GRAN), memory_order_release);
    }
}

void am_tlsf_format(am_arena *a, unsigned k)
{
    am_tlsf_clear(a, k);
    uint64_t start = am_sector_start(a, k);
    write_free_header(a, start, am_sector_bytes(a, k), 0);
    am_tlsf_insert(a, k, start);
}

int am_tlsf_alloc(am_arena *a, unsigned k, uint64_t need, uint64_t *out)
{
    am_sector *s = &a->sectors[k];
    unsigned fl, sl;
    uint32_t cur = 0;
    if (mapping_search(need, &fl, &sl) == 0) cur = find_suitable(s, fl, sl);
    if (!cur) cur = find_in_own_class(a, k, need);
    if (!cur) return AM_ENOMEM;

    uint64_t off = (uint64_t)cur * AM_GRAN;
    am_block *b = am_blk_checked(a, k, off);
    uint64_t size = b ? am_blk_size(a, k, off, b) : 0;
    if (!b || size < need || AM_ST_STATE(atomic_load_explicit(&b->st, memory_order_relaxed)) != AM_BLK_FREE) {
        return am_check_fail("sector %u: list holds a bad block at %llu", k, (unsigned long long)off);
    }
    int rc = tlsf_remove(a, k, off, size);
    if (rc) return rc;
    AM_CRASH_POINT(ALLOC_REMOVED);

    if (size - need >= AM_MIN_BLOCK) {           /* split: right part stays free */
        write_free_header(a, off + need, size - need, need);
        AM_CRASH_POINT(SPLIT_HEADER);
        atomic_store_explicit(&b->size16, (uint32_t)(need / AM_GRAN), memory_order_release);
        AM_CRASH_POINT(SPLIT_LINKED);
        set_next_prev(a, k, off + need, size - need);
        rc = am_tlsf_insert(a, k, off + need);
        if (rc) return rc;
        size = need;
    }
    /* Owner before state: a block that reads ALLOCATED always names its owner. */
    atomic_store_explicit(&b->owner, a->slot + 1, memory_order_relaxed);
    atomic_store_explicit(&b->pend, 0, memory_order_relaxed);
    /* An RMW: am_block_adopt draws generations from the same counter without the lock. */
    uint32_t gen = atomic_fetch_add_explicit(&s->alloc_gen, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&b->gen, gen, memory_order_relaxed);
    atomic_store_explicit(&b->st, AM_ST_MAKE(AM_BLK_ALLOCATED, 1), memory_order_release);
    AM_CRASH_POINT(ALLOC_DONE);
    atomic_store_explicit(&s->used_blocks, atomic_load_explicit(&s->used_blocks, memory_order_relaxed) + 1, memory_order_relaxed);
    atomic_store_explicit(&s->allocs, atomic_load_explicit(&s->allocs, memory_order_relaxed) + 1, memory_order_relaxed);
    *out = off;
    return 0;
}

int am_tlsf_free(am_arena *a, unsigned k, uint64_t off)
{
    am_sector *s = &a->sectors[k];
    am_block *b = am_blk(a, off);
    uint64_t size = am_blk_size(a, k, off, b);
    if (size == 0) return am_check_fail("sector %u: freeing a block with a bad size at %llu", k, (unsigned long long)off);
    atomic_store_explicit(&b->st, AM_ST_MAKE(AM_BLK_FREE, 0), memory_order_release);
    atomic_store_explicit(&b->owner, 0, memory_order_relaxed);
    atomic_store_explicit(&s->used_blocks, atomic_load_explicit(&s->used_blocks, memory_order_relaxed) - 1, memory_order_relaxed);
    atomic_store_explicit(&s->frees, atomic_load_explicit(&s->frees, memory_order_relaxed) + 1, memory_order_relaxed);
    AM_CRASH_POINT(FREE_MARKED);

    /* Merge with the next block if it is free. */
    uint64_t next = off + size;
    if (next < am_sector_end(a, k)) {
        am_block *n = am_blk_checked(a, k, next);
        if (!n) return am_check_fail("sector %u: block after %llu has no header", k, (unsigned long long)off);
        if (AM_ST_STATE(atomic_load_explicit(&n->st, memory_order_acquire)) == AM_BLK_FREE) {
            uint64_t nsize = am_blk_size(a, k, next, n);
            if (nsize == 0) return am_check_fail("sector %u: bad size at %llu", k, (unsigned long long)next);
            int rc = tlsf_remove(a, k, next, nsize);
            if (rc) return rc;
            AM_CRASH_POINT(MERGE_NEXT_REMOVED);
            size += nsize;
            atomic_store_explicit(&b->size16, (uint32_t)(size / AM_GRAN), memory_order_release);
            AM_CRASH_POINT(MERGE_NEXT_LINKED);
            set_next_prev(a, k, off, size);
        }
    }
    /* Merge with the previous block if it is free. */
    uint32_t p16 = atomic_load_explicit(&b->prev16, memory_order_relaxed);
    if (p16) {
        uint64_t prev = off - (uint64_t)p16 * AM_GRAN;
        am_block *p = (uint64_t)p16 * AM_GRAN <= off - am_sector_start(a, k) ? am_blk_checked(a, k, prev) : NULL;
        if (!p || atomic_load_explicit(&p->size16, memory_order_relaxed) != p16) {
            return am_check_fail("sector %u: prev hint of %llu is wrong", k, (unsigned long long)off);
        }
        if (AM_ST_STATE(atomic_load_explicit(&p->st, memory_order_acquire)) == AM_BLK_FREE) {
            int rc = tlsf_remove(a, k, prev, (uint64_t)p16 * AM_GRAN);
            if (rc) return rc;
            AM_CRASH_POINT(MERGE_PREV_REMOVED);
            size += (uint64_t)p16 * AM_GRAN;
            off = prev;
            atomic_store_explicit(&p->size16, (uint32_t)(size / AM_GRAN), memory_order_release);
            AM_CRASH_POINT(MERGE_PREV_LINKED);
            set_next_prev(a, k, off, size);
        }
    }
    return am_tlsf_insert(a, k, off);
}
