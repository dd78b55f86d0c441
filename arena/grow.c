/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grow.c — the arena grows by whole sectors, and gives idle ones back.
 *
 * Every process maps the arena's maximum size once, at open (mmap past the end of a
 * file is allowed; only touching such a page faults), so offsets never move and a
 * grown arena needs no remapping. What a process may touch is what its *known*
 * sectors cover: the first ones, validated at open, and grown ones it validates when
 * it first meets them (am_sectors_refresh): each must start where the previous one
 * ends, be page-aligned, lie inside the mapping and inside the file (fstat), so a
 * scribbled sector table makes offsets invalid, never a page past the file's end.
 *
 * Growing, under the header's grow lock (a stamp lock, stolen from a dead holder,
 * waited for at most AM_ALLOC_WAIT_NS):
 *   1. reserve the new sector's pages (posix_fallocate: extends the file; a full
 *      filesystem is AM_ENOMEM now, not a SIGBUS later);
 *   2. write its table entry (start, bytes) and format it (one free block);
 *   3. publish it: header nsectors + 1 (release).
 * A grower killed before 3 leaves nothing anyone can see (at most a longer file, which
 * the next grower reuses); after 3 the sector is whole. So peers see either no new
 * sector or a whole one.
 *
 * Giving back: a grown sector found entirely free (one free block, nothing pending)
 * notes the time; once it has stayed so for AM_RELEASE_IDLE_NS, the next allocation,
 * free, stats or reclaim in any process punches its pages out of the file
 * (FALLOC_FL_PUNCH_HOLE) and marks it released: its lists are empty, so nothing is
 * allocated there, and nothing may touch its pages. An allocation that finds no room
 * takes a released sector that is big enough back (reserving and formatting it
 * again) before it adds one. Block generations continue across, so a stale reference
 * never names a block of the new life.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>
#include "arena_internal.h"

#define GROW_MIN_BYTES  ((uint64_t)1 << 20)      /* grown sectors: whole MiBs          */

/* How long a grown sector stays entirely free before its pages go back. */
static _Atomic uint64_t release_idle_ns = AM_RELEASE_IDLE_NS;
#if defined(AM_CRASH_POINTS) && AM_CRASH_POINTS
void am_test_set_release_idle(uint64_t ns) { atomic_store(&release_idle_ns, ns); }
#endif

static uint64_t round_up(uint64_t x, uint64_t to) { return (x + to - 1) / to * to; }

/* ------------------------------------------------------------------ knowing sectors */

/* The handle's local sector geometry has one writer at a time (threads of a process:
 * held for a few loads, an fstat or formatting one sector header). */
static void refresh_lock(am_arena *a)
{
    int free_flag = 0;
    while (!atomic_compare_exchange_weak_explicit(&a->refreshing, &free_flag, 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
        free_flag = 0;
        sched_yield();
    }
}

static void refresh_unlock(am_arena *a)
{
    atomic_store_explicit(&a->refreshing, 0, memory_order_release);
}

unsigned am_sectors_refresh(am_arena *a)
{
    refresh_lock(a);
    unsigned k = atomic_load_explicit(&a->known, memory_order_relaxed);
    uint32_t published = atomic_load_explicit(&a->hdr->nsectors, memory_order_acquire);
    if (published > a->g.table) published = a->g.table;         /* entries past the table: none */
    struct stat st;
    uint64_t file = k < published && fstat(a->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    for (; k < published; k++) {
        const am_sector *s = &a->sectors[k];
        uint64_t start = s->start, bytes = s->bytes;
        if (start != a->sec_end[k - 1] || bytes < GROW_MIN_BYTES || bytes % 4096 != 0 ||
            bytes > a->g.max_size - start || start + bytes > file) {
            break;                          /* not (yet) believable: offsets there stay invalid */
        }
        a->sec_start[k] = start;
        a->sec_end[k] = start + bytes;
        atomic_store_explicit(&a->heap_end, start + bytes, memory_order_release);
        atomic_store_explicit(&a->known, k + 1, memory_order_release);
    }
    refresh_unlock(a);
    return atomic_load_explicit(&a->known, memory_order_acquire);
}

int am_sector_of_grown(am_arena *a, uint64_t off)
{
    if (off >= atomic_load_explicit(&a->heap_end, memory_order_acquire)) (void)am_sectors_refresh(a);
    unsigned lo = a->g.nsectors, hi = atomic_load_explicit(&a->known, memory_order_acquire);
    while (lo < hi) {                       /* grown sectors are contiguous, in order */
        unsigned mid = lo + (hi - lo) / 2;
        if (off < a->sec_start[mid]) hi = mid;
        else if (off >= a->sec_end[mid]) lo = mid + 1;
        else return (int)mid;
    }
    return -1;
}

/* ------------------------------------------------------------------ the grow lock */

static int grow_lock(am_arena *a, uint64_t deadline)
{
    _Atomic uint64_t *l = &a->hdr->grow_lock;
    for (unsigned spins = 1;; spins++) {
        uint64_t cur = 0;
        if (atomic_compare_exchange_strong_explicit(l, &cur, a->stamp, memory_order_acquire, memory_order_relaxed)) {
            return 0;
        }
        /* A dead grower left nothing to repair: its sector was published whole or not
         * at all (see the top of the file). */
        if (am_stamp_dead(a, cur) &&
            atomic_compare_exchange_strong_explicit(l, &cur, a->stamp, memory_order_acquire, memory_order_relaxed)) {
            return 0;
        }
        if (am_now_ns() >= deadline) return AM_ETIMEDOUT;
        if (spins % 16 == 0) sched_yield();
    }
}

static void grow_unlock(am_arena *a)
{
    atomic_store_explicit(&a->hdr->grow_lock, 0, memory_order_release);
}

/* ------------------------------------------------------------------ pages */

/* Reserve [start, start + bytes) of the file (extending it): 0 or AM_ENOMEM, said in
 * words with the filesystem's free space. */
static int reserve(am_arena *a, uint64_t start, uint64_t bytes)
{
    if (am_reserve_disabled()) {
        struct stat st;
        if (fstat(a->fd, &st) != 0) return AM_ESYS;
        return (uint64_t)st.st_size >= start + bytes || ftruncate(a->fd, (off_t)(start + bytes)) == 0 ? 0 : AM_ENOMEM;
    }
    return posix_fallocate(a->fd, (off_t)start, (off_t)bytes) == 0 ? 0 : am_no_room("growing the arena", bytes);
}

/* A grown sector, entirely free (lock held): no allocated or pending block. */
static bool entirely_free(am_arena *a, unsigned k)
{
    am_sector *s = &a->sectors[k];
    return atomic_load_explicit(&s->pending, memory_order_acquire) == 0 &&
           atomic_load_explicit(&s->used_blocks, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&s->free_blocks, memory_order_relaxed) == 1 &&
           atomic_load_explicit(&s->free_bytes, memory_order_relaxed) == am_sector_bytes(a, k);
}

void am_sector_note_idle(am_arena *a, unsigned k)
{
    if (k < a->g.nsectors) return;                 /* the first sectors are kept */
    am_sector *s = &a->sectors[k];
    bool idle = !atomic_load_explicit(&s->released, memory_order_relaxed) && entirely_free(a, k);
    uint64_t since = atomic_load_explicit(&s->idle_since, memory_order_relaxed);
    if (idle && since == 0) atomic_store_explicit(&s->idle_since, am_now_ns(), memory_order_relaxed);
    if (!idle && since != 0) atomic_store_explicit(&s->idle_since, 0, memory_order_relaxed);
}

/* Give sector k's pages back (lock held, entirely free). Marked first: a releaser
 * killed after the mark leaves a released sector whose pages may still be there,
 * which a reuse reserves and formats anyway. */
static void release_locked(am_arena *a, unsigned k)
{
    am_sector *s = &a->sectors[k];
    atomic_store_explicit(&s->released, 1, memory_order_release);
    am_tlsf_clear(a, k);                            /* nothing is allocated there now */
    atomic_store_explicit(&s->idle_since, 0, memory_order_relaxed);
    AM_CRASH_POINT(RELEASE_MARKED);
    (void)fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)am_sector_start(a, k),
                    (off_t)am_sector_bytes(a, k));
    AM_CRASH_POINT(RELEASE_PUNCHED);
    atomic_fetch_add_explicit(&a->hdr->released, 1, memory_order_relaxed);
}

void am_release_idle(am_arena *a)
{
    unsigned n = atomic_load_explicit(&a->known, memory_order_acquire);
    uint64_t now = 0;
    for (unsigned k = a->g.nsectors; k < n; k++) {
        am_sector *s = &a->sectors[k];
        uint64_t since = atomic_load_explicit(&s->idle_since, memory_order_relaxed);
        if (since == 0) continue;
        if (now == 0) now = am_now_ns();
        uint64_t wait = atomic_load_explicit(&release_idle_ns, memory_order_relaxed);
        if (now - since < wait || !am_sector_trylock(a, k)) continue;
        if (am_sector_drain(a, k) == 0) {
            am_sector_note_idle(a, k);              /* still idle, and since when */
            since = atomic_load_explicit(&s->idle_since, memory_order_relaxed);
            if (since != 0 && now - since >= wait) release_locked(a, k);
        }
        am_sector_unlock(a, k);
    }
}

/* Take released sector k back (lock held): reserve its pages, format it. */
static int reuse_locked(am_arena *a, unsigned k)
{
    am_sector *s = &a->sectors[k];
    int rc = reserve(a, am_sector_start(a, k), am_sector_bytes(a, k));
    if (rc) {                       /* what was reserved before the filesystem filled */
        (void)fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)am_sector_start(a, k),
                        (off_t)am_sector_bytes(a, k));
        return rc;
    }
    AM_CRASH_POINT(REUSE_RESERVED);
    am_tlsf_format(a, k);
    atomic_store_explicit(&s->used_blocks, 0, memory_order_relaxed);
    AM_CRASH_POINT(REUSE_FORMATTED);
    atomic_store_explicit(&s->released, 0, memory_order_release);
    return 0;
}

/* ------------------------------------------------------------------ growing */

/* Bytes for a new sector that can hold a block of `need` bytes: TLSF files a free
 * block by size class (1/16 of a power of two), so a request is served from a block
 * at least one class above it; and at least the first sectors' size or 1/8 of the
 * heap, so that sectors grow geometrically and the table does not run out. */
static uint64_t sector_bytes_for(am_arena *a, uint64_t need)
{
    uint64_t heap = atomic_load_explicit(&a->heap_end, memory_order_acquire) - a->g.heap_off;
    uint64_t b = need + need / 8 + 4096;
    if (b < a->g.sector_size) b = a->g.sector_size;
    if (b < heap / 8) b = heap / 8;
    return round_up(b, GROW_MIN_BYTES);
}

static int take_back_released(am_arena *a, unsigned n, uint64_t need)
{
    for (unsigned k = a->g.nsectors; k < n; k++) {
        am_sector *s = &a->sectors[k];
        if (!atomic_load_explicit(&s->released, memory_order_acquire) || am_sector_bytes(a, k) < need + need / 8 ||
            !am_sector_trylock(a, k)) {
            continue;
        }
        int rc = atomic_load_explicit(&s->released, memory_order_relaxed) ? reuse_locked(a, k) : 0;
        am_sector_unlock(a, k);
        return rc == 0 ? 1 : rc;
    }
    return 0;
}

int am_grow(am_arena *a, uint64_t need)
{
    unsigned n0 = am_sectors(a);
    int rc = take_back_released(a, n0, need);
    if (rc != 0) return rc < 0 ? rc : 0;
    if (a->g.max_size <= atomic_load_explicit(&a->heap_end, memory_order_acquire)) {
        return am_open_reportf(AM_ENOMEM, "the arena is at its maximum size (%llu bytes)",
                               (unsigned long long)a->g.max_size);
    }
    if ((rc = grow_lock(a, am_now_ns() + AM_ALLOC_WAIT_NS)) != 0) return rc;
    AM_CRASH_POINT(GROW_LOCKED);
    unsigned n = am_sectors_refresh(a);
    if (n != n0 || n != atomic_load_explicit(&a->hdr->nsectors, memory_order_acquire)) {
        /* Someone grew meanwhile (try there first), or a published sector did not
         * check out (then nothing can be added after it). */
        grow_unlock(a);
        return n != n0 ? 0 : am_check_fail("sector %u of the table does not check out", n);
    }
    uint64_t start = atomic_load_explicit(&a->heap_end, memory_order_acquire);
    uint64_t bytes = sector_bytes_for(a, need);
    if (bytes > a->g.max_size - start) bytes = (a->g.max_size - start) / 4096 * 4096;
    if (n == a->g.table || bytes < need + need / 8 || bytes < GROW_MIN_BYTES) {
        grow_unlock(a);
        return am_open_reportf(AM_ENOMEM, "the arena cannot add a sector of %llu bytes: %u sectors, %llu of %llu "
                               "bytes used", (unsigned long long)(need + need / 8), n,
                               (unsigned long long)start, (unsigned long long)a->g.max_size);
    }
    if ((rc = reserve(a, start, bytes)) != 0) {
        /* posix_fallocate may have extended the file part of the way: give that back
         * (nothing past the published sectors is in use; never below the first ones). */
        uint64_t keep = start > a->g.size ? start : a->g.size;
        struct stat st;
        if (fstat(a->fd, &st) == 0 && (uint64_t)st.st_size > keep) (void)ftruncate(a->fd, (off_t)keep);
        grow_unlock(a);
        return rc;
    }
    AM_CRASH_POINT(GROW_RESERVED);
    /* The entry: nobody looks at an unpublished one (a dead grower's is overwritten). */
    am_sector *s = &a->sectors[n];
    atomic_store_explicit(&s->lock, 0, memory_order_relaxed);
    atomic_store_explicit(&s->pending, 0, memory_order_relaxed);
    atomic_store_explicit(&s->corrupt, 0, memory_order_relaxed);
    atomic_store_explicit(&s->released, 0, memory_order_relaxed);
    atomic_store_explicit(&s->idle_since, 0, memory_order_relaxed);
    atomic_store_explicit(&s->used_blocks, 0, memory_order_relaxed);
    s->start = start;
    s->bytes = bytes;
    /* Formatting reads the local geometry of sector n: fill it under the refresh lock
     * (it is not `known` yet, so no reader uses it). */
    refresh_lock(a);
    a->sec_start[n] = start;
    a->sec_end[n] = start + bytes;
    am_tlsf_format(a, n);
    refresh_unlock(a);
    AM_CRASH_POINT(GROW_FORMATTED);
    atomic_store_explicit(&a->hdr->nsectors, n + 1, memory_order_release);
    atomic_fetch_add_explicit(&a->hdr->grown, 1, memory_order_relaxed);
    AM_CRASH_POINT(GROW_PUBLISHED);
    grow_unlock(a);
    (void)am_sectors_refresh(a);
    return 0;
}

/* ------------------------------------------------------------------ figures */

int am_arena_growth(am_arena *a, am_growth *out)
{
    if (!a || !out) return AM_EINVAL;
    unsigned n = am_sectors(a);
    *out = (am_growth){ .initial = a->g.size, .maximum = a->g.max_size, .sectors = n,
                        .added = atomic_load_explicit(&a->hdr->grown, memory_order_relaxed),
                        .releases = atomic_load_explicit(&a->hdr->released, memory_order_relaxed) };
    out->current = atomic_load_explicit(&a->heap_end, memory_order_acquire);
    out->reserved = out->current;
    for (unsigned k = a->g.nsectors; k < n; k++) {
        if (atomic_load_explicit(&a->sectors[k].released, memory_order_acquire)) {
            out->reserved -= am_sector_bytes(a, k);
            out->released_now++;
        }
    }
    return 0;
}
