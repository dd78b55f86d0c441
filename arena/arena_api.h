/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the arena offers the layer above it (the channel layer) beyond the public API:
 * naming blocks exactly, freeing without merging, the reserved upper area, liveness of
 * stamps and crash points. channel/ includes this header,
 * never arena_internal.h.
 */
#ifndef AM_ARENA_API_H
#define AM_ARENA_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atomicmatrix/arena.h"

/* The area reserved for the layer above (the channel directory): AM_UPPER_BYTES,
 * zero in a fresh arena, outside the heap so an idle arena's heap is untouched. */
void *am_upper(const am_arena *a);
/* Is this handle a fork child's copy (not usable by it)? */
bool  am_forked(const am_arena *a);
/* Is the participant incarnation `stamp` names dead? (a system call) */
/* A name field of cap bytes read from shared memory, copied: NUL-terminated, any byte
 * that is not printable ASCII as '?' (participants, discovery, amctl). */
void  am_name_copy(char *dst, const char *src, size_t cap);
bool  am_stamp_dead(am_arena *a, uint64_t stamp);
/* The pid the live participant named by stamp recorded (for messages; 0 if that
 * incarnation is gone). */
uint32_t am_stamp_pid(am_arena *a, uint64_t stamp);
/* A dead lock holder was found: reclaim its blocks at the next chance. */
void  am_note_dead(am_arena *a);
/* CLOCK_MONOTONIC in nanoseconds (deadlines everywhere). */
uint64_t am_now_ns(void);
/* One round of a spin loop: tell the CPU we spin (a hyper-thread sibling runs, and
 * the loop does not flood the line it polls with reads). */
static inline void am_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* ---- what the channel layer needs to name blocks exactly */
/* The live block at payload pointer p: its payload offset, generation and usable
 * payload bytes. AM_EINVAL if p is not a live block. */
int   am_block_identify(am_arena *a, const void *p, uint64_t *off, uint32_t *gen, size_t *payload);
/* am_disown of a block the caller has just identified (am_block_identify said 0):
 * no second look-up. 0, or AM_EPERM if the caller does not own it. */
int   am_block_disown_identified(am_arena *a, void *p);
/* Is p a live block this handle owns (a loan not yet handed over)? */
bool  am_block_owned(am_arena *a, const void *p);
/* The payload pointer of the live block {off, gen} (the same allocation, not a reuse of
 * its bytes), its owner (participant slot + 1, 0 = disowned) and payload bytes; NULL
 * if that allocation is no longer live. */
void *am_block_probe(am_arena *a, uint64_t off, uint32_t gen, uint32_t *owner, size_t *payload);

/* The generation word of the live block at payload p (one am_block_probe found):
 * a block's generation is stored before anything else is written into a new
 * allocation of its bytes, so a word loaded from the payload (with acquire) and
 * followed by this still reading the generation probed was the probed allocation's. */
const _Atomic uint32_t *am_block_gen_word(const void *p);

/* Generations an adopter drew ahead from sectors' allocation counters: a locked
 * instruction once per AM_GEN_BATCH adoptions instead of once each (on x86 it waits
 * for every store before it, here the writes of the previous messages). Generations
 * stay unique per sector, which is all a reference check needs. One batch for each of
 * AM_GEN_BATCHES sectors (by sector index): a sender whose blocks come from a few
 * sectors in turn does not throw a batch away at every switch, which would wear a
 * sector's counter up to 64 times faster (a stale reference held by a paused process
 * must not meet its generation again). Its owner's alone (one per port or thread),
 * zeroed to start. */
#define AM_GEN_BATCH   64u
#define AM_GEN_BATCHES 4u
typedef struct am_gen_run {
    uint32_t sector, next, left;   /* next to hand out, how many are left */
} am_gen_run;
typedef struct am_gen_batch {
    am_gen_run e[AM_GEN_BATCHES];
} am_gen_batch;
/* Take over the disowned live block {off, gen} (a sample that came back to its
 * sender): it becomes this handle's, as if just allocated, with a new generation (so
 * no old reference to it names it any more), drawn through gb. NULL if it is not that
 * live, disowned, single-reference block. */
void *am_block_adopt(am_arena *a, uint64_t off, uint32_t gen, am_gen_batch *gb, size_t *payload);

/* am_ack, but a last reference always goes on the sector's deferred stack rather than
 * being merged now: for a receiver freeing blocks a sender on another CPU allocates
 * from, so that the free touches one cache line of the sector, not its lists. */
int   am_ack_deferred(am_arena *a, void *p);

/* ---- crash.c: crash points for fault-injection tests. Each sits between two steps
 * of a multi-step operation; a test makes them kill the process (testing.h). */
#define AM_CRASH_POINT_LIST(X)                                                          \
    X(ALLOC_REMOVED, "alloc: block taken off its list")                                 \
    X(SPLIT_HEADER, "split: remainder header written, not linked")                     \
    X(SPLIT_LINKED, "split: remainder linked, neighbour hint stale")                   \
    X(ALLOC_DONE, "alloc: block marked allocated")                                     \
    X(FREE_CLAIMED, "free: block claimed (pending), not yet merged or pushed")         \
    X(FREE_PUSHED, "free: block pushed on the deferred stack, intent still set")       \
    X(FREE_MARKED, "merge: block marked free, not yet merged")                         \
    X(MERGE_NEXT_REMOVED, "merge: next block off its list, not yet absorbed")         \
    X(MERGE_NEXT_LINKED, "merge: next block absorbed, hint stale")                    \
    X(MERGE_PREV_REMOVED, "merge: previous block off its list, not yet grown")        \
    X(MERGE_PREV_LINKED, "merge: previous block grown, hint stale")                   \
    X(DRAIN_POPPED, "drain: block popped off the deferred stack, not yet merged")      \
    X(RECLAIM_CLAIMED, "reclaim: a dead owner's block claimed, not yet freed")         \
    X(RECLAIM_DONE, "reclaim: slot reclaimed, not yet marked free")                    \
    X(RESOLVE_INTENT, "reclaim: finishing a dead process's free")                      \
    X(REPAIR_MERGE, "repair: merging a run of free blocks")                            \
    X(REPAIR_CLEARED, "repair: free runs merged, lists not rebuilt")                   \
    X(REPAIR_REBUILD, "repair: lists half rebuilt")                                    \
    X(JOIN, "join: new incarnation stamped, slot not yet live")                        \
    X(GROW_LOCKED, "grow: grow lock taken, nothing reserved yet")                      \
    X(GROW_RESERVED, "grow: the new sector's pages reserved, not yet formatted")       \
    X(GROW_FORMATTED, "grow: new sector formatted, not yet published")                 \
    X(GROW_PUBLISHED, "grow: new sector published, grow lock still held")             \
    X(RELEASE_MARKED, "release: idle sector marked released, pages not yet given back") \
    X(RELEASE_PUNCHED, "release: pages given back, counters not yet updated")          \
    X(REUSE_RESERVED, "reuse: a released sector's pages reserved again, not formatted") \
    X(REUSE_FORMATTED, "reuse: released sector formatted, not yet marked in use")      \
    /* the channel layer's (names start with CH_) */                                  \
    X(CH_SEND_RECORDED, "send: in-flight record written, sample not yet disowned")     \
    X(CH_SEND_DISOWNED, "send: sample disowned, not yet queued anywhere")              \
    X(CH_SEND_QUEUED, "send: sample queued for some of its receivers")                 \
    X(CH_HIST_EVICTED, "history: oldest kept sample released, entry not yet reused")   \
    X(CH_SCHEMA_RECORDED, "schema: block named by the channel, not yet disowned")      \
    X(CH_EVICT_DEQUEUED, "drop-oldest: the sender's CAS took the oldest, not yet released") \
    X(CH_TAKE_HELD, "take: sample dequeued into the held list and marked sure")       \
    X(CH_ACK_CLEARED, "ack: holder bit cleared, block not yet freed or held entry kept") \
    X(CH_DROP_PROBED, "drop: the sample found live, its holder bit not yet cleared")   \
    X(CH_CLEAN_HELD, "cleanup: a held entry or drained slot released, not yet cleared") \
    X(CH_CLEAN_RX_FOUND, "cleanup: the receiver's rx block found, its share not yet released") \
    X(CH_CLEAN_RING, "cleanup: a link drained by the rx block's last user, not freed") \
    X(CH_CLEAN_FREED, "cleanup: rx block freed, its users' names not yet cleared")    \
    X(CH_ATTACH_RING, "attach/link: block named in the port or rx block, not disowned") \
    X(CH_CREATE_CHAN, "create: channel block recorded in its entry, not yet disowned") \
    X(CH_OPEN_FOUND, "open: channel found in the directory, not yet pinned")        \
    X(CH_DESTROY_DYING, "destroy: channel DYING with no port, block not yet freed")     \
    X(CH_DESTROY_CLEARED, "destroy: channel block freed, directory entry not yet cleared") \
    X(CH_TX_DROPPED, "cleanup: a sender's history and receivers let go, tx not freed") \
    X(CH_RET_PUSHED, "ack: block put on the return ring, held entry not yet cleared")  \
    X(CH_RET_TAKEN, "cache: block dequeued from the return ring, not yet adopted")
enum {
#define AM_CP_ENUM(id, text) AM_CP_##id,
    AM_CRASH_POINT_LIST(AM_CP_ENUM)
#undef AM_CP_ENUM
    AM_CP_COUNT
};
/* Crash points exist only in the test build of the library (atomicmatrix_testing,
 * compiled with AM_CRASH_POINTS=1, with crash.c and testing.h); in the libraries that
 * are installed a crash point compiles to nothing. */
#if defined(AM_CRASH_POINTS) && AM_CRASH_POINTS
extern _Atomic uint32_t am__crash_rate;          /* nonzero: a test turned points on */
void am__crash_maybe(unsigned point);
#define AM_CRASH_POINT(id) \
    do { if (__builtin_expect(atomic_load_explicit(&am__crash_rate, memory_order_relaxed) != 0, 0)) am__crash_maybe(AM_CP_##id); } while (0)
#else
#define AM_CRASH_POINT(id) do { } while (0)
#endif

#endif
