/*
 * The channel layer's shared-memory layout: every struct it keeps inside the arena.
 *
 *   arena root slot -> directory block: lock + AM_MAX_CHANNELS entries {name, type,
 *                      channel block}
 *   channel block   -> lock, the in-flight record of the lock holder, AM_MAX_PORTS
 *                      port records
 *   history table   -> the samples a topic keeps for late joiners
 *   ring block      -> one per receiving port: a ck_ring, its slots, the held list
 *   sample block    -> amc_msg header, then the payload
 *
 * All of these are arena blocks nobody owns (disowned), so the arena never frees them
 * behind the channel layer's back; the channel layer frees them itself, under its
 * locks, when the last user has gone or been found dead.
 *
 * Who holds a sample is exact under kill -9 because every holder is one bit of the
 * sample's `owe` word (see amc_msg): clearing a bit is idempotent, so a cleanup that
 * repeats work a dead process had half done does no harm, and the one that clears the
 * last bit writes its own id beside the bits in the same CAS, so exactly one party
 * (or whoever cleans up after it) frees the block.
 *
 * Every value here may have been written by a crashed or hostile process: readers check
 * offsets, generations, indexes and sizes before use.
 */
#ifndef AMC_CHANNEL_LAYOUT_H
#define AMC_CHANNEL_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <ck_ring.h>
#include "atomicmatrix/channel.h"
#include "shm_layout.h"

#define AMC_DIR_MAGIC  0x3152494443544d41ull /* "AMTCDIR1" */
#define AMC_CHAN_MAGIC 0x314e414843544d41ull /* "AMTCHAN1" */
#define AMC_RING_MAGIC 0x31474e4952544d41ull /* "AMTRING1" */

/* A reference to a live arena block: its payload offset and the arena's allocation
 * generation of it, so a reused block is never mistaken for the one named. This is
 * what rings carry and held lists keep (and ck_ring copies it by value). */
struct amc_slot {
    uint64_t off;        /* payload offset in the segment; 0 = empty entry */
    uint32_t gen;        /* am_block.gen at allocation                     */
    uint32_t pad;
};
typedef struct amc_slot amc_slot;

/* ------------------------------------------------------------------ samples
 * The first 64 bytes of every sample block. `owe`:
 *   bits 0..47   receiving ports that still hold the sample (queued or taken);
 *   bit  48      the topic's history keeps it;
 *   bits 56..63  who cleared the last bit and so must free the block: port + 1 (the
 *                port's owner, or whoever cleans up after it), AMC_FREER_HIST, or
 *                AMC_FREER_LOCK(port) (a channel lock holder dropping a port's share:
 *                an eviction, a send that could not queue). Written in the same CAS
 *                that clears the last bit. Distinct ids matter: a recovery finishes
 *                only frees that nobody alive can be finishing at the same time.
 * The sender writes everything before it disowns the block; afterwards only `owe`
 * changes. */
#define AMC_OWE_PORTS   ((1ull << AM_MAX_PORTS) - 1)
#define AMC_OWE_HIST    (1ull << 48)
#define AMC_OWE_HOLDERS (AMC_OWE_PORTS | AMC_OWE_HIST)
#define AMC_FREER_SHIFT 56
#define AMC_FREER_HIST  (AM_MAX_PORTS + 1)
#define AMC_FREER_LOCK(port) (64u + (port))

typedef struct amc_msg {
    _Atomic uint64_t owe;
    uint64_t seq;        /* the sender's sequence number                     */
    uint64_t send_ns;    /* CLOCK_MONOTONIC at send                          */
    uint64_t corr;       /* services: the call's correlation id              */
    uint32_t len;        /* payload bytes                                    */
    uint32_t method;     /* services: the method number                      */
    uint32_t from;       /* the sender's port                                */
    uint32_t from_gen;   /* the sender port's incarnation (where replies go) */
    int32_t  status;     /* services: a reply's status, 0 = the call succeeded */
    uint8_t  pad[12];
} amc_msg;
#define AMC_MSG_HDR ((uint32_t)sizeof(amc_msg))

/* ------------------------------------------------------------------ ports */
enum { AMC_ROLE_PUB = 1, AMC_ROLE_SUB = 2, AMC_ROLE_SERVER = 3, AMC_ROLE_CLIENT = 4, AMC_ROLES = 5 };
/* FREE: nobody. ATTACHING: being set up by `stamp` (its ring may not be disowned yet).
 * ACTIVE: in use; receives if it has a ring. RELEASING: being torn down (senders no
 * longer queue to it; its ring may already be freed). */
enum { AMC_PORT_FREE = 0, AMC_PORT_ATTACHING = 1, AMC_PORT_ACTIVE = 2, AMC_PORT_RELEASING = 3 };

typedef struct amc_port {
    _Atomic uint64_t stamp;     /* the owner's arena stamp; 0 when free: chan lock     */
    _Atomic uint32_t state;     /* AMC_PORT_*: chan lock                               */
    uint32_t role;              /* AMC_ROLE_*: chan lock                               */
    _Atomic uint32_t gen;       /* incarnation, bumped at each attach: chan lock       */
    uint32_t policy;            /* am_policy                                           */
    uint32_t depth;             /* ring slots (a power of two; holds depth - 1)        */
    uint32_t max_held;
    uint64_t ring_off;          /* ring block payload offset and generation            */
    uint32_t ring_gen;
    uint32_t pid;               /* for tools                                           */
    _Atomic uint64_t take_lock; /* AM_POLICY_DROP_OLDEST: receiver vs evicting sender  */
    /* waiting */
    _Atomic uint32_t wake;      /* futex: bumped by a sender that found `sleeping`     */
    _Atomic uint32_t sleeping;  /* the receiver is (about to be) in FUTEX_WAIT         */
    _Atomic uint32_t room;      /* futex: bumped by the receiver that found `room_wanted` */
    _Atomic uint32_t room_wanted; /* a blocked sender waits for room in this queue     */
    /* counters (for stats and tools) */
    _Atomic uint64_t sent;
    _Atomic uint64_t received;
    _Atomic uint64_t dropped;
    _Atomic uint64_t timeouts;
    _Atomic uint64_t late;
    uint64_t opened_ns;
    uint32_t cap;               /* queue limit asked for (<= depth - 1)                */
    uint32_t pad;
} amc_port;

/* ------------------------------------------------------------------ channels
 * The lock holder's in-flight record: what it was doing, so that whoever steals the
 * lock from a dead holder can finish it (a send that got past disown always
 * completes) or see it never happened. */
enum { AMC_REC_NONE = 0, AMC_REC_SEND = 1, AMC_REC_EVICT = 2, AMC_REC_HIST = 3, AMC_REC_SCHEMA = 4 };
typedef struct amc_record {
    _Atomic uint32_t op;
    uint32_t port;       /* SEND: the sender; EVICT: the queue's port            */
    uint64_t targets;    /* SEND: receiving ports, as owe bits (+ AMC_OWE_HIST)   */
    amc_slot sample;     /* SEND: the sample                                      */
    uint32_t pos;        /* EVICT: the queue's c_head before the eviction         */
    uint32_t pad;
    amc_slot evicted;    /* EVICT: what the eviction dequeued                     */
    amc_slot hist_new;   /* HIST, SCHEMA: the new block being put in place         */
    amc_slot hist_old;   /* HIST: the table it replaces (off 0: none)              */
} amc_record;

enum { AMC_KIND_TOPIC = 1, AMC_KIND_SERVICE = 2 };

typedef struct amc_hist {
    amc_slot sample;     /* 0 = empty                                             */
    uint64_t order;      /* send order, to replay oldest first                     */
} amc_hist;

/* The history table: its own block, so that a publisher asking for more history than
 * the topic keeps can grow it (a new table replaces the old one; see history.c). */
#define AMC_HIST_MAGIC 0x3154534948544d41ull /* "AMTHIST1" */
typedef struct amc_histtab {
    uint64_t magic;
    uint32_t cap;
    uint32_t pad;
    uint8_t  pad2[48];
    amc_hist e[];               /* cap entries: chan lock                              */
} amc_histtab;

typedef struct amc_chan {
    uint64_t magic;
    uint32_t kind;
    uint32_t pad;
    _Atomic uint64_t hist_ref;  /* history table (gen << 32 | off / 16); 0 = none: lock */
    _Atomic uint64_t schema_ref; /* schema block, the same way; 0 = none: lock          */
    uint64_t schema_len;        /* its bytes                                           */
    uint8_t  pad0[24];
    _Atomic uint64_t lock;      /* stamp lock: sends, attach, detach, cleanup          */
    uint8_t  pad1[56];
    amc_record rec;             /* the lock holder's                                   */
    _Atomic uint32_t version;   /* bumped whenever a port changes: senders re-read     */
    uint32_t rr;                /* services: round-robin cursor over servers           */
    uint64_t hist_order;        /* last order given to a history entry                 */
    uint8_t  pad2[24];
    amc_port ports[AM_MAX_PORTS];
} amc_chan;

/* ------------------------------------------------------------------ rings
 * One block per receiving port: header, then `depth` slots, then `max_held` entries
 * of the held list (taken, not yet acked). The ck_ring has one producer at a time
 * (senders hold the channel lock, so its single commit store makes a send atomic under
 * kill -9) and one consumer (the port's owner, or with DROP_OLDEST whoever holds the
 * port's take_lock). */
typedef struct amc_ring {
    uint64_t magic;
    uint32_t depth;
    uint32_t max_held;
    uint8_t  pad[48];
    struct ck_ring ring;
    uint8_t  pad2[64 - sizeof(struct ck_ring) % 64];
    /* amc_slot slots[depth]; amc_slot held[max_held]; */
} amc_ring;

/* ------------------------------------------------------------------ directory */
enum { AMC_ENT_FREE = 0, AMC_ENT_CREATING = 1, AMC_ENT_READY = 2 };

typedef struct amc_entry {
    _Atomic uint32_t state;     /* AMC_ENT_*: dir lock                                 */
    uint32_t kind;
    uint64_t chan_off;          /* channel block payload offset and generation         */
    uint32_t chan_gen;
    uint32_t typed;             /* 1 once a typed opener set type/fingerprint          */
    uint64_t fingerprint;
    char name[AM_NAME_MAX + 1];
    char type[AM_TYPE_MAX + 1];
} amc_entry;

typedef struct amc_dir {
    uint64_t magic;
    uint32_t nentries;
    uint32_t pad;
    uint8_t  pad0[48];
    _Atomic uint64_t lock;      /* stamp lock: entries, channel creation and removal   */
    uint8_t  pad1[56];
    amc_entry e[AM_MAX_CHANNELS];
} amc_dir;

_Static_assert(sizeof(amc_msg) == 64, "sample header is one cache line");
_Static_assert(sizeof(amc_slot) == 16, "slots are 16 bytes");
_Static_assert(sizeof(amc_port) % 64 == 0, "ports are cache-line sized");
_Static_assert(sizeof(amc_chan) % 64 == 0, "channels are cache-line sized");
_Static_assert(sizeof(amc_histtab) == 64, "history entries start on a cache line");
_Static_assert(offsetof(amc_chan, ports) % 64 == 0, "ports start on a cache line");
_Static_assert(sizeof(amc_dir) <= AM_UPPER_BYTES, "the directory fits the arena's upper area");
_Static_assert(sizeof(amc_ring) % 64 == 0, "slots start on a cache line");
_Static_assert(AM_MAX_PORTS <= 48, "port bits fit below the history bit");
_Static_assert(sizeof(struct ck_ring) == 2 * 64 + 8, "every process agrees on ck_ring's layout");

#endif
