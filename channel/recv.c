/*
 * recv.c — taking and acking on a receiving port.
 *
 * A take dequeues the head slot straight into a free entry of the port's held list (in
 * the arena), so at every instruction the sample is named by the queue, the held list
 * or both; cleanup after a death releases both, and releasing twice is harmless. An ack
 * releases the port's bit of the sample (the last holder frees the block), then clears
 * the held entry.
 *
 * Every slot is checked before use: the block must be the live allocation the slot
 * names, disowned, big enough for the length its header claims, and held by this port.
 */
#include <sched.h>
#include "channel_internal.h"

/* DROP_OLDEST queues: a sender may dequeue (evict) too, so takes hold the take lock.
 * A dead holder is a sender that died evicting: the channel lock's thief finishes its
 * eviction and lets the take lock go, so wait for that by taking the channel lock. */
static void take_lock(amc_conn *c)
{
    amc_port *p = &c->ch->ports[c->port];
    uint64_t me = am_arena_stamp(c->a);
    for (unsigned spins = 0;; spins++) {
        uint64_t cur = 0;
        if (atomic_compare_exchange_weak_explicit(&p->take_lock, &cur, me, memory_order_acquire, memory_order_relaxed)) {
            return;
        }
        if ((spins & 127) == 127 && cur != 0 && !am_arena_stamp_alive(c->a, cur)) {
            amc_chan_lock(c);
            amc_chan_unlock(c);
        }
    }
}

unsigned amc_queued(const amc_conn *c)
{
    const struct ck_ring *r = &c->ring->ring;
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)&r->p_tail, memory_order_acquire);
    return (tail - r->c_head) & c->mask;
}

/* One try: 0, AM_ETIMEDOUT (nothing queued), AM_EAGAIN, AM_ECORRUPT. */
static int take(amc_conn *c, amc_got *got)
{
    if (c->nheld >= c->max_held) return AM_EAGAIN;
    /* A free held entry (there is one unless the list was scribbled on). */
    unsigned k = c->held_hint, n = 0;
    while (c->held[k].off != 0 && ++n < c->max_held) k = k + 1 < c->max_held ? k + 1 : 0;
    if (c->held[k].off != 0) return AM_ECORRUPT;
    amc_port *p = &c->ch->ports[c->port];
    bool locked = c->policy == AM_POLICY_DROP_OLDEST;
    if (locked) take_lock(c);
    bool ok = c->ring->ring.mask == c->mask && ck_ring_dequeue_spsc_amc(&c->ring->ring, c->slots, &c->held[k]);
    if (locked) amc_unlock(&p->take_lock);
    if (!ok) return c->ring->ring.mask == c->mask ? AM_ETIMEDOUT : AM_ECORRUPT;
    AM_CRASH_POINT(CH_TAKE_HELD);
    amc_wake_senders(p);
    amc_slot s = c->held[k];
    uint32_t owner;
    size_t sz;
    amc_msg *m = am_block_probe(c->a, s.off, s.gen, &owner, &sz);
    if (!m || owner != 0 || sz < AMC_MSG_HDR || m->len > sz - AMC_MSG_HDR ||
        !(atomic_load_explicit(&m->owe, memory_order_acquire) & (1ull << c->port))) {
        c->held[k].off = 0;                              /* a bad slot: skip it */
        return AM_ECORRUPT;
    }
    c->nheld++;
    c->held_hint = k + 1 < c->max_held ? k + 1 : 0;
    c->received++;
    atomic_store_explicit(&p->received, c->received, memory_order_relaxed);
    *got = (amc_got){ s, k, m, m + 1, m->len };
    return 0;
}

int amc_ack(amc_conn *c, unsigned ix, uint64_t off)
{
    if (!amc_usable(c)) return AM_EINVAL;
    if (ix >= c->max_held || off == 0 || c->held[ix].off != off) return AM_EINVAL;
    int rc = amc_release(c->a, c->held[ix], 1ull << c->port, c->port + 1, false);
    c->held[ix].off = 0;
    c->nheld--;
    return rc == AM_EINVAL ? AM_ECORRUPT : rc;
}

int amc_take_wait(amc_conn *c, amc_got *got, int64_t timeout_ns)
{
    if (!amc_usable(c)) return AM_EINVAL;
    int rc = take(c, got);
    if (rc != AM_ETIMEDOUT || timeout_ns == 0) return rc;
    amc_port *p = &c->ch->ports[c->port];
    uint64_t start = amc_now_ns(), deadline = amc_deadline(timeout_ns), spin = amc_spin_ns();
    for (unsigned i = 1;; i++) {
        rc = take(c, got);
        if (rc != AM_ETIMEDOUT) return rc;
        if ((i & 31) != 0) continue;                      /* read the clock now and then */
        uint64_t now = amc_now_ns();
        if (now >= deadline) return AM_ETIMEDOUT;
        if (now - start < spin) {
            /* More spinners than CPUs: let the one we wait for run. */
            if ((i & 511) == 0) sched_yield();
            continue;
        }
        uint32_t w = atomic_load_explicit(&p->wake, memory_order_acquire);
        atomic_store_explicit(&p->sleeping, 1, memory_order_seq_cst);
        if (amc_queued(c) == 0) amc_futex_wait(&p->wake, w, deadline, UINT64_MAX);
        atomic_store_explicit(&p->sleeping, 0, memory_order_relaxed);
    }
}
