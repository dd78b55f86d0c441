/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The channel layer's private interface: the process-local port handle (amc_conn) that
 * every public handle (am_pub, am_sub, am_server, am_client) wraps, and the functions
 * the channel files share.
 *
 *   lock.c       the directory's stamp lock (stolen from dead holders, with deadlines)
 *   directory.c  names -> channels: find, create, destroy, gc of the whole arena
 *   attach.c     claiming a port and setting it up; detaching
 *   cleanup.c    tearing a port down (its owner closing, or after its death), and
 *                finishing what a dead owner's in-flight record says
 *   holders.c    holder words: dropping one holder of a sample or an rx block
 *   link.c       links: a sender's view of its receivers, creating links, freeing rx
 *   sample.c     a sample's life: loan, send, evict, and the publisher's history
 *   recv.c       take and ack on a receiving port
 *   cache.c      the block cache: samples back to their sender for reuse
 *   schema.c     the schema a typed publisher records with its topic
 *   wait.c       spinning, futex sleep and wake
 *   waitset.c    one thread waiting on many ports (futex_waitv, or its descriptor)
 *   notify.c     the pollable descriptor: datagrams to an abstract socket
 *   discovery.c  listing channels and ports; telling watchers that they changed
 *   pubsub.c, service.c   the public calls
 */
#ifndef AMC_CHANNEL_INTERNAL_H
#define AMC_CHANNEL_INTERNAL_H

#include <stdbool.h>
#include "arena_api.h"
#include "channel_layout.h"
#include "ring.h"

CK_RING_PROTOTYPE(amc, amc_slot)

/* What a sender knows about one receiving port, re-read whenever the channel's
 * version changes (so the link pointer and mask never come from shared memory on the
 * fast path). Holding a view means holding a users bit on the receiver's rx block. */
typedef struct amc_view {
    uint32_t        gen;     /* port incarnation this view is of; 0 = none          */
    uint32_t        mask;    /* link depth - 1, as validated                         */
    uint32_t        cap;     /* queue limit (<= mask)                                */
    uint32_t        policy;
    uint32_t        role;
    unsigned        head;    /* the link's c_head when last read                    */
    unsigned        tail;    /* the link's p_tail: we are its only producer, so our
                                copy is exact and the shared word is never read     */
    unsigned        ret_tail; /* its return ring's p_tail when last read             */
    uint64_t        rx_ref;
    amc_rx         *rx;
    amc_link       *link;    /* NULL until the first send creates it                 */
    uint64_t        link_ref;
    amc_slot       *slots;
} amc_view;

/* A link the receiver takes from, as validated. A named, disowned link stays until
 * the rx block goes (its receiver is one of the block's users), so it is looked up
 * once. */
typedef struct amc_in {
    amc_link  *link;
    amc_slot  *slots;
    uint32_t   mask;
    unsigned   tail;         /* the link's p_tail when last read                    */
    unsigned   ret_head;     /* its return ring's c_head when last read             */
    unsigned   ret_tail;     /* its return ring's p_tail: we are its only producer   */
} amc_in;

#define AMC_STASH 8          /* returned blocks a sender adopts ahead of its loans  */

/* A port attached to a channel, in this process. */
typedef struct amc_conn {
    am_arena  *a;
    amc_chan  *ch;
    uint64_t   ch_off;
    uint32_t   ch_gen;
    unsigned   kind;
    unsigned   port;
    uint32_t   port_gen;
    unsigned   role;
    amc_port  *me;           /* &ch->ports[port]                                     */
    /* receiving side */
    amc_rx    *rx;
    amc_slot  *held;
    amc_slot  *replay;
    uint32_t   depth;        /* of every link into it, as validated at attach       */
    unsigned   max_held;
    unsigned   nheld;
    unsigned   held_hint;    /* where to look for a free held entry first           */
    unsigned   nreplay, replay_next;
    unsigned   next_in;      /* round robin over links                              */
    uint64_t   received;
    unsigned   empty_takes;  /* takes that found nothing (a sweep every 1024)       */
    bool       carried;      /* am_sub_take_copies took `carry` and it did not fit: it
                                is the next sample any take returns (and counts as
                                queued, for waitsets)                                 */
    am_sample  carry;
    amc_in     in[AM_MAX_PORTS];
    /* sending side */
    amc_tx    *tx;
    uint32_t   version;      /* channel version the views are of                    */
    uint64_t   seq;
    uint64_t   last_gc_ns;
    unsigned   gc_tick;
    uint64_t   role_ports[AMC_ROLES]; /* ports with a view, by role (not our own)  */
    uint64_t   linked;       /* views whose link exists (the block cache looks there) */
    unsigned   cache_next;   /* the view whose return ring served the last loan     */
    uint64_t   cache_mark_ns; /* when the links were last marked active             */
    unsigned   nstash;       /* blocks taken back and adopted ahead of their loans  */
    am_gen_batch gens;       /* generations drawn ahead for adopted blocks         */
    void      *stash[AMC_STASH];
    size_t     stash_cap[AMC_STASH];
    amc_view   views[AM_MAX_PORTS];
    /* waiting */
    am_waitset *ws;          /* the waitset the port is in, or NULL                  */
    bool        polled;      /* that waitset has a descriptor: stay armed (notify)  */
    bool        fence_free;  /* this process is registered for membarrier: sends to
                                receivers with `barrier` need no fence (wait.c)     */
    am_listener on_ready;    /* am_waitset_dispatch's callback                      */
    void       *on_ready_user;
} amc_conn;

/* May this process use port c? Not in a fork child that inherited it (the arena
 * handle says so): it would take its parent's samples. */
static inline bool amc_usable(const amc_conn *c)
{
    return c && !am_forked(c->a);
}

/* The port behind a public handle (am_pub, am_sub, am_server, am_client all start
 * with their amc_conn pointer: amc_open_handle stores it there). */
static inline amc_conn *amc_conn_of(const void *handle)
{
    return handle ? *(amc_conn *const *)handle : NULL;
}

/* ---- lock.c */
/* Take a stamp lock by the deadline (amc_deadline); 1 if it was stolen from a dead
 * holder (repair what it left), 0 if taken, AM_ETIMEDOUT. */
int  amc_lock(am_arena *a, _Atomic uint64_t *lock, uint64_t deadline);
void amc_unlock(_Atomic uint64_t *lock);

/* ---- directory.c */
int  amc_validate_name(const char *name);
/* The directory (maybe not formatted yet: magic 0), or NULL with AM_ECORRUPT in *rc. */
amc_dir *amc_dir_of(am_arena *a, int *rc);
/* What a port asks for when it attaches. */
typedef struct amc_want {
    unsigned       kind;      /* AMC_KIND_*                              */
    unsigned       role;      /* AMC_ROLE_*                              */
    const am_type *type;
    unsigned       history;   /* publisher: keep; subscriber: replay     */
    unsigned       depth;     /* receiving ports: queue and held list    */
    unsigned       max_held;
    am_policy      policy;
} amc_want;
/* Attach a port to the channel `name`, creating it if needed. */
int  amc_open(am_arena *a, const char *name, const amc_want *w, amc_conn **out);
/* The same for a public handle of `size` bytes whose first member is its amc_conn
 * pointer (am_pub, am_sub, am_server, am_client): allocated, opened, or freed again. */
int  amc_open_handle(am_arena *a, const char *name, const amc_want *w, size_t size, void **out);
/* The same, but only to a channel that exists: AM_ENOENT, and the directory left as it
 * was, where amc_open_handle would create it (amctl echo: it must never create). */
int  amc_attach_handle(am_arena *a, const char *name, const amc_want *w, size_t size, void **out);
/* am_sub_open to an existing topic only (amc_attach_handle). pubsub.c */
int  amc_sub_attach(am_arena *a, const char *topic, const am_sub_opts *opts, am_sub **out);
/* Detach and free c; the channel goes when its last port has (if the directory lock
 * can be had at once; otherwise the next gc or close removes it). */
void amc_close(amc_conn *c);
/* The channel block {off, gen} if it is live and sane, else NULL. */
amc_chan *amc_chan_at(am_arena *a, uint64_t off, uint32_t gen);

/* ---- attach.c */
/* Claim a port on c->ch and set it up (c->a, c->ch set). AM_EFULL, AM_ENOMEM,
 * AM_EAGAIN (the channel is being destroyed: look it up again). */
int  amc_port_attach(amc_conn *c, const amc_want *w);
/* Ports in use (any role). */
unsigned amc_chan_ports(const amc_chan *ch);

/* ---- cleanup.c */
/* Tear port i down: its owner closing (stamp = its own) or after its owner's death.
 * Returns 0 when the port is free, AM_EAGAIN when somebody else is tearing it down or
 * a dead owner's eviction cannot be settled yet (a later gc finishes it). */
int  amc_port_release(am_arena *a, amc_chan *ch, unsigned i);
/* Release ports whose owner is dead. Returns how many were freed. */
int  amc_chan_gc(am_arena *a, amc_chan *ch);
/* Is port i's owner dead (or the port half-claimed by nobody)? */
bool amc_port_dead(am_arena *a, amc_port *p);

/* Add to (amc_add) or count one on (amc_bump) a counter of our own port that only we
 * write (others only read it): a load and a store, no locked instruction on the send
 * and take paths. */
static inline void amc_add(_Atomic uint64_t *w, uint64_t n)
{
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void amc_bump(_Atomic uint64_t *w)
{
    amc_add(w, 1);
}

/* ---- holders.c */
/* Drop holder `bit` of the holder word w (a sample's owe or an rx block's users) of
 * the allocation whose generation was `gen` (gen_word: its block's, am_block_gen_word;
 * nothing is dropped once the block was allocated again); `freer` names who acts.
 * AMC_DROP_FREE when this call cleared the last holder bit and the caller must free
 * the block now (with recover set, also when an earlier drop by
 * the same freer did so and died before freeing); AMC_DROP_KEPT when others still hold
 * it; AMC_DROP_NONE when `bit` was not a holder. */
enum { AMC_DROP_NONE = -1, AMC_DROP_KEPT = 0, AMC_DROP_FREE = 1 };
int  amc_drop(_Atomic uint64_t *w, const _Atomic uint32_t *gen_word, uint32_t gen, uint64_t holders, uint64_t bit,
              unsigned freer, bool recover);
/* Holder word w of the block at payload blk, if blk is still the allocation of
 * generation gen; else 0 (no bit of a reused block's word is anyone's who names the
 * old one). */
uint64_t amc_holders_of(const _Atomic uint64_t *w, const void *blk, uint32_t gen);
/* Drop holder `bit` of sample s (freeing the block if it was the last). 0, AM_EINVAL
 * (not a holder), AM_ECORRUPT (not a live sample). */
int  amc_release(am_arena *a, amc_slot s, uint64_t bit, unsigned freer, bool recover);
/* Drop holder `bit` of sample s without freeing it: amc_drop's answer
 * (AMC_DROP_NONE also when s is not a live sample: *m is then NULL). */
int  amc_drop_sample(am_arena *a, amc_slot s, uint64_t bit, unsigned freer, bool recover, amc_msg **m);
/* Free sample m whose last holder is gone. 0 or AM_ECORRUPT. */
int  amc_free_sample(am_arena *a, amc_msg *m);
/* The live sample block a slot names (NULL if it is not one), with its payload size. */
amc_msg *amc_sample_at(am_arena *a, amc_slot s, size_t *size);

/* ---- link.c */
/* The rx / tx block of port i as validated now (NULL if none or bad). With owner
 * non-NULL, an un-disowned block is returned too (and its owner stored). */
amc_rx *amc_port_rx(am_arena *a, amc_chan *ch, unsigned i, uint32_t *owner);
amc_tx *amc_port_tx(am_arena *a, amc_chan *ch, unsigned i, uint32_t *owner);
amc_rx *amc_rx_at(am_arena *a, uint64_t ref, uint32_t *owner);
/* The link named by ref, checked against its rx block's depth (NULL if bad). */
amc_link *amc_link_at(am_arena *a, uint64_t ref, uint32_t depth, uint32_t *owner);
/* Refresh the views of receiving ports if the channel changed. */
void amc_refresh_views(amc_conn *c);
/* Let go of every view (the port is going). */
void amc_drop_views(amc_conn *c);
/* The link to view t's receiver, created on first use (NULL: no memory, or bad). */
amc_link *amc_view_link(amc_conn *c, unsigned t);
/* Drop sender/receiver bit `bit` of the rx block named ref as freer; frees it (drains
 * its links, releases its lists) when that was the last. */
void amc_rx_drop(am_arena *a, uint64_t ref, uint64_t bit, unsigned freer, bool recover);
/* Release what rx block r's receiver holds: its held and replay lists and everything
 * queued in its links (its own cleanup, or the last user of the block). The caller
 * must hold a bit of r->users (or be its last user): it writes into the block. */
void amc_rx_release_own(am_arena *a, amc_rx *r);
/* Does rx block r (named ref) still have its receiver's own bit? Only the receiver's
 * cleaner drops it, so for that cleaner a yes stays true: the block is still its. */
bool amc_rx_has_self(amc_rx *r, uint64_t ref);
/* Dequeue every slot of a link's ring (its forward ring, or its return ring) of
 * `depth` slots into entry *tmp and release receiver port i's bit of it. */
void amc_ring_drain(am_arena *a, struct ck_ring *ring, amc_slot *slots, uint32_t depth, amc_slot *tmp, unsigned i);
/* Is there room in the link of view v? The consumer index is re-read (a line consumers
 * write on every take) only when the copy from the last look says the link is full:
 * it only moves forward, so the copy never overstates the room. */
static inline bool amc_view_room(amc_view *v)
{
    struct ck_ring *r = &v->link->ring;
    unsigned tail = v->tail;
    if (tail - v->head < v->cap) return true;
    /* seq_cst: a blocked sender's half of the room_wanted handshake (amc_wake_senders) */
    v->head = atomic_load_explicit((_Atomic unsigned *)&r->c_head, memory_order_seq_cst);
    return tail - v->head < v->cap;
}
static inline unsigned amc_link_queued(amc_link *l)
{
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)&l->ring.p_tail, memory_order_acquire);
    return tail - atomic_load_explicit((_Atomic unsigned *)&l->ring.c_head, memory_order_acquire);
}

/* ---- sample.c */
/* Whom a send goes to: receiving ports of `role` among the bits of `want`; with `gen`
 * non-zero only a port of that incarnation; with `one`, a single one of them (round
 * robin among those with room: a service call). */
typedef struct amc_target {
    uint64_t want;
    uint32_t role;
    uint32_t gen;
    bool     one;
    bool     history;     /* also keep it in the sender's history */
} amc_target;
/* Send the sample at payload (a loan: owned by this process, header in front). Waits
 * up to timeout_ns for full blocking queues. Returns 0 (the loan is gone),
 * AM_ETIMEDOUT (nothing sent, the loan is still ours) or AM_E*. *delivered gets the
 * ports it reached (0: nobody, and the loan was freed). */
int  amc_send(amc_conn *c, void *payload, const amc_target *to, int64_t timeout_ns, uint64_t *delivered);
/* The sample header in front of a payload. */
static inline amc_msg *amc_msg_of(void *payload) { return (amc_msg *)((uint8_t *)payload - AMC_MSG_HDR); }
/* Loan: a block with a sample header; returns the payload pointer. */
int  amc_loan(amc_conn *c, size_t size, void **payload);
int  amc_discard(amc_conn *c, void *payload);
/* Is payload a loan of c's (owned, not yet sent)? Checked before its header is written. */
static inline bool amc_is_loan(amc_conn *c, const void *payload)
{
    return payload && am_block_owned(c->a, (const uint8_t *)payload - AMC_MSG_HDR);
}
/* Keep sample s in c's history (its AMC_OWE_HIST bit is set), dropping the oldest. */
void amc_hist_push(amc_conn *c, amc_slot s, uint64_t seq);
/* Release every sample in tx's history (its owner's cleanup). */
void amc_hist_drop(am_arena *a, amc_tx *tx);
/* After the death of the owner of port i: finish its in-flight record. false if an
 * eviction cannot be settled yet (the receiver is between its dequeue and its check). */
bool amc_rec_finish(am_arena *a, amc_chan *ch, unsigned i, amc_tx *tx);

/* ---- recv.c */
/* A taken sample: where it is held, its header and its payload. */
typedef struct amc_got {
    amc_slot    slot;
    unsigned    held;         /* index in the held list */
    amc_msg    *msg;
    const void *data;
    size_t      len;
} amc_got;
/* Take the next sample, waiting up to timeout_ns (spin, then sleep). 0, AM_ETIMEDOUT,
 * AM_EAGAIN (the held list is full), AM_ECORRUPT (a bad slot, skipped). */
int  amc_take_wait(amc_conn *c, amc_got *got, int64_t timeout_ns);
/* Release held entry ix naming offset off. */
int  amc_ack(amc_conn *c, unsigned ix, uint64_t off);
/* Samples waiting for this port (queued in its links, and replayed). */
unsigned amc_queued(amc_conn *c);
/* The link from sender index j into this port (looked up and validated once). */
amc_in *amc_in_link(amc_conn *c, unsigned j);

/* ---- cache.c: the block cache */
/* Let go of the blocks taken back ahead of loans (the port is going). */
void  amc_cache_drop_stash(amc_conn *c);
/* Receiver: the ack that dropped the last hold on m (held entry ix) gives the block
 * back to its sender. false: it cannot (the caller frees it). */
bool  amc_ret_push(amc_conn *c, unsigned ix, const amc_msg *m);
/* Did a receiver that died while returning s (its held entry says RETURNING) put it
 * on the return ring? Then it is not its to free. */
bool  amc_ret_landed(am_arena *a, amc_rx *r, amc_slot s);
/* Sender: a returned block of at least `need` bytes (sample header included), adopted
 * as a loan; NULL if none fits. */
void *amc_cache_loan(amc_conn *c, size_t need);
/* Sender, after a send at `now`: tell receivers its returns are wanted. */
void  amc_cache_mark(amc_conn *c, uint64_t now);
/* Sender: free what came back on view t's link (it stops sending there). */
void  amc_cache_flush(amc_conn *c, unsigned t);
/* Receiver: free returned blocks its senders left (idle, or gone). */
void  amc_cache_sweep(amc_conn *c, uint64_t now);
/* After the death of port i's owner (arena stamp `stamp`): finish its return-ring
 * record and release the ring's lock. */
void  amc_ret_settle(am_arena *a, amc_chan *ch, unsigned i, uint64_t stamp);

/* ---- schema.c: the schema a typed publisher records with its topic (or a server with
 * its service) */
/* Its bytes and length, or NULL if none is recorded (or it is bad). Reads only. */
const void *amc_schema_at(am_arena *a, amc_chan *ch, size_t *len);
/* The channel going: free the schema block. */
void amc_schema_drop(am_arena *a, amc_chan *ch);

/* ---- wait.c */
/* Deadline for timeout_ns from now: UINT64_MAX for forever (negative). */
uint64_t amc_deadline(int64_t timeout_ns);
/* How long to spin before sleeping (AM_SPIN_NS, default 20 us). */
uint64_t amc_spin_ns(void);
/* Sleep on a futex word while it holds `expect`, up to the deadline (and at most
 * max_ns). */
void amc_futex_wait(_Atomic uint32_t *word, uint32_t expect, uint64_t deadline, uint64_t max_ns);
void amc_futex_wake(_Atomic uint32_t *word);
/* A spin loop's pause: yield the CPU every 64 rounds (more spinners than CPUs). */
void amc_relax(unsigned round);
/* The sleep barrier (wait.c): is this process registered for membarrier, so that its
 * sends need no fence toward receivers with `barrier`? */
bool amc_barrier_registered(void);
/* The `barrier` a new receiving port of this process starts with (0 or 1). */
uint32_t amc_barrier_wanted(void);
/* After arming `sleeping`, before looking: the receiver's half. false if it should
 * have run and failed (then sleep briefly, a sender may not have fenced). */
bool amc_sleep_barrier(_Atomic uint32_t *barrier);
/* How long a receiver sleeps at most when its barrier failed (a send it may have
 * missed is then found within this). */
#define AMC_BARRIER_NAP_NS 1000000ull
/* Change a port's `barrier` (its owner only). */
void amc_barrier_set(_Atomic uint32_t *barrier, uint32_t on);
/* ---- waitset.c */
/* Port c's queue was found empty: if its waitset has a descriptor, make that
 * descriptor tell the truth again (unreadable unless an entry is ready). */
void amc_waitset_settle(amc_conn *c);
/* The port is closing: out of its waitset. */
void amc_waitset_forget(amc_conn *c);

/* ---- discovery.c */
/* A channel or port appeared or went: tell the watchers (futex and descriptors). */
void amc_dir_changed(am_arena *a);
/* Register a descriptor's token as a watcher: its index, or AM_EFULL / AM_ECORRUPT. */
int  amc_watch_claim(am_arena *a, uint64_t token);
void amc_watch_release(am_arena *a, int ix);
/* The directory's change counter (a futex word). */
_Atomic uint32_t *amc_dir_changes(am_arena *a);

/* ---- notify.c */
/* A nonblocking datagram socket bound to a fresh abstract name; its token in *token.
 * The descriptor (>= 0) or AM_ENOMEM / AM_ESYS. */
int  amc_notify_open(uint64_t *token);
/* Make the descriptor named token readable (one empty datagram; errors ignored). */
void amc_notify(uint64_t token);
/* Read every datagram queued on fd. */
void amc_notify_drain(int fd);

/* After queuing for port p and a seq_cst fence (or none, if the receiver has
 * `barrier` and we are registered: wait.c): wake its receiver if it sleeps (on the
 * futex, or in poll/epoll on its waitset's descriptor: `notify`). */
static inline void amc_wake_receiver(amc_port *p)
{
    if (atomic_load_explicit(&p->sleeping, memory_order_relaxed)) {
        atomic_store_explicit(&p->sleeping, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->wake, 1, memory_order_release);
        amc_futex_wake(&p->wake);
        amc_notify(atomic_load_explicit(&p->notify, memory_order_relaxed));
    }
}
/* After taking from port p: wake senders that wait for room. A blocked sender stores
 * room_wanted (seq_cst), then looks at c_head (seq_cst, amc_view_room); the receiver
 * moved c_head by a seq_cst CAS (amc_ring_take) and then loads room_wanted (seq_cst):
 * in the single order of those four, one side sees the other. A take from the replay
 * list moved no c_head: `fence` asks for a full fence instead. */
static inline void amc_wake_senders(amc_port *p, bool fence)
{
    if (fence) atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->room_wanted, memory_order_seq_cst)) {
        atomic_store_explicit(&p->room_wanted, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->room, 1, memory_order_release);
        amc_futex_wake(&p->room);
    }
}

static inline bool amc_receives(uint32_t role)
{
    return role == AMC_ROLE_SUB || role == AMC_ROLE_SERVER || role == AMC_ROLE_CLIENT;
}
static inline bool amc_sends(uint32_t role)
{
    return role == AMC_ROLE_PUB || role == AMC_ROLE_SERVER || role == AMC_ROLE_CLIENT;
}

#endif
