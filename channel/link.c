/* SPDX-License-Identifier: Apache-2.0 */
/*
 * link.c — links between a sender and its receivers, and the rx blocks that hold them.
 *
 * A sender sees a receiving port through a view: it names the receiver's rx block in
 * its tx block, then sets its users bit on it by CAS (only while the receiver's own bit
 * is set), and from then on the block and its links cannot be freed under it, however
 * long it is paused. The link from this sender's index is created on first use: built
 * while owned, named in the rx block by CAS, then disowned. When the view goes (the
 * receiver left, or this sender is going) the sender drops its bit; whoever drops the
 * last one drains the links and frees everything (amc_rx_drop).
 */
#include <string.h>
#include "channel_internal.h"

amc_rx *amc_rx_at(am_arena *a, uint64_t ref, uint32_t *owner)
{
    if (ref == 0) return NULL;
    amc_slot s = amc_ref_unpack(ref);
    uint32_t own = 0;
    size_t sz;
    amc_rx *r = am_block_probe(a, s.off, s.gen, &own, &sz);
    if (!r || sz < sizeof *r || r->magic != AMC_RX_MAGIC) return NULL;
    uint32_t d = r->depth;
    if (d < 2 || d > AM_MAX_DEPTH + 1 || (d & (d - 1)) != 0 || r->cap == 0 || r->cap >= d || r->max_held == 0 ||
        r->port >= AM_MAX_PORTS ||
        r->max_held > AM_MAX_DEPTH || r->max_replay > AM_MAX_HISTORY || sz < amc_rx_bytes(r->max_held, r->max_replay)) {
        return NULL;
    }
    if (owner) *owner = own;
    else if (own != 0) return NULL;
    return r;
}

amc_rx *amc_port_rx(am_arena *a, amc_chan *ch, unsigned i, uint32_t *owner)
{
    return amc_rx_at(a, atomic_load_explicit(&ch->ports[i].rx_ref, memory_order_acquire), owner);
}

amc_tx *amc_port_tx(am_arena *a, amc_chan *ch, unsigned i, uint32_t *owner)
{
    uint64_t ref = atomic_load_explicit(&ch->ports[i].tx_ref, memory_order_acquire);
    if (ref == 0) return NULL;
    amc_slot s = amc_ref_unpack(ref);
    uint32_t own = 0;
    size_t sz;
    amc_tx *t = am_block_probe(a, s.off, s.gen, &own, &sz);
    if (!t || sz < sizeof *t || t->magic != AMC_TX_MAGIC || t->hist_cap > AM_MAX_HISTORY ||
        sz < amc_tx_bytes(t->hist_cap)) {
        return NULL;
    }
    if (owner) *owner = own;
    else if (own != 0) return NULL;
    return t;
}

amc_link *amc_link_at(am_arena *a, uint64_t ref, uint32_t depth, uint32_t *owner)
{
    if (ref == 0) return NULL;
    amc_slot s = amc_ref_unpack(ref);
    uint32_t own = 0;
    size_t sz;
    amc_link *l = am_block_probe(a, s.off, s.gen, &own, &sz);
    if (!l || sz < amc_link_bytes(depth) || l->magic != AMC_LINK_MAGIC || l->depth != depth ||
        l->ring.size != depth || l->ring.mask != depth - 1 || l->ret.size != depth || l->ret.mask != depth - 1) {
        return NULL;
    }
    if (owner) *owner = own;
    else if (own != 0) return NULL;
    return l;
}

/* ------------------------------------------------------------ freeing rx blocks */

void amc_ring_drain(am_arena *a, struct ck_ring *ring, amc_slot *slots, uint32_t depth, amc_slot *tmp, unsigned i)
{
    /* Each sample goes through *tmp (an entry of the receiver's held list), so that a
     * drainer killed between the dequeue and the release leaves it named. Releasing
     * receiver i's bit also frees a block on the return ring, whose holders are all
     * gone and whose freer is i (it returned it). */
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)&ring->c_head, memory_order_acquire);
    for (unsigned n = 0; n <= depth && amc_ring_take(ring, slots, depth - 1, tmp, &tail); n++) {
        (void)amc_release(a, *tmp, 1ull << i, i + 1, true);
        AM_CRASH_POINT(CH_CLEAN_HELD);
        tmp->off = 0;
    }
    /* A dequeue that lost its CAS (to an evicting sender) still copied the slot: the
     * entry must not go on naming a sample this port does not hold. The rx block may
     * outlive the port and be freed after its index is reused by a new receiver, which
     * could be holding that very sample by then. */
    tmp->off = 0;
}

void amc_rx_release_own(am_arena *a, amc_rx *r)
{
    unsigned i = r->port;                    /* < AM_MAX_PORTS: amc_rx_at checked it */
    uint64_t bit = 1ull << i;
    amc_slot *held = amc_rx_held(r);         /* the replay list follows it: both at once */
    for (uint32_t k = 0; k < r->max_held + r->max_replay; k++) {
        /* An ack cut short while returning the block: if it reached the return ring,
         * it is no longer this port's to free. */
        bool returned = k < r->max_held && (held[k].flags & AMC_HELD_RETURNING) && amc_ret_landed(a, r, held[k]);
        if (held[k].off && !returned) (void)amc_release(a, held[k], bit, i + 1, true);
        AM_CRASH_POINT(CH_CLEAN_HELD);
        held[k].off = 0;
    }
    uint32_t depth = r->depth;               /* one copy: checked by amc_link_at */
    for (unsigned j = 0; j < AM_MAX_PORTS; j++) {
        uint32_t owner = 0;
        amc_link *l = amc_link_at(a, atomic_load_explicit(&r->links[j], memory_order_acquire), depth, &owner);
        if (l && owner == 0) amc_ring_drain(a, &l->ring, amc_link_slots(l), depth, &held[0], i);
    }
}

/* The last user of rx block r: release everything it names and free it. Repeatable
 * after a death at any step (every release is idempotent, freed blocks are probed;
 * the block keeps its magic until the arena frees it, so a repeat still finds it). */
static void rx_free(am_arena *a, amc_rx *r)
{
    amc_rx_release_own(a, r);
    AM_CRASH_POINT(CH_CLEAN_RING);
    uint32_t depth = r->depth;
    for (unsigned j = 0; j < AM_MAX_PORTS; j++) {
        uint32_t owner = 0;
        amc_link *l = amc_link_at(a, atomic_load_explicit(&r->links[j], memory_order_acquire), depth, &owner);
        if (!l || owner != 0) continue;      /* owned by a dead creator: the arena frees it */
        /* What came back to the sender and was never reused (nobody else consumes now). */
        amc_ring_drain(a, &l->ret, amc_link_ret_slots(l, depth), depth, &amc_rx_held(r)[0], r->port);
        atomic_store_explicit(&r->links[j], 0, memory_order_relaxed);
        (void)am_ack(a, l);
    }
    (void)am_ack(a, r);
    AM_CRASH_POINT(CH_CLEAN_FREED);
}

bool amc_rx_has_self(amc_rx *r, uint64_t ref)
{
    return amc_holders_of(&r->users, r, amc_ref_unpack(ref).gen) & AMC_RX_SELF;
}

void amc_rx_drop(am_arena *a, uint64_t ref, uint64_t bit, unsigned freer, bool recover)
{
    uint32_t owner = 0;
    amc_rx *r = amc_rx_at(a, ref, &owner);
    if (!r || owner != 0) return;            /* gone, or its dead attacher's: the arena's */
    uint32_t gen = amc_ref_unpack(ref).gen;
    if (amc_drop(&r->users, am_block_gen_word(r), gen, AMC_RX_USERS, bit, freer, recover) == AMC_DROP_FREE) {
        rx_free(a, r);
    }
}

/* ------------------------------------------------------------ views */

static void view_drop(amc_conn *c, unsigned t)
{
    amc_view *v = &c->views[t];
    if (v->gen == 0) return;
    amc_cache_flush(c, t);                   /* while we still hold the rx block */
    c->linked &= ~(1ull << t);
    uint64_t ref = v->rx_ref;
    *v = (amc_view){ 0 };
    amc_rx_drop(c->a, ref, 1ull << c->port, c->port + 1, false);
    atomic_store_explicit(&c->tx->rx[t], 0, memory_order_release);
}

/* Hold port t's rx block (its receiver attached as incarnation gen). */
static bool view_take(amc_conn *c, unsigned t, uint32_t gen, uint32_t role, uint32_t policy)
{
    amc_chan *ch = c->ch;
    uint64_t ref = atomic_load_explicit(&ch->ports[t].rx_ref, memory_order_acquire);
    amc_rx *r = amc_rx_at(c->a, ref, NULL);
    if (!r) return false;
    /* Named first, so that our cleanup finds what our bit may be set on. */
    atomic_store_explicit(&c->tx->rx[t], ref, memory_order_release);
    amc_slot s = amc_ref_unpack(ref);
    const _Atomic uint32_t *gw = am_block_gen_word(r);
    uint64_t me = 1ull << c->port, u = atomic_load_explicit(&r->users, memory_order_acquire);
    do {
        /* its receiver is leaving, or the block is no longer its (holders.c) */
        if (!(u & AMC_RX_SELF) || atomic_load_explicit(gw, memory_order_acquire) != s.gen) {
            atomic_store_explicit(&c->tx->rx[t], 0, memory_order_release);
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&r->users, &u, u | me, memory_order_acq_rel, memory_order_acquire));
    /* The CAS met a word of that value, not necessarily this rx block's: if the block
     * went and came back as another rx block since the look above, our bit holds that
     * one (its generation is stable now). Name it, for our cleanup, and let it go. */
    uint32_t g = atomic_load_explicit(gw, memory_order_acquire);
    if (g != s.gen) {
        s.gen = g;
        atomic_store_explicit(&c->tx->rx[t], amc_ref_pack(s), memory_order_release);
        amc_rx_drop(c->a, amc_ref_pack(s), me, c->port + 1, false);
        atomic_store_explicit(&c->tx->rx[t], 0, memory_order_release);
        return false;
    }
    c->views[t] = (amc_view){ .gen = gen, .mask = r->depth - 1, .cap = r->cap, .policy = policy, .role = role,
                              .rx_ref = ref, .rx = r };
    return true;
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
        uint32_t st = atomic_load_explicit(&p->state, memory_order_acquire);
        uint32_t gen = atomic_load_explicit(&p->gen, memory_order_acquire);
        bool want = i != c->port && st == AMC_PORT_ACTIVE && amc_receives(p->role);
        if (w->gen != 0 && (!want || w->gen != gen)) view_drop(c, i);
        if (want && w->gen == 0 && gen != 0) (void)view_take(c, i, gen, p->role, p->policy);
        if (w->gen != 0 && w->role < AMC_ROLES) c->role_ports[w->role] |= 1ull << i;
    }
    c->version = v;
}

void amc_drop_views(amc_conn *c)
{
    if (!c->tx) return;
    amc_cache_drop_stash(c);
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) view_drop(c, i);
}

amc_link *amc_view_link(amc_conn *c, unsigned t)
{
    amc_view *v = &c->views[t];
    if (v->link) return v->link;
    amc_rx *r = v->rx;
    uint32_t depth = v->mask + 1;
    uint64_t cur = atomic_load_explicit(&r->links[c->port], memory_order_acquire);
    uint32_t owner = 0;
    amc_link *l = amc_link_at(c->a, cur, depth, &owner);
    if (!l || owner != 0) {
        /* None yet (or a dead creator's, never disowned): build one. */
        void *blk;
        if (am_try_alloc(c->a, amc_link_bytes(depth), &blk) != 0) return NULL;
        l = blk;
        memset(l, 0, sizeof *l);
        l->magic = AMC_LINK_MAGIC;
        l->depth = depth;
        ck_ring_init(&l->ring, depth);
        ck_ring_init(&l->ret, depth);
        amc_slot s = { 0, 0, 0 };
        (void)am_block_identify(c->a, l, &s.off, &s.gen, NULL);
        if (!atomic_compare_exchange_strong_explicit(&r->links[c->port], &cur, amc_ref_pack(s), memory_order_acq_rel,
                                                     memory_order_acquire)) {
            (void)am_ack(c->a, l);           /* only we create links at our index: hostile */
            return NULL;
        }
        AM_CRASH_POINT(CH_ATTACH_RING);
        (void)am_disown(c->a, l);
        atomic_fetch_or_explicit(&r->linked, 1ull << c->port, memory_order_release);
    }
    v->link = l;
    c->linked |= 1ull << t;
    v->link_ref = atomic_load_explicit(&r->links[c->port], memory_order_acquire);
    v->slots = amc_link_slots(l);
    v->head = atomic_load_explicit((_Atomic unsigned *)&l->ring.c_head, memory_order_acquire);
    v->tail = atomic_load_explicit((_Atomic unsigned *)&l->ring.p_tail, memory_order_acquire);
    v->ret_tail = atomic_load_explicit((_Atomic unsigned *)&l->ret.c_head, memory_order_acquire);
    return l;
}
