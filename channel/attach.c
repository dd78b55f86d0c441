/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attach.c — claiming a port on a channel and setting it up, without a lock.
 *
 * A port is claimed by CAS of its stamp from 0 to ours (seq_cst). The channel's state
 * is read after it (seq_cst): a destroyer stores DYING before it counts the ports
 * (seq_cst), so either it sees our claim and keeps the channel, or we see DYING and
 * let the port go again. Then, while the port is ATTACHING (senders ignore it), its tx
 * and rx blocks are allocated, named in the port record and disowned; ACTIVE is stored
 * last and the channel's version moved, so senders pick it up. A death at any step
 * leaves a port whose owner is dead: the next gc releases it (blocks still owned by the
 * dead go with it through the arena).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "channel_internal.h"

static int claim(amc_conn *c, unsigned *ix)
{
    amc_chan *ch = c->ch;
    uint64_t me = am_arena_stamp(c->a);
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) {
        uint64_t cur = 0;
        if (atomic_load_explicit(&ch->ports[i].stamp, memory_order_relaxed) != 0 ||
            !atomic_compare_exchange_strong_explicit(&ch->ports[i].stamp, &cur, me, memory_order_seq_cst,
                                                     memory_order_relaxed)) {
            continue;
        }
        if (atomic_load_explicit(&ch->state, memory_order_seq_cst) != AMC_CHAN_ALIVE) {
            atomic_store_explicit(&ch->ports[i].stamp, 0, memory_order_seq_cst);
            return AM_EAGAIN;                 /* being destroyed: look it up again */
        }
        *ix = i;
        return 0;
    }
    return AM_EFULL;
}

/* A zeroed block of `bytes` for the port (named in its record by name_block before
 * it is disowned, so whoever cleans up after us finds it either way). */
static void *port_block(amc_conn *c, size_t bytes, int *rc)
{
    void *blk;
    *rc = am_try_alloc(c->a, bytes, &blk);
    if (*rc) return NULL;
    memset(blk, 0, bytes);
    return blk;
}

static void name_block(amc_conn *c, void *blk, _Atomic uint64_t *ref)
{
    amc_slot s = { 0, 0, 0 };
    (void)am_block_identify(c->a, blk, &s.off, &s.gen, NULL);
    atomic_store_explicit(ref, amc_ref_pack(s), memory_order_release);
}

static int setup_tx(amc_conn *c, unsigned history)
{
    int rc;
    amc_tx *t = port_block(c, amc_tx_bytes(history), &rc);
    if (!t) return rc;
    t->magic = AMC_TX_MAGIC;
    t->hist_cap = history;
    name_block(c, t, &c->me->tx_ref);
    c->tx = t;
    return 0;
}

static int setup_rx(amc_conn *c, const amc_want *w)
{
    uint32_t d = 2;
    while (d < w->depth + 1) d <<= 1;                 /* a ck_ring holds size - 1 */
    unsigned replay = w->role == AMC_ROLE_SUB ? w->history : 0;
    int rc;
    amc_rx *r = port_block(c, amc_rx_bytes(w->max_held, replay), &rc);
    if (!r) return rc;
    r->magic = AMC_RX_MAGIC;
    r->depth = d;
    r->cap = w->depth;
    r->max_held = w->max_held;
    r->max_replay = replay;
    r->port = c->port;
    r->gen = c->port_gen;
    atomic_store_explicit(&r->users, AMC_RX_SELF, memory_order_release);   /* after its generation */
    name_block(c, r, &c->me->rx_ref);
    c->rx = r;
    c->depth = d;
    c->held = amc_rx_held(r);
    c->replay = amc_rx_replay(r);
    c->max_held = w->max_held;
    return 0;
}

typedef struct kept { amc_slot s; uint64_t send_ns; } kept;
static void replay_history(amc_conn *c, kept *k, unsigned n);

int amc_port_attach(amc_conn *c, const amc_want *w)
{
    unsigned i;
    int rc = claim(c, &i);
    if (rc) return rc;
    amc_port *p = &c->ch->ports[i];
    uint32_t gen = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    if (gen == 0) gen = 1;
    p->role = w->role;
    p->policy = (uint32_t)w->policy;
    p->pid = (uint32_t)getpid();
    p->opened_ns = am_now_ns();
    atomic_store_explicit(&p->rx_ref, 0, memory_order_relaxed);
    atomic_store_explicit(&p->tx_ref, 0, memory_order_relaxed);
    atomic_store_explicit(&p->rec.op, AMC_REC_NONE, memory_order_relaxed);
    _Atomic uint64_t *counters[] = { &p->sent, &p->received, &p->dropped, &p->timeouts, &p->late, &p->reused, &p->stalled,
                                     &p->bytes };
    for (unsigned k = 0; k < sizeof counters / sizeof *counters; k++) atomic_store_explicit(counters[k], 0, memory_order_relaxed);
    atomic_store_explicit(&p->sleeping, 0, memory_order_relaxed);
    atomic_store_explicit(&p->barrier, amc_receives(w->role) ? amc_barrier_wanted() : 0, memory_order_relaxed);
    atomic_store_explicit(&p->room_wanted, 0, memory_order_relaxed);
    atomic_store_explicit(&p->gen, gen, memory_order_relaxed);
    atomic_store_explicit(&p->state, AMC_PORT_ATTACHING, memory_order_release);
    c->port = i;
    c->port_gen = gen;
    c->role = w->role;
    c->me = p;
    c->fence_free = amc_sends(w->role) && amc_barrier_registered();
    rc = amc_sends(w->role) ? setup_tx(c, w->role == AMC_ROLE_PUB ? w->history : 0) : 0;
    if (rc == 0 && amc_receives(w->role)) rc = setup_rx(c, w);
    /* The replay's scratch is allocated here, where a failure is still undone by
     * releasing the port: allocated after ACTIVE (as it was), a failed malloc made a
     * subscriber that asked for kept samples open without them, and without a word
     * (found by tests/test_faults.c). */
    kept *k = NULL;
    unsigned nkept = 0;
    if (rc == 0 && c->rx && w->role == AMC_ROLE_SUB && w->history > 0) {
        nkept = w->history < c->rx->max_replay ? w->history : c->rx->max_replay;
        if (nkept && !(k = malloc(sizeof *k * nkept))) rc = AM_ENOMEM;
    }
    AM_CRASH_POINT(CH_ATTACH_RING);
    if (rc) {
        (void)amc_port_release(c->a, c->ch, i);
        return rc;
    }
    if (c->tx) (void)am_disown(c->a, c->tx);
    if (c->rx) (void)am_disown(c->a, c->rx);
    atomic_store_explicit(&p->state, AMC_PORT_ACTIVE, memory_order_release);
    atomic_fetch_add_explicit(&c->ch->version, 1, memory_order_acq_rel);
    amc_dir_changed(c->a);
    /* Kept samples after ACTIVE: a sample sent meanwhile is either queued to us (its
     * bit set: not replayed) or in the history (replayed), never lost or doubled. */
    if (k) replay_history(c, k, nkept);
    return 0;
}

/* ------------------------------------------------------------ replay of history */

static int by_time(const void *x, const void *y)
{
    const kept *a = x, *b = y;
    return a->send_ns < b->send_ns ? -1 : a->send_ns > b->send_ns;
}

/* Fill c's replay list with up to n kept samples of the publishers now attached; k
 * has room for n, and is freed. */
static void replay_history(amc_conn *c, kept *k, unsigned n)
{
    unsigned have = 0;
    for (unsigned j = 0; j < AM_MAX_PORTS; j++) {
        amc_port *p = &c->ch->ports[j];
        if (j == c->port || atomic_load_explicit(&p->state, memory_order_acquire) != AMC_PORT_ACTIVE ||
            p->role != AMC_ROLE_PUB) {
            continue;
        }
        amc_tx *tx = amc_port_tx(c->a, c->ch, j, NULL);
        if (!tx) continue;
        amc_hist *e = amc_tx_hist(tx);
        for (uint32_t h = 0; h < tx->hist_cap; h++) {
            amc_slot s = e[h].sample;
            amc_msg *m = s.off ? amc_sample_at(c->a, s, NULL) : NULL;
            if (!m || m->from != j) continue;
            kept x = { s, m->send_ns };
            if (have < n) {                          /* keep the newest n seen so far */
                k[have++] = x;
                continue;
            }
            unsigned old = 0;
            for (unsigned q = 1; q < n; q++) old = k[q].send_ns < k[old].send_ns ? q : old;
            if (x.send_ns > k[old].send_ns) k[old] = x;
        }
    }
    qsort(k, have, sizeof *k, by_time);
    uint64_t bit = 1ull << c->port;
    for (unsigned h = 0; h < have; h++) {
        amc_msg *m = amc_sample_at(c->a, k[h].s, NULL);
        if (!m) continue;
        /* Named first, then held: if we die in between, our cleanup clears a bit that
         * is clear. Held only while the history still holds it, and not if our port
         * bit is still set by a former incarnation's queue (it must not stand for two
         * holders). */
        amc_slot *named = &c->replay[c->nreplay];
        *named = k[h].s;
        uint64_t o = amc_holders_of(&m->owe, m, named->gen);
        bool ok = false;
        while ((o & AMC_OWE_HIST) && !(o & bit)) {
            if (atomic_compare_exchange_weak_explicit(&m->owe, &o, o | bit, memory_order_acq_rel, memory_order_acquire)) {
                ok = true;
                break;
            }
        }
        /* The CAS compares the word's value, not whose word it is: the sample may have
         * gone and its bytes come back as a new one with an equal word since we looked.
         * Our bit now holds whichever it was, so its generation is stable: another one
         * is named (for our cleanup, should we die) and let go again. */
        uint32_t g = atomic_load_explicit(am_block_gen_word(m), memory_order_acquire);
        if (ok && g != named->gen) {
            named->gen = g;
            (void)amc_release(c->a, *named, bit, c->port + 1, false);
            ok = false;
        }
        if (!ok) {
            c->replay[c->nreplay].off = 0;
            continue;
        }
        c->nreplay++;
    }
    free(k);
}
