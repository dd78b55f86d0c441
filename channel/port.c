/*
 * port.c — ports on a channel: attach, release (on close or after death), repair of
 * what a dead lock holder left, and the release of one holder's share of a sample.
 *
 * Everything here runs under the channel lock except amc_release, which a receiver
 * calls on its own (an ack) and which is safe to repeat: see channel_layout.h on the
 * `owe` word. Cleanup of a dead port therefore simply releases every sample its held
 * list or queue names, without knowing how far the dead process got: a sample it had
 * copied to its held list but not yet dequeued is named twice, and the second release
 * finds the bit already clear.
 */
#include <string.h>
#include <unistd.h>
#include "channel_internal.h"

amc_chan *amc_chan_at(am_arena *a, uint64_t off, uint32_t gen)
{
    size_t sz;
    amc_chan *ch = am_block_probe(a, off, gen, NULL, &sz);
    if (!ch || sz < sizeof(amc_chan) || ch->magic != AMC_CHAN_MAGIC) return NULL;
    return ch->kind == AMC_KIND_TOPIC || ch->kind == AMC_KIND_SERVICE ? ch : NULL;
}

unsigned amc_chan_ports(const amc_chan *ch)
{
    unsigned n = 0;
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) {
        if (atomic_load_explicit(&ch->ports[i].state, memory_order_acquire) != AMC_PORT_FREE) n++;
    }
    return n;
}

int amc_release(am_arena *a, amc_slot s, uint64_t bit, unsigned freer, bool recover)
{
    size_t sz;
    amc_msg *m = am_block_probe(a, s.off, s.gen, NULL, &sz);
    if (!m || sz < AMC_MSG_HDR) return recover ? 0 : AM_ECORRUPT;
    uint64_t o = atomic_load_explicit(&m->owe, memory_order_acquire);
    for (;;) {
        if (!(o & bit)) {
            /* Not a holder (any more). In recovery, the earlier release by this same
             * freer may have cleared the last bit and died before freeing. */
            if (recover && (o & AMC_OWE_HOLDERS) == 0 && (o >> AMC_FREER_SHIFT) == freer) break;
            return recover ? 0 : AM_EINVAL;
        }
        uint64_t n = o & ~bit;
        bool last = (n & AMC_OWE_HOLDERS) == 0;
        if (last) n = (n & ~(0xffull << AMC_FREER_SHIFT)) | ((uint64_t)freer << AMC_FREER_SHIFT);
        if (atomic_compare_exchange_weak_explicit(&m->owe, &o, n, memory_order_acq_rel, memory_order_acquire)) {
            if (!last) return 0;
            AM_CRASH_POINT(CH_ACK_CLEARED);
            break;
        }
    }
    /* Deferred: the sender's next allocation in that sector merges it, on its own CPU. */
    return am_ack_deferred(a, m) == 0 ? 0 : AM_ECORRUPT;
}

static bool receives(uint32_t role)
{
    return role == AMC_ROLE_SUB || role == AMC_ROLE_SERVER || role == AMC_ROLE_CLIENT;
}

/* The ring block of port i, checked against the port record and itself. With owner
 * non-NULL, an un-disowned ring is returned too (and its owner stored). */
static amc_ring *port_ring(am_arena *a, amc_chan *ch, unsigned i, uint32_t *mask, uint32_t *owner)
{
    amc_port *p = &ch->ports[i];
    if (!receives(p->role)) return NULL;
    uint32_t depth = p->depth, max_held = p->max_held, own = 0;
    if (depth < 2 || depth > AM_MAX_DEPTH + 1 || (depth & (depth - 1)) != 0 || max_held == 0 ||
        max_held > AM_MAX_DEPTH) {
        return NULL;
    }
    size_t sz;
    amc_ring *r = am_block_probe(a, p->ring_off, p->ring_gen, &own, &sz);
    if (!r || sz < amc_ring_bytes(depth, max_held) || r->magic != AMC_RING_MAGIC || r->depth != depth ||
        r->max_held != max_held || r->ring.mask != depth - 1 || r->ring.size != depth) {
        return NULL;
    }
    if (owner) *owner = own;
    else if (own != 0) return NULL;
    *mask = depth - 1;
    return r;
}

amc_ring *amc_port_ring(am_arena *a, amc_chan *ch, unsigned i, uint32_t *mask)
{
    return port_ring(a, ch, i, mask, NULL);
}

/* Release every sample the ring names (queued from head to tail, and held). */
static void release_ring(am_arena *a, amc_ring *r, uint32_t mask, uint32_t max_held, unsigned i)
{
    uint64_t bit = 1ull << i;
    amc_slot *held = amc_ring_held(r, mask + 1), *slots = amc_ring_slots(r);
    for (uint32_t k = 0; k < max_held; k++) {
        if (held[k].off == 0) continue;
        (void)amc_release(a, held[k], bit, i + 1, true);
        AM_CRASH_POINT(CH_CLEAN_HELD);
        held[k].off = 0;
    }
    unsigned head = r->ring.c_head, tail = r->ring.p_tail;
    for (unsigned n = 0; head != tail && n <= mask; head++, n++) {
        (void)amc_release(a, slots[head & mask], bit, i + 1, true);
    }
    r->ring.c_head = tail;
}

void amc_port_release(am_arena *a, amc_chan *ch, unsigned i)
{
    amc_port *p = &ch->ports[i];
    if (atomic_load_explicit(&p->state, memory_order_acquire) == AMC_PORT_FREE) return;
    /* First make senders forget the ring (they re-read views when the version moves). */
    atomic_store_explicit(&p->state, AMC_PORT_RELEASING, memory_order_release);
    atomic_fetch_add_explicit(&ch->version, 1, memory_order_release);
    uint32_t mask, owner = 0;
    amc_ring *r = port_ring(a, ch, i, &mask, &owner);
    if (r && owner == 0) {
        release_ring(a, r, mask, p->max_held, i);
        AM_CRASH_POINT(CH_CLEAN_RING);
        (void)am_ack(a, r);
        AM_CRASH_POINT(CH_CLEAN_FREED);
    } else if (r && owner == a->slot + 1) {
        (void)am_ack(a, r);              /* our own attach that failed half-way */
    }                                    /* (owned by a dead attacher: the arena frees it) */
    atomic_store_explicit(&p->take_lock, 0, memory_order_relaxed);
    atomic_store_explicit(&p->stamp, 0, memory_order_relaxed);
    atomic_store_explicit(&p->state, AMC_PORT_FREE, memory_order_release);
    atomic_fetch_add_explicit(&ch->version, 1, memory_order_release);
    /* Senders blocked on this queue must look again. */
    atomic_fetch_add_explicit(&p->room, 1, memory_order_release);
    amc_futex_wake(&p->room);
}

int amc_chan_gc(am_arena *a, amc_chan *ch)
{
    int n = 0;
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) {
        amc_port *p = &ch->ports[i];
        if (atomic_load_explicit(&p->state, memory_order_acquire) == AMC_PORT_FREE) continue;
        if (!am_arena_stamp_alive(a, atomic_load_explicit(&p->stamp, memory_order_relaxed))) {
            amc_port_release(a, ch, i);
            n++;
        }
    }
    return n;
}

int amc_port_attach(amc_conn *c, unsigned role, unsigned depth, unsigned max_held, am_policy policy)
{
    amc_chan *ch = c->ch;
    unsigned i = 0;
    while (i < AM_MAX_PORTS && atomic_load_explicit(&ch->ports[i].state, memory_order_acquire) != AMC_PORT_FREE) i++;
    if (i == AM_MAX_PORTS) return AM_EFULL;
    amc_port *p = &ch->ports[i];
    uint32_t gen = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    if (gen == 0) gen = 1;
    p->role = role;
    p->policy = (uint32_t)policy;
    p->depth = 0;
    p->max_held = 0;
    p->ring_off = 0;
    p->ring_gen = 0;
    p->pid = (uint32_t)getpid();
    p->opened_ns = amc_now_ns();
    atomic_store_explicit(&p->sent, 0, memory_order_relaxed);
    atomic_store_explicit(&p->received, 0, memory_order_relaxed);
    atomic_store_explicit(&p->dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&p->timeouts, 0, memory_order_relaxed);
    atomic_store_explicit(&p->late, 0, memory_order_relaxed);
    atomic_store_explicit(&p->sleeping, 0, memory_order_relaxed);
    atomic_store_explicit(&p->room_wanted, 0, memory_order_relaxed);
    atomic_store_explicit(&p->take_lock, 0, memory_order_relaxed);
    atomic_store_explicit(&p->gen, gen, memory_order_relaxed);
    atomic_store_explicit(&p->stamp, am_arena_stamp(c->a), memory_order_relaxed);
    atomic_store_explicit(&p->state, AMC_PORT_ATTACHING, memory_order_release);
    c->port = i;
    c->port_gen = gen;
    c->role = role;
    if (receives(role)) {
        uint32_t d = 2;
        while (d < depth + 1) d <<= 1;              /* a ck_ring holds size - 1 */
        void *blk;
        int rc = am_try_alloc(c->a, amc_ring_bytes(d, max_held), &blk);
        if (rc) {
            amc_port_release(c->a, ch, i);
            return rc;
        }
        amc_ring *r = blk;
        memset(r, 0, amc_ring_bytes(d, max_held));
        r->magic = AMC_RING_MAGIC;
        r->depth = d;
        r->max_held = max_held;
        ck_ring_init(&r->ring, d);
        uint64_t off;
        (void)am_block_identify(c->a, r, &off, &p->ring_gen, NULL);
        p->ring_off = off;
        p->depth = d;
        p->cap = depth;
        p->max_held = max_held;
        AM_CRASH_POINT(CH_ATTACH_RING);
        (void)am_disown(c->a, r);
        c->ring = r;
        c->slots = amc_ring_slots(r);
        c->held = amc_ring_held(r, d);
        c->mask = d - 1;
        c->max_held = max_held;
        c->policy = (uint32_t)policy;
    }
    atomic_store_explicit(&p->state, AMC_PORT_ACTIVE, memory_order_release);
    atomic_fetch_add_explicit(&ch->version, 1, memory_order_release);
    return 0;
}

/* ------------------------------------------------------------ repair */

/* Did the last enqueue into this ring put s there? Only lock holders enqueue, so the
 * slot before the producer's tail is the last one any sender queued. */
static bool landed(amc_ring *r, uint32_t mask, amc_slot s)
{
    amc_slot *last = &amc_ring_slots(r)[(r->ring.p_tail - 1) & mask];
    return r->ring.p_tail != 0 && last->off == s.off && last->gen == s.gen;
}

static void finish_send(am_arena *a, amc_chan *ch, const amc_record *rec)
{
    uint32_t owner;
    size_t sz;
    amc_msg *m = am_block_probe(a, rec->sample.off, rec->sample.gen, &owner, &sz);
    /* Not disowned yet: it is still the dead sender's, and the arena frees it. */
    if (!m || owner != 0 || sz < AMC_MSG_HDR) return;
    for (unsigned t = 0; t < AM_MAX_PORTS; t++) {
        uint64_t bit = 1ull << t;
        if (!(rec->targets & bit)) continue;
        if (!(atomic_load_explicit(&m->owe, memory_order_acquire) & bit)) {
            /* Taken and acked, or dropped below by a thief that died: finish that. */
            (void)amc_release(a, rec->sample, bit, AMC_FREER_LOCK(t), true);
            continue;
        }
        uint32_t mask;
        bool active = atomic_load_explicit(&ch->ports[t].state, memory_order_acquire) == AMC_PORT_ACTIVE;
        amc_ring *r = active ? amc_port_ring(a, ch, t, &mask) : NULL;
        if (r && landed(r, mask, rec->sample)) continue;
        if (r && ck_ring_enqueue_spsc_amc(&r->ring, amc_ring_slots(r), (amc_slot *)&rec->sample)) {
            atomic_thread_fence(memory_order_seq_cst);
            amc_wake_receiver(&ch->ports[t]);
            continue;
        }
        atomic_fetch_add_explicit(&ch->ports[t].dropped, 1, memory_order_relaxed);
        (void)amc_release(a, rec->sample, bit, AMC_FREER_LOCK(t), true);
    }
    if ((rec->targets & AMC_OWE_HIST) && (atomic_load_explicit(&m->owe, memory_order_acquire) & AMC_OWE_HIST) &&
        !amc_hist_holds(a, ch, rec->sample)) {
        amc_hist_push(a, ch, rec->sample);
    }
}

/* The dead sender held port t's take lock from before it wrote the record, so the
 * receiver has not moved its queue since: a moved head means the dequeue happened. The
 * receiver waits for this repair (it takes the channel lock when it finds the take
 * lock's holder dead); amc_chan_repair lets the take lock go afterwards. */
static void finish_evict(am_arena *a, amc_chan *ch, const amc_record *rec)
{
    unsigned t = rec->port;
    uint32_t mask;
    amc_ring *r = t < AM_MAX_PORTS ? amc_port_ring(a, ch, t, &mask) : NULL;
    if (!r) return;
    if (r->ring.c_head != rec->pos) (void)amc_release(a, rec->evicted, 1ull << t, AMC_FREER_LOCK(t), true);
}

void amc_chan_repair(am_arena *a, amc_chan *ch)
{
    amc_record rec = ch->rec;
    uint32_t op = atomic_load_explicit(&ch->rec.op, memory_order_acquire);
    if (op == AMC_REC_HIST) amc_hist_finish_grow(a, ch, &rec);
    if (op == AMC_REC_SCHEMA) amc_schema_finish(a, ch, &rec);
    /* History entries whose eviction was cut short, before a send is finished (which
     * may evict again). */
    amc_hist_settle(a, ch);
    switch (op) {
    case AMC_REC_SEND:  finish_send(a, ch, &rec); break;
    case AMC_REC_EVICT: finish_evict(a, ch, &rec); break;
    default: break;
    }
    atomic_store_explicit(&ch->rec.op, AMC_REC_NONE, memory_order_release);
    /* Take locks of DROP_OLDEST queues held by the dead: an evicting sender holds one
     * only while it holds the channel lock, so whatever it was doing is settled now;
     * a dead receiver's port goes with the next gc. */
    for (unsigned t = 0; t < AM_MAX_PORTS; t++) {
        uint64_t holder = atomic_load_explicit(&ch->ports[t].take_lock, memory_order_acquire);
        if (holder != 0 && !am_arena_stamp_alive(a, holder)) {
            atomic_compare_exchange_strong_explicit(&ch->ports[t].take_lock, &holder, 0, memory_order_release,
                                                    memory_order_relaxed);
        }
    }
}
