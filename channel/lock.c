/*
 * lock.c — stamp locks: the directory's and each channel's.
 *
 * A lock word holds the holder's arena stamp (participant incarnation and slot), so a
 * waiter can ask the kernel whether the holder still lives and, if not, take the lock
 * over by CAS. Whatever the dead holder was doing is then finished or undone by the
 * thief (amc_chan_repair for a channel; the directory repairs its entries as it scans
 * them). Holders never sleep with a lock held: a sender that must wait for room lets
 * go first.
 */
#include <sched.h>
#include "channel_internal.h"

bool amc_lock(am_arena *a, _Atomic uint64_t *lock)
{
    uint64_t me = am_arena_stamp(a);
    for (unsigned spins = 0;; spins++) {
        uint64_t cur = 0;
        if (atomic_compare_exchange_weak_explicit(lock, &cur, me, memory_order_acquire, memory_order_relaxed)) {
            return false;
        }
        /* Every 128 tries, ask whether the holder lives (a system call). */
        if (cur != 0 && (spins & 127) == 127 && am_stamp_dead(a, cur)) {
            if (atomic_compare_exchange_strong_explicit(lock, &cur, me, memory_order_acquire, memory_order_relaxed)) {
                atomic_store_explicit(&a->dead_seen, 1, memory_order_relaxed);
                return true;
            }
        }
        if (spins > 1000) sched_yield();
    }
}

void amc_unlock(_Atomic uint64_t *lock)
{
    atomic_store_explicit(lock, 0, memory_order_release);
}

void amc_chan_lock(amc_conn *c)
{
    if (amc_lock(c->a, &c->ch->lock)) amc_chan_repair(c->a, c->ch);
}

void amc_chan_unlock(amc_conn *c)
{
    amc_unlock(&c->ch->lock);
}
