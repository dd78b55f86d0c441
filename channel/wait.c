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
 *
 * The sleep barrier. That handshake is Dekker's: each side stores, then loads what the
 * other stored, so each needs a full fence between the two. The sender's fence, on
 * every send, costs it most of a send when the receiver keeps up (it waits for every
 * store of the message to reach the other CPU). A receiver that spins before it
 * sleeps goes to sleep rarely, so it pays for both: after arming `sleeping` it runs
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which makes every CPU running a thread
 * of a process registered for it execute a full barrier. A registered sender that
 * queued and then read `sleeping` as 0 either did so before that barrier on its CPU
 * (then its queued slot was visible before the membarrier returned, and the
 * receiver's look finds it) or after it (then it sees `sleeping` = 1). The port's
 * `barrier` word says which receivers do this: those whose process registered and
 * spins (AM_SPIN_NS > 0: with 0 it would pay the system call on every message) and
 * whose port is not in a descriptor's waitset (an event loop settles on every wake).
 * A sender that is not registered, or finds a target without `barrier`, fences.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
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

/* ------------------------------------------------------------ the sleep barrier */

static long membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

bool amc_barrier_registered(void)
{
    /* Registration belongs to the process (its mm), and a fork child is a new one. */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pid_t done_for;
    static bool ok;
    pthread_mutex_lock(&lock);
    pid_t me = getpid();
    if (done_for != me) {
        long q = membarrier(MEMBARRIER_CMD_QUERY);
        ok = q > 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
             membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
        done_for = me;
    }
    bool r = ok;
    pthread_mutex_unlock(&lock);
    return r;
}

uint32_t amc_barrier_wanted(void)
{
    return amc_spin_ns() > 0 && amc_barrier_registered();
}

bool amc_sleep_barrier(_Atomic uint32_t *barrier)
{
    if (!atomic_load_explicit(barrier, memory_order_relaxed)) return true;   /* senders fence */
    return membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
}

void amc_barrier_set(_Atomic uint32_t *barrier, uint32_t on)
{
    uint32_t was = atomic_exchange_explicit(barrier, on, memory_order_seq_cst);
    /* Turning it off: a sender that read 1 before this skipped its fence for a send it
     * is still finishing; after one more barrier on every CPU, every such send is
     * visible, and every later send reads 0 (and fences). There is no nap to fall back
     * on here (the port now sleeps in the caller's poll), so if the expedited barrier
     * fails (it allocates: ENOMEM), the plain one (a grace period on every CPU, no
     * allocation) does it. Should that fail too (a nohz_full kernel refuses it), a send
     * racing this very call may wake the port only with the next one. */
    if (was && !on && membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0) (void)membarrier(MEMBARRIER_CMD_GLOBAL);
}
