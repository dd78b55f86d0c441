/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomicmatrix — the shared-memory arena.
 *
 * An arena is one file in /dev/shm (am.<name>) that several processes map, each at
 * its own address. It holds a variable-size allocator: the heap is split into
 * sectors, each a TLSF (O(1) allocation with the size rounded up, splitting, and
 * coalescing with both physical neighbours), so every block handed out is a run of
 * bytes nobody else holds, and once everything is freed each sector is one free block.
 *
 * Blocks are reference counted: am_alloc() returns a block with one reference owned
 * by the calling participant; am_retain() adds references, am_ack() drops one and the
 * last ack frees the block. Pointers differ between processes; pass am_offset() values
 * and turn them back with am_ptr().
 *
 * Ownership: a block belongs to the participant that allocated it until it calls
 * am_disown(). If a participant dies (kill -9 at any instruction), the blocks it still
 * owns are reclaimed whatever their reference count, sector locks it held are taken
 * over and the sectors repaired. Who holds references to a disowned block is the
 * caller's business (the channel layer tracks it).
 *
 * Threads: the arena handle is thread-safe. After fork() the child must not use
 * handles it inherited (they fail with AM_EINVAL); it opens the arena again.
 */
#ifndef ATOMICMATRIX_ARENA_H
#define ATOMICMATRIX_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include "atomicmatrix/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_arena am_arena;

/* Flags for am_arena_opts.flags. */
#define AM_ATTACH_ONLY       0x1u /* fail with AM_ENOENT rather than create            */
#define AM_CREATE_ONLY       0x2u /* fail with AM_EEXIST rather than attach            */
#define AM_TRUST_OTHER_OWNER 0x4u /* attach to an arena owned by another user, or one
                                     writable by everybody                             */
#define AM_ANY_SIZE          0x8u /* attach whatever the existing arena's size, even if
                                     opts.size asks for another one                    */
#define AM_EXACT_MODE       0x10u /* create with exactly opts.mode, the umask ignored   */
#define AM_EXTENDED_OPTS    0x20u /* opts has the fields after `flags` (node, max_size):
                                     set it whenever one of them is set. It exists so
                                     that a program built before they were added (its
                                     opts struct is shorter) is never read past its end */

#define AM_DEFAULT_SIZE  ((size_t)64 << 20)   /* 64 MiB                                */
#define AM_MAX_SIZE      ((uint64_t)64 << 30) /* 64 GiB: the largest arena             */
#define AM_MAX_SECTORS   256u
#define AM_MAX_PARTICIPANTS 256u              /* processes (handles) attached at once  */
#define AM_ALIGN         16u                  /* every payload is 16-byte aligned      */
#define AM_PROC_NAME_MAX 16u                  /* a process name, NUL included (comm)   */
#define AM_NODE_MAX      24u                  /* a node name, NUL included             */

typedef struct am_arena_opts {
    size_t   size;     /* bytes when creating; 0 = default (64 MiB). When attaching,
                          0 takes the arena's size, any other value must equal it
                          (AM_EEXIST otherwise, unless AM_ANY_SIZE)               */
    unsigned sectors;  /* 0 = default                                          */
    unsigned mode;     /* file mode when creating; 0 = 0600; less the process's
                          umask, as open(2) does, unless AM_EXACT_MODE          */
    unsigned flags;    /* AM_ATTACH_ONLY, AM_CREATE_ONLY, AM_TRUST_OTHER_OWNER, AM_ANY_SIZE,
                          AM_EXACT_MODE, AM_EXTENDED_OPTS;
                          0 = create or attach                                   */
    /* Read only with AM_EXTENDED_OPTS: */
    const char *node;  /* a node name recorded with this process's participant
                          slot, shown by amctl and discovery (printable ASCII,
                          < AM_NODE_MAX bytes); NULL = none                     */
    uint64_t max_size; /* when creating: the most the arena may grow to (it grows
                          by sectors when an allocation finds no room); 0 = what
                          the filesystem can hold, at most AM_MAX_SIZE; = size:
                          never grow                                             */
} am_arena_opts;       /* zeroed (or a NULL pointer) means the defaults        */

typedef struct am_stats {
    uint64_t size;          /* bytes the segment's sectors span (am_arena_growth)      */
    uint64_t heap;          /* bytes of all sectors in use together (not those whose
                               pages were given back)                                */
    uint64_t used;          /* bytes in blocks not free (headers included)            */
    uint64_t free;          /* bytes in free blocks (headers included)                */
    uint64_t largest_free;  /* payload bytes of the largest single allocation possible */
    uint64_t free_blocks;   /* free blocks, all sectors                               */
    uint64_t used_blocks;   /* allocated or pending blocks                            */
    uint32_t sectors;       /* sectors in use (first and grown, not given back)       */
    uint32_t participants;  /* live participants                                      */
    double   fragmentation; /* share of free bytes outside each sector's largest free
                               block: 0 = none (e.g. a fresh arena), near 1 = crumbs */
    uint64_t allocs;        /* successful allocations since the arena was made        */
    uint64_t frees;         /* blocks freed                                           */
    uint64_t repairs;       /* sectors repaired after their lock holder died          */
    uint64_t reclaimed;     /* blocks reclaimed from dead participants                */
    uint64_t sector_size;   /* bytes per first sector (grown ones may be larger)      */
} am_stats;

/* Open the arena called name (1-200 characters of [A-Za-z0-9._-], not starting with a
 * dot and not containing ".tmp.", which the library's own private files use), creating
 * and formatting it if it does not exist (unless AM_ATTACH_ONLY). The file is
 * <dir>/am.<name>, <dir> being $AM_SHM_DIR (an absolute path, read once per process)
 * or /dev/shm. Creation is atomic: a half-formatted arena is never visible; the file's
 * memory is reserved when it is made, so a full filesystem gives AM_ENOMEM then rather
 * than SIGBUS later. Attaching validates the file (regular file, owner, magic, version,
 * layout, size against the file's) before using it. Returns 0 and a handle in *out, or
 * AM_ENAME (a bad name), AM_EINVAL (NULL name or out, bad options, bad AM_SHM_DIR),
 * AM_ENOENT, AM_EEXIST (exists: AM_CREATE_ONLY, or another size than opts.size asked),
 * AM_ENOMEM (the directory's filesystem cannot hold an arena of that size), AM_EPERM
 * (foreign owner or a symlink; or its lock file, amlock.<name>.<id> next to it, may not
 * be opened), AM_EFORMAT (not an arena, e.g. not a regular file; or a lock file that is
 * not a plain empty file of the arena's owner), AM_EVERSION, AM_ECORRUPT (truncated or
 * inconsistent), AM_ETOOBIG (size above AM_MAX_SIZE), AM_EFULL (AM_MAX_PARTICIPANTS
 * attached), AM_EAGAIN (its lock file was removed while a participant may be alive),
 * AM_ESYS.
 * am_arena_open_report() then says more (sizes, free space, which check failed). */
AM_API int   am_arena_open(const char *name, const am_arena_opts *opts, am_arena **out);

/* Why the last failing am_arena_open() in this thread failed, as a sentence naming the
 * file and figures involved ("" if that failure recorded none, or after a success). */
AM_API const char *am_arena_open_report(void);

/* Detach. Blocks this handle still owns (allocated and not disowned) are freed, as
 * they would be if the process died: disown what must outlive the handle. Pointers
 * from this handle are invalid afterwards. NULL is ignored. In a fork child, closing
 * an inherited handle only unmaps it. */
AM_API void  am_arena_close(am_arena *a);

/* Remove the arena's name and its lock file (and orphaned lock files of the name);
 * processes attached keep using it until they close. AM_ENOENT if there is none,
 * AM_ENAME for a bad name (as am_arena_open's). */
AM_API int   am_arena_unlink(const char *name);

/* Allocate size bytes (16-byte aligned, one reference, owned by the caller).
 * Returns NULL when the arena cannot hold it now (or at all, or on a bad handle). */
AM_API void *am_alloc(am_arena *a, size_t size);

/* Like am_alloc, but says why: 0 and *out, or AM_ENOMEM (no free block big enough
 * now), AM_ETIMEDOUT (the only sectors that might hold it stayed locked for 1 s: a
 * process paused while allocating), AM_ETOOBIG (larger than a sector can ever hold),
 * AM_EINVAL, AM_ECORRUPT. */
AM_API int   am_try_alloc(am_arena *a, size_t size, void **out);

/* Add n references to a live block. AM_EINVAL if p is not a live block. */
AM_API int   am_retain(am_arena *a, void *p, uint32_t n);

/* Drop one reference; the last one frees the block. Never blocks. Returns 0 or
 * AM_EINVAL if p is not a live block of this arena (a double ack, a stray pointer). */
AM_API int   am_ack(am_arena *a, void *p);

/* pointer -> offset from the start of the segment (0 = not a pointer into the heap). */
AM_API uint64_t am_offset(am_arena *a, const void *p);

/* offset -> pointer, checked against the heap's bounds and alignment; NULL if bad. */
AM_API void *am_ptr(am_arena *a, uint64_t off);

/* Usable payload bytes of the live block p (>= the size asked for), 0 if not live. */
AM_API size_t am_block_size(am_arena *a, const void *p);

/* Verify every invariant of every sector (tiling, neighbours, free lists, bitmaps,
 * counters). 0, AM_ECORRUPT, or AM_ETIMEDOUT (a sector's lock stayed with a live
 * process for 1 s); am_arena_check_report() then tells what was wrong. */
AM_API int   am_arena_check(am_arena *a);

/* The reason the last failing am_arena_check() in this thread gave ("" if none). */
AM_API const char *am_arena_check_report(void);

/* Fill *st with the arena's figures. 0 or AM_EINVAL / AM_ECORRUPT, or AM_ETIMEDOUT
 * (a sector's lock stayed with a live process for 1 s: its largest free block is
 * left out, its counters are in). */
AM_API int   am_arena_stats(am_arena *a, am_stats *st);

/* This participant no longer owns the block: it survives this process's death, and
 * whoever holds its references must ack it. AM_EPERM if the caller is not the owner. */
AM_API int   am_disown(am_arena *a, void *p);

/* Undo what dead participants held: take over their sector locks and repair those
 * sectors, finish frees they were in the middle of, and free the blocks they owned.
 * Returns the number of blocks reclaimed (>= 0) or a negative AM_E* code
 * (AM_ETIMEDOUT: a sector's lock stayed with a live process for 1 s; that dead
 * participant is finished by a later reclaim).
 * Runs automatically when a participant joins and when a dead lock holder is found. */
AM_API int   am_arena_reclaim(am_arena *a);

/* The segment's root slot, for the layer above: an offset it publishes with CAS. */
AM_API int   am_arena_root_cas(am_arena *a, uint64_t expected, uint64_t desired);
AM_API uint64_t am_arena_root(am_arena *a);

/* This handle's participant slot (0 .. AM_MAX_PARTICIPANTS-1). */
AM_API unsigned am_arena_slot(const am_arena *a);

/* Is the participant in slot alive? 1 yes, 0 no, negative on a bad argument. */
AM_API int   am_arena_participant_alive(am_arena *a, unsigned slot);

/* How the arena has grown (docs/arena-design.md, "Growth"). */
typedef struct am_growth {
    uint64_t initial;       /* bytes at creation                                     */
    uint64_t current;       /* bytes its sectors span now (the file may be longer)   */
    uint64_t reserved;      /* of those, bytes whose pages are reserved (current less
                               the sectors given back)                               */
    uint64_t maximum;       /* the most it may grow to (what every process maps)     */
    uint32_t sectors;       /* sectors now, first and grown                          */
    uint32_t released_now;  /* grown sectors whose pages are given back now          */
    uint64_t added;         /* sectors added since creation                          */
    uint64_t releases;      /* times a sector's pages were given back                */
} am_growth;

/* Fill *out. 0 or AM_EINVAL. A function of its own: am_stats, which callers
 * allocate, cannot grow without breaking programs built against 0.2. */
AM_API int   am_arena_growth(am_arena *a, am_growth *out);

/* Who is in a participant slot: its process id and name (the program's name, cut to
 * AM_PROC_NAME_MAX - 1 bytes), the node name it gave (am_arena_opts.node; "" if none), when
 * it joined and its liveness stamp. The names are read from shared memory: always
 * NUL-terminated, any byte that is not printable ASCII shown as '?'. */
typedef struct am_participant_info {
    uint32_t slot;
    uint32_t pid;
    uint64_t stamp;
    uint64_t joined_ns;          /* CLOCK_REALTIME                                   */
    char     name[AM_PROC_NAME_MAX];
    char     node[AM_NODE_MAX];
} am_participant_info;

/* Fill *out for the participant in slot: 1 if it is alive, 0 if the slot is free or
 * its holder dead (*out zeroed), AM_EINVAL on a bad argument. */
AM_API int   am_arena_participant_info(am_arena *a, unsigned slot, am_participant_info *out);

/* This handle's liveness stamp (its participant's incarnation and slot; never 0): the
 * layer above writes it into shared records it owns, so anyone can later ask
 * am_arena_stamp_alive() whether that owner still lives (pid reuse cannot fool it). */
AM_API uint64_t am_arena_stamp(const am_arena *a);

/* 1 if the participant incarnation that had this stamp is alive, 0 if it is dead
 * (or the stamp is malformed: a stamp read from shared memory is untrusted). */
AM_API int   am_arena_stamp_alive(am_arena *a, uint64_t stamp);

#ifdef __cplusplus
}
#endif
#endif
