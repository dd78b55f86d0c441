/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check.c — the arena's integrity walk and its statistics.
 *
 * am_arena_check takes each sector's lock in turn (draining pending frees first, a
 * normal operation) and verifies, like tlsf_check: the chain tiles the sector exactly;
 * sizes are aligned and at least the minimum; prev hints and check words are right;
 * no two free blocks are adjacent; every free block is in exactly the list its size
 * files it under, once, with consistent back links; bitmaps match the lists; the
 * counters match the chain. (A PENDING block is legal: a live peer may be mid-free.)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "arena_internal.h"

static _Thread_local char report[256];

int am_check_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report, sizeof report, fmt, ap);
    va_end(ap);
    return AM_ECORRUPT;
}

const char *am_arena_check_report(void)
{
    return report;
}

#define FAIL(...) do { rc = am_check_fail(__VA_ARGS__); goto out; } while (0)

static int check_sector(am_arena *a, unsigned k)
{
    am_sector *s = &a->sectors[k];
    uint64_t start = am_sector_start(a, k), end = am_sector_end(a, k);
    uint64_t nblocks = am_sector_bytes(a, k) / AM_MIN_BLOCK + 1;
    if (atomic_load(&s->released)) {                 /* pages given back: nothing in it */
        if (atomic_load(&s->fl_bitmap) || atomic_load(&s->free_blocks) || atomic_load(&s->used_blocks)) {
            return am_check_fail("sector %u is released but has blocks listed", k);
        }
        return 0;
    }
    /* One mark per granule: 1 = free block start seen in the chain, 2 = seen in a list. */
    uint8_t *mark = calloc((size_t)(am_sector_bytes(a, k) / AM_GRAN), 1);
    if (!mark) return AM_ENOMEM;
    int rc = 0;
    uint64_t free_bytes = 0, free_blocks = 0, used = 0, prev = 0;
    bool prev_free = false;

    for (uint64_t off = start; off < end;) {
        am_block *b = am_blk(a, off);
        uint64_t size = am_blk_size(a, k, off, b);
        if (size == 0) FAIL("sector %u: block %llu has a bad size", k, (unsigned long long)off);
        if ((uint64_t)atomic_load(&b->prev16) * AM_GRAN != prev) FAIL("sector %u: block %llu: prev hint %u, expected %llu", k, (unsigned long long)off, atomic_load(&b->prev16), (unsigned long long)prev);
        if (atomic_load(&b->check) != am_block_check(off)) FAIL("sector %u: block %llu: bad check word", k, (unsigned long long)off);
        uint32_t st = atomic_load(&b->st);
        switch (AM_ST_STATE(st)) {
        case AM_BLK_FREE:
            if (prev_free) FAIL("sector %u: adjacent free blocks at %llu", k, (unsigned long long)off);
            if (AM_ST_REFS(st) != 0) FAIL("sector %u: free block %llu has references", k, (unsigned long long)off);
            mark[(off - start) / AM_GRAN] = 1;
            free_bytes += size;
            free_blocks++;
            break;
        case AM_BLK_ALLOCATED: {
            if (AM_ST_REFS(st) == 0) FAIL("sector %u: allocated block %llu has no reference", k, (unsigned long long)off);
            uint32_t owner = atomic_load(&b->owner);
            if (owner > AM_MAX_PARTICIPANTS) FAIL("sector %u: block %llu: bad owner %u", k, (unsigned long long)off, owner);
            used++;
            break;
        }
        case AM_BLK_PENDING:
            used++;
            break;
        default:
            FAIL("sector %u: block %llu: bad state %u", k, (unsigned long long)off, st & 3u);
        }
        prev_free = AM_ST_STATE(st) == AM_BLK_FREE;
        prev = size;
        off += size;
    }

    uint32_t fl_map = atomic_load(&s->fl_bitmap);
    uint64_t listed = 0;
    if (fl_map >> AM_FL_COUNT) FAIL("sector %u: fl bitmap has bits past the last class", k);
    for (unsigned fl = 0; fl < AM_FL_COUNT; fl++) {
        uint32_t sl_map = atomic_load(&s->sl_bitmap[fl]);
        if (sl_map >> AM_SL_COUNT) FAIL("sector %u: sl bitmap %u has bits past the last class", k, fl);
        if (!!(fl_map & (1u << fl)) != !!sl_map) FAIL("sector %u: fl bitmap disagrees at %u", k, fl);
        for (unsigned sl = 0; sl < AM_SL_COUNT; sl++) {
            uint32_t cur = atomic_load(&s->heads[fl][sl]), back = 0;
            if (!!(sl_map & (1u << sl)) != !!cur) FAIL("sector %u: sl bitmap disagrees at %u/%u", k, fl, sl);
            for (uint64_t n = 0; cur; n++) {
                uint64_t off = (uint64_t)cur * AM_GRAN;
                if (n > nblocks || off < start || off >= end) FAIL("sector %u: list %u/%u leaves the sector", k, fl, sl);
                uint8_t *m = &mark[(off - start) / AM_GRAN];
                if (*m != 1) FAIL("sector %u: list %u/%u holds %llu, %s", k, fl, sl, (unsigned long long)off, *m == 2 ? "twice" : "not a free block");
                *m = 2;
                unsigned f, l;
                am_tlsf_mapping_insert((uint64_t)atomic_load(&am_blk(a, off)->size16) * AM_GRAN, &f, &l);
                if (f != fl || l != sl) FAIL("sector %u: block %llu is in list %u/%u, belongs in %u/%u", k, (unsigned long long)off, fl, sl, f, l);
                am_free_links *lk = (am_free_links *)(a->base + off + AM_HDR);
                if (atomic_load(&lk->prev16) != back) FAIL("sector %u: block %llu: bad back link", k, (unsigned long long)off);
                back = cur;
                cur = atomic_load(&lk->next16);
                listed++;
            }
        }
    }
    if (listed != free_blocks) FAIL("sector %u: %llu free blocks, %llu listed", k, (unsigned long long)free_blocks, (unsigned long long)listed);
    if (atomic_load(&s->free_bytes) != free_bytes || atomic_load(&s->free_blocks) != free_blocks ||
        atomic_load(&s->used_blocks) != used) {
        FAIL("sector %u: counters say %llu free bytes/%llu free/%llu used, chain %llu/%llu/%llu", k,
             (unsigned long long)atomic_load(&s->free_bytes), (unsigned long long)atomic_load(&s->free_blocks),
             (unsigned long long)atomic_load(&s->used_blocks), (unsigned long long)free_bytes,
             (unsigned long long)free_blocks, (unsigned long long)used);
    }
out:
    free(mark);
    return rc;
}

int am_arena_check(am_arena *a)
{
    if (!a || atomic_load(&a->forked)) return AM_EINVAL;
    report[0] = 0;
    uint64_t deadline = am_now_ns() + AM_ALLOC_WAIT_NS;
    uint32_t published = atomic_load(&a->hdr->nsectors);      /* before: it only grows */
    unsigned n = am_sectors_refresh(a);
    if (n < published) return am_check_fail("sector %u of the table does not check out", n);
    for (unsigned k = 0; k < n; k++) {
        if (atomic_load(&a->sectors[k].corrupt)) return am_check_fail("sector %u is marked corrupt", k);
        int rc = am_sector_lock_until(a, k, deadline);
        if (rc == AM_ETIMEDOUT) {
            (void)am_check_fail("sector %u: its lock was held by a live process past 1 s", k);
            return AM_ETIMEDOUT;
        }
        if (rc == 0) rc = am_sector_drain(a, k);
        if (rc == 0) rc = check_sector(a, k);
        am_sector_unlock(a, k);
        if (rc) return rc;
    }
    return 0;
}

/* Payload bytes of the largest block in sector k (lock held): the top list's head is
 * at least as big as anything in lower lists; its list may hold bigger ones. */
static uint64_t largest_in_sector(am_arena *a, unsigned k)
{
    am_sector *s = &a->sectors[k];
    uint32_t fl_map = atomic_load(&s->fl_bitmap) & ((1u << AM_FL_COUNT) - 1);  /* untrusted bits */
    if (!fl_map) return 0;
    unsigned fl = 31u - (unsigned)__builtin_clz(fl_map);
    uint32_t sl_map = atomic_load(&s->sl_bitmap[fl]) & ((1u << AM_SL_COUNT) - 1);
    if (!sl_map) return 0;
    unsigned sl = 31u - (unsigned)__builtin_clz(sl_map);
    uint64_t best = 0, limit = am_sector_bytes(a, k) / AM_MIN_BLOCK + 1;
    uint32_t cur = atomic_load(&s->heads[fl][sl]);
    for (uint64_t n = 0; cur && n < limit; n++) {
        uint64_t off = (uint64_t)cur * AM_GRAN;
        am_block *b = am_blk_checked(a, k, off);
        if (!b) break;
        uint64_t size = am_blk_size(a, k, off, b);
        if (size > best) best = size;
        cur = atomic_load(&((am_free_links *)(a->base + off + AM_HDR))->next16);
    }
    return best > AM_HDR ? best - AM_HDR : 0;
}

int am_arena_stats(am_arena *a, am_stats *st)
{
    if (!a || !st || atomic_load(&a->forked)) return AM_EINVAL;
    am_release_idle(a);
    unsigned n = am_sectors(a);
    *st = (am_stats){ .size = atomic_load(&a->heap_end), .sector_size = a->g.sector_size };
    int rc = 0;
    uint64_t largest_sum = 0;   /* bytes of each sector's largest free block, summed */
    uint64_t deadline = am_now_ns() + AM_ALLOC_WAIT_NS;
    for (unsigned k = 0; k < n; k++) {
        am_sector *s = &a->sectors[k];
        if (atomic_load(&s->released)) continue;    /* given back: neither used nor free */
        st->heap += am_sector_bytes(a, k);
        st->sectors++;
        if (atomic_load(&s->corrupt)) { rc = AM_ECORRUPT; continue; }
        int l = am_sector_lock_until(a, k, deadline);
        if (l == AM_ETIMEDOUT) {                /* counters only: its largest block unknown */
            rc = AM_ETIMEDOUT;
        } else if (l == 0 && am_sector_drain(a, k) == 0) {
            uint64_t big = largest_in_sector(a, k);
            if (big > st->largest_free) st->largest_free = big;
            if (big) largest_sum += big + AM_HDR;
        } else {
            rc = AM_ECORRUPT;
        }
        st->free += atomic_load(&s->free_bytes);
        st->free_blocks += atomic_load(&s->free_blocks);
        st->used_blocks += atomic_load(&s->used_blocks);
        st->allocs += atomic_load(&s->allocs);
        st->frees += atomic_load(&s->frees);
        st->repairs += atomic_load(&s->repairs);
        st->reclaimed += atomic_load(&s->reclaimed);
        if (l != AM_ETIMEDOUT) am_sector_unlock(a, k);
    }
    st->used = st->heap > st->free ? st->heap - st->free : 0;
    /* Sectors are separate heaps, so a fresh arena (one block per sector) counts as
     * unfragmented: the share of free bytes outside each sector's largest block. */
    st->fragmentation = st->free ? 1.0 - (double)largest_sum / (double)st->free : 0.0;
    if (st->fragmentation < 0) st->fragmentation = 0;
    for (unsigned i = 0; i < AM_MAX_PARTICIPANTS; i++) {
        if (atomic_load(&a->parts[i].state) == AM_PART_LIVE && am_arena_participant_alive(a, i) == 1) st->participants++;
    }
    return rc;
}
