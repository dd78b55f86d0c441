/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wait.c — how a port waits: spin, then sleep on a futex word in the arena.
 *
 * Receivers spin for AM_SPIN_NS (default 20 us: waking a sleeping process costs about
 * 10 us on a small VM, and a spin shorter than that makes both sides of a ping-pong
 * oversleep), then announce `sleeping` with a sequentially consistent store, look at
 * the queue once more and FUTEX_WAIT. A sender, after queuing, fences and wakes only
 * if `sleeping` was set: the common case costs no system call. The futex words are in
 * shared memory, so the shared (not _PRIVATE) futex calls are used.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "channel_internal.h"

uint64_t amc_deadline(int64_t timeout_ns)
{
    if (timeout_ns < 0) return UINT64_MAX;
    return am_now_ns() + (uint64_t)timeout_ns;
}

uint64_t amc_spin_ns(void)
{
    static _Atomic int64_t spin = -1;
    int64_t s = atomic_load_explicit(&spin, memory_order_relaxed);
    if (s < 0) {
        const char *e = getenv("AM_SPIN_NS");
        char *end;
        long long v = e ? strtoll(e, &end, 10) : -1;
        s = (e && *e && *end == 0 && v >= 0) ? v : 20000;
        atomic_store_explicit(&spin, s, memory_order_relaxed);
    }
    return (uint64_t)s;
}

void amc_futex_wait(_Atomic uint32_t *word, uint32_t expect, uint64_t deadline, uint64_t max_ns)
{
    uint64_t now = am_now_ns();
    if (now >= deadline) return;
    uint64_t wait = deadline - now < max_ns ? deadline - now : max_ns;
    struct timespec ts = { (time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull) };
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expect, &ts, NULL, 0);
}

void amc_futex_wake(_Atomic uint32_t *word)
{
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void amc_relax(unsigned round)
{
    if ((round & 63) == 63) sched_yield();
}
