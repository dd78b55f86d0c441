/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The channel layer's shared-memory layout: every struct it keeps inside the arena,
 * and for every shared field who writes it and what orders it.
 *
 *   arena upper area -> directory: lock + AM_MAX_CHANNELS entries {name, type, channel}
 *   channel block    -> state, schema, AM_MAX_PORTS port records
 *   tx block         -> one per sending port: the receivers it holds, its history
 *   rx block         -> one per receiving port: users, links in, held list, replay list
 *   link block       -> one per (sender port index, receiving port): a ck_ring of slots
 *   sample block     -> amc_msg header, then the payload
 *
 * No lock is taken on the data path: every link has one producer (the sender port that
 * owns its index) and its consumers (the receiver, and the sender itself evicting the
 * oldest for AM_POLICY_DROP_OLDEST) dequeue by CAS on the ring's consumer index. A
 * paused process therefore delays only the links it produces or consumes. See
 * docs/channel-design.md for the protocol and why it holds under kill -9.
 *
 * All of these (except the directory) are arena blocks nobody owns (disowned), so the
 * arena never frees them behind the channel layer's back; the channel layer frees them
 * when their last user has gone or been found dead. Every value here may have been
 * written by a crashed or hostile process: readers check offsets, generations, indexes
 * and sizes before use.
 */
#ifndef AMC_CHANNEL_LAYOUT_H
#define AMC_CHANNEL_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <ck_ring.h>
#include "atomicmatrix/channel.h"
#include "shm_layout.h"

#define AMC_LINE 64u                         /* cache line: shared words that different
                                                processes write live on separate lines */

#define AMC_DIR_MAGIC  0x3552494443544d41ull /* "AMTCDIR5" */
#define AMC_CHAN_MAGIC 0x324e414843544d41ull /* "AMTCHAN2" */
#define AMC_TX_MAGIC   0x3158544443544d41ull /* "AMTDTX1"  */
#define AMC_RX_MAGIC   0x3158524443544d41ull /* "AMTDRX1"  */
#define AMC_LINK_MAGIC 0x324b4e4c43544d41ull /* "AMTLNK2"  */

/* A reference to a live arena block: its payload offset and the arena's allocation
 * generation of it, so a reused block is never mistaken for the one named. Rings carry
 * these (ck_ring copies them by value); held lists keep them. `flags` is AMC_HELD_* in
 * a held list and 0 everywhere else. */
struct amc_slot {
    uint64_t off;        /* payload offset in the segment; 0 = empty entry */
    uint32_t gen;        /* am_block.gen at allocation                     */
    uint32_t flags;
};
typedef struct amc_slot amc_slot;
#define AMC_HELD_SURE 1u /* the take's dequeue CAS succeeded: the sample is held */
#define AMC_HELD_RETURNING 2u /* the ack dropped the last hold and is putting the block
                                 on its link's return ring (see amc_ret_settle)       */

/* A block reference in one word (gen << 32 | off / 16): replaced with a single store
 * or CAS. */
static inline uint64_t amc_ref_pack(amc_slot s) { return ((uint64_t)s.gen << 32) | (s.off / AM_GRAN); }
static inline amc_slot amc_ref_unpack(uint64_t r)
{
    return (amc_slot){ (r & 0xffffffffull) * AM_GRAN, (uint32_t)(r >> 32), 0 };
}

/* ------------------------------------------------------------------ holder words
 * Two kinds of shared blocks have several holders and are freed by the last one: a
 * sample (its receivers, its publisher's history) and an rx block (its receiver and
 * the senders that send to it). Their holder word has one bit per holder and, in the
 * top byte, the id of whoever cleared the last bit and so must free the block (written
 * by the same CAS). Clearing a clear bit does nothing, so any cleanup may repeat what a
 * dead process had half done; a recovery finishes a free only for a freer id nobody
 * alive can be acting as (see amc_drop in holders.c). */
#define AMC_FREER_SHIFT 56
#define AMC_FREER_OF(w) ((unsigned)((w) >> AMC_FREER_SHIFT))

/* ------------------------------------------------------------------ samples
 * The first 64 bytes of every sample block. `owe`:
 *   bits 0..47   receiving ports that hold the sample (queued, held or replayed);
 *   bit  48      its publisher's history keeps it;
 *   bits 56..63  the freer: port + 1 (receiver port, or whoever cleans up after it),
 *                AMC_FREER_HIST (the publisher's history), AMC_FREER_SENDER(port) (the
 *                sample's sender acting for a receiver port: an eviction, a send that
 *                could not queue; each sample has one sender, so this id is unique).
 * The sender writes everything before it disowns the block; afterwards only `owe`
 * changes (CAS, acq_rel). */
#define AMC_OWE_PORTS   ((1ull << AM_MAX_PORTS) - 1)
#define AMC_OWE_HIST    (1ull << 48)
#define AMC_OWE_HOLDERS (AMC_OWE_PORTS | AMC_OWE_HIST)
#define AMC_FREER_HIST  (AM_MAX_PORTS + 1)
#define AMC_FREER_SENDER(port) (64u + (port))

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

/* ------------------------------------------------------------------ links
 * One block per (sender port index, receiving port): a ck_ring of slots naming
 * samples. Producer: the sender port that holds that index (only one at a time; after
 * its death, the one cleaner of its port). Consumers, by CAS on c_head
 * (amc_ring_take, ring.h): the receiver, its cleaner, the sender evicting the oldest
 * for a DROP_OLDEST receiver. Created by the sender (owned while it is formatted,
 * named in the rx block by CAS, then disowned); freed with its rx block. It outlives
 * the sender that created it: the next sender on that index goes on producing.
 *
 * The return ring goes the other way (docs/channel-design.md, "The block cache"): when
 * the receiver drops the last hold on a sample from this link's sender index, it puts
 * the block here instead of freeing it, and the sender reuses it for a later loan.
 * Producer: the receiver (on ack). Consumer: whoever holds ret_lock, a try-lock nobody
 * ever waits for: the sender when it loans or closes, or the receiver sweeping blocks
 * its sender has left for AMC_CACHE_IDLE_NS; a dead holder's lock is released only by
 * its port's cleaner, after settling its in-flight record (AMC_REC_RETURN). */
typedef struct amc_link {
    uint64_t magic;
    uint32_t depth;             /* ring slots, a power of two: written before it is named */
    uint32_t pad;
    _Atomic uint64_t ret_active_ns; /* the sender: am_now_ns of a recent send, stored at
                                   most every AMC_CACHE_MARK_NS (relaxed; a hint)      */
    uint8_t  pad0[AMC_LINE - 24];
    struct ck_ring ring;        /* c_head: consumers' line; p_tail: the producer's line  */
    uint8_t  pad1[AMC_LINE - sizeof(struct ck_ring) % AMC_LINE];
    _Atomic uint64_t ret_lock;  /* stamp of the return ring's consumer, CAS 0 -> stamp,
                                   stored 0 (release) by it or by its dead port's cleaner */
    uint8_t  pad2[AMC_LINE - 8];
    struct ck_ring ret;         /* the return ring: c_head the ret_lock holder's (it
                                   shares ck_ring's first line), p_tail the receiver's  */
    uint8_t  pad3[AMC_LINE - sizeof(struct ck_ring) % AMC_LINE];
    /* amc_slot slots[depth];     the forward ring's
     * amc_slot ret_slots[depth]; the return ring's */
} amc_link;
static inline amc_slot *amc_link_slots(amc_link *l) { return (amc_slot *)(l + 1); }
/* The return ring's slots, for a link of `depth` (the caller's validated copy, never
 * the block's own field, which a peer could rewrite after validation). */
static inline amc_slot *amc_link_ret_slots(amc_link *l, uint32_t depth) { return amc_link_slots(l) + depth; }
static inline size_t amc_link_bytes(uint32_t depth) { return sizeof(amc_link) + 2 * (size_t)depth * sizeof(amc_slot); }

/* ------------------------------------------------------------------ rx blocks
 * One per receiving port, allocated by it when it attaches. `users` is a holder word:
 * bit i = sender port i sends to it (set by that sender, by CAS and only while the
 * receiver bit is set, after naming the block in its tx block; cleared when it sees the
 * receiver gone, or by its cleanup), bit AMC_RX_SELF = the receiver (cleared when it
 * detaches or by its cleanup). The last one out drains every link, releases the held
 * and replay lists, frees the links and the block. Freer ids: sender port + 1,
 * AMC_FREER_RX. So a sender paused with a stale view keeps the block (and its links)
 * alive: nothing it may still write into is ever freed under it. */
#define AMC_RX_SELF   (1ull << 48)
#define AMC_RX_USERS  (AMC_OWE_PORTS | AMC_RX_SELF)
#define AMC_FREER_RX  (AM_MAX_PORTS + 1)

typedef struct amc_rx {
    uint64_t magic;
    uint32_t depth;             /* slots of each link (a power of two)                 */
    uint32_t cap;               /* queue limit per link (<= depth - 1)                  */
    uint32_t max_held;
    uint32_t max_replay;
    uint32_t port, gen;         /* whose (for tools)                                    */
    uint8_t  pad0[AMC_LINE - 32];
    _Atomic uint64_t users;     /* holder word, above                                   */
    _Atomic uint64_t linked;    /* bit i: links[i] was named (senders set, never clear) */
    uint8_t  pad1[AMC_LINE - 16];
    _Atomic uint64_t links[AM_MAX_PORTS]; /* link refs by sender index: senders, by CAS */
    /* amc_slot held[max_held];   receiver: taken, not yet acked (flags AMC_HELD_SURE)
     * amc_slot replay[max_replay]; receiver, at attach: kept samples to take first   */
} amc_rx;
static inline amc_slot *amc_rx_held(amc_rx *r) { return (amc_slot *)(r + 1); }
static inline amc_slot *amc_rx_replay(amc_rx *r) { return amc_rx_held(r) + r->max_held; }
static inline size_t amc_rx_bytes(uint32_t max_held, uint32_t max_replay)
{
    return sizeof(amc_rx) + ((size_t)max_held + max_replay) * sizeof(amc_slot);
}

/* ------------------------------------------------------------------ tx blocks
 * One per sending port, allocated by it when it attaches; written only by it (or, after
 * its death, its one cleaner). `rx[i]` names the rx block of port i it holds a users
 * bit on (written before the CAS that sets the bit, cleared after the one that clears
 * it), so its cleanup can let go of them all. `hist` keeps its last hist_cap samples
 * (their AMC_OWE_HIST bit) for late joiners. */
typedef struct amc_hist {
    amc_slot sample;     /* 0 = empty                                             */
    uint64_t seq;        /* the sample's sequence number (oldest first on replay) */
    uint64_t pad;
} amc_hist;

typedef struct amc_tx {
    uint64_t magic;
    uint32_t hist_cap;
    uint32_t hist_next;         /* next history entry to reuse (a ring)              */
    uint8_t  pad0[AMC_LINE - 16];
    _Atomic uint64_t rx[AM_MAX_PORTS];
    /* amc_hist hist[hist_cap]; */
} amc_tx;
static inline amc_hist *amc_tx_hist(amc_tx *t) { return (amc_hist *)(t + 1); }
static inline size_t amc_tx_bytes(uint32_t hist_cap) { return sizeof(amc_tx) + (size_t)hist_cap * sizeof(amc_hist); }

/* ------------------------------------------------------------------ ports
 * The in-flight record of a port's owner: what it was doing when it died, so that its
 * cleaner can finish it (a send that got past disown always completes) or see that it
 * never happened. Written only by the owner. */
enum { AMC_REC_NONE = 0, AMC_REC_SEND = 1, AMC_REC_EVICT = 2, AMC_REC_RETURN = 3 };
typedef struct amc_record {
    _Atomic uint32_t op;        /* release after the fields below                      */
    uint32_t port;              /* EVICT: the receiver port                             */
    uint64_t targets;           /* SEND: receiving ports, as owe bits (+ AMC_OWE_HIST)   */
    amc_slot sample;            /* SEND: the sample; EVICT: what the CAS would dequeue;
                                   RETURN: the block at the return ring's c_head         */
    uint64_t link;              /* EVICT, RETURN: the link's ref                         */
    uint32_t pos;               /* EVICT: the c_head value the CAS expects; RETURN: the
                                   return ring's c_head before the dequeue              */
    uint32_t pad;
} amc_record;

enum { AMC_ROLE_PUB = 1, AMC_ROLE_SUB = 2, AMC_ROLE_SERVER = 3, AMC_ROLE_CLIENT = 4, AMC_ROLES = 5 };
/* FREE: nobody (stamp 0). ATTACHING: claimed by `stamp`, being set up. ACTIVE: in use.
 * RELEASING: being torn down by `cleaner` (its owner closing, or whoever found the
 * owner dead); senders no longer start sending to it. */
enum { AMC_PORT_FREE = 0, AMC_PORT_ATTACHING = 1, AMC_PORT_ACTIVE = 2, AMC_PORT_RELEASING = 3 };

typedef struct amc_port {
    /* claim and life: one line */
    _Atomic uint64_t stamp;     /* owner's arena stamp: CAS 0 -> stamp claims the port
                                   (seq_cst, paired with amc_chan.state); stored 0
                                   (release) by its cleaner as the very last step      */
    _Atomic uint64_t cleaner;   /* stamp of the one tearing it down: CAS 0 -> stamp, or
                                   from a dead cleaner's; 0 again when done             */
    _Atomic uint32_t state;     /* AMC_PORT_*: the claimant, then the cleaner (release)   */
    _Atomic uint32_t gen;       /* incarnation, bumped by the claimant                   */
    uint32_t role;              /* AMC_ROLE_*     } written by the claimant before      */
    uint32_t policy;            /* am_policy      } ACTIVE (release); read after an     */
    uint32_t pid;               /* for tools      } acquire load of state               */
    uint32_t pad;
    _Atomic uint64_t rx_ref;    /* rx block (receiving roles): the claimant             */
    _Atomic uint64_t tx_ref;    /* tx block (sending roles): the claimant               */
    uint64_t opened_ns;
    /* the receiver's waiting: its own line */
    _Atomic uint32_t wake;      /* futex: bumped by a sender that found `sleeping`       */
    _Atomic uint32_t sleeping;  /* the receiver is (about to be) in FUTEX_WAIT: it stores
                                   1 (seq_cst), then (if `barrier`) membarrier, then looks
                                   at its links; a sender queues, fences (seq_cst) unless
                                   `barrier`, then looks here (wait.c)                   */
    _Atomic uint32_t room;      /* futex: bumped by the receiver that found room_wanted  */
    _Atomic uint32_t room_wanted; /* a blocked sender waits for room in a link to here  */
    _Atomic uint64_t notify;    /* the owner's pollable descriptor (am_waitset_fd): the
                                   token naming its socket, 0 = none. The owner stores
                                   it (seq_cst) before it arms `sleeping`; a sender that
                                   found `sleeping` loads it and sends one datagram
                                   there besides the futex wake (notify.c)             */
    _Atomic uint32_t barrier;   /* 1: the owner runs membarrier between arming `sleeping`
                                   and looking, so senders in processes registered for
                                   it need no fence of their own (wait.c). The owner:
                                   at attach (before ACTIVE), and seq_cst when its port
                                   joins or leaves a descriptor's waitset              */
    uint32_t pad2;
    uint8_t  pad1[AMC_LINE - 32];
    /* counters, relaxed (tools and stats) */
    _Atomic uint64_t sent;      /* owner                                                 */
    _Atomic uint64_t received;  /* owner                                                 */
    _Atomic uint64_t dropped;   /* any sender (drops it made for this receiver), owner   */
    _Atomic uint64_t timeouts;  /* owner                                                 */
    _Atomic uint64_t late;      /* owner (clients)                                       */
    _Atomic uint64_t reused;    /* owner: loans served by a block that came back        */
    _Atomic uint64_t stalled;   /* any sender: sends that gave up on this full receiver  */
    _Atomic uint64_t bytes;     /* owner: payload bytes of the samples it sent and took  */
    amc_record rec;             /* the owner's in-flight record                          */
    uint8_t  pad3[AMC_LINE - sizeof(amc_record) % AMC_LINE];
} amc_port;

/* ------------------------------------------------------------------ channels */
enum { AMC_KIND_TOPIC = 1, AMC_KIND_SERVICE = 2 };
/* ALIVE: ports may attach. DYING: the directory lock holder is freeing it (it found
 * no port); an attacher that sees DYING after claiming a port backs off, a destroyer
 * that sees a claimed port after storing DYING goes back to ALIVE (both seq_cst). */
enum { AMC_CHAN_ALIVE = 1, AMC_CHAN_DYING = 2 };

typedef struct amc_chan {
    uint64_t magic;
    uint32_t kind;
    _Atomic uint32_t state;     /* AMC_CHAN_*: the directory lock holder                */
    _Atomic uint64_t schema_ref; /* schema block ({uint64 length, bytes}): its first
                                    recorder (a publisher or a server), by CAS from 0
                                    (or from a ref whose block is gone)                */
    uint64_t pad;
    _Atomic uint32_t version;   /* bumped (release) whenever a port changes state:
                                   senders re-read their views when it moves           */
    _Atomic uint32_t rr;        /* services: round-robin cursor over servers (relaxed)  */
    uint8_t  pad0[AMC_LINE - 40];
    amc_port ports[AM_MAX_PORTS];
} amc_chan;

/* ------------------------------------------------------------------ directory
 * The directory lock covers creating and destroying channels (entry state changes);
 * finding a channel and attaching to it take no lock. Its waiters have deadlines. */
enum { AMC_ENT_FREE = 0, AMC_ENT_CREATING = 1, AMC_ENT_READY = 2 };

#define AMC_PINS 3              /* attachers between finding a channel and claiming a port
                                   (as many as fit the upper area: 4 would not) */

typedef struct amc_entry {
    _Atomic uint32_t state;     /* AMC_ENT_*: dir lock (release; readers acquire)       */
    uint32_t kind;              /* }                                                     */
    uint64_t chan_off;          /* } written under the dir lock before READY            */
    uint32_t chan_gen;          /* }                                                     */
    _Atomic uint32_t typed;     /* 1 once a typed opener set type/fingerprint: dir lock */
    uint64_t fingerprint;
    /* An attacher's stamp while it looks at the entry's channel before its port holds
     * it: destroy (dir lock) leaves a pinned channel alive. CAS from 0 (or from a dead
     * stamp) by attachers, seq_cst, paired with destroy's DYING store and its reads of
     * these (directory.c, "pins"); cleared by the attacher, or by destroy if dead. */
    _Atomic uint64_t pin[AMC_PINS];
    char name[AM_NAME_MAX + 1];
    char type[AM_TYPE_MAX + 1];
} amc_entry;

/* Discovery: who wants to hear that channels or ports appeared or went. */
#define AMC_WATCHERS 16

typedef struct amc_watcher {
    _Atomic uint64_t stamp;     /* the watcher's arena stamp: CAS from 0 (or from a dead
                                   stamp) by the watcher, which stores 0 when it stops  */
    _Atomic uint64_t notify;    /* its descriptor's token (notify.c): stored after the
                                   claim, seq_cst, before it reads `changes`           */
} amc_watcher;

typedef struct amc_dir {
    uint64_t magic;
    uint32_t nentries;
    uint32_t pad;
    _Atomic uint32_t changes;   /* futex: bumped (seq_cst) by whoever creates or removes a
                                   channel or attaches or tears down a port, after the
                                   change; then it wakes the futex and every watcher    */
    uint8_t  pad0[AMC_LINE - 20];
    _Atomic uint64_t lock;      /* stamp lock: entries, channel creation and removal   */
    uint8_t  pad1[AMC_LINE - 8];
    amc_entry e[AM_MAX_CHANNELS];
    amc_watcher watch[AMC_WATCHERS];
} amc_dir;

_Static_assert(sizeof(amc_msg) == 64, "sample header is one cache line");
_Static_assert(sizeof(amc_slot) == 16, "slots are 16 bytes");
_Static_assert(sizeof(amc_port) % AMC_LINE == 0, "ports are cache-line sized");
_Static_assert(offsetof(amc_port, wake) % AMC_LINE == 0, "the receiver's words have their own line");
_Static_assert(offsetof(amc_chan, ports) % AMC_LINE == 0, "ports start on a cache line");
_Static_assert(sizeof(amc_dir) <= AM_UPPER_BYTES, "the directory fits the arena's upper area");
_Static_assert(sizeof(amc_link) % AMC_LINE == 0, "slots start on a cache line");
_Static_assert(sizeof(amc_rx) % AMC_LINE == 0, "held entries start on a cache line");
_Static_assert(sizeof(amc_tx) % 16 == 0, "history entries are aligned");
_Static_assert(AM_MAX_PORTS <= 48, "port bits fit below the history bit");
_Static_assert(sizeof(struct ck_ring) == 2 * 64 + 8, "every process agrees on ck_ring's layout");

#endif
