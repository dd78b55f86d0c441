/*
 * send.c — one send: a loaned sample to a set of receiving ports.
 *
 * Under the channel lock the sender first makes sure every target can take the sample
 * (a full queue is waited for, skipped or made room in, by its policy), so that once it
 * starts queuing nothing can stop it but death. Then, in this order:
 *   1. the sample's `owe` word gets one bit per target (and the history bit);
 *   2. the in-flight record names the sample and its targets;
 *   3. the sample is disowned (before this, the sender's death frees it; after it,
 *      whoever steals the lock completes the send from the record);
 *   4. one ck_ring enqueue per target (a single commit store each: a queue is either
 *      given the sample or not), then the history;
 *   5. the record is cleared.
 * Waiting for room happens with the lock let go, on the full queue's `room` futex.
 */
#include <string.h>
#include "channel_internal.h"

#define GC_EVERY_NS   100000000ull   /* look for dead ports at most every 100 ms */
#define ALIVE_EVERY_NS  5000000ull   /* a blocked sender checks its receiver every 5 ms */

int amc_loan(amc_conn *c, size_t size, void **payload)
{
    *payload = NULL;
    if (!amc_usable(c)) return AM_EINVAL;
    if (size > AM_MAX_SIZE) return AM_ETOOBIG;
    void *blk;
    int rc = am_try_alloc(c->a, size + AMC_MSG_HDR, &blk);
    if (rc) return rc;
    memset(blk, 0, AMC_MSG_HDR);
    *payload = (uint8_t *)blk + AMC_MSG_HDR;
    return 0;
}

int amc_discard(amc_conn *c, void *payload)
{
    return payload ? am_ack(c->a, amc_msg_of(payload)) : AM_EINVAL;   /* am_ack checks it */
}

void amc_refresh_views(amc_conn *c)
{
    amc_chan *ch = c->ch;
    uint32_t v = atomic_load_explicit(&ch->version, memory_order_acquire);
    if (v == c->version && v != 0) return;
    memset(c->role_ports, 0, sizeof c->role_ports);
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) {
        amc_port *p = &ch->ports[i];
        amc_view *w = &c->views[i];
        w->gen = 0;
        if (atomic_load_explicit(&p->state, memory_order_acquire) != AMC_PORT_ACTIVE) continue;
        uint32_t mask;
        amc_ring *r = amc_port_ring(c->a, ch, i, &mask);
        if (!r) continue;
        uint32_t cap = p->cap;
        *w = (amc_view){ atomic_load_explicit(&p->gen, memory_order_relaxed), mask, cap < 1 || cap > mask ? mask : cap,
                         p->policy, p->role, atomic_load_explicit((_Atomic unsigned *)&r->ring.c_head,
                                                                  memory_order_acquire),
                         r, amc_ring_slots(r) };
        if (w->gen == 0) w->gen = 1;
        if (w->role < AMC_ROLES && i != c->port) c->role_ports[w->role] |= 1ull << i;
    }
    c->version = v;
}

/* Receiver-side lock for DROP_OLDEST queues, taken by an evicting sender (which holds
 * the channel lock, so no other sender holds this one). A dead holder is the port's
 * owner (then the port is released instead, and false returned), or a sender that
 * died after the repair that gave us the channel lock looked (its work is settled). */
static bool evict_lock(amc_conn *c, unsigned t)
{
    amc_port *p = &c->ch->ports[t];
    uint64_t me = am_arena_stamp(c->a);
    for (unsigned spins = 0;; spins++) {
        uint64_t cur = 0;
        if (atomic_compare_exchange_weak_explicit(&p->take_lock, &cur, me, memory_order_acquire, memory_order_relaxed)) {
            return true;
        }
        if ((spins & 127) == 127 && cur != 0 && !am_arena_stamp_alive(c->a, cur)) {
            if (cur != atomic_load_explicit(&p->stamp, memory_order_relaxed)) {
                atomic_compare_exchange_strong_explicit(&p->take_lock, &cur, 0, memory_order_relaxed, memory_order_relaxed);
                continue;
            }
            amc_port_release(c->a, c->ch, t);
            amc_refresh_views(c);
            return false;
        }
    }
}

/* Make room in port t's full queue by dropping its oldest sample. */
static bool evict_oldest(amc_conn *c, unsigned t)
{
    amc_chan *ch = c->ch;
    amc_view *v = &c->views[t];
    if (!evict_lock(c, t)) return false;
    ch->rec.port = t;
    ch->rec.pos = v->ring->ring.c_head;
    ch->rec.evicted = (amc_slot){ 0, 0, 0 };
    atomic_store_explicit(&ch->rec.op, AMC_REC_EVICT, memory_order_release);
    if (ck_ring_dequeue_spsc_amc(&v->ring->ring, v->slots, &ch->rec.evicted)) {
        AM_CRASH_POINT(CH_EVICT_DEQUEUED);
        (void)amc_release(c->a, ch->rec.evicted, 1ull << t, AMC_FREER_LOCK(t), false);
        atomic_fetch_add_explicit(&ch->ports[t].dropped, 1, memory_order_relaxed);
    }
    atomic_store_explicit(&ch->rec.op, AMC_REC_NONE, memory_order_release);
    amc_unlock(&ch->ports[t].take_lock);
    return true;
}

/* Release dead ports now and then (or now), before targets are chosen: never
 * between choosing them and queuing, which would queue into a freed ring. A dead
 * receiver's port goes within 100 ms of sending (64 sends at least), or within 5 ms
 * when a blocked send waits on it. */
static void maybe_gc(amc_conn *c, bool now)
{
    if (!now && (++c->gc_tick & 63) != 0) return;       /* the clock every 64 sends */
    uint64_t t = amc_now_ns();
    if (!now && t - c->last_gc_ns < GC_EVERY_NS) return;
    c->last_gc_ns = t;
    if (amc_chan_gc(c->a, c->ch) > 0) amc_refresh_views(c);
}

/* The ports a send may go to: receiving ports of the role asked, in want, of the
 * incarnation asked, with a sane queue. */
static uint64_t candidates(const amc_conn *c, const amc_target *to)
{
    uint64_t cand = to->role < AMC_ROLES ? c->role_ports[to->role] & to->want : 0;
    for (uint64_t m = cand; m; m &= m - 1) {
        unsigned t = (unsigned)__builtin_ctzll(m);
        const amc_view *v = &c->views[t];
        if ((to->gen != 0 && v->gen != to->gen) || v->ring->ring.mask != v->mask) cand &= ~(1ull << t);
    }
    return cand;
}

/* Round robin: the candidates from the cursor on, then those before it. */
static uint64_t rotate_from(uint64_t cand, unsigned start, unsigned *t)
{
    uint64_t hi = cand & (~0ull << start);
    uint64_t pick = hi ? hi : cand;
    *t = (unsigned)__builtin_ctzll(pick);
    return 1ull << *t;
}

/* Which targets can take a sample now. Drops for DROP_NEWEST, makes room for
 * DROP_OLDEST; *blocked gets a full AM_POLICY_BLOCK port, if any. With to->one, one
 * port with room, round robin from the channel's cursor; blocked if none has.
 * (Dead receivers' ports go in maybe_gc, before this.) */
static uint64_t ready_targets(amc_conn *c, const amc_target *to, int *blocked)
{
    uint64_t cand = candidates(c, to), targets = 0;
    *blocked = -1;
    while (cand) {
        unsigned t;
        uint64_t bit = to->one ? rotate_from(cand, c->ch->rr % AM_MAX_PORTS, &t) : (cand & -cand);
        if (!to->one) t = (unsigned)__builtin_ctzll(bit);
        cand &= ~bit;
        amc_view *v = &c->views[t];
        if (amc_view_room(v)) {
            targets |= bit;
            if (!to->one) continue;
            c->ch->rr = t + 1;
            *blocked = -1;
            return targets;
        }
        if (v->policy == AM_POLICY_DROP_NEWEST) {
            atomic_fetch_add_explicit(&c->ch->ports[t].dropped, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&c->ch->ports[c->port].dropped, 1, memory_order_relaxed);
        } else if (v->policy == AM_POLICY_DROP_OLDEST) {
            if (evict_oldest(c, t) && v->gen != 0) targets |= bit;
            atomic_fetch_add_explicit(&c->ch->ports[c->port].dropped, 1, memory_order_relaxed);
        } else if (!to->one) {
            *blocked = (int)t;
            return 0;
        } else if (*blocked < 0) {
            *blocked = (int)t;                /* wait on it if no server has room */
        }
    }
    return targets;
}

int amc_send(amc_conn *c, void *payload, const amc_target *to, int64_t timeout_ns, uint64_t *delivered)
{
    am_arena *a = c->a;
    amc_chan *ch = c->ch;
    amc_msg *m = amc_msg_of(payload);
    amc_slot s = { 0, 0, 0 };
    size_t cap;
    if (!amc_usable(c) || !payload || am_block_identify(a, m, &s.off, &s.gen, &cap) != 0 || cap < AMC_MSG_HDR ||
        m->len > cap - AMC_MSG_HDR) {
        return AM_EINVAL;
    }
    uint64_t deadline = 0, last_alive = 0;
    uint64_t targets;
    for (;;) {
        amc_chan_lock(c);
        amc_refresh_views(c);
        maybe_gc(c, false);
        int blocked;
        targets = ready_targets(c, to, &blocked);
        if (blocked < 0) break;
        /* A blocking receiver is full: wait for room with the lock let go. */
        amc_port *bp = &ch->ports[blocked];
        atomic_store_explicit(&bp->room_wanted, 1, memory_order_seq_cst);
        uint32_t w = atomic_load_explicit(&bp->room, memory_order_acquire);
        bool room = amc_view_room(&c->views[blocked]);
        uint64_t stamp = atomic_load_explicit(&bp->stamp, memory_order_relaxed);
        amc_chan_unlock(c);
        if (room) continue;
        uint64_t now = amc_now_ns();
        if (deadline == 0) deadline = amc_deadline(timeout_ns);
        if (timeout_ns == 0 || now >= deadline) {
            atomic_fetch_add_explicit(&ch->ports[c->port].timeouts, 1, memory_order_relaxed);
            return AM_ETIMEDOUT;
        }
        if (now - last_alive >= ALIVE_EVERY_NS) {
            last_alive = now;
            if (!am_arena_stamp_alive(a, stamp)) {
                amc_chan_lock(c);
                maybe_gc(c, true);
                amc_chan_unlock(c);
                continue;
            }
        }
        amc_futex_wait(&bp->room, w, deadline, ALIVE_EVERY_NS);
    }

    uint64_t holders = targets | (to->history && atomic_load_explicit(&ch->hist_ref, memory_order_relaxed) ? AMC_OWE_HIST : 0);
    m->send_ns = amc_now_ns();
    m->from = c->port;
    m->from_gen = c->port_gen;
    if (holders == 0) {                      /* nobody to give it to */
        amc_chan_unlock(c);
        atomic_fetch_add_explicit(&ch->ports[c->port].sent, 1, memory_order_relaxed);
        if (delivered) *delivered = 0;
        return am_ack(a, m);
    }
    atomic_store_explicit(&m->owe, holders, memory_order_relaxed);
    ch->rec.port = c->port;
    ch->rec.targets = holders;
    ch->rec.sample = s;
    atomic_store_explicit(&ch->rec.op, AMC_REC_SEND, memory_order_release);
    AM_CRASH_POINT(CH_SEND_RECORDED);
    if (am_disown(a, m) != 0) {
        /* Not a block of this handle (sent already, or another handle's): queuing it
         * would leave it to be freed by its owner's death while queues name it. */
        atomic_store_explicit(&ch->rec.op, AMC_REC_NONE, memory_order_release);
        amc_chan_unlock(c);
        return AM_EINVAL;
    }
    AM_CRASH_POINT(CH_SEND_DISOWNED);
    for (uint64_t m2 = targets; m2; m2 &= m2 - 1) {
        unsigned t = (unsigned)__builtin_ctzll(m2);
        uint64_t bit = 1ull << t;
        amc_view *v = &c->views[t];
        if (v->ring->ring.mask != v->mask || !ck_ring_enqueue_spsc_amc(&v->ring->ring, v->slots, &s)) {
            targets &= ~bit;                 /* only a scribbled-on queue gets here */
            (void)amc_release(a, s, bit, AMC_FREER_LOCK(t), false);
        }
        AM_CRASH_POINT(CH_SEND_QUEUED);
    }
    if (holders & AMC_OWE_HIST) amc_hist_push(a, ch, s);
    atomic_store_explicit(&ch->rec.op, AMC_REC_NONE, memory_order_release);
    amc_chan_unlock(c);
    atomic_fetch_add_explicit(&ch->ports[c->port].sent, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);           /* one fence for all wakes */
    for (uint64_t m2 = targets; m2; m2 &= m2 - 1) amc_wake_receiver(&ch->ports[__builtin_ctzll(m2)]);
    if (delivered) *delivered = targets;
    return 0;
}
