/* SPDX-License-Identifier: Apache-2.0 */
/*
 * holders.c — holder words: a sample's `owe` and an rx block's `users`.
 *
 * One bit per holder; dropping a holder clears its bit by CAS, and the CAS that clears
 * the last bit also writes the dropper's id in the top byte, so exactly one party (or
 * whoever cleans up after it) frees the block. Dropping twice is harmless: the second
 * finds the bit clear. A recovery (recover = true) also frees when "no holders, freer =
 * me" shows that an earlier drop by the same freer won the last bit and died before
 * freeing; freer ids are chosen so that nobody alive can be finishing that same free.
 *
 * A dropper whose bit may already be clear (a second drop, a cleaner) holds nothing
 * that keeps the block from being freed and allocated again, and the new allocation's
 * word may have the very same bit set for a new holder: clearing that would free a
 * block someone still uses. So every word loaded is checked against the block's
 * generation, which a new allocation publishes before its holder word (the word's
 * writer stores it with release): still the generation probed, the word is the probed
 * allocation's, and the CAS that follows can only succeed on that word.
 */
#include "channel_internal.h"

int amc_drop(_Atomic uint64_t *w, const _Atomic uint32_t *gen_word, uint32_t gen, uint64_t holders, uint64_t bit,
             unsigned freer, bool recover)
{
    uint64_t o = atomic_load_explicit(w, memory_order_acquire);
    for (;;) {
        if (atomic_load_explicit(gen_word, memory_order_acquire) != gen) return AMC_DROP_NONE;   /* reused */
        if (!(o & bit)) return recover && (o & holders) == 0 && AMC_FREER_OF(o) == freer ? AMC_DROP_FREE : AMC_DROP_NONE;
        uint64_t n = o & ~bit;
        bool last = (n & holders) == 0;
        if (last) n = (n & ~(0xffull << AMC_FREER_SHIFT)) | ((uint64_t)freer << AMC_FREER_SHIFT);
        if (atomic_compare_exchange_weak_explicit(w, &o, n, memory_order_acq_rel, memory_order_acquire)) {
            return last ? AMC_DROP_FREE : AMC_DROP_KEPT;
        }
    }
}

uint64_t amc_holders_of(const _Atomic uint64_t *w, const void *blk, uint32_t gen)
{
    uint64_t o = atomic_load_explicit(w, memory_order_acquire);
    return atomic_load_explicit(am_block_gen_word(blk), memory_order_acquire) == gen ? o : 0;
}

amc_msg *amc_sample_at(am_arena *a, amc_slot s, size_t *size)
{
    size_t sz;
    amc_msg *m = am_block_probe(a, s.off, s.gen, NULL, &sz);
    if (!m || sz < AMC_MSG_HDR) return NULL;
    if (size) *size = sz;
    return m;
}

int amc_drop_sample(am_arena *a, amc_slot s, uint64_t bit, unsigned freer, bool recover, amc_msg **m)
{
    *m = amc_sample_at(a, s, NULL);
    if (!*m) return AMC_DROP_NONE;
    AM_CRASH_POINT(CH_DROP_PROBED);
    int d = amc_drop(&(*m)->owe, am_block_gen_word(*m), s.gen, AMC_OWE_HOLDERS, bit, freer, recover);
    if (d == AMC_DROP_FREE) AM_CRASH_POINT(CH_ACK_CLEARED);
    return d;
}

int amc_release(am_arena *a, amc_slot s, uint64_t bit, unsigned freer, bool recover)
{
    amc_msg *m;
    int d = amc_drop_sample(a, s, bit, freer, recover, &m);
    if (!m) return recover ? 0 : AM_ECORRUPT;
    if (d != AMC_DROP_FREE) return d == AMC_DROP_NONE && !recover ? AM_EINVAL : 0;
    return amc_free_sample(a, m);
}

int amc_free_sample(am_arena *a, amc_msg *m)
{
    /* Deferred: the next allocation in that sector merges it, on its own CPU. */
    return am_ack_deferred(a, m) == 0 ? 0 : AM_ECORRUPT;
}
