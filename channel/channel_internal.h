/*
 * The channel layer's private interface: the process-local port handle (amc_conn) that
 * every public handle (am_pub, am_sub, am_server, am_client) wraps, and the functions
 * the channel files share.
 *
 *   lock.c       stamp locks stolen from dead holders
 *   directory.c  names -> channels: open/create, destroy, gc of the whole arena
 *   port.c       attach/detach, dead-port cleanup, repair after a stolen lock,
 *                releasing a holder's bit of a sample
 *   send.c       one send to a set of receiving ports, with queue policies
 *   history.c    the samples a topic keeps for late joiners
 *   schema.c     the schema a typed publisher records with its topic
 *   recv.c       take and ack on a receiving port
 *   wait.c       spinning, futex sleep and wake
 *   waitset.c    one thread waiting on many ports (futex_waitv)
 *   pubsub.c, service.c   the public calls
 */
#ifndef AMC_CHANNEL_INTERNAL_H
#define AMC_CHANNEL_INTERNAL_H

#include <stdbool.h>
#include "arena_internal.h"
#include "channel_layout.h"

CK_RING_PROTOTYPE(amc, amc_slot)

/* What a sender knows about one receiving port, re-read whenever the channel's
 * version changes (so the ring pointer and mask never come from shared memory on the
 * fast path). */
typedef struct amc_view {
    uint32_t        gen;     /* port incarnation this view is of; 0 = not receiving */
    uint32_t        mask;    /* depth - 1, as validated                             */
    uint32_t        cap;     /* queue limit (<= mask)                               */
    uint32_t        policy;
    uint32_t        role;
    unsigned        head;    /* the receiver's c_head when last read               */
    amc_ring       *ring;
    amc_slot       *slots;
} amc_view;

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
    /* receiving side */
    amc_ring  *ring;
    amc_slot  *slots;
    amc_slot  *held;
    uint32_t   mask;
    uint32_t   policy;
    unsigned   max_held;
    unsigned   nheld;
    unsigned   held_hint;    /* where to look for a free held entry first           */
    uint64_t   received;
    /* sending side */
    uint32_t   version;      /* channel version the views are of                    */
    uint64_t   seq;
    uint64_t   last_gc_ns;
    unsigned   gc_tick;
    uint64_t   role_ports[AMC_ROLES]; /* ports with a view, by role (not our own)  */
    amc_view   views[AM_MAX_PORTS];
} amc_conn;

/* May this process use port c? Not in a fork child that inherited it (the arena
 * handle says so): it would take its parent's samples. */
static inline bool amc_usable(const amc_conn *c)
{
    return c && !atomic_load_explicit(&c->a->forked, memory_order_relaxed);
}

/* The port behind a public handle (am_pub, am_sub, am_server, am_client all start
 * with their amc_conn pointer: amc_open_handle stores it there). */
static inline amc_conn *amc_conn_of(const void *handle)
{
    return handle ? *(amc_conn *const *)handle : NULL;
}

/* ---- lock.c */
/* Take a stamp lock; true if it was stolen from a dead holder (repair what it left). */
bool amc_lock(am_arena *a, _Atomic uint64_t *lock);
void amc_unlock(_Atomic uint64_t *lock);
/* The channel lock; a steal repairs the channel before returning. */
void amc_chan_lock(amc_conn *c);
void amc_chan_unlock(amc_conn *c);

/* ---- directory.c */
int  amc_validate_name(const char *name);
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
/* Detach and free c; the channel goes when its last port has. */
void amc_close(amc_conn *c);

/* ---- port.c */
/* The channel block {off, gen} if it is live and sane, else NULL. */
amc_chan *amc_chan_at(am_arena *a, uint64_t off, uint32_t gen);
/* Under the channel lock: finish what a dead lock holder left (in-flight record,
 * history). */
void amc_chan_repair(am_arena *a, amc_chan *ch);
/* Under the channel lock: release everything port i holds and free the port. */
void amc_port_release(am_arena *a, amc_chan *ch, unsigned i);
/* Under the channel lock: release ports whose owner is dead. Returns how many. */
int  amc_chan_gc(am_arena *a, amc_chan *ch);
/* Ports in use (any role). */
unsigned amc_chan_ports(const amc_chan *ch);
/* Attach a port (chan lock held): allocate its ring if it receives. */
int  amc_port_attach(amc_conn *c, unsigned role, unsigned depth, unsigned max_held, am_policy policy);
/* Drop holder `bit` (a port bit or AMC_OWE_HIST) of sample s, freeing the block if it
 * was the last; `freer` names who acts (port + 1 or AMC_FREER_HIST). With recover set,
 * also finish a free that an earlier release by the same freer did not get to. */
int  amc_release(am_arena *a, amc_slot s, uint64_t bit, unsigned freer, bool recover);
/* Ring of port i as validated now (NULL if it has none or it is bad). */
amc_ring *amc_port_ring(am_arena *a, amc_chan *ch, unsigned i, uint32_t *mask);
static inline amc_slot *amc_ring_slots(amc_ring *r) { return (amc_slot *)(r + 1); }
static inline amc_slot *amc_ring_held(amc_ring *r, uint32_t depth) { return amc_ring_slots(r) + depth; }
static inline size_t amc_ring_bytes(uint32_t depth, uint32_t max_held)
{
    return sizeof(amc_ring) + ((size_t)depth + max_held) * sizeof(amc_slot);
}

/* ---- send.c */
/* Whom a send goes to: receiving ports of `role` among the bits of `want`; with `gen`
 * non-zero only a port of that incarnation; with `one`, a single one of them (round
 * robin among those with room: a service call). */
typedef struct amc_target {
    uint64_t want;
    uint32_t role;
    uint32_t gen;
    bool     one;
    bool     history;     /* also keep it in the topic's history */
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
/* Refresh the views of receiving ports if the channel changed. */
void amc_refresh_views(amc_conn *c);
/* Is there room in port i's queue (view v)? The receiver's head is re-read (a cache
 * line the receiver writes on every take) only when the copy from the last look says
 * the queue is full: heads only move forward, so the copy never overstates the room. */
static inline bool amc_view_room(amc_view *v)
{
    struct ck_ring *r = &v->ring->ring;
    unsigned tail = r->p_tail;
    if (tail - v->head < v->cap) return true;
    v->head = atomic_load_explicit((_Atomic unsigned *)&r->c_head, memory_order_acquire);
    return tail - v->head < v->cap;
}

/* A block reference in one word (gen << 32 | off / 16), for the channel's history
 * table and schema: replaced with a single store. */
static inline uint64_t amc_ref_pack(amc_slot s) { return ((uint64_t)s.gen << 32) | (s.off / AM_GRAN); }
static inline amc_slot amc_ref_unpack(uint64_t r)
{
    return (amc_slot){ (r & 0xffffffffull) * AM_GRAN, (uint32_t)(r >> 32), 0 };
}

/* ---- schema.c: the schema a typed publisher records with its topic */
/* Under the channel lock: finish a recording a dead lock holder left (its record). */
void amc_schema_finish(am_arena *a, amc_chan *ch, const amc_record *rec);
/* Under the channel lock, the channel going: free the schema block. */
void amc_schema_drop(am_arena *a, amc_chan *ch);

/* ---- history.c: all under the channel lock */
/* The history table's entries and capacity, or NULL if the topic keeps none. */
amc_hist *amc_hist_table(am_arena *a, amc_chan *ch, uint32_t *cap);
/* Make the topic keep at least n samples (growing its table). */
int  amc_hist_reserve(am_arena *a, amc_chan *ch, unsigned n);
/* Finish a growth a dead lock holder left (its record). */
void amc_hist_finish_grow(am_arena *a, amc_chan *ch, const amc_record *rec);
/* Keep sample s (evicting the oldest kept one). */
void amc_hist_push(am_arena *a, amc_chan *ch, amc_slot s);
bool amc_hist_holds(am_arena *a, amc_chan *ch, amc_slot s);
/* Queue the kept samples (the newest n, oldest first) for c's own port, just attached. */
void amc_hist_replay(amc_conn *c, unsigned n);
/* Drop entries whose eviction was cut short by a death (after a stolen lock). */
void amc_hist_settle(am_arena *a, amc_chan *ch);
/* Release every kept sample and free the table (the channel is going). */
void amc_hist_drop(am_arena *a, amc_chan *ch);

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
/* Queued samples in this port's ring. */
unsigned amc_queued(const amc_conn *c);

/* ---- wait.c */
uint64_t amc_now_ns(void);
/* Deadline for timeout_ns from now: UINT64_MAX for forever. */
uint64_t amc_deadline(int64_t timeout_ns);
/* How long to spin before sleeping (AM_SPIN_NS, default 20 us). */
uint64_t amc_spin_ns(void);
/* Sleep on a futex word while it holds `expect`, up to the deadline (and at most
 * max_ns). */
void amc_futex_wait(_Atomic uint32_t *word, uint32_t expect, uint64_t deadline, uint64_t max_ns);
void amc_futex_wake(_Atomic uint32_t *word);
/* After queuing for port p and a seq_cst fence: wake its receiver if it sleeps. */
static inline void amc_wake_receiver(amc_port *p)
{
    if (atomic_load_explicit(&p->sleeping, memory_order_relaxed)) {
        atomic_store_explicit(&p->sleeping, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->wake, 1, memory_order_release);
        amc_futex_wake(&p->wake);
    }
}
/* After taking from port p: wake senders that wait for room. */
static inline void amc_wake_senders(amc_port *p)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->room_wanted, memory_order_relaxed)) {
        atomic_store_explicit(&p->room_wanted, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->room, 1, memory_order_release);
        amc_futex_wake(&p->room);
    }
}

#endif
