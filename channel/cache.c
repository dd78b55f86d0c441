/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.c — the block cache: samples go back to their sender, which reuses them.
 *
 * When a receiver drops the last hold on a sample (an ack), it does not free the block
 * into the arena: it puts it on the return ring of the link it came by, and the sender
 * adopts it for its next loan of a fitting size. A steady stream therefore cycles a
 * few hundred blocks between the two processes and does no allocator work per message.
 *
 *   receiver (ack):  owe's last bit cleared -> held entry marked RETURNING -> enqueue
 *                    on the return ring (its only producer) -> held entry cleared
 *   sender (loan):   in-flight record RETURN {link, c_head} -> ret_lock by CAS ->
 *                    dequeue into the record -> am_block_adopt (owned, new generation)
 *                    -> record cleared -> unlock
 *
 * One take-back adopts up to AMC_STASH + 1 fitting blocks: the first serves the loan,
 * the rest wait in the sender's private stash for the next loans, which then touch no
 * shared word at all. Stashed blocks are the sender's own (the arena frees them if it
 * dies); they go back to the arena when it closes.
 *
 * The return ring's consumer holds ret_lock, a try-lock nobody waits for: a sender
 * that finds it busy allocates from the arena instead. Besides the sender, the
 * receiver takes the lock to sweep blocks its sender left there for AMC_CACHE_IDLE_NS
 * or will never take (it no longer sends to us): those are freed into the arena, and
 * a sender frees what is in its return rings when it closes or stops sending to a
 * receiver. So a drained arena is again one free block per sector, and an idle
 * publisher does not sit on memory.
 *
 * After a death at any instruction (docs/channel-design.md, "The block cache"):
 *   - a returning receiver: its held entry still names the block. RETURNING and the
 *     block is the last one on the return ring: it was returned, leave it; otherwise
 *     free it (amc_ret_landed, used by amc_rx_release_own).
 *   - a consumer: its record says which ring and where c_head was. If c_head moved, it
 *     dequeued the block in the record: still disowned means not adopted, so free it;
 *     adopted blocks are the dead participant's and the arena frees them. Its lock is
 *     released by its port's cleaner only after that (amc_ret_settle).
 */
#include "channel_internal.h"

#define AMC_CACHE_MARK_NS     1000000ull   /* a sender marks its links active every 1 ms */
#define AMC_CACHE_IDLE_NS    10000000ull   /* blocks a sender left 10 ms are swept        */
#define AMC_CACHE_TRIES       4u           /* returned blocks one loan looks at            */

/* Nothing to take back? *tail is the caller's copy of the return ring's p_tail. */
static inline bool ret_empty(amc_link *l, unsigned *tail)
{
    unsigned head = atomic_load_explicit((_Atomic unsigned *)&l->ret.c_head, memory_order_relaxed);
    if ((int)(*tail - head) > 0) return false;
    *tail = atomic_load_explicit((_Atomic unsigned *)&l->ret.p_tail, memory_order_acquire);
    return (int)(*tail - head) <= 0;
}

/* ------------------------------------------------------------ receiver: returning */

bool amc_ret_push(amc_conn *c, unsigned ix, const amc_msg *m)
{
    unsigned j = m->from;
    if (j >= AM_MAX_PORTS || j == c->port) return false;
    /* Only to a sender that still sends to us (its users bit on our rx block): one
     * that left will not take it back. */
    if (!(atomic_load_explicit(&c->rx->users, memory_order_relaxed) & (1ull << j))) return false;
    amc_in *in = amc_in_link(c, j);
    if (!in) return false;
    amc_link *l = in->link;
    amc_slot s = c->held[ix];
    s.flags = 0;                            /* entries elsewhere carry no flags */
    atomic_store_explicit((_Atomic uint32_t *)&c->held[ix].flags, AMC_HELD_SURE | AMC_HELD_RETURNING,
                          memory_order_release);
    if (!amc_ring_put(&l->ret, amc_link_ret_slots(l, in->mask + 1), in->mask, in->mask, &s, &in->ret_head, &in->ret_tail)) {
        atomic_store_explicit((_Atomic uint32_t *)&c->held[ix].flags, AMC_HELD_SURE, memory_order_relaxed);
        return false;                       /* full: the sender is not taking them */
    }
    AM_CRASH_POINT(CH_RET_PUSHED);
    return true;
}

bool amc_ret_landed(am_arena *a, amc_rx *r, amc_slot s)
{
    amc_msg *m = amc_sample_at(a, s, NULL);
    if (!m || m->from >= AM_MAX_PORTS) return false;
    uint32_t depth = r->depth;
    amc_link *l = amc_link_at(a, atomic_load_explicit(&r->links[m->from], memory_order_acquire), depth, NULL);
    /* Its returner produced nothing after it: the last entry is the one it put there. */
    return l && amc_ring_last_is(&l->ret, amc_link_ret_slots(l, depth), depth - 1, s);
}

/* ------------------------------------------------------------ taking blocks back */

/* What to do with each block taken back: 1 keep it (stop), 0 it was dealt with. */
typedef int (*ret_use)(amc_conn *c, void *p, size_t cap, void *arg);

/* Take up to max blocks off link l's return ring (its ref is ref, its validated mask
 * mask, *tail the caller's copy of its p_tail) for `use`, under ret_lock. How many
 * were taken; -1 if the lock was busy. */
static int ret_take(amc_conn *c, amc_link *l, uint64_t ref, unsigned mask, unsigned *tail, unsigned max, ret_use use,
                    void *arg)
{
    amc_record *rec = &c->me->rec;
    unsigned pos = atomic_load_explicit((_Atomic unsigned *)&l->ret.c_head, memory_order_acquire);
    rec->link = ref;
    rec->pos = pos;
    /* The record before the lock: a cleaner that finds our stamp in the lock knows
     * where c_head was when we got it (the lock's CAS releases it; the cleaner reads
     * the lock with acquire). */
    atomic_store_explicit(&rec->op, AMC_REC_RETURN, memory_order_relaxed);
    uint64_t free_word = 0, me = am_arena_stamp(c->a);
    int n = -1;
    if (atomic_compare_exchange_strong_explicit(&l->ret_lock, &free_word, me, memory_order_acq_rel,
                                                memory_order_relaxed)) {
        n = 0;
        /* Nobody else consumed between our look and the lock (else pos would lie). */
        bool same = atomic_load_explicit((_Atomic unsigned *)&l->ret.c_head, memory_order_acquire) == pos;
        amc_slot *slots = amc_link_ret_slots(l, mask + 1);
        while (same && (unsigned)n < max && amc_ring_take_locked(&l->ret, slots, mask, &rec->sample, tail)) {
            AM_CRASH_POINT(CH_RET_TAKEN);
            n++;
            size_t cap;
            void *p = am_block_adopt(c->a, rec->sample.off, rec->sample.gen, &c->gens, &cap);
            rec->pos = ++pos;               /* before the next dequeue moves c_head */
            /* Not adoptable (p NULL): the slot named no block of ours to take back (only a
             * scribbled ring does that); it is left to whoever owns what it names. */
            if (p && use(c, p, cap, arg)) break;
        }
        /* Unlocked before the record goes: no lock outlives the record naming it. */
        atomic_store_explicit(&l->ret_lock, 0, memory_order_release);
    }
    atomic_store_explicit(&rec->op, AMC_REC_NONE, memory_order_release);
    return n;
}

static int use_free(amc_conn *c, void *p, size_t cap, void *arg)
{
    (void)cap, (void)arg;
    (void)am_ack(c->a, p);
    return 0;
}

typedef struct fit { size_t need; void *p; } fit;

/* A block fits a loan when it is big enough and not more than twice what is needed
 * (so a stream of small messages does not pin big blocks). */
static inline bool fits(size_t cap, size_t need)
{
    return cap >= need && cap <= 2 * need + 256;
}

/* The first fitting block serves the loan, later ones (fitting the same size) go to
 * the stash while it has room; anything else is freed. 1 (stop) when both are done. */
static int use_fitting(amc_conn *c, void *p, size_t cap, void *arg)
{
    fit *f = arg;
    if (fits(cap, f->need) && !f->p) {
        f->p = p;
    } else if (fits(cap, f->need) && c->nstash < AMC_STASH) {
        c->stash[c->nstash] = p;
        c->stash_cap[c->nstash++] = cap;
    } else {
        (void)am_ack(c->a, p);
    }
    return f->p && c->nstash == AMC_STASH;
}

/* A stashed block that fits, taken out of the stash; NULL if none. */
static void *from_stash(amc_conn *c, size_t need)
{
    for (unsigned i = c->nstash; i-- > 0;) {
        if (!fits(c->stash_cap[i], need)) continue;
        void *p = c->stash[i];
        c->nstash--;
        c->stash[i] = c->stash[c->nstash];
        c->stash_cap[i] = c->stash_cap[c->nstash];
        return p;
    }
    return NULL;
}

void amc_cache_drop_stash(amc_conn *c)
{
    while (c->nstash) (void)am_ack(c->a, c->stash[--c->nstash]);
}

/* ------------------------------------------------------------ sender */

void *amc_cache_loan(amc_conn *c, size_t need)
{
    fit f = { need, from_stash(c, need) };
    if (f.p) {
        amc_bump(&c->me->reused);
        return f.p;
    }
    unsigned tries = 0;
    uint64_t todo = c->linked;
    while (todo && tries < AMC_CACHE_TRIES) {
        uint64_t from = todo & (~0ull << c->cache_next);
        unsigned t = (unsigned)__builtin_ctzll(from ? from : todo);
        todo &= ~(1ull << t);
        amc_view *v = &c->views[t];
        if (ret_empty(v->link, &v->ret_tail)) continue;
        int n = ret_take(c, v->link, v->link_ref, v->mask, &v->ret_tail, AMC_CACHE_TRIES + AMC_STASH - tries,
                         use_fitting, &f);
        if (n > 0) tries += (unsigned)n;
        if (f.p) {
            c->cache_next = t;              /* stay with the link that had it */
            amc_bump(&c->me->reused);
            return f.p;
        }
    }
    return NULL;
}

void amc_cache_mark(amc_conn *c, uint64_t now)
{
    if (now - c->cache_mark_ns < AMC_CACHE_MARK_NS) return;
    c->cache_mark_ns = now;
    for (uint64_t m = c->linked; m; m &= m - 1) {
        atomic_store_explicit(&c->views[__builtin_ctzll(m)].link->ret_active_ns, now, memory_order_relaxed);
    }
}

void amc_cache_flush(amc_conn *c, unsigned t)
{
    amc_view *v = &c->views[t];
    if (!v->link) return;
    (void)ret_take(c, v->link, v->link_ref, v->mask, &v->ret_tail, v->mask + 1, use_free, NULL);
}

/* ------------------------------------------------------------ receiver: sweeping */

void amc_cache_sweep(amc_conn *c, uint64_t now)
{
    uint64_t linked = atomic_load_explicit(&c->rx->linked, memory_order_acquire);
    uint64_t users = atomic_load_explicit(&c->rx->users, memory_order_relaxed);
    for (uint64_t m = linked; m; m &= m - 1) {
        unsigned j = (unsigned)__builtin_ctzll(m);
        amc_in *in = amc_in_link(c, j);
        if (!in) continue;
        unsigned tail = atomic_load_explicit((_Atomic unsigned *)&in->link->ret.c_head, memory_order_relaxed);
        if (ret_empty(in->link, &tail)) continue;
        uint64_t active = atomic_load_explicit(&in->link->ret_active_ns, memory_order_relaxed);
        if ((users & (1ull << j)) && now - active < AMC_CACHE_IDLE_NS) continue;
        uint64_t ref = atomic_load_explicit(&c->rx->links[j], memory_order_acquire);
        (void)ret_take(c, in->link, ref, in->mask, &tail, in->mask + 1, use_free, NULL);
    }
}

/* ------------------------------------------------------------ after a death */

void amc_ret_settle(am_arena *a, amc_chan *ch, unsigned i, uint64_t stamp)
{
    amc_record *rec = &ch->ports[i].rec;
    if (atomic_load_explicit(&rec->op, memory_order_acquire) != AMC_REC_RETURN) return;
    amc_slot ls = amc_ref_unpack(rec->link);
    size_t sz;
    amc_link *l = am_block_probe(a, ls.off, ls.gen, NULL, &sz);
    if (l && sz >= sizeof *l && l->magic == AMC_LINK_MAGIC && l->depth >= 2 && sz >= amc_link_bytes(l->depth) &&
        atomic_load_explicit(&l->ret_lock, memory_order_acquire) == stamp) {
        /* The lock is the dead one's: nobody has consumed since it took it. */
        if (atomic_load_explicit((_Atomic unsigned *)&l->ret.c_head, memory_order_acquire) != rec->pos) {
            uint32_t owner = 1;
            void *p = am_block_probe(a, rec->sample.off, rec->sample.gen, &owner, NULL);
            if (p && owner == 0) (void)am_ack(a, p);     /* dequeued, never adopted */
        }
        atomic_store_explicit(&l->ret_lock, 0, memory_order_release);
    }
    atomic_store_explicit(&rec->op, AMC_REC_NONE, memory_order_release);
}
