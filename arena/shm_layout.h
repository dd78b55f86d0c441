/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The arena's shared-memory layout: every struct that lives in the segment file.
 *
 * A segment is, in order (all offsets from the start of the file):
 *
 *   am_seg_header     one page: identity, geometry, root slot
 *   am_participant[]  AM_MAX_PARTICIPANTS slots, one per attached handle
 *   am_sector[]       the sector table: lock, deferred-free stack, TLSF lists
 *   upper area        AM_UPPER_BYTES for the layer above (the channel directory)
 *   heap              nsectors * sector_size bytes, each sector a tiling of blocks
 *
 * Everything here may be written by a buggy, crashed or hostile process: code reads
 * geometry only from the copy validated at open (am_geom), and checks every offset,
 * size and index it reads from these structs before using it.
 *
 * Each field says who writes it and under which lock or protocol.
 */
#ifndef AM_SHM_LAYOUT_H
#define AM_SHM_LAYOUT_H

#include <stdatomic.h>
#include <stdint.h>
#include "atomicmatrix/arena.h"

#define AM_MAGIC        0x58525441544d4d41ull /* "AMMTATRX" little-endian */
#define AM_VERSION      4u           /* 2: the upper area for the channel layer;
                                        3: growth (sectors added after creation);
                                        4: liveness locks on a lock file of their own
                                           (lock_file.c), start times in participants */
#define AM_UPPER_BYTES  (64u << 10)
#define AM_STATE_FORMATTING 1u
#define AM_STATE_READY      2u

/* TLSF geometry. Sizes are in bytes, multiples of 16. Blocks below 256 bytes map
 * linearly (first level 0, one list per 16 bytes); above, each power of two is split
 * into 16 second-level lists. Blocks are at most 2^36 bytes, so 29 first levels. */
#define AM_SL_LOG        4
#define AM_SL_COUNT      (1u << AM_SL_LOG)
#define AM_SMALL_LIMIT   256u
#define AM_FL_SHIFT      7            /* fls(256) = 8 -> first level 1            */
#define AM_FL_COUNT      29u
#define AM_GRAN          16u          /* allocation granule and header alignment  */

/* ------------------------------------------------------------------ block header
 * 32 bytes before every payload; sizes and links in 16-byte units so that one
 * 32-bit word covers a 64 GiB segment.
 *  - size16 is the linking store: a split writes the new right-hand header first,
 *    then shrinks size16; a merge grows size16 last. Walking a sector by size16 is a
 *    valid tiling at every instruction, which is what repair relies on.
 *  - prev16 (previous physical block's size) is a hint kept right under the lock;
 *    repair recomputes it.
 *  - st holds the state in its low 2 bits and the reference count above. ALLOCATED
 *    -> PENDING is the single CAS by which one process claims the right to free.
 *  - A PENDING block is either on its sector's deferred stack, or being freed by the
 *    thread whose intent record names it (see am_participant.intent).
 *  - check = am_block_check(offset): tells a block start from a stray pointer.
 *  - gen is the sector's allocation counter when the block was handed out; intent
 *    records carry it so a reused block is never mistaken for the one they name. */
enum { AM_BLK_FREE = 0, AM_BLK_ALLOCATED = 1, AM_BLK_PENDING = 2 };
#define AM_ST_STATE(st)   ((st) & 3u)
#define AM_ST_REFS(st)    ((st) >> 2)
#define AM_ST_MAKE(s, r)  (((uint32_t)(r) << 2) | (s))
#define AM_MAX_REFS       ((1u << 30) - 1)

typedef struct am_block {
    _Atomic uint32_t size16; /* block bytes / 16, header included: under the sector lock */
    _Atomic uint32_t prev16; /* previous block's size16, 0 for the first: sector lock   */
    _Atomic uint32_t st;     /* state | refs << 2: CAS by anyone (retain/ack), lock holder */
    _Atomic uint32_t owner;  /* participant slot + 1, 0 = disowned: allocator, CAS       */
    _Atomic uint32_t pend;   /* next on the deferred stack (offset / 16), pusher        */
    _Atomic uint32_t check;  /* am_block_check(offset): sector lock                     */
    _Atomic uint32_t gen;    /* sector allocation counter at allocation: sector lock     */
    uint32_t spare;
} am_block;
#define AM_HDR          ((uint32_t)sizeof(am_block))     /* 32 */
/* Free blocks keep their list links in the first payload bytes (offsets / 16). */
typedef struct am_free_links {
    _Atomic uint32_t next16;
    _Atomic uint32_t prev16;
} am_free_links;
#define AM_MIN_BLOCK    48u          /* header + links, rounded to the granule   */

/* ------------------------------------------------------------------ participants
 * A slot per attached handle. Liveness is NOT stored here: the kernel holds it, as an
 * open-file-description lock on byte `slot` of the arena's lock file (lock_file.c;
 * fcntl F_OFD_SETLK), released when the process dies. Whoever holds that byte lock may
 * act for the slot: its live owner, or a reclaimer undoing what a dead owner left.
 * pid and start_time are only the fallback of those who cannot open the lock file
 * (read-only views) and of a joiner deciding whether a vanished lock file may be made
 * again (pid_alive.c): forgeable by any writer, so never the right to act. */
/* FREE: nobody; LIVE: attached; RECLAIMING: dead, and a reclaimer is undoing what
 * it held (a reclaimer that dies leaves it so, and the next one starts over). */
enum { AM_PART_FREE = 0, AM_PART_LIVE = 1, AM_PART_RECLAIMING = 2 };
#define AM_INTENTS 16u

typedef struct am_participant {
    _Atomic uint32_t state;  /* AM_PART_*: holder of the slot's byte lock              */
    _Atomic uint32_t gen;    /* incarnation, bumped at each join: byte-lock holder     */
    _Atomic uint32_t pid;    /* getpid() at join: byte-lock holder (display, fallback) */
    _Atomic uint32_t start_time; /* low 32 bits of the joiner's start time (clock ticks
                                    after boot, /proc/<pid>/stat field 22), 0 = unknown:
                                    byte-lock holder, with pid (a reused pid has another) */
    _Atomic uint64_t joined_ns; /* CLOCK_REALTIME at join, for tools                     */
    /* Intent records, one per thread in a free: {offset/16, block gen} packed as
     * (gen << 32 | off16), claimed by CAS from 0. Written before a block turns
     * PENDING, cleared once it is on the deferred stack or merged. Whoever holds the
     * block's sector lock after this participant died finishes the free it names. */
    _Atomic uint64_t intent[AM_INTENTS];
    /* For tools and discovery: written by the joiner before state turns LIVE (release);
     * readers copy them and never trust their termination or bytes. */
    char name[AM_PROC_NAME_MAX];   /* program name, cut                                 */
    char node[AM_NODE_MAX];        /* am_arena_opts.node, or empty                      */
} am_participant;

/* ------------------------------------------------------------------ sectors
 * One TLSF per sector. `lock` is an owner-stamped try-lock: 0 when free, else
 * (participant gen << 32 | slot + 1). A stamp whose participant is dead (its byte lock
 * free, or a newer gen in its slot) may be stolen by CAS, after which the thief
 * repairs the sector from its physical chain.
 * `pending` is the deferred-free stack (offset / 16 of its top block): many pushers
 * (frees that found the sector busy), one popper (the lock holder), so no ABA tag. */
typedef struct am_sector {
    _Atomic uint64_t lock;      /* stamp: CAS                                         */
    uint8_t pad0[56];           /* the lock has its own cache line                    */
    _Atomic uint32_t pending;   /* deferred stack top: CAS by pushers and the holder  */
    uint8_t pad1[60];
    /* Everything below: written only under `lock`; read racily by tools. */
    _Atomic uint32_t fl_bitmap;
    _Atomic uint32_t corrupt;   /* 1 once repair found the chain unusable              */
    _Atomic uint32_t sl_bitmap[AM_FL_COUNT];
    _Atomic uint32_t alloc_gen; /* allocation counter, copied into am_block.gen:
                                   fetch_add by the lock holder or am_block_adopt */
    _Atomic uint32_t heads[AM_FL_COUNT][AM_SL_COUNT]; /* free-list heads, offset / 16 */
    _Atomic uint64_t free_bytes;
    _Atomic uint64_t free_blocks;
    _Atomic uint64_t used_blocks;
    _Atomic uint64_t allocs;
    _Atomic uint64_t frees;
    _Atomic uint64_t repairs;
    _Atomic uint64_t reclaimed;
    /* Where the sector lies. Written by the creator (first sectors) or the grower that
     * added it, before it is published (am_seg_header.nsectors, release); never
     * changed after. Read as untrusted: validated against its neighbours and the
     * file's size before any process uses it (grow.c). */
    uint64_t start;             /* offset of its first block                           */
    uint64_t bytes;             /* its length, a multiple of 4096                      */
    /* A grown sector that stayed entirely free: its pages are given back (hole
     * punched) and nothing may touch them until it is taken again. Both under `lock`. */
    _Atomic uint32_t released;  /* 1 while its pages are given back                     */
    uint32_t pad3;
    _Atomic uint64_t idle_since; /* CLOCK_MONOTONIC ns when it was found entirely free,
                                    0 = in use: the lock holder                          */
    uint8_t pad2[40];
} am_sector;

/* ------------------------------------------------------------------ header */
typedef struct am_seg_header {
    uint64_t magic;            /* AM_MAGIC: creator, before linking the file in       */
    uint32_t version;          /* AM_VERSION                                          */
    uint32_t layout;           /* am_layout_hash(): sizes of these structs, constants */
    uint64_t size;             /* bytes at creation (the first sectors)               */
    _Atomic uint32_t state;    /* AM_STATE_READY once formatted                       */
    uint32_t creator_pid;
    _Atomic uint64_t root;     /* root offset of the layer above: CAS                 */
    _Atomic uint32_t nsectors; /* sectors published: the first ones at creation, then
                                  each grower's (release, after its sector is whole) */
    uint32_t nparticipants;    /* == AM_MAX_PARTICIPANTS                              */
    uint64_t parts_off;        /* offset of am_participant[0]                         */
    uint64_t sectors_off;      /* offset of am_sector[0]                              */
    uint64_t heap_off;         /* offset of the first sector's first block            */
    uint64_t sector_size;      /* bytes per first sector, multiple of 4096            */
    uint64_t created_ns;
    /* Growth (grow.c). */
    uint32_t first_sectors;    /* sectors made at creation, all sector_size bytes     */
    uint32_t pad;
    uint64_t max_size;         /* the most the file may grow to: every process maps
                                  (reserves address space for) this much at open     */
    _Atomic uint64_t grow_lock; /* stamp lock of the one adding a sector              */
    _Atomic uint64_t grown;    /* sectors added since creation: the grower            */
    _Atomic uint64_t released; /* times a sector's pages were given back: lock holder */
    /* Liveness (lock_file.c). */
    uint64_t lock_id;          /* random, never 0: names the lock file
                                  amlock.<name>.<16 hex digits>; the creator, before
                                  READY, never changed (read once, at open)           */
} am_seg_header;

#define AM_HEADER_BYTES 4096u

_Static_assert(sizeof(am_block) == 32, "block header must be 32 bytes");
_Static_assert(sizeof(am_block) % AM_GRAN == 0, "payloads must stay 16-byte aligned");
_Static_assert(sizeof(am_seg_header) <= AM_HEADER_BYTES, "header fits its page");
_Static_assert(sizeof(am_participant) % 64 == 0, "participants are cache-line sized");
_Static_assert(sizeof(am_sector) % 64 == 0, "sectors are cache-line sized");
_Static_assert(sizeof(uint32_t) * 8 >= AM_SL_COUNT, "sl bitmap fits a word");
_Static_assert(AM_FL_COUNT <= 32, "fl bitmap fits a word");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4,
               "atomics have their plain size");

/* What an opener checks against the file: changes whenever a shared struct does. */
static inline uint32_t am_layout_hash(void)
{
    uint32_t h = 2166136261u;
    const uint32_t parts[] = { (uint32_t)sizeof(am_block), (uint32_t)sizeof(am_participant),
                               (uint32_t)sizeof(am_sector), (uint32_t)sizeof(am_seg_header),
                               AM_FL_COUNT, AM_SL_COUNT, AM_INTENTS, AM_MAX_PARTICIPANTS,
                               AM_HEADER_BYTES, AM_UPPER_BYTES };
    for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        h = (h ^ parts[i]) * 16777619u;
    }
    return h;
}

/* The check word of a block header at offset off. */
static inline uint32_t am_block_check(uint64_t off)
{
    uint64_t x = (off >> 4) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32) ^ 0xA70A11CEu;
}

#endif
