/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleanup.c — tearing a port down: by its owner when it closes, or by whoever finds
 * the owner dead (a sender whose receiver stays full, a client waiting on its server,
 * any open of the channel, am_channels_gc).
 *
 * One party at a time does it: the one whose stamp it CASes into the port's `cleaner`
 * word (taking it over from a dead cleaner). It does not need anybody else to stop:
 * senders that still see the port keep its rx block alive through their users bits,
 * and a paused cleaner delays only this port's cleanup, which nobody waits for.
 *
 *   1. state RELEASING, version moves: senders drop their views of it;
 *   2. a dead owner's return-ring record settled and that ring unlocked (cache.c);
 *      a sender's part: finish its in-flight record, release its history, let go of
 *      every rx block it sends to, free its tx block;
 *   3. a receiver's part: release its held and replay lists, drain its links, drop its
 *      own bit on its rx block (the last user frees the block and the links);
 *   4. the port record is cleared and, last, its stamp: the port may be claimed again.
 * Every step may be repeated by a later cleaner after a death at any instruction.
 */
#include "channel_internal.h"

bool amc_port_dead(am_arena *a, amc_port *p)
{
    uint64_t stamp = atomic_load_explicit(&p->stamp, memory_order_acquire);
    return stamp != 0 && am_stamp_dead(a, stamp);
}

unsigned amc_chan_ports(const amc_chan *ch)
{
    unsigned n = 0;
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) {
        n += atomic_load_explicit(&((amc_chan *)ch)->ports[i].stamp, memory_order_seq_cst) != 0;
    }
    return n;
}

/* Become port i's one cleaner: it is ours (closing) or its owner is dead. */
static bool claim_cleanup(am_arena *a, amc_port *p, uint64_t me)
{
    uint64_t cur = 0;
    if (atomic_compare_exchange_strong_explicit(&p->cleaner, &cur, me, memory_order_acq_rel, memory_order_acquire)) {
        return true;
    }
    return cur != me && am_stamp_dead(a, cur) &&
           atomic_compare_exchange_strong_explicit(&p->cleaner, &cur, me, memory_order_acq_rel, memory_order_acquire);
}

/* A sender's part. false: an eviction cannot be settled yet. */
static bool release_sender(am_arena *a, amc_chan *ch, unsigned i, bool owner_alive)
{
    amc_port *p = &ch->ports[i];
    uint32_t own = 0;
    amc_tx *tx = amc_port_tx(a, ch, i, &own);
    if (!tx) return true;
    if (own != 0) {
        /* Never disowned: its attacher died before using it (the arena frees it), or
         * it is our own attach failing half-way. */
        if (owner_alive) (void)am_ack(a, tx);
        atomic_store_explicit(&p->tx_ref, 0, memory_order_release);
        return true;
    }
    if (!owner_alive && !amc_rec_finish(a, ch, i, tx)) return false;
    amc_hist_drop(a, tx);
    for (unsigned t = 0; t < AM_MAX_PORTS; t++) {
        uint64_t ref = atomic_load_explicit(&tx->rx[t], memory_order_acquire);
        if (ref == 0) continue;
        amc_rx_drop(a, ref, 1ull << i, i + 1, true);
        atomic_store_explicit(&tx->rx[t], 0, memory_order_release);
    }
    AM_CRASH_POINT(CH_TX_DROPPED);
    (void)am_ack(a, tx);
    atomic_store_explicit(&p->tx_ref, 0, memory_order_release);
    return true;
}

static void release_receiver(am_arena *a, amc_chan *ch, unsigned i, bool owner_alive)
{
    amc_port *p = &ch->ports[i];
    uint64_t ref = atomic_load_explicit(&p->rx_ref, memory_order_acquire);
    uint32_t own = 0;
    amc_rx *r = amc_rx_at(a, ref, &own);
    if (r && own != 0) {
        if (owner_alive) (void)am_ack(a, r);
    } else if (r && r->port == i) {
        AM_CRASH_POINT(CH_CLEAN_RX_FOUND);
        /* Our share only while our own bit keeps the block: an earlier cleaner that
         * dropped it and died left the block to its senders, the last of which frees
         * it (any moment now), and it must not be written to any more. */
        if (amc_rx_has_self(r, ref)) amc_rx_release_own(a, r);
        amc_rx_drop(a, ref, AMC_RX_SELF, AMC_FREER_RX, true);
    }
    atomic_store_explicit(&p->rx_ref, 0, memory_order_release);
}

int amc_port_release(am_arena *a, amc_chan *ch, unsigned i)
{
    amc_port *p = &ch->ports[i];
    uint64_t me = am_arena_stamp(a), stamp = atomic_load_explicit(&p->stamp, memory_order_acquire);
    if (stamp == 0) return 0;
    bool owner_alive = stamp == me;
    /* Only our own port, or a dead owner's: the caller's look at the stamp may be
     * stale (the dead port cleaned up and claimed again by a live process since). */
    if (!owner_alive && !am_stamp_dead(a, stamp)) return AM_EAGAIN;
    if (!claim_cleanup(a, p, me)) return AM_EAGAIN;
    if (atomic_load_explicit(&p->stamp, memory_order_acquire) != stamp) {   /* freed meanwhile */
        atomic_store_explicit(&p->cleaner, 0, memory_order_release);
        return 0;
    }
    atomic_store_explicit(&p->state, AMC_PORT_RELEASING, memory_order_release);
    atomic_fetch_add_explicit(&ch->version, 1, memory_order_acq_rel);
    amc_dir_changed(a);
    if (!owner_alive) amc_ret_settle(a, ch, i, stamp);
    if (!release_sender(a, ch, i, owner_alive)) {
        atomic_store_explicit(&p->cleaner, 0, memory_order_release);    /* a later gc goes on */
        return AM_EAGAIN;
    }
    release_receiver(a, ch, i, owner_alive);
    atomic_store_explicit(&p->rec.op, AMC_REC_NONE, memory_order_relaxed);
    atomic_store_explicit(&p->state, AMC_PORT_FREE, memory_order_release);
    atomic_store_explicit(&p->cleaner, 0, memory_order_relaxed);
    atomic_store_explicit(&p->stamp, 0, memory_order_seq_cst);
    atomic_fetch_add_explicit(&ch->version, 1, memory_order_acq_rel);
    /* Senders blocked on this receiver must look again. */
    atomic_fetch_add_explicit(&p->room, 1, memory_order_release);
    amc_futex_wake(&p->room);
    /* The dead owner may still own blocks that no record names: a sender's stash of
     * adopted blocks, a loan not yet sent. The arena frees a dead participant's blocks
     * when someone reclaims its slot; do it now rather than at the next join, so that
     * a drained arena is drained once the dead are cleaned up. */
    if (!owner_alive) (void)am_arena_reclaim(a);
    return 0;
}

int amc_chan_gc(am_arena *a, amc_chan *ch)
{
    int n = 0;
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) {
        if (amc_port_dead(a, &ch->ports[i]) && amc_port_release(a, ch, i) == 0) n++;
    }
    return n;
}
