/* SPDX-License-Identifier: Apache-2.0 */
/*
 * participants.c — who is attached, who is alive, and undoing what the dead held.
 *
 * Liveness is kept by the kernel, not in shared memory: each participant holds an
 * open-file-description lock (F_OFD_SETLK) on byte `slot` of the arena's lock file
 * (lock_file.c) for its whole life. The kernel drops it when the process dies,
 * whatever pid the next process gets, and a scribbling neighbour cannot forge it.
 * Holding a slot's byte lock is also the right to act for the slot, so exactly one
 * process at a time reclaims a dead participant (or takes its slot, reclaiming first).
 * A handle without the lock file (a read-only view) asks pid_alive.c instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include "arena_internal.h"

static int byte_lock_op(int fd, int cmd, short type, uint64_t byte, short *found)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)byte, .l_len = 1 };
    int rc = fcntl(fd, cmd, &fl);
    if (found) *found = fl.l_type;
    return rc;
}

int am_byte_trylock(int fd, uint64_t byte)
{
    return byte_lock_op(fd, F_OFD_SETLK, F_WRLCK, byte, NULL) == 0 ? 0 : -1;
}

void am_byte_unlock(int fd, uint64_t byte)
{
    (void)byte_lock_op(fd, F_OFD_SETLK, F_UNLCK, byte, NULL);
}

bool am_byte_locked_elsewhere(int fd, uint64_t byte)
{
    /* Asked as a reader: only a *write* lock conflicts with it, and taking one needs the
     * file open for writing. (Only users who may write the arena can open the lock
     * file at all; read locks would not make a dead participant look alive anyway.) */
    short type = F_UNLCK;
    if (byte_lock_op(fd, F_OFD_GETLK, F_RDLCK, byte, &type) != 0) return true; /* unsure: alive */
    return type == F_WRLCK;
}

/* A sector stamp's holder is dead if its slot has moved on to a newer incarnation,
 * or nobody (but maybe us, reclaiming it) holds the slot's byte lock. */
bool am_stamp_dead(am_arena *a, uint64_t stamp)
{
    if (stamp == a->stamp) return false;             /* another thread of ours */
    uint32_t slot1 = (uint32_t)stamp, gen = (uint32_t)(stamp >> 32);
    if (slot1 == 0 || slot1 > AM_MAX_PARTICIPANTS) return true; /* garbage: not a holder */
    if (atomic_load_explicit(&a->parts[slot1 - 1].gen, memory_order_acquire) != gen) return true;
    return !am_slot_alive(a, slot1 - 1);
}

bool am_slot_alive(am_arena *a, unsigned slot)
{
    if (a->lock_fd >= 0) return am_byte_locked_elsewhere(a->lock_fd, slot);
    return am_slot_may_live(a, slot);
}

uint32_t am_stamp_pid(am_arena *a, uint64_t stamp)
{
    if (am_stamp_dead(a, stamp)) return 0;              /* also any slot out of range */
    return atomic_load_explicit(&a->parts[(uint32_t)stamp - 1].pid, memory_order_relaxed);
}

uint64_t am_arena_stamp(const am_arena *a)
{
    return a ? a->stamp : 0;
}

int am_arena_stamp_alive(am_arena *a, uint64_t stamp)
{
    if (!a || stamp == 0) return 0;
    return am_stamp_dead(a, stamp) ? 0 : 1;
}

int am_arena_participant_alive(am_arena *a, unsigned slot)
{
    if (!a || slot >= AM_MAX_PARTICIPANTS) return AM_EINVAL;
    if (slot == a->slot) return 1;
    return am_slot_alive(a, slot) ? 1 : 0;
}

void am_name_copy(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; i + 1 < cap && src[i]; i++) dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    memset(dst + i, 0, cap - i);
}

int am_arena_participant_info(am_arena *a, unsigned slot, am_participant_info *out)
{
    if (!a || !out || slot >= AM_MAX_PARTICIPANTS) return AM_EINVAL;
    memset(out, 0, sizeof *out);
    am_participant *p = &a->parts[slot];
    if (atomic_load_explicit(&p->state, memory_order_acquire) != AM_PART_LIVE || am_arena_participant_alive(a, slot) != 1) {
        return 0;
    }
    uint32_t gen = atomic_load_explicit(&p->gen, memory_order_relaxed);
    out->slot = slot;
    out->pid = atomic_load_explicit(&p->pid, memory_order_relaxed);
    out->stamp = ((uint64_t)gen << 32) | (slot + 1);
    out->joined_ns = atomic_load_explicit(&p->joined_ns, memory_order_relaxed);
    am_name_copy(out->name, p->name, sizeof out->name);
    am_name_copy(out->node, p->node, sizeof out->node);
    return 1;
}

/* Intent records: a thread claims a free entry of its participant's table by CAS
 * from 0, so threads of one process never overwrite each other's, and a dead
 * predecessor's entries (still to be finished by a reclaim) are skipped, not lost.
 * Each thread starts at its own entry, so the first CAS nearly always succeeds. */
static _Atomic unsigned next_thread_ix;
static _Thread_local unsigned thread_ix = ~0u;

unsigned am_intent_claim(am_arena *a, uint64_t off, uint32_t gen)
{
    if (__builtin_expect(thread_ix == ~0u, 0)) thread_ix = atomic_fetch_add(&next_thread_ix, 1) % AM_INTENTS;
    uint64_t v = ((uint64_t)gen << 32) | (off / AM_GRAN);
    _Atomic uint64_t *it = a->parts[a->slot].intent;
    for (unsigned i = thread_ix;; i = (i + 1) % AM_INTENTS) {
        uint64_t zero = 0;
        if (atomic_compare_exchange_weak_explicit(&it[i], &zero, v, memory_order_seq_cst, memory_order_relaxed)) {
            return i;
        }
    }
}

/* Undo everything participant `slot` (dead; its byte lock held by us) left behind:
 * repair sectors it held, finish its frees, free the blocks it owned.
 * Returns the number of blocks freed, or AM_ECORRUPT. */
int am_reclaim_slot(am_arena *a, unsigned slot)
{
    int freed = 0, bad = 0, skipped = 0;
    uint64_t deadline = am_now_ns() + AM_ALLOC_WAIT_NS;
    unsigned n = am_sectors(a);
    for (unsigned k = 0; k < n; k++) {
        am_sector *s = &a->sectors[k];
        if (atomic_load_explicit(&s->corrupt, memory_order_relaxed)) { bad = 1; continue; }
        int l = am_sector_lock_until(a, k, deadline);
        if (l == AM_ETIMEDOUT) {            /* held by someone alive (or a forged stamp) */
            bad = skipped = 1;
            continue;
        }
        if (l == 0 && atomic_load_explicit(&s->released, memory_order_acquire)) {
            am_sector_unlock(a, k);                 /* pages given back: no block, no intent there */
            continue;
        }
        if (l != 0 || am_sector_resolve_intents(a, k, slot) != 0) {
            bad = 1;
            am_sector_unlock(a, k);
            continue;
        }
        uint64_t end = am_sector_end(a, k), prev_off = 0;
        for (uint64_t off = am_sector_start(a, k); off < end;) {
            am_block *b = am_blk(a, off);
            uint64_t size = am_blk_size(a, k, off, b);
            if (size == 0) { bad = 1; break; }
            uint32_t st = atomic_load_explicit(&b->st, memory_order_acquire);
            if (AM_ST_STATE(st) == AM_BLK_ALLOCATED &&
                atomic_load_explicit(&b->owner, memory_order_relaxed) == slot + 1) {
                int r = am_sector_release_locked(a, k, off);
                if (r < 0) {
                    am_sector_recover(a, k, r);
                    bad = 1;
                    break;
                }
                if (r > 0) {
                    freed++;
                    atomic_fetch_add_explicit(&s->reclaimed, 1, memory_order_relaxed);
                    /* The freed block may have merged into its predecessor, which then
                     * starts the run covering `off`; either way the walk resumes at
                     * the predecessor, a block start still. */
                    if (prev_off) { off = prev_off; prev_off = 0; }
                    continue;
                }
            }
            prev_off = off;
            off += size;
        }
        int r = am_sector_drain(a, k);
        am_sector_recover(a, k, r);
        if (r) bad = 1;
        am_sector_note_idle(a, k);
        am_sector_unlock(a, k);
    }
    /* A sector skipped may still hold the dead one's unfinished frees: keep its intent
     * records for the next reclaim (the slot stays RECLAIMING). */
    for (unsigned i = 0; i < AM_INTENTS && !skipped; i++) {
        atomic_store_explicit(&a->parts[slot].intent[i], 0, memory_order_relaxed);
    }
    return skipped ? AM_ETIMEDOUT : bad ? AM_ECORRUPT : freed;
}

int am_arena_reclaim(am_arena *a)
{
    if (!a || atomic_load_explicit(&a->forked, memory_order_relaxed)) return AM_EINVAL;
    atomic_store_explicit(&a->dead_seen, 0, memory_order_relaxed);
    int total = 0, bad = 0;
    for (unsigned slot = 0; slot < AM_MAX_PARTICIPANTS; slot++) {
        am_participant *p = &a->parts[slot];
        if (slot == a->slot || atomic_load_explicit(&p->state, memory_order_acquire) == AM_PART_FREE) continue;
        if (am_byte_trylock(a->lock_fd, slot) != 0) continue;     /* alive, or being reclaimed */
        if (atomic_load_explicit(&p->state, memory_order_acquire) != AM_PART_FREE) {
            atomic_store_explicit(&p->state, AM_PART_RECLAIMING, memory_order_seq_cst);
            int r = am_reclaim_slot(a, slot);
            if (r < 0) bad = 1; else total += r;
            AM_CRASH_POINT(RECLAIM_DONE);
            if (r >= 0) atomic_store_explicit(&p->state, AM_PART_FREE, memory_order_release);
        }
        am_byte_unlock(a->lock_fd, slot);
    }
    am_release_idle(a);
    return bad ? AM_ECORRUPT : total;
}

/* Copy a name into a fixed field: cut, NUL-padded (the whole field is written, so no
 * byte of a predecessor's longer name survives). */
static void put_name(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    memset(dst + n, 0, cap - n);
}

int am_participant_join(am_arena *a, const char *node)
{
    for (unsigned slot = 0; slot < AM_MAX_PARTICIPANTS; slot++) {
        if (am_byte_trylock(a->lock_fd, slot) != 0) continue;
        am_participant *p = &a->parts[slot];
        /* A new incarnation first: stamps of the old one now read as dead. */
        uint32_t gen = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
        if (gen == 0) gen = 1;
        atomic_store_explicit(&p->gen, gen, memory_order_seq_cst);
        a->slot = slot;
        a->gen = gen;
        a->stamp = ((uint64_t)gen << 32) | (slot + 1);
        /* Who we are, before our stamp can be in any lock (the reclaim below takes
         * sector locks): what a read-only view goes by (pid_alive.c). */
        atomic_store_explicit(&p->pid, (uint32_t)getpid(), memory_order_relaxed);
        atomic_store_explicit(&p->start_time, am_self_start_time(), memory_order_relaxed);
        AM_CRASH_POINT(JOIN);
        if (atomic_load_explicit(&p->state, memory_order_acquire) != AM_PART_FREE) {
            /* A dead predecessor's leftovers. AM_ECORRUPT here means some sector is
             * fenced off; joining still works and the checker reports the sector. */
            (void)am_reclaim_slot(a, slot);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        atomic_store_explicit(&p->joined_ns, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, memory_order_relaxed);
        put_name(p->name, sizeof p->name, program_invocation_short_name);
        put_name(p->node, sizeof p->node, node);
        atomic_store_explicit(&p->state, AM_PART_LIVE, memory_order_release);
        return 0;
    }
    return AM_EFULL;
}

void am_participant_leave(am_arena *a)
{
    am_participant *p = &a->parts[a->slot];
    /* Blocks still owned are freed now, as they would be after our death. */
    (void)am_reclaim_slot(a, a->slot);
    atomic_store_explicit(&p->state, AM_PART_FREE, memory_order_release);
    am_byte_unlock(a->lock_fd, a->slot);
}
