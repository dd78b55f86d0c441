/* SPDX-License-Identifier: Apache-2.0 */
/*
 * waitset.c — one thread waiting on many receiving ports at once.
 *
 * Each port keeps its own futex word (`wake`); a waitset spins over its ports' queues,
 * then sets every port's `sleeping` flag, looks once more and sleeps on all the words
 * together with futex_waitv (Linux 5.16+). Senders need not know about waitsets: they
 * wake a port's word exactly as for a single waiter. On a kernel without futex_waitv
 * the waitset sleeps in short naps instead.
 */
#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "channel_internal.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define WAITSET_MAX 64u

typedef struct ws_entry {
    amc_conn   *c;
    const void *port;
    void       *user;
} ws_entry;

struct am_waitset {
    unsigned n;
    ws_entry e[WAITSET_MAX];
};

int am_waitset_open(am_waitset **out)
{
    if (!out) return AM_EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : AM_ENOMEM;
}

static int add(am_waitset *w, amc_conn *c, const void *port, void *user)
{
    if (!w || !c) return AM_EINVAL;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->e[i].port == port) return AM_EEXIST;
    }
    if (w->n == WAITSET_MAX) return AM_EFULL;
    w->e[w->n++] = (ws_entry){ c, port, user };
    return 0;
}

int am_waitset_add_sub(am_waitset *w, am_sub *s, void *user)
{
    return s ? add(w, amc_conn_of(s), s, user) : AM_EINVAL;
}

int am_waitset_add_server(am_waitset *w, am_server *s, void *user)
{
    return s ? add(w, amc_conn_of(s), s, user) : AM_EINVAL;
}

int am_waitset_remove(am_waitset *w, const void *port)
{
    if (!w || !port) return AM_EINVAL;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->e[i].port == port) {
            w->e[i] = w->e[--w->n];
            return 0;
        }
    }
    return AM_ENOENT;
}

static unsigned collect(am_waitset *w, void **ready, unsigned max)
{
    unsigned k = 0;
    for (unsigned i = 0; i < w->n && k < max; i++) {
        if (amc_queued(w->e[i].c) > 0) ready[k++] = w->e[i].user;
    }
    return k;
}

static void set_sleeping(am_waitset *w, uint32_t v)
{
    for (unsigned i = 0; i < w->n; i++) {
        amc_conn *c = w->e[i].c;
        atomic_store_explicit(&c->ch->ports[c->port].sleeping, v, memory_order_seq_cst);
    }
}

static void sleep_on_all(am_waitset *w, uint64_t deadline)
{
    struct futex_waitv v[WAITSET_MAX];
    for (unsigned i = 0; i < w->n; i++) {
        amc_conn *c = w->e[i].c;
        _Atomic uint32_t *word = &c->ch->ports[c->port].wake;
        v[i] = (struct futex_waitv){ .val = atomic_load_explicit(word, memory_order_acquire),
                                     .uaddr = (uintptr_t)word, .flags = FUTEX_32 };
    }
    set_sleeping(w, 1);
    void *dummy;
    if (collect(w, &dummy, 1) == 0) {
        uint64_t until = deadline == UINT64_MAX ? am_now_ns() + 3600ull * 1000000000ull : deadline;
        struct timespec ts = { (time_t)(until / 1000000000ull), (long)(until % 1000000000ull) };
        if (syscall(SYS_futex_waitv, v, w->n, 0, &ts, CLOCK_MONOTONIC) < 0 && errno == ENOSYS) {
            struct timespec nap = { 0, 100000 };
            nanosleep(&nap, NULL);
        }
    }
    set_sleeping(w, 0);
}

int am_waitset_wait(am_waitset *w, void **ready, unsigned max, int64_t timeout_ns)
{
    if (!w || !ready || max == 0 || w->n == 0) return AM_EINVAL;
    for (unsigned i = 0; i < w->n; i++) {
        if (!amc_usable(w->e[i].c)) return AM_EINVAL;   /* ports inherited across fork */
    }
    uint64_t start = am_now_ns(), deadline = amc_deadline(timeout_ns), spin = amc_spin_ns();
    for (unsigned i = 0;; i++) {
        unsigned k = collect(w, ready, max);
        if (k) return (int)k;
        uint64_t now = am_now_ns();
        if (now >= deadline) return AM_ETIMEDOUT;
        if (now - start >= spin) sleep_on_all(w, deadline);
        else if ((i & 511) == 511) sched_yield();      /* more spinners than CPUs */
    }
}

void am_waitset_close(am_waitset *w)
{
    free(w);
}
