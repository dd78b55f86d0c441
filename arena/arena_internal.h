/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The arena's private interface: the process-local handle and the functions the
 * arena's files share (segment.c, participants.c, tlsf.c, sector.c, alloc.c, check.c).
 */
#ifndef AM_ARENA_INTERNAL_H
#define AM_ARENA_INTERNAL_H

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include "shm_layout.h"
#include "arena_api.h"

/* Geometry, validated once at open and never re-read from shared memory. */
typedef struct am_geom {
    uint64_t size;        /* bytes at creation (the first sectors)                  */
    uint64_t max_size;    /* the most the file may grow to: what is mapped          */
    uint64_t parts_off;
    uint64_t sectors_off;
    uint64_t upper_off;   /* the layer above's area (AM_UPPER_BYTES, zeroed at creation) */
    uint64_t heap_off;
    uint64_t sector_size; /* bytes of each first sector                             */
    uint64_t sector_inv;  /* ceil(2^64 / sector_size): am_sector_of divides by a
                             multiply (a 64-bit divide costs ~40 cycles per look-up) */
    uint32_t nsectors;    /* first sectors (made at creation)                       */
    uint32_t table;       /* sector table entries: first sectors and room for grown */
} am_geom;

struct am_arena {
    uint8_t        *base;      /* this process's mapping: g.max_size bytes, of which only
                                  what the known sectors cover is ever touched         */
    am_geom         g;
    int             fd;        /* the arena file                                       */
    int             lock_fd;   /* its lock file: holds the byte lock that says this slot
                                  is alive; -1 in a peek that may not open it        */
    uint64_t        lock_id;   /* am_seg_header.lock_id, read once at open             */
    unsigned        slot;
    uint32_t        gen;
    uint64_t        stamp;     /* what this handle writes into sector locks            */
    am_seg_header  *hdr;
    am_participant *parts;
    am_sector      *sectors;
    _Atomic int     forked;    /* set in a fork child: the handle is not the child's   */
    _Atomic int     dead_seen; /* a dead lock holder was found: reclaim after unlock   */
    struct am_arena *next;     /* registry of open handles (for fork)                  */
    /* Sectors this handle has validated (grow.c): the first ones at open, grown ones
     * when it first meets them. Entries below `known` never change; a refresher fills
     * the next ones, then raises `known` (release). */
    _Atomic uint32_t known;
    _Atomic int      refreshing;   /* one refresher at a time (threads of a handle)   */
    _Atomic uint64_t heap_end;     /* end of the last known sector                    */
    uint64_t        sec_start[AM_MAX_SECTORS];
    uint64_t        sec_end[AM_MAX_SECTORS];
};

/* ---- grow.c: sectors added after creation */
/* Learn of sectors published since the last look (validated: contiguous, inside the
 * mapping and the file). Returns the number known. */
unsigned am_sectors_refresh(am_arena *a);
/* Sectors this handle knows of (a cheap load; a refresh when others may have grown). */
static inline unsigned am_sectors(am_arena *a)
{
    unsigned n = atomic_load_explicit(&a->known, memory_order_acquire);
    if (atomic_load_explicit(&a->hdr->nsectors, memory_order_relaxed) != n) n = am_sectors_refresh(a);
    return n;
}
/* Add a sector of at least `need` block bytes (or take back a released one): 0 (try
 * again: there may be room now, ours or a racing grower's), AM_ENOMEM (the maximum or
 * the filesystem reached; reported), AM_ETIMEDOUT (another grower is stopped). */
int  am_grow(am_arena *a, uint64_t need);
/* Sector k (lock held) was just found entirely free, or busy again: note when, and
 * give its pages back if a grown sector stayed free AM_RELEASE_IDLE_NS. */
void am_sector_note_idle(am_arena *a, unsigned k);
/* Give back the pages of grown sectors idle for AM_RELEASE_IDLE_NS (try-locks only). */
void am_release_idle(am_arena *a);
#define AM_RELEASE_IDLE_NS 1000000000ull
/* segment.c: pages are not reserved (am_test_sparse_arenas, test builds only). */
int  am_reserve_disabled(void);
/* segment.c: AM_ENOMEM, with the report "<what>: <bytes> bytes do not fit: <dir> has
 * N bytes free of M" (am_arena_open_report). */
int  am_no_room(const char *what, uint64_t bytes);

/* ---- geometry helpers (local values only) */
static inline uint64_t am_sector_start(const am_arena *a, unsigned k)
{
    return a->sec_start[k];
}
static inline uint64_t am_sector_end(const am_arena *a, unsigned k)
{
    return a->sec_end[k];
}
static inline uint64_t am_sector_bytes(const am_arena *a, unsigned k)
{
    return a->sec_end[k] - a->sec_start[k];
}
/* Sector holding offset off, or -1 if off is outside every known sector. The first
 * sectors by arithmetic, grown ones (contiguous, in order) by binary search. */
int am_sector_of_grown(am_arena *a, uint64_t off);
static inline int am_sector_of(am_arena *a, uint64_t off)
{
    if (off < a->g.heap_off) return -1;
    uint64_t x = off - a->g.heap_off;
    /* x / sector_size by a multiply: with inv = (2^64 + e) / d, 0 <= e < d, the high
     * half of x * inv is x / d + x * e / (d * 2^64), and the second term is below 1:
     * the quotient, or one more (only when x * e reaches 2^64, past any arena made
     * today), which the check takes back. */
    uint64_t k = (uint64_t)(((unsigned __int128)x * a->g.sector_inv) >> 64);
    if (k * a->g.sector_size > x) k--;
    if (k < a->g.nsectors) return (int)k;
    return am_sector_of_grown(a, off);
}
/* Is off below the end of the known heap (refreshing once if not)? */
static inline bool am_in_heap(am_arena *a, uint64_t off)
{
    if (off < atomic_load_explicit(&a->heap_end, memory_order_acquire)) return true;
    (void)am_sectors_refresh(a);
    return off < atomic_load_explicit(&a->heap_end, memory_order_acquire);
}
static inline am_block *am_blk(const am_arena *a, uint64_t off)
{
    return (am_block *)(a->base + off);
}
/* The block header at off if off can be one in sector k (in range, aligned, its check
 * word right); NULL otherwise. Says nothing about its state. */
static inline am_block *am_blk_checked(const am_arena *a, unsigned k, uint64_t off)
{
    if (off < am_sector_start(a, k) || off + AM_MIN_BLOCK > am_sector_end(a, k) ||
        (off & (AM_GRAN - 1)) != 0) {
        return NULL;
    }
    am_block *b = am_blk(a, off);
    if (atomic_load_explicit(&b->check, memory_order_relaxed) != am_block_check(off)) return NULL;
    return b;
}
/* Size in bytes of block b at off in sector k, or 0 if it cannot be right. */
static inline uint64_t am_blk_size(const am_arena *a, unsigned k, uint64_t off, const am_block *b)
{
    uint64_t s = (uint64_t)atomic_load_explicit(&b->size16, memory_order_acquire) * AM_GRAN;
    if (s < AM_MIN_BLOCK || s > am_sector_end(a, k) - off) return 0;
    return s;
}

/* ---- tlsf.c: one sector's free lists; every call needs the sector lock held */
void     am_tlsf_mapping_insert(uint64_t size, unsigned *fl, unsigned *sl);
int      am_tlsf_mapping_search(uint64_t size, unsigned *fl, unsigned *sl); /* -1: too big */
uint64_t am_block_bytes(size_t payload); /* block size for a payload, 0 if too big */
void     am_tlsf_format(am_arena *a, unsigned k);
int      am_tlsf_insert(am_arena *a, unsigned k, uint64_t off);
/* Allocate a block of `need` bytes: 0 and *off, AM_ENOMEM or AM_ECORRUPT. */
int      am_tlsf_alloc(am_arena *a, unsigned k, uint64_t need, uint64_t *off);
/* Free the PENDING block at off (claimed by the caller), merging both ways. */
int      am_tlsf_free(am_arena *a, unsigned k, uint64_t off);
/* Empty the lists and bitmaps (repair rebuilds them). */
void     am_tlsf_clear(am_arena *a, unsigned k);

/* ---- sector.c: locking, the deferred stack, repair */
static inline bool am_sector_trylock(am_arena *a, unsigned k)
{
    uint64_t free_word = 0;
    return atomic_compare_exchange_strong_explicit(&a->sectors[k].lock, &free_word, a->stamp,
                                                   memory_order_acquire, memory_order_relaxed);
}
/* The most anyone waits for a sector lock whose holder lives: a process stopped while
 * holding one (SIGSTOP, a debugger), or a live-looking stamp a hostile peer wrote into
 * the lock, costs a waiter this much, never a hang. */
#define AM_ALLOC_WAIT_NS 1000000000ull
/* Lock sector k by `deadline` (am_now_ns); stealing a dead holder's lock repairs the
 * sector first. 0 (held), AM_ETIMEDOUT (not held: a live holder that does not let go),
 * or the repair's AM_ECORRUPT (held). */
int  am_sector_lock_until(am_arena *a, unsigned k, uint64_t deadline);
static inline void am_sector_unlock(am_arena *a, unsigned k)
{
    atomic_store_explicit(&a->sectors[k].lock, 0, memory_order_release);
}
/* Merge the blocks on the deferred stack (lock held); the empty case stays inline. */
int  am_sector_drain_slow(am_arena *a, unsigned k);
static inline int am_sector_drain(am_arena *a, unsigned k)
{
    if (atomic_load_explicit(&a->sectors[k].pending, memory_order_acquire) == 0) return 0;
    return am_sector_drain_slow(a, k);
}
void am_sector_push(am_arena *a, unsigned k, uint64_t off);
int  am_sector_repair(am_arena *a, unsigned k);
/* After an operation under the lock met a bad value (rc AM_ECORRUPT), its lists may be
 * half-updated: rebuild them from the chain (a broken chain fences the sector off). */
static inline void am_sector_recover(am_arena *a, unsigned k, int rc)
{
    if (__builtin_expect(rc == AM_ECORRUPT, 0)) (void)am_sector_repair(a, k);
}
/* Finish the frees that dead participant `slot` was making in sector k (sector lock
 * and the slot's byte lock held). */
int  am_sector_resolve_intents(am_arena *a, unsigned k, unsigned slot);
/* Free the block at off (state ALLOCATED or PENDING as claimed) under the lock,
 * with an intent record of this handle covering the window. */
int  am_sector_release_locked(am_arena *a, unsigned k, uint64_t off);

/* ---- participants.c */
int  am_participant_join(am_arena *a, const char *node);
void am_participant_leave(am_arena *a);
bool am_stamp_dead(am_arena *a, uint64_t stamp);
int  am_reclaim_slot(am_arena *a, unsigned slot);
/* Intent records: claim one for {off, gen} (returns its index), then release it. */
unsigned am_intent_claim(am_arena *a, uint64_t off, uint32_t gen);
static inline void am_intent_release(am_arena *a, unsigned ix)
{
    atomic_store_explicit(&a->parts[a->slot].intent[ix], 0, memory_order_release);
}
/* Byte-range locks (liveness and slot ownership on the lock file; a creator's format
 * lock on its private file). */
int  am_byte_trylock(int fd, uint64_t byte);  /* 0 taken, -1 held elsewhere */
void am_byte_unlock(int fd, uint64_t byte);
bool am_byte_locked_elsewhere(int fd, uint64_t byte);
/* Is the participant in `slot` alive? Its byte lock on the lock file, or for a handle
 * without one (a read-only view) the fallback of pid_alive.c. */
bool am_slot_alive(am_arena *a, unsigned slot);

/* ---- pid_alive.c: liveness without the lock file (conservative: unsure is alive) */
uint32_t am_self_start_time(void);   /* low 32 bits of this process's start time, 0 = unknown */
bool am_pid_may_live(uint32_t pid, uint32_t start_time);
/* The record in `slot` is not FREE and its pid and start time may be a live process. */
bool am_slot_may_live(am_arena *a, unsigned slot);

/* ---- lock_file.c: the file of the liveness locks, amlock.<name>.<lock_id hex> */
mode_t am_lock_mode(mode_t arena_mode);     /* rw for the classes that may write the arena */
int  am_lock_path(char *buf, size_t len, const char *name, uint64_t id);
/* The creator: a new lock_id and its file, owner and mode from *arena; its creating
 * lock held until am_lock_file_published (after the arena is linked in), or the file
 * removed with am_lock_file_discard. */
int  am_lock_file_create(const char *name, const struct stat *arena, uint64_t *id, int *fd);
void am_lock_file_published(int fd);
void am_lock_file_discard(const char *name, uint64_t id, int fd);
/* A joiner: open and check a->lock_id's file into a->lock_fd (made again if it was
 * removed and no participant may be alive): 0 or an error, reported. */
int  am_lock_file_attach(am_arena *a, const char *name);
/* A peek: a->lock_fd if the file can be opened and checks out, else left -1. */
void am_lock_file_peek(am_arena *a, const char *name);
/* Is the file of this descriptor still linked in? */
bool am_lock_file_linked(int fd);
/* Remove the orphaned lock files of `name` (no arena of that name and lock_id, no
 * creator at work); returns how many. */
int  am_lock_files_sweep(const char *name);

/* ---- segment.c */
/* Every open of a path in the arena directory: a FIFO must not block the opener, a
 * symlink must not redirect it, a child must not inherit it. */
#define AM_OPEN_FLAGS (O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
/* buf = "<dir>/am.<name>" (name already checked): 0, AM_EINVAL or AM_ENAME. */
int  am_arena_path(char *buf, size_t len, const char *name);
/* For tools (amctl): */
/* Map the arena `name` read-only without joining it, validated as am_arena_open does
 * (flags: AM_TRUST_OTHER_OWNER). Only reads through the handle are allowed: geometry,
 * headers, am_stamp_dead and am_slot_alive (by the lock file if this user may open it,
 * else by recorded pids: pid_alive.c). */
int  am_arena_peek(const char *name, unsigned flags, am_arena **out);
void am_arena_unpeek(am_arena *a);

/* ---- shm_dir.c: the directory arena files live in ($AM_SHM_DIR, default /dev/shm,
 * read once); NULL if the variable is set to something unusable (not absolute). */
const char *am_shm_dir(void);
/* buf = "<dir>/<file>": 0, AM_EINVAL (bad AM_SHM_DIR, reported) or AM_ENAME (too long). */
int  am_shm_path(char *buf, size_t len, const char *file);

/* ---- open_report.c: the sentence am_arena_open_report() returns. */
int  am_open_reportf(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3))); /* returns rc */
void am_open_report_clear(void);

/* ---- check.c */
int  am_check_fail(const char *fmt, ...);        /* records the report, returns AM_ECORRUPT */

#endif
