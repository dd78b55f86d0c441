/*
 * history.c — the samples a topic keeps for late joiners.
 *
 * The table is its own arena block, named from the channel by {offset, generation}
 * packed in one word, so that it can be replaced by a larger one in a single store when
 * a publisher asks for more history than the topic keeps. Every kept sample holds the
 * history bit of its `owe` word; eviction releases that bit (freer AMC_FREER_HIST, only
 * ever used under the channel lock, so a recovery may finish it). All of it runs under
 * the channel lock.
 *
 * Growing, crash-safely: the in-flight record names the new and the old table; the new
 * one is built (owned), disowned, then swapped in, then the old one freed. A thief of
 * the lock frees whichever of the two is not in use (unless the arena will: a new table
 * still owned by its dead builder).
 */
#include <string.h>
#include "channel_internal.h"


amc_hist *amc_hist_table(am_arena *a, amc_chan *ch, uint32_t *cap)
{
    uint64_t ref = atomic_load_explicit(&ch->hist_ref, memory_order_acquire);
    *cap = 0;
    if (ref == 0) return NULL;
    amc_slot s = amc_ref_unpack(ref);
    size_t sz;
    amc_histtab *t = am_block_probe(a, s.off, s.gen, NULL, &sz);
    if (!t || sz < sizeof *t || t->magic != AMC_HIST_MAGIC || t->cap == 0 || t->cap > AM_MAX_HISTORY ||
        sz < sizeof *t + (size_t)t->cap * sizeof(amc_hist)) {
        return NULL;
    }
    *cap = t->cap;
    return t->e;
}

int amc_hist_reserve(am_arena *a, amc_chan *ch, unsigned n)
{
    uint32_t cap;
    amc_hist *old = amc_hist_table(a, ch, &cap);
    if (n <= cap) return 0;
    void *blk;
    size_t bytes = sizeof(amc_histtab) + (size_t)n * sizeof(amc_hist);
    int rc = am_try_alloc(a, bytes, &blk);
    if (rc) return rc;
    amc_histtab *t = blk;
    memset(t, 0, bytes);
    t->magic = AMC_HIST_MAGIC;
    t->cap = n;
    if (old) memcpy(t->e, old, (size_t)cap * sizeof(amc_hist));
    amc_slot fresh = { 0, 0, 0 };
    (void)am_block_identify(a, t, &fresh.off, &fresh.gen, NULL);
    ch->rec.hist_new = fresh;
    ch->rec.hist_old = old ? amc_ref_unpack(atomic_load_explicit(&ch->hist_ref, memory_order_relaxed)) : (amc_slot){ 0, 0, 0 };
    atomic_store_explicit(&ch->rec.op, AMC_REC_HIST, memory_order_release);
    AM_CRASH_POINT(CH_HIST_GROWN);
    (void)am_disown(a, t);
    atomic_store_explicit(&ch->hist_ref, amc_ref_pack(fresh), memory_order_release);
    if (old) (void)am_ack(a, (uint8_t *)old - sizeof(amc_histtab));
    atomic_store_explicit(&ch->rec.op, AMC_REC_NONE, memory_order_release);
    return 0;
}

void amc_hist_finish_grow(am_arena *a, amc_chan *ch, const amc_record *rec)
{
    uint64_t ref = atomic_load_explicit(&ch->hist_ref, memory_order_acquire);
    uint32_t owner = 0;
    void *t;
    if (ref == amc_ref_pack(rec->hist_new)) {                         /* swapped: the old goes */
        if (rec->hist_old.off && (t = am_block_probe(a, rec->hist_old.off, rec->hist_old.gen, &owner, NULL)) && owner == 0) {
            (void)am_ack(a, t);
        }
    } else if ((t = am_block_probe(a, rec->hist_new.off, rec->hist_new.gen, &owner, NULL)) && owner == 0) {
        (void)am_ack(a, t);                                   /* built, never used */
    }
}

void amc_hist_push(am_arena *a, amc_chan *ch, amc_slot s)
{
    uint32_t cap;
    amc_hist *e = amc_hist_table(a, ch, &cap);
    if (!e) return;
    unsigned victim = 0;
    for (unsigned k = 0; k < cap; k++) {
        if (e[k].sample.off == 0) { victim = k; break; }
        if (e[k].order < e[victim].order) victim = k;
    }
    if (e[victim].sample.off != 0) {
        /* recover: an eviction cut short by a death may have cleared the bit already */
        (void)amc_release(a, e[victim].sample, AMC_OWE_HIST, AMC_FREER_HIST, true);
        AM_CRASH_POINT(CH_HIST_EVICTED);
    }
    e[victim].order = ++ch->hist_order;
    e[victim].sample = s;
}

bool amc_hist_holds(am_arena *a, amc_chan *ch, amc_slot s)
{
    uint32_t cap;
    amc_hist *e = amc_hist_table(a, ch, &cap);
    for (unsigned k = 0; e && k < cap; k++) {
        if (e[k].sample.off == s.off && e[k].sample.gen == s.gen) return true;
    }
    return false;
}

void amc_hist_replay(amc_conn *c, unsigned n)
{
    uint32_t cap;
    amc_hist *e = amc_hist_table(c->a, c->ch, &cap);
    if (!e) return;
    uint64_t bit = 1ull << c->port;
    unsigned have = 0;
    for (unsigned k = 0; k < cap; k++) have += e[k].sample.off != 0;
    unsigned skip = have > n ? have - n : 0;
    /* Oldest first among the newest n: pick by increasing order above a floor. */
    uint64_t floor = 0;
    for (unsigned done = 0; done < have; done++) {
        unsigned best = cap;
        for (unsigned k = 0; k < cap; k++) {
            if (e[k].sample.off == 0 || e[k].order <= floor) continue;
            if (best == cap || e[k].order < e[best].order) best = k;
        }
        if (best == cap) break;
        floor = e[best].order;
        if (done < skip) continue;
        amc_slot s = e[best].sample;
        amc_msg *m = am_block_probe(c->a, s.off, s.gen, NULL, NULL);
        if (!m || !(atomic_load_explicit(&m->owe, memory_order_acquire) & AMC_OWE_HIST)) continue;
        /* Queue first, then hold: the history bit keeps it alive meanwhile, and if we
         * die in between, our cleanup clears a bit that is already clear. */
        if (!ck_ring_enqueue_spsc_amc(&c->ring->ring, c->slots, &s)) break;
        atomic_fetch_or_explicit(&m->owe, bit, memory_order_acq_rel);
    }
}

void amc_hist_settle(am_arena *a, amc_chan *ch)
{
    uint32_t cap;
    amc_hist *e = amc_hist_table(a, ch, &cap);
    for (unsigned k = 0; e && k < cap; k++) {
        amc_slot s = e[k].sample;
        if (s.off == 0) continue;
        amc_msg *m = am_block_probe(a, s.off, s.gen, NULL, NULL);
        if (m && (atomic_load_explicit(&m->owe, memory_order_acquire) & AMC_OWE_HIST)) continue;
        if (m) (void)amc_release(a, s, AMC_OWE_HIST, AMC_FREER_HIST, true);
        e[k].sample.off = 0;
    }
}

void amc_hist_drop(am_arena *a, amc_chan *ch)
{
    uint32_t cap;
    amc_hist *e = amc_hist_table(a, ch, &cap);
    if (!e) return;
    for (unsigned k = 0; k < cap; k++) {
        if (e[k].sample.off != 0) (void)amc_release(a, e[k].sample, AMC_OWE_HIST, AMC_FREER_HIST, true);
        e[k].sample.off = 0;
    }
    (void)am_ack(a, (uint8_t *)e - sizeof(amc_histtab));
}
