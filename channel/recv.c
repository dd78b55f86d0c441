/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recv.c — taking and acking on a receiving port.
 *
 * A receiver takes from its replay list first (kept samples copied at attach), then
 * from its links, round robin over senders (each link is one sender's, in its order).
 * A take dequeues by CAS on the link's consumer index (a DROP_OLDEST sender may evict
 * from the same link) straight into a free entry of the held list in the arena, then
 * marks the entry sure: at every instruction the sample is named by the link, the held
 * list or both, and a cleaner can tell a finished take from one between its copy and
 * its CAS (see finish_evict in sample.c). An ack releases the port's bit of the sample
 * (the last holder frees the block), then clears the held entry.
 *
 * Every slot is checked before use: the block must be the live allocation the slot
 * names, disowned, big enough for the length its header claims, and held by this port.
 */
#include "channel_internal.h"

amc_in *amc_in_link(amc_conn *c, unsigned j)
{
    amc_in *in = &c->in[j];
    if (!in->link) {
        amc_link *l = amc_link_at(c->a, atomic_load_explicit(&c->rx->links[j], memory_order_acquire), c->depth, NULL);
        if (!l) return NULL;
        unsigned head = atomic_load_explicit((_Atomic unsigned *)&l->ring.c_head, memory_order_acquire);
        unsigned ret_head = atomic_load_explicit((_Atomic unsigned *)&l->ret.c_head, memory_order_acquire);
        unsigned ret_tail = atomic_load_explicit((_Atomic unsigned *)&l->ret.p_tail, memory_order_acquire);
        *in = (amc_in){ l, amc_link_slots(l), c->depth - 1, head, ret_head, ret_tail };
    }
    return in;
}

unsigned amc_queued(amc_conn *c)
{
    unsigned n = c->nreplay - c->replay_next + c->carried;
    uint64_t linked = atomic_load_explicit(&c->rx->linked, memory_order_acquire);
    for (uint64_t m = linked; m; m &= m - 1) {
        amc_in *in = amc_in_link(c, (unsigned)__builtin_ctzll(m));
        if (!in) continue;
        unsigned q = amc_link_queued(in->link);
        n += q <= in->mask ? q : 0;                       /* a scribbled index: none */
    }
    return n;
}

/* A free held entry (there is one unless the list was scribbled on). */
static int free_held(amc_conn *c, unsigned *k)
{
    if (c->nheld >= c->max_held) return AM_EAGAIN;
    unsigned i = c->held_hint, n = 0;
    while (c->held[i].off != 0 && ++n < c->max_held) i = i + 1 < c->max_held ? i + 1 : 0;
    if (c->held[i].off != 0) return AM_ECORRUPT;
    *k = i;
    return 0;
}

/* Dequeue the next sample into held[k]: 1 got one from a link, 2 from the replay
 * list, 0 nothing queued, AM_ECORRUPT nothing but a link that was scribbled on. */
static int dequeue(amc_conn *c, unsigned k)
{
    if (c->replay_next < c->nreplay) {
        c->held[k] = c->replay[c->replay_next];
        c->held[k].flags = AMC_HELD_SURE;
        c->replay[c->replay_next++].off = 0;
        return 2;
    }
    uint64_t linked = atomic_load_explicit(&c->rx->linked, memory_order_acquire);
    if (!linked) return 0;
    /* Round robin over senders, starting after the last one served. */
    unsigned start = c->next_in;
    int none = 0;
    uint64_t order[2] = { linked & (~0ull << start), linked & ~(~0ull << start) };
    for (int h = 0; h < 2; h++) {
        for (uint64_t m = order[h]; m; m &= m - 1) {
            unsigned j = (unsigned)__builtin_ctzll(m);
            amc_in *in = amc_in_link(c, j);
            if (!in) continue;
            if (in->link->ring.mask != in->mask) {
                none = AM_ECORRUPT;
                continue;
            }
            if (amc_ring_take(&in->link->ring, in->slots, in->mask, &c->held[k], &in->tail)) {
                atomic_store_explicit((_Atomic uint32_t *)&c->held[k].flags, AMC_HELD_SURE, memory_order_release);
                AM_CRASH_POINT(CH_TAKE_HELD);
                c->next_in = j + 1 < AM_MAX_PORTS ? j + 1 : 0;
                return 1;
            }
            c->held[k].off = 0;        /* a failed CAS may have copied a slot */
        }
    }
    return none;
}

/* One try: 0, AM_ETIMEDOUT (nothing queued), AM_EAGAIN, AM_ECORRUPT. */
static int take(amc_conn *c, amc_got *got)
{
    unsigned k;
    int rc = free_held(c, &k);
    if (rc) return rc;
    rc = dequeue(c, k);
    if (rc == 0 && (++c->empty_takes & 1023) == 0) amc_cache_sweep(c, am_now_ns());
    if (rc <= 0) return rc == 0 ? AM_ETIMEDOUT : rc;
    amc_wake_senders(c->me, rc == 2);
    amc_slot s = c->held[k];
    uint32_t owner;
    size_t sz;
    amc_msg *m = am_block_probe(c->a, s.off, s.gen, &owner, &sz);
    if (!m || owner != 0 || sz < AMC_MSG_HDR || m->len > sz - AMC_MSG_HDR ||
        !(amc_holders_of(&m->owe, m, s.gen) & (1ull << c->port))) {
        /* A bad slot: skip it, letting go of our share if it names a sample we hold
         * (a scribbled length must not leak the block). */
        if (m && owner == 0 && sz >= AMC_MSG_HDR) (void)amc_release(c->a, s, 1ull << c->port, c->port + 1, false);
        c->held[k].off = 0;
        return AM_ECORRUPT;
    }
    c->nheld++;
    c->held_hint = k + 1 < c->max_held ? k + 1 : 0;
    c->received++;
    atomic_store_explicit(&c->me->received, c->received, memory_order_relaxed);
    amc_add(&c->me->bytes, m->len);
    *got = (amc_got){ s, k, m, m + 1, m->len };
    return 0;
}

int amc_ack(amc_conn *c, unsigned ix, uint64_t off)
{
    if (!amc_usable(c)) return AM_EINVAL;
    if (ix >= c->max_held || off == 0 || c->held[ix].off != off) return AM_EINVAL;
    amc_msg *m;
    int d = amc_drop_sample(c->a, c->held[ix], 1ull << c->port, c->port + 1, false, &m);
    int rc = d == AMC_DROP_NONE ? AM_ECORRUPT : 0;
    /* The last hold: back to its sender for reuse, or into the arena. */
    if (d == AMC_DROP_FREE && !amc_ret_push(c, ix, m)) rc = amc_free_sample(c->a, m);
    c->held[ix].off = 0;
    c->nheld--;
    return rc;
}

int amc_take_wait(amc_conn *c, amc_got *got, int64_t timeout_ns)
{
    if (!amc_usable(c)) return AM_EINVAL;
    int rc = take(c, got);
    if (rc == AM_ETIMEDOUT && c->polled) amc_waitset_settle(c);
    if (rc != AM_ETIMEDOUT || timeout_ns == 0) return rc;
    amc_port *p = c->me;
    uint64_t start = am_now_ns(), deadline = amc_deadline(timeout_ns), spin = amc_spin_ns();
    for (unsigned i = 1;; i++) {
        rc = take(c, got);
        if (rc != AM_ETIMEDOUT) return rc;
        if ((i & 31) != 0) continue;                      /* read the clock now and then */
        uint64_t now = am_now_ns();
        if (now >= deadline) return AM_ETIMEDOUT;
        if (now - start < spin) {
            amc_relax(i >> 5);                            /* let the one we wait for run */
            continue;
        }
        amc_cache_sweep(c, now);                          /* going to sleep: idle */
        uint32_t w = atomic_load_explicit(&p->wake, memory_order_acquire);
        atomic_store_explicit(&p->sleeping, 1, memory_order_seq_cst);
        uint64_t nap = amc_sleep_barrier(&p->barrier) ? UINT64_MAX : AMC_BARRIER_NAP_NS;
        if (amc_queued(c) == 0) amc_futex_wait(&p->wake, w, deadline, nap);
        /* A port of a waitset with a descriptor stays armed for it. */
        if (!c->polled) atomic_store_explicit(&p->sleeping, 0, memory_order_relaxed);
    }
}
