/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sample.c — a sample's life on the sending side: loan, send (with the receivers'
 * queue policies), eviction of the oldest for DROP_OLDEST receivers, the sender's
 * history, and finishing what a dead sender's in-flight record says.
 *
 * A send takes no lock. The sender first makes sure every target can take the sample
 * (a full link is waited for, skipped or made room in, by the receiver's policy), so
 * that once it starts queuing nothing can stop it but death. Then, in this order:
 *   1. the sample's `owe` word gets one bit per target (and the history bit);
 *   2. the sender's in-flight record names the sample and its targets;
 *   3. the sample is disowned (before this, the sender's death frees it through the
 *      arena; after it, the sender's cleaner completes the send from the record);
 *   4. one enqueue per target on the link from this sender (it is the link's only
 *      producer: a single commit store each), then the history;
 *   5. the record is cleared, sleeping receivers woken.
 * Receivers release their bits; the last one gives the block back to the sender on
 * its link's return ring (cache.c), or frees it into its sector's deferred stack.
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
    /* A block that came back from a receiver first: no allocator work. */
    void *blk = c->tx ? amc_cache_loan(c, size + AMC_MSG_HDR) : NULL;
    int rc = blk ? 0 : am_try_alloc(c->a, size + AMC_MSG_HDR, &blk);
    if (rc) return rc;
    memset(blk, 0, AMC_MSG_HDR);
    *payload = (uint8_t *)blk + AMC_MSG_HDR;
    return 0;
}

int amc_discard(amc_conn *c, void *payload)
{
    return payload ? am_ack(c->a, amc_msg_of(payload)) : AM_EINVAL;   /* am_ack checks it */
}

/* ------------------------------------------------------------ history */

void amc_hist_push(amc_conn *c, amc_slot s, uint64_t seq)
{
    amc_tx *tx = c->tx;
    uint32_t cap = tx->hist_cap;
    if (cap == 0) return;
    amc_hist *e = &amc_tx_hist(tx)[tx->hist_next % cap];
    if (e->sample.off != 0) {
        /* recover: an eviction cut short by a death may have cleared the bit already */
        (void)amc_release(c->a, e->sample, AMC_OWE_HIST, AMC_FREER_HIST, true);
        AM_CRASH_POINT(CH_HIST_EVICTED);
    }
    e->seq = seq;
    e->sample = s;
    tx->hist_next = (tx->hist_next + 1) % cap;
}

void amc_hist_drop(am_arena *a, amc_tx *tx)
{
    amc_hist *e = amc_tx_hist(tx);
    for (uint32_t k = 0; k < tx->hist_cap; k++) {
        if (e[k].sample.off != 0) (void)amc_release(a, e[k].sample, AMC_OWE_HIST, AMC_FREER_HIST, true);
        e[k].sample.off = 0;
    }
}

/* ------------------------------------------------------------ eviction */

/* Make room in the full link of view t by dropping its oldest sample. The dequeue is
 * a CAS on the consumer index the receiver also uses, so the two never both get a
 * sample; the record says which slot the CAS was for, so that a cleaner can tell
 * whether a dead evictor still owed the release (amc_rec_finish). */
static void evict_oldest(amc_conn *c, unsigned t)
{
    amc_view *v = &c->views[t];
    amc_record *rec = &c->me->rec;
    struct ck_ring *r = &v->link->ring;
    for (unsigned tries = 0; tries < 4; tries++) {
        unsigned head = atomic_load_explicit((_Atomic unsigned *)&r->c_head, memory_order_acquire);
        if (head == v->tail) return;                    /* the receiver took them */
        rec->port = t;
        rec->pos = head;
        rec->link = v->link_ref;
        rec->sample = v->slots[head & v->mask];
        atomic_store_explicit(&rec->op, AMC_REC_EVICT, memory_order_seq_cst);
        bool won = atomic_compare_exchange_strong_explicit((_Atomic unsigned *)&r->c_head, &head, head + 1,
                                                           memory_order_acq_rel, memory_order_acquire);
        if (won) {
            AM_CRASH_POINT(CH_EVICT_DEQUEUED);
            (void)amc_release(c->a, rec->sample, 1ull << t, AMC_FREER_SENDER(t), false);
            atomic_fetch_add_explicit(&c->ch->ports[t].dropped, 1, memory_order_relaxed);
        }
        atomic_store_explicit(&rec->op, AMC_REC_NONE, memory_order_release);
        if (won) return;
    }
}

/* ------------------------------------------------------------ choosing targets */

/* Release dead ports now and then (or now). A dead receiver's port goes within 100 ms
 * of sending (64 sends at least), or within 5 ms when a blocked send waits on it. */
static void maybe_gc(amc_conn *c, bool now)
{
    if (!now && (++c->gc_tick & 63) != 0) return;       /* the clock every 64 sends */
    uint64_t t = am_now_ns();
    if (!now && t - c->last_gc_ns < GC_EVERY_NS) return;
    c->last_gc_ns = t;
    if (amc_chan_gc(c->a, c->ch) > 0) amc_refresh_views(c);
}

/* The ports a send may go to: receiving ports of the role asked, in want, of the
 * incarnation asked, with a link. */
static uint64_t candidates(amc_conn *c, const amc_target *to)
{
    uint64_t cand = to->role < AMC_ROLES ? c->role_ports[to->role] & to->want : 0;
    for (uint64_t m = cand; m; m &= m - 1) {
        unsigned t = (unsigned)__builtin_ctzll(m);
        amc_view *v = &c->views[t];
        if ((to->gen != 0 && v->gen != to->gen) || !amc_view_link(c, t) || v->link->ring.mask != v->mask) {
            cand &= ~(1ull << t);
        }
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
 * port with room, round robin from the channel's cursor; blocked if none has. */
static uint64_t ready_targets(amc_conn *c, const amc_target *to, int *blocked)
{
    uint64_t cand = candidates(c, to), targets = 0;
    *blocked = -1;
    while (cand) {
        unsigned t;
        uint32_t rr = atomic_load_explicit(&c->ch->rr, memory_order_relaxed);
        uint64_t bit = to->one ? rotate_from(cand, rr % AM_MAX_PORTS, &t) : (cand & -cand);
        if (!to->one) t = (unsigned)__builtin_ctzll(bit);
        cand &= ~bit;
        amc_view *v = &c->views[t];
        if (amc_view_room(v)) {
            targets |= bit;
            if (!to->one) continue;
            atomic_store_explicit(&c->ch->rr, t + 1, memory_order_relaxed);
            *blocked = -1;
            return targets;
        }
        if (v->policy == AM_POLICY_DROP_NEWEST || v->policy == AM_POLICY_DROP_OLDEST) {
            if (v->policy == AM_POLICY_DROP_NEWEST) {
                atomic_fetch_add_explicit(&c->ch->ports[t].dropped, 1, memory_order_relaxed);
            } else {
                evict_oldest(c, t);
                if (amc_view_room(v)) targets |= bit;
            }
            /* Not amc_bump: a port that also receives (a client) has senders adding here. */
            atomic_fetch_add_explicit(&c->me->dropped, 1, memory_order_relaxed);
        } else if (!to->one) {
            *blocked = (int)t;
            return 0;
        } else if (*blocked < 0) {
            *blocked = (int)t;                /* wait on it if no server has room */
        }
    }
    return targets;
}

/* Spin until a quarter of view v's link is free (true) or until `until` (false).
 * Not one slot: each look at c_head pulls the line the receiver writes on every take,
 * and with one slot free the next send would look again at once; with a quarter free
 * the next sends find room in their copy of c_head and do not look at all. */
static bool spin_room(amc_view *v, uint64_t until)
{
    unsigned want = v->cap >= 4 ? v->cap / 4 : 1;
    struct ck_ring *r = &v->link->ring;
    for (unsigned round = 1;; round++) {
        for (unsigned i = 0; i < 16; i++) am_cpu_relax();     /* look every ~16 pauses */
        v->head = atomic_load_explicit((_Atomic unsigned *)&r->c_head, memory_order_acquire);
        if (v->tail - v->head <= v->cap - want) return true;  /* a scribbled index: never */
        if ((round & 7) == 0 && am_now_ns() >= until) return false;
        amc_relax(round);
    }
}

/* Wait (no lock held) until blocked port b's link has room, it goes, or the deadline:
 * first spin (up to spin_until): a receiver that keeps taking makes room within
 * microseconds, and a sender asleep on `room` would cost it a wake-up system call for
 * every slot it frees; then sleep on `room`. 0 to look again, AM_ETIMEDOUT. */
static int wait_room(amc_conn *c, unsigned b, uint64_t deadline, uint64_t spin_until, uint64_t *last_alive)
{
    uint64_t now = am_now_ns();
    if (now >= deadline) return AM_ETIMEDOUT;
    if (now < spin_until && spin_room(&c->views[b], spin_until < deadline ? spin_until : deadline)) return 0;
    amc_port *bp = &c->ch->ports[b];
    atomic_store_explicit(&bp->room_wanted, 1, memory_order_seq_cst);
    uint32_t w = atomic_load_explicit(&bp->room, memory_order_acquire);
    if (amc_view_room(&c->views[b])) return 0;
    if (now - *last_alive >= ALIVE_EVERY_NS) {
        *last_alive = now;
        if (amc_port_dead(c->a, bp)) {
            maybe_gc(c, true);
            return 0;
        }
    }
    amc_futex_wait(&bp->room, w, deadline, ALIVE_EVERY_NS);
    return 0;
}

/* ------------------------------------------------------------ the send */

int amc_send(amc_conn *c, void *payload, const amc_target *to, int64_t timeout_ns, uint64_t *delivered)
{
    am_arena *a = c->a;
    amc_msg *m = amc_msg_of(payload);
    amc_slot s = { 0, 0, 0 };
    size_t cap;
    if (!amc_usable(c) || !payload || am_block_identify(a, m, &s.off, &s.gen, &cap) != 0 || cap < AMC_MSG_HDR ||
        m->len > cap - AMC_MSG_HDR) {
        return AM_EINVAL;
    }
    uint64_t len = m->len;                   /* once queued, the block may be gone */
    uint64_t deadline = 0, spin_until = 0, last_alive = 0, targets;
    for (;;) {
        amc_refresh_views(c);
        maybe_gc(c, false);
        int blocked;
        targets = ready_targets(c, to, &blocked);
        if (blocked < 0) break;
        if (deadline == 0) {
            deadline = amc_deadline(timeout_ns);
            spin_until = am_now_ns() + amc_spin_ns();
        }
        if (timeout_ns == 0 ||
            wait_room(c, (unsigned)blocked, deadline, spin_until, &last_alive) == AM_ETIMEDOUT) {
            amc_bump(&c->me->timeouts);
            atomic_fetch_add_explicit(&c->ch->ports[blocked].stalled, 1, memory_order_relaxed);
            return AM_ETIMEDOUT;
        }
    }

    uint64_t holders = targets | (to->history && c->tx->hist_cap ? AMC_OWE_HIST : 0);
    m->send_ns = am_now_ns();
    amc_cache_mark(c, m->send_ns);
    m->from = c->port;
    m->from_gen = c->port_gen;
    if (holders == 0) {                      /* nobody to give it to */
        amc_bump(&c->me->sent);
        amc_add(&c->me->bytes, len);
        if (delivered) *delivered = 0;
        return am_ack(a, m);
    }
    /* Release: after the block's generation (holders.c checks words against it). */
    atomic_store_explicit(&m->owe, holders, memory_order_release);
    amc_record *rec = &c->me->rec;
    rec->targets = holders;
    rec->sample = s;
    atomic_store_explicit(&rec->op, AMC_REC_SEND, memory_order_release);
    AM_CRASH_POINT(CH_SEND_RECORDED);
    if (am_block_disown_identified(a, m) != 0) {
        atomic_store_explicit(&rec->op, AMC_REC_NONE, memory_order_release);
        return AM_EINVAL;
    }
    AM_CRASH_POINT(CH_SEND_DISOWNED);
    for (uint64_t m2 = targets; m2; m2 &= m2 - 1) {
        unsigned t = (unsigned)__builtin_ctzll(m2);
        amc_view *v = &c->views[t];
        if (!amc_ring_put(&v->link->ring, v->slots, v->mask, v->cap, &s, &v->head, &v->tail)) {
            targets &= ~(1ull << t);         /* only a scribbled-on link gets here */
            (void)amc_release(a, s, 1ull << t, AMC_FREER_SENDER(t), false);
        }
        AM_CRASH_POINT(CH_SEND_QUEUED);
    }
    if (holders & AMC_OWE_HIST) amc_hist_push(c, s, m->seq);
    atomic_store_explicit(&rec->op, AMC_REC_NONE, memory_order_release);
    amc_bump(&c->me->sent);
    amc_add(&c->me->bytes, len);
    /* Queued before we look at `sleeping` (wait.c, "The sleep barrier"): one fence for
     * all wakes, unless every target's receiver runs the barrier for us. */
    atomic_signal_fence(memory_order_seq_cst);
    bool fence = !c->fence_free;
    for (uint64_t m2 = targets; m2 && !fence; m2 &= m2 - 1) {
        fence = !atomic_load_explicit(&c->ch->ports[__builtin_ctzll(m2)].barrier, memory_order_relaxed);
    }
    if (fence) atomic_thread_fence(memory_order_seq_cst);
    for (uint64_t m2 = targets; m2; m2 &= m2 - 1) amc_wake_receiver(&c->ch->ports[__builtin_ctzll(m2)]);
    if (delivered) *delivered = targets;
    return 0;
}

/* ------------------------------------------------------------ after a death */

static void finish_send(am_arena *a, unsigned i, amc_tx *tx, const amc_record *rec)
{
    uint32_t owner;
    size_t sz;
    amc_msg *m = am_block_probe(a, rec->sample.off, rec->sample.gen, &owner, &sz);
    /* Not disowned yet: it is still the dead sender's, and the arena frees it. */
    if (!m || owner != 0 || sz < AMC_MSG_HDR) return;
    for (unsigned t = 0; t < AM_MAX_PORTS; t++) {
        uint64_t bit = 1ull << t;
        if (!(rec->targets & bit)) continue;
        if (!(amc_holders_of(&m->owe, m, rec->sample.gen) & bit)) {
            (void)amc_release(a, rec->sample, bit, AMC_FREER_SENDER(t), true);
            continue;
        }
        /* The link it was to go on: in the rx block it held. */
        amc_rx *r = amc_rx_at(a, atomic_load_explicit(&tx->rx[t], memory_order_acquire), NULL);
        uint32_t depth = r ? r->depth : 0;
        amc_link *l = r ? amc_link_at(a, atomic_load_explicit(&r->links[i], memory_order_acquire), depth, NULL) : NULL;
        if (l) {
            /* It was the link's only producer: its last slot is the last one it queued. */
            if (amc_ring_last_is(&l->ring, amc_link_slots(l), depth - 1, rec->sample)) continue;
            unsigned head = atomic_load_explicit((_Atomic unsigned *)&l->ring.c_head, memory_order_acquire);
            unsigned tail = atomic_load_explicit((_Atomic unsigned *)&l->ring.p_tail, memory_order_acquire);
            if (amc_ring_put(&l->ring, amc_link_slots(l), depth - 1, depth - 1, &rec->sample, &head, &tail)) continue;
        }
        (void)amc_release(a, rec->sample, bit, AMC_FREER_SENDER(t), true);
    }
    /* Its history goes with it: the history bit is released with the rest. */
    if (rec->targets & AMC_OWE_HIST) (void)amc_release(a, rec->sample, AMC_OWE_HIST, AMC_FREER_HIST, true);
}

/* Is s in port t's held or replay list, and how sure? 0 no, 1 tentative (a take
 * between its dequeue CAS and its check), 2 held. The receiver may be a later
 * incarnation than the one the eviction was for: it can hold s only by replay, after
 * the earlier one's share was released, and it names s in its replay list before it
 * sets its bit. */
static int held_by(am_arena *a, amc_chan *ch, unsigned t, amc_slot s)
{
    amc_rx *r = amc_port_rx(a, ch, t, NULL);
    if (!r) return 0;
    amc_slot *held = amc_rx_held(r);               /* the replay list follows it */
    int found = 0;
    for (uint32_t k = 0; k < r->max_held + r->max_replay; k++) {
        if (held[k].off != s.off || held[k].gen != s.gen) continue;
        bool sure = k >= r->max_held || (held[k].flags & AMC_HELD_SURE);
        found = sure ? 2 : (found ? found : 1);
    }
    return found;
}

/* A dead evictor: did its CAS take the slot (then it owes the release) or did the
 * receiver's (then the receiver holds it)? The consumer index moved past pos means
 * one of them took it; the receiver names what it took in its held list. */
static bool finish_evict(am_arena *a, amc_chan *ch, const amc_record *rec)
{
    unsigned t = rec->port;
    if (t >= AM_MAX_PORTS) return true;
    uint64_t bit = 1ull << t;
    amc_msg *m = amc_sample_at(a, rec->sample, NULL);
    if (!m) return true;
    if (!(amc_holders_of(&m->owe, m, rec->sample.gen) & bit)) {
        /* released: by us before dying (finish that free if it was ours), or by the
         * receiver */
        (void)amc_release(a, rec->sample, bit, AMC_FREER_SENDER(t), true);
        return true;
    }
    amc_slot ls = amc_ref_unpack(rec->link);
    size_t sz;
    amc_link *l = am_block_probe(a, ls.off, ls.gen, NULL, &sz);
    if (!l || sz < sizeof *l || l->magic != AMC_LINK_MAGIC) return true;
    unsigned head = atomic_load_explicit((_Atomic unsigned *)&l->ring.c_head, memory_order_acquire);
    if ((int)(head - rec->pos) <= 0) return true;            /* nobody took it yet */
    int h = held_by(a, ch, t, rec->sample);
    if (h == 2) return true;                                  /* the receiver has it */
    if (h == 1 && !amc_port_dead(a, &ch->ports[t])) return false;   /* not yet known */
    (void)amc_release(a, rec->sample, bit, AMC_FREER_SENDER(t), true);
    return true;
}

bool amc_rec_finish(am_arena *a, amc_chan *ch, unsigned i, amc_tx *tx)
{
    amc_record *rec = &ch->ports[i].rec;
    amc_record copy = *rec;
    uint32_t op = atomic_load_explicit(&rec->op, memory_order_acquire);
    if (op == AMC_REC_SEND) finish_send(a, i, tx, &copy);
    if (op == AMC_REC_EVICT && !finish_evict(a, ch, &copy)) return false;
    atomic_store_explicit(&rec->op, AMC_REC_NONE, memory_order_release);
    return true;
}
