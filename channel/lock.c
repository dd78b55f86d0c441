/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lock.c — the directory's stamp lock, the one lock left in the channel layer: it
 * covers creating and destroying channels, never a send, take, ack or attach.
 *
 * The lock word holds the holder's arena stamp (participant incarnation and slot), so
 * a waiter can ask the kernel whether the holder still lives and, if not, take the
 * lock over by CAS (and settle what the dead holder left). A holder that lives but does
 * not let go (paused by SIGSTOP or a debugger, or a forged stamp) costs a waiter at
 * most its deadline: AM_ETIMEDOUT.
 */
#include "channel_internal.h"

int amc_lock(am_arena *a, _Atomic uint64_t *lock, uint64_t deadline)
{
    uint64_t me = am_arena_stamp(a);
    for (unsigned spins = 0;; spins++) {
        uint64_t cur = 0;
        if (atomic_compare_exchange_weak_explicit(lock, &cur, me, memory_order_acquire, memory_order_relaxed)) {
            return 0;
        }
        if ((spins & 127) != 127) {
            amc_relax(spins);
            continue;
        }
        /* Every 128 tries: has the deadline passed, does the holder live? */
        if (am_now_ns() >= deadline) return AM_ETIMEDOUT;
        if (cur != 0 && am_stamp_dead(a, cur) &&
            atomic_compare_exchange_strong_explicit(lock, &cur, me, memory_order_acquire, memory_order_relaxed)) {
            am_note_dead(a);
            return 1;
        }
    }
}

void amc_unlock(_Atomic uint64_t *lock)
{
    atomic_store_explicit(lock, 0, memory_order_release);
}
