/* SPDX-License-Identifier: Apache-2.0 */
/*
 * waitset.c — one thread waiting on many receiving ports (and discovery) at once.
 *
 * Each port keeps its own futex word (`wake`) and `sleeping` flag; a discovery watch
 * waits on the directory's `changes` word. A waitset spins over its entries, then
 * arms every port (`sleeping` = 1, seq_cst), looks once more and sleeps:
 *
 *  - on all the words together with futex_waitv (Linux 5.16+; short naps without it),
 *    while the waitset has no descriptor and at most FUTEX_WAITV_MAX words;
 *  - otherwise in poll on its descriptor (notify.c): every port records the
 *    descriptor's token, and a sender that finds the port armed sends it a datagram
 *    besides the futex wake. Senders need not know about waitsets either way.
 *
 * With a descriptor the ports stay armed between waits, so an event loop polling the
 * descriptor is woken by the first sample. Level-triggered: whoever drains (a wait, a
 * dispatch, or a take that finds its port empty: amc_waitset_settle) reads the
 * datagrams, re-arms every port, looks again and, if anything is still ready, sends
 * one datagram to itself, so the descriptor is readable exactly while something is.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "channel_internal.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_WAITV_MAX
#define FUTEX_WAITV_MAX 128u
#endif

typedef struct ws_entry {
    amc_conn    *c;          /* a port, or NULL for a discovery watch                  */
    const void  *port;       /* the public handle (am_sub*, am_server*) or the arena   */
    void        *user;
    am_arena    *a;          /* discovery: the arena watched                           */
    am_listener  fn;         /* discovery: its listener                                */
    uint32_t     seen;       /* discovery: `changes` when last reported                */
    int          watcher;    /* discovery: its watcher slot (with a descriptor), or -1 */
} ws_entry;

struct am_waitset {
    unsigned  n, cap;
    ws_entry *e;
    int       fd;            /* the descriptor, or -1 until it is needed               */
    uint64_t  token;         /* its abstract name                                      */
    bool      self_sent;     /* the last settle sent us a datagram (something ready)   */
};

int am_waitset_open(am_waitset **out)
{
    if (!out) return AM_EINVAL;
    *out = calloc(1, sizeof **out);
    if (!*out) return AM_ENOMEM;
    (*out)->fd = -1;
    return 0;
}

/* ------------------------------------------------------------------ readiness */

static _Atomic uint32_t *changes_of(const ws_entry *e)
{
    return amc_dir_changes(e->a);
}

static bool ready(const ws_entry *e)
{
    if (e->c) return amc_queued(e->c) > 0;
    return atomic_load_explicit(changes_of(e), memory_order_seq_cst) != e->seen;
}

/* The first max ready entries' indexes; a discovery watch reported is caught up. */
static unsigned collect(am_waitset *w, unsigned *ix, unsigned max)
{
    unsigned k = 0;
    for (unsigned i = 0; i < w->n && k < max; i++) {
        ws_entry *e = &w->e[i];
        if (!ready(e)) continue;
        if (!e->c) e->seen = atomic_load_explicit(changes_of(e), memory_order_seq_cst);
        ix[k++] = i;
    }
    return k;
}

static bool any_ready(am_waitset *w)
{
    for (unsigned i = 0; i < w->n; i++) {
        if (ready(&w->e[i])) return true;
    }
    return false;
}

/* Arm (1) or disarm (0) every port. Armed: false if a sleep barrier some port needs
 * failed (wait.c; then sleep briefly). */
static bool set_sleeping(am_waitset *w, uint32_t v)
{
    _Atomic uint32_t *barrier = NULL;
    for (unsigned i = 0; i < w->n; i++) {
        amc_conn *c = w->e[i].c;
        if (!c) continue;
        atomic_store_explicit(&c->me->sleeping, v, memory_order_seq_cst);
        if (atomic_load_explicit(&c->me->barrier, memory_order_relaxed)) barrier = &c->me->barrier;
    }
    return !v || !barrier || amc_sleep_barrier(barrier);     /* one barrier serves them all */
}

/* ------------------------------------------------------------------ the descriptor */

/* Read the datagrams, arm every port, look: readable again iff something is ready. A
 * sender that queued before our arming is seen by the look; one after it sees the
 * arming (its seq_cst fence, then `sleeping`) and sends. */
static void settle(am_waitset *w)
{
    amc_notify_drain(w->fd);
    set_sleeping(w, 1);
    w->self_sent = any_ready(w);
    if (w->self_sent) amc_notify(w->token);
}

/* Only if the descriptor may be readable because of this port: a sender disarmed it
 * (and sent a datagram), or the last settle sent one. Another port's datagram is that
 * port's to settle, when it is found empty. */
void amc_waitset_settle(amc_conn *c)
{
    am_waitset *w = c->ws;
    if (!w || w->fd < 0) return;
    if (w->self_sent || atomic_load_explicit(&c->me->sleeping, memory_order_relaxed) == 0) settle(w);
}

/* Entry e learns of the descriptor: its port records the token, its watch registers. */
static int attach_fd(am_waitset *w, ws_entry *e)
{
    if (e->c) {
        e->c->polled = true;
        amc_barrier_set(&e->c->me->barrier, 0);      /* settles on every wake: senders fence */
        atomic_store_explicit(&e->c->me->notify, w->token, memory_order_seq_cst);
        return 0;
    }
    int ix = amc_watch_claim(e->a, w->token);
    if (ix < 0) return ix;
    e->watcher = ix;
    return 0;
}

static void detach_fd(ws_entry *e)
{
    if (e->c) {
        e->c->polled = false;
        atomic_store_explicit(&e->c->me->notify, 0, memory_order_seq_cst);
        atomic_store_explicit(&e->c->me->sleeping, 0, memory_order_relaxed);
        amc_barrier_set(&e->c->me->barrier, amc_barrier_wanted());
    } else if (e->watcher >= 0) {
        amc_watch_release(e->a, e->watcher);
        e->watcher = -1;
    }
}

int am_waitset_fd(am_waitset *w)
{
    if (!w) return AM_EINVAL;
    if (w->fd >= 0) return w->fd;
    int fd = amc_notify_open(&w->token);
    if (fd < 0) return fd;
    w->fd = fd;
    for (unsigned i = 0; i < w->n; i++) {
        int rc = attach_fd(w, &w->e[i]);
        if (rc) {
            while (i-- > 0) detach_fd(&w->e[i]);
            close(fd);
            w->fd = -1;
            return rc;
        }
    }
    settle(w);
    return fd;
}

/* ------------------------------------------------------------------ entries */

static int add(am_waitset *w, ws_entry e)
{
    for (unsigned i = 0; i < w->n; i++) {
        if (w->e[i].port == e.port) return AM_EEXIST;
    }
    if (e.c && e.c->ws) return AM_EEXIST;                 /* another waitset's */
    if (w->n == AM_WAITSET_MAX) return AM_EFULL;
    if (w->n == w->cap) {
        unsigned cap = w->cap ? w->cap * 2 : 16;
        ws_entry *grown = realloc(w->e, cap * sizeof *grown);
        if (!grown) return AM_ENOMEM;
        w->e = grown;
        w->cap = cap;
    }
    e.watcher = -1;
    if (w->fd >= 0) {
        int rc = attach_fd(w, &e);
        if (rc) return rc;
    }
    if (e.c) e.c->ws = w;
    w->e[w->n++] = e;
    if (w->fd >= 0) settle(w);
    return 0;
}

static int add_port(am_waitset *w, amc_conn *c, const void *port, void *user)
{
    if (!w || !c || !amc_usable(c)) return AM_EINVAL;
    return add(w, (ws_entry){ .c = c, .port = port, .user = user });
}

int am_waitset_add_sub(am_waitset *w, am_sub *s, void *user)
{
    return s ? add_port(w, amc_conn_of(s), s, user) : AM_EINVAL;
}

int am_waitset_add_server(am_waitset *w, am_server *s, void *user)
{
    return s ? add_port(w, amc_conn_of(s), s, user) : AM_EINVAL;
}

int am_waitset_add_discovery(am_waitset *w, am_arena *a, am_listener fn, void *user)
{
    if (!w || !a) return AM_EINVAL;
    _Atomic uint32_t *changes = amc_dir_changes(a);
    return add(w, (ws_entry){ .port = a, .user = user, .a = a, .fn = fn,
                              .seen = atomic_load_explicit(changes, memory_order_seq_cst) });
}

int am_waitset_remove(am_waitset *w, const void *port)
{
    if (!w || !port) return AM_EINVAL;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->e[i].port == port) {
            if (w->fd >= 0) detach_fd(&w->e[i]);
            if (w->e[i].c) w->e[i].c->ws = NULL;
            w->e[i] = w->e[--w->n];
            return 0;
        }
    }
    return AM_ENOENT;
}

void amc_waitset_forget(amc_conn *c)
{
    am_waitset *w = c ? c->ws : NULL;
    for (unsigned i = 0; w && i < w->n; i++) {
        if (w->e[i].c == c) {
            (void)am_waitset_remove(w, w->e[i].port);
            return;
        }
    }
}

int am_sub_listen(am_sub *s, am_listener fn, void *user)
{
    amc_conn *c = amc_conn_of(s);
    if (!c) return AM_EINVAL;
    c->on_ready = fn;
    c->on_ready_user = user;
    return 0;
}

int am_server_listen(am_server *s, am_listener fn, void *user)
{
    return am_sub_listen((am_sub *)s, fn, user);
}

/* ------------------------------------------------------------------ waiting */

static void sleep_on_words(am_waitset *w, uint64_t deadline)
{
    struct futex_waitv v[FUTEX_WAITV_MAX];
    for (unsigned i = 0; i < w->n; i++) {
        ws_entry *e = &w->e[i];
        _Atomic uint32_t *word = e->c ? &e->c->me->wake : changes_of(e);
        uint32_t val = e->c ? atomic_load_explicit(word, memory_order_acquire) : e->seen;
        v[i] = (struct futex_waitv){ .val = val, .uaddr = (uintptr_t)word, .flags = FUTEX_32 };
    }
    bool sure = set_sleeping(w, 1);
    if (!any_ready(w)) {
        uint64_t until = deadline == UINT64_MAX ? am_now_ns() + 3600ull * 1000000000ull : deadline;
        uint64_t nap_end = am_now_ns() + AMC_BARRIER_NAP_NS;
        if (!sure && until > nap_end) until = nap_end;
        struct timespec ts = { (time_t)(until / 1000000000ull), (long)(until % 1000000000ull) };
        if (syscall(SYS_futex_waitv, v, w->n, 0, &ts, CLOCK_MONOTONIC) < 0 && errno == ENOSYS) {
            struct timespec nap = { 0, 100000 };
            nanosleep(&nap, NULL);
        }
    }
    set_sleeping(w, 0);
}

static void sleep_on_fd(am_waitset *w, uint64_t deadline)
{
    settle(w);
    if (any_ready(w)) return;
    struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
    uint64_t now = am_now_ns();
    uint64_t left = deadline == UINT64_MAX ? 3600ull * 1000000000ull : deadline > now ? deadline - now : 0;
    struct timespec ts = { (time_t)(left / 1000000000ull), (long)(left % 1000000000ull) };
    (void)ppoll(&pfd, 1, &ts, NULL);
}

static int wait_ready(am_waitset *w, unsigned *ix, unsigned max, int64_t timeout_ns)
{
    if (!w || !ix || max == 0 || w->n == 0) return AM_EINVAL;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->e[i].c && !amc_usable(w->e[i].c)) return AM_EINVAL;   /* ports inherited across fork */
    }
    /* More words than futex_waitv takes: sleep on the descriptor instead. */
    if (w->fd < 0 && w->n > FUTEX_WAITV_MAX) {
        int fd = am_waitset_fd(w);
        if (fd < 0) return fd;
    }
    uint64_t start = am_now_ns(), deadline = amc_deadline(timeout_ns), spin = amc_spin_ns();
    for (unsigned i = 0;; i++) {
        unsigned k = collect(w, ix, max);
        if (k || am_now_ns() >= deadline) {
            if (w->fd >= 0) settle(w);          /* readable iff something is still ready */
            return k ? (int)k : AM_ETIMEDOUT;
        }
        if (am_now_ns() - start >= spin) {
            if (w->fd >= 0) sleep_on_fd(w, deadline);
            else sleep_on_words(w, deadline);
        } else if ((i & 511) == 511) {
            sched_yield();                      /* more spinners than CPUs */
        }
    }
}

int am_waitset_wait(am_waitset *w, void **ready_out, unsigned max, int64_t timeout_ns)
{
    if (!ready_out) return AM_EINVAL;
    unsigned ix[64];
    int k = wait_ready(w, ix, max < 64 ? max : 64, timeout_ns);
    for (int i = 0; i < k; i++) ready_out[i] = w->e[ix[i]].user;
    return k;
}

int am_waitset_dispatch(am_waitset *w, int64_t timeout_ns)
{
    if (!w) return AM_EINVAL;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->e[i].c ? !w->e[i].c->on_ready : !w->e[i].fn) return AM_EINVAL;
    }
    unsigned ix[64];
    int k = wait_ready(w, ix, 64, timeout_ns);
    if (k <= 0) return k;
    /* Listeners may change the set: note what to call first, then find each again. */
    const void *who[64];
    for (int i = 0; i < k; i++) who[i] = w->e[ix[i]].port;
    int calls = 0;
    for (int i = 0; i < k; i++) {
        for (unsigned j = 0; j < w->n; j++) {
            ws_entry *e = &w->e[j];
            if (e->port != who[i]) continue;
            if (e->c) e->c->on_ready((void *)e->port, e->c->on_ready_user);
            else e->fn(e->a, e->user);
            calls++;
            break;
        }
    }
    return calls;
}

void am_waitset_close(am_waitset *w)
{
    if (!w) return;
    while (w->n) (void)am_waitset_remove(w, w->e[0].port);
    if (w->fd >= 0) close(w->fd);
    free(w->e);
    free(w);
}
