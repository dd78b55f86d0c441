/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event loops and discovery: a waitset's pollable descriptor (epoll across processes,
 * level-triggered, no lost wake-up, peers killed, hundreds of ports), listeners called
 * by am_waitset_dispatch, and the discovery API (listing, watching).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>
#include "test_util.h"

#define SEC 1000000000ll

static bool readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Wait for fd to become readable (up to ms); true if it did. */
static bool wakes(int ep, int ms)
{
    struct epoll_event ev;
    int n;
    do n = epoll_wait(ep, &ev, 1, ms); while (n < 0 && errno == EINTR);
    return n == 1;
}

static int epoll_on(int fd)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    ck_assert_int_ge(ep, 0);
    struct epoll_event ev = { .events = EPOLLIN };
    ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    return ep;
}

static uint64_t take_seq(am_sub *s)
{
    am_sample m;
    int rc = am_sub_take(s, &m, 0);
    if (rc) return 0;
    uint64_t v = 0;
    memcpy(&v, m.data, m.len < sizeof v ? m.len : sizeof v);
    ck_assert_int_eq(am_sub_ack(s, &m), 0);
    return v;
}

static const char *arena_name;

/* ------------------------------------------------------------------ the descriptor */

START_TEST(descriptor_is_level_triggered)
{
    arena_name = tu_name("level");
    am_arena *a = tu_open(arena_name, 16 << 20, 0);
    am_pub *p;
    am_sub *s;
    ck_assert_int_eq(am_pub_open(a, "t", NULL, &p), 0);
    ck_assert_int_eq(am_sub_open(a, "t", NULL, &s), 0);
    am_waitset *w;
    ck_assert_int_eq(am_waitset_open(&w), 0);
    int tag = 7;
    ck_assert_int_eq(am_waitset_add_sub(w, s, &tag), 0);
    int fd = am_waitset_fd(w);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(am_waitset_fd(w), fd);                    /* one per waitset */
    ck_assert(!readable(fd));
    uint64_t v = 1;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    ck_assert(readable(fd));
    void *ready[2];
    ck_assert_int_eq(am_waitset_wait(w, ready, 2, 0), 1);
    ck_assert_ptr_eq(ready[0], &tag);
    ck_assert(readable(fd));                                   /* not taken yet */
    v = 2;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    ck_assert_uint_eq(take_seq(s), 1);
    ck_assert(readable(fd));                                   /* one is left */
    ck_assert_uint_eq(take_seq(s), 2);
    ck_assert_uint_eq(take_seq(s), 0);                         /* found empty: drained */
    ck_assert(!readable(fd));
    ck_assert_int_eq(am_waitset_wait(w, ready, 2, 0), AM_ETIMEDOUT);
    ck_assert(!readable(fd));
    /* a port added to a waitset that has a descriptor is armed at once */
    am_sub *s2;
    ck_assert_int_eq(am_sub_open(a, "t", NULL, &s2), 0);
    ck_assert_int_eq(am_waitset_add_sub(w, s2, &tag), 0);
    ck_assert(!readable(fd));
    v = 3;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    ck_assert(readable(fd));
    ck_assert_uint_eq(take_seq(s), 3);
    ck_assert_uint_eq(take_seq(s), 0);
    ck_assert(readable(fd));                                   /* s2 still has it */
    ck_assert_uint_eq(take_seq(s2), 3);
    ck_assert_uint_eq(take_seq(s2), 0);
    ck_assert(!readable(fd));
    /* a port belongs to one waitset; closing a port takes it out */
    am_waitset *w2;
    ck_assert_int_eq(am_waitset_open(&w2), 0);
    ck_assert_int_eq(am_waitset_add_sub(w2, s2, NULL), AM_EEXIST);
    am_sub_close(s2);
    ck_assert_int_eq(am_waitset_remove(w, s2), AM_ENOENT);
    am_waitset_close(w2);
    /* blocking take on a port of a polled waitset keeps the descriptor honest */
    v = 4;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    am_sample m;
    ck_assert_int_eq(am_sub_take(s, &m, SEC), 0);
    ck_assert_int_eq(am_sub_ack(s, &m), 0);
    ck_assert_int_eq(am_sub_take(s, &m, 1000000), AM_ETIMEDOUT);
    ck_assert(!readable(fd));
    v = 5;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    ck_assert(readable(fd));
    am_waitset_close(w);
    am_pub_close(p);
    am_sub_close(s);
    tu_finish(a);
}
END_TEST

/* The other process: N rounds of "publish ping i, wait for pong i"; every 16th round
 * a service call instead of the ping (the server answers i + 1). */
static long cycles(void)
{
    const char *e = getenv("AM_EVENT_CYCLES");
    return e ? atol(e) : 100000;
}

static int pinger(void *arg)
{
    (void)arg;
    am_arena *a;
    am_pub *ping;
    am_sub *pong;
    am_client *cl;
    am_sub_opts so = { .policy = AM_POLICY_BLOCK };
    if (am_arena_open(arena_name, NULL, &a) || am_pub_open(a, "ping", NULL, &ping) ||
        am_sub_open(a, "pong", &so, &pong) || am_client_open(a, "svc", NULL, &cl)) {
        return 1;
    }
    usleep(20000);                         /* the other side's subscriber is there */
    long n = cycles();
    for (uint64_t i = 1; i <= (uint64_t)n; i++) {
        if (i % 16 == 0) {
            am_sample r;
            if (am_client_call(cl, &i, sizeof i, &r, 10 * SEC) != 0) return 2;
            uint64_t got;
            memcpy(&got, r.data, sizeof got);
            am_client_ack(cl, &r);
            if (got != i + 1) return 3;
            continue;
        }
        if (am_pub_publish(ping, &i, sizeof i)) return 4;
        am_sample m;
        if (am_sub_take(pong, &m, 10 * SEC)) return 5;
        uint64_t got;
        memcpy(&got, m.data, sizeof got);
        am_sub_ack(pong, &m);
        if (got != i) return 6;
    }
    return 0;
}

START_TEST(epoll_across_processes_loses_no_wake)
{
    arena_name = tu_name("epoll");
    am_arena *a = tu_open(arena_name, 32 << 20, 0);
    am_sub *ping;
    am_pub *pong;
    am_server *sv;
    am_sub_opts so = { .policy = AM_POLICY_BLOCK };
    ck_assert_int_eq(am_sub_open(a, "ping", &so, &ping), 0);
    ck_assert_int_eq(am_pub_open(a, "pong", NULL, &pong), 0);
    ck_assert_int_eq(am_server_open(a, "svc", NULL, &sv), 0);
    am_waitset *w;
    ck_assert_int_eq(am_waitset_open(&w), 0);
    ck_assert_int_eq(am_waitset_add_sub(w, ping, ping), 0);
    ck_assert_int_eq(am_waitset_add_server(w, sv, sv), 0);
    int fd = am_waitset_fd(w);
    ck_assert_int_ge(fd, 0);
    int ep = epoll_on(fd);
    pid_t k = tu_fork(pinger, NULL);
    long n = cycles(), wakeups = 0;
    uint64_t pings = 0, calls = 0;
    while (pings + calls < (uint64_t)n) {
        TU_REQUIRE(wakes(ep, 10000), "no wake-up after %llu pings and %llu calls", (unsigned long long)pings,
                   (unsigned long long)calls);
        wakeups++;
        /* every wake-up has something to take (no spurious ones in this protocol);
         * the answers go only after the check, since the other side sends again as
         * soon as it has one */
        uint64_t v, pinged = 0, asked = 0;
        am_request rq;
        while ((v = take_seq(ping)) != 0) {
            TU_REQUIRE(v == pings + calls + 1, "ping %llu out of order", (unsigned long long)v);
            pings++;
            pinged = v;
        }
        bool held = am_server_take(sv, &rq, 0) == 0;
        if (held) {
            memcpy(&v, rq.data, sizeof v);
            TU_REQUIRE(v == pings + calls + 1, "call %llu out of order", (unsigned long long)v);
            calls++;
            asked = v;
            am_request more;
            TU_REQUIRE(am_server_take(sv, &more, 0) == AM_ETIMEDOUT, "two calls at once");
        }
        TU_REQUIRE(pinged || held, "a wake-up with nothing to take");
        TU_REQUIRE(!readable(fd), "still readable after draining");
        if (pinged) TU_REQUIRE(am_pub_publish(pong, &pinged, sizeof pinged) == 0, "pong");
        if (held) {
            asked++;
            TU_REQUIRE(am_server_reply(sv, &rq, &asked, sizeof asked) == 0, "reply");
        }
    }
    ck_assert_int_eq(tu_wait(k), 0);
    ck_assert_uint_eq(calls, (uint64_t)n / 16);
    ck_assert_int_ge(wakeups, n / 2);                        /* it slept nearly every round */
    close(ep);
    am_waitset_close(w);
    am_sub_close(ping);
    am_pub_close(pong);
    am_server_close(sv);
    tu_finish(a);
}
END_TEST

static int stream(void *arg)
{
    (void)arg;
    am_arena *a;
    am_pub *p;
    if (am_arena_open(arena_name, NULL, &a) || am_pub_open(a, "s", NULL, &p)) return 1;
    for (uint64_t i = 1;; i++) {
        (void)am_pub_publish(p, &i, sizeof i);
        if (i % 64 == 0) usleep(100);
    }
}

START_TEST(killed_publisher_leaves_descriptor_honest)
{
    arena_name = tu_name("killed");
    am_arena *a = tu_open(arena_name, 32 << 20, 0);
    am_sub *s;
    ck_assert_int_eq(am_sub_open(a, "s", NULL, &s), 0);
    am_waitset *w;
    ck_assert_int_eq(am_waitset_open(&w), 0);
    ck_assert_int_eq(am_waitset_add_sub(w, s, NULL), 0);
    int fd = am_waitset_fd(w);
    int ep = epoll_on(fd);
    uint64_t seed = 42;
    for (int round = 0; round < 20; round++) {
        pid_t k = tu_fork(stream, NULL);
        uint64_t got = 0;
        unsigned spin = 200 + (unsigned)(tu_rand(&seed) % 3000);
        while (got < spin) {
            TU_REQUIRE(wakes(ep, 10000), "no wake-up while the publisher streams");
            while (take_seq(s)) got++;
        }
        kill(k, SIGKILL);
        ck_assert_int_eq(tu_wait(k), 128 + SIGKILL);
        while (take_seq(s)) got++;                           /* what it queued before dying */
        ck_assert(!readable(fd));
        ck_assert_int_ge(am_channels_gc(a), 0);
        ck_assert(!readable(fd));
    }
    /* and a new publisher still wakes it */
    am_pub *p;
    ck_assert_int_eq(am_pub_open(a, "s", NULL, &p), 0);
    uint64_t v = 9;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    ck_assert(wakes(ep, 1000));
    ck_assert_uint_eq(take_seq(s), 9);
    ck_assert_uint_eq(take_seq(s), 0);
    ck_assert(!readable(fd));
    close(ep);
    am_waitset_close(w);
    am_pub_close(p);
    am_sub_close(s);
    ck_assert_int_ge(am_arena_reclaim(a), 0);              /* the killed ones' blocks */
    tu_finish(a);
}
END_TEST

/* 200 ports: more than futex_waitv takes, so plain am_waitset_wait sleeps on the
 * descriptor too. */
#define MANY 200
static int publish_to(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    am_arena *a;
    am_pub *p;
    char topic[32];
    snprintf(topic, sizeof topic, "many.%u", t);
    if (am_arena_open(arena_name, NULL, &a) || am_pub_open(a, topic, NULL, &p)) return 1;
    usleep(30000);                                       /* the waiter is asleep by now */
    uint64_t v = t + 1;
    return am_pub_publish(p, &v, sizeof v) ? 2 : 0;      /* exit: the port goes with us */
}

START_TEST(two_hundred_ports)
{
    arena_name = tu_name("many");
    am_arena *a = tu_open(arena_name, 64 << 20, 0);
    am_sub *s[MANY];
    unsigned tags[MANY];
    am_waitset *w;
    ck_assert_int_eq(am_waitset_open(&w), 0);
    for (unsigned i = 0; i < MANY; i++) {
        char topic[32];
        snprintf(topic, sizeof topic, "many.%u", i);
        am_sub_opts o = { .depth = 4 };
        ck_assert_int_eq(am_sub_open(a, topic, &o, &s[i]), 0);
        tags[i] = i;
        ck_assert_int_eq(am_waitset_add_sub(w, s[i], &tags[i]), 0);
    }
    uint64_t seed = 7;
    for (int round = 0; round < 2; round++) {            /* by am_waitset_wait, then epoll */
        int ep = round ? epoll_on(am_waitset_fd(w)) : -1;
        for (int k = 0; k < 20; k++) {
            unsigned t = (unsigned)(tu_rand(&seed) % MANY);
            pid_t pid = tu_fork(publish_to, (void *)(uintptr_t)t);
            void *ready[4];
            if (ep >= 0) ck_assert(wakes(ep, 10000));
            ck_assert_int_eq(am_waitset_wait(w, ready, 4, 10 * SEC), 1);
            ck_assert_uint_eq(*(unsigned *)ready[0], t);
            ck_assert_uint_eq(take_seq(s[t]), t + 1);
            ck_assert_uint_eq(take_seq(s[t]), 0);
            ck_assert_int_eq(tu_wait(pid), 0);
        }
        if (ep >= 0) close(ep);
    }
    am_waitset_close(w);
    for (unsigned i = 0; i < MANY; i++) am_sub_close(s[i]);
    tu_finish(a);
}
END_TEST

/* A process asleep on the descriptor, or in am_waitset_wait, uses no CPU. */
static int idle(void *arg)
{
    bool by_fd = arg != NULL;
    am_arena *a;
    am_sub *s;
    am_waitset *w;
    if (am_arena_open(arena_name, NULL, &a) || am_sub_open(a, "quiet", NULL, &s) || am_waitset_open(&w) ||
        am_waitset_add_sub(w, s, NULL)) {
        return 255;
    }
    void *ready[1];
    if (by_fd) {
        struct pollfd p = { .fd = am_waitset_fd(w), .events = POLLIN };
        if (poll(&p, 1, 1000) != 0) return 254;
    } else if (am_waitset_wait(w, ready, 1, SEC) != AM_ETIMEDOUT) {
        return 254;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long ms = ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 + ru.ru_stime.tv_sec * 1000 +
              ru.ru_stime.tv_usec / 1000;
    return ms > 200 ? 200 : (int)ms;
}

START_TEST(idle_waiter_uses_no_cpu)
{
    arena_name = tu_name("idle");
    am_arena *a = tu_open(arena_name, 16 << 20, 0);
    /* A spinning waiter would use about 1000 ms of CPU in its 1 s; a sleeping one a
     * few ms at most (process start, arena open). */
    int by_fd = tu_wait(tu_fork(idle, (void *)1));
    int by_wait = tu_wait(tu_fork(idle, NULL));
    ck_assert_int_lt(by_fd, 50);
    ck_assert_int_lt(by_wait, 50);
    /* They exited without closing: the second one's open may have cleaned up the
     * first one's port already; after a gc neither is left, nor their topic. */
    ck_assert_int_ge(am_channels_gc(a), 1);
    ck_assert_int_eq(am_channels_list(a, NULL, 0), 0);
    ck_assert_int_ge(am_arena_reclaim(a), 0);
    tu_finish(a);
}
END_TEST

/* ------------------------------------------------------------------ listeners */

typedef struct heard {
    int calls;
    uint64_t last;
    am_sub *close_me;
} heard;

static void on_sample(void *source, void *user)
{
    heard *h = user;
    h->calls++;
    uint64_t v;
    while ((v = take_seq(source)) != 0) h->last = v;
    if (h->close_me == source) {
        am_sub_close(source);
        h->close_me = NULL;
    }
}

static void on_request(void *source, void *user)
{
    heard *h = user;
    h->calls++;
    am_request rq;
    while (am_server_take(source, &rq, 0) == 0) (void)am_server_drop(source, &rq);
}

START_TEST(dispatch_calls_listeners)
{
    arena_name = tu_name("listen");
    am_arena *a = tu_open(arena_name, 16 << 20, 0);
    am_pub *p1, *p2;
    am_sub *s1, *s2;
    am_server *sv;
    ck_assert_int_eq(am_pub_open(a, "one", NULL, &p1), 0);
    ck_assert_int_eq(am_pub_open(a, "two", NULL, &p2), 0);
    ck_assert_int_eq(am_sub_open(a, "one", NULL, &s1), 0);
    ck_assert_int_eq(am_sub_open(a, "two", NULL, &s2), 0);
    ck_assert_int_eq(am_server_open(a, "svc", NULL, &sv), 0);
    am_waitset *w;
    ck_assert_int_eq(am_waitset_open(&w), 0);
    ck_assert_int_eq(am_waitset_add_sub(w, s1, NULL), 0);
    ck_assert_int_eq(am_waitset_add_sub(w, s2, NULL), 0);
    ck_assert_int_eq(am_waitset_add_server(w, sv, NULL), 0);
    heard h1 = { 0 }, h2 = { 0 }, hs = { 0 };
    ck_assert_int_eq(am_sub_listen(s1, on_sample, &h1), 0);
    ck_assert_int_eq(am_sub_listen(s2, on_sample, &h2), 0);
    ck_assert_int_eq(am_waitset_dispatch(w, 0), AM_EINVAL);  /* the server has none */
    ck_assert_int_eq(am_server_listen(sv, on_request, &hs), 0);
    ck_assert_int_eq(am_waitset_dispatch(w, 1000000), AM_ETIMEDOUT);
    uint64_t v = 5;
    ck_assert_int_eq(am_pub_publish(p2, &v, sizeof v), 0);
    ck_assert_int_eq(am_waitset_dispatch(w, SEC), 1);
    ck_assert_int_eq(h2.calls, 1);
    ck_assert_uint_eq(h2.last, 5);
    ck_assert_int_eq(h1.calls, 0);
    v = 6;
    ck_assert_int_eq(am_pub_publish(p1, &v, sizeof v), 0);
    ck_assert_int_eq(am_pub_publish(p2, &v, sizeof v), 0);
    h2.close_me = s2;                                        /* a listener closes its port */
    ck_assert_int_eq(am_waitset_dispatch(w, SEC), 2);
    ck_assert_int_eq(h1.calls, 1);
    ck_assert_int_eq(h2.calls, 2);
    ck_assert_int_eq(am_waitset_remove(w, s2), AM_ENOENT);   /* closing took it out */
    ck_assert_int_eq(am_pub_publish(p2, &v, sizeof v), 0);   /* nobody hears it now */
    ck_assert_int_eq(am_waitset_dispatch(w, 1000000), AM_ETIMEDOUT);
    /* by the descriptor too */
    int fd = am_waitset_fd(w);
    ck_assert(!readable(fd));
    ck_assert_int_eq(am_pub_publish(p1, &v, sizeof v), 0);
    ck_assert(readable(fd));
    ck_assert_int_eq(am_waitset_dispatch(w, 0), 1);
    ck_assert(!readable(fd));
    ck_assert_int_eq(h1.calls, 2);
    ck_assert_int_eq(am_sub_listen(s1, NULL, NULL), 0);
    ck_assert_int_eq(am_waitset_dispatch(w, 0), AM_EINVAL);
    am_waitset_close(w);
    am_pub_close(p1);
    am_pub_close(p2);
    am_sub_close(s1);
    am_server_close(sv);
    tu_finish(a);
}
END_TEST

/* ------------------------------------------------------------------ discovery */

static const am_channel_info *find_info(const am_channel_info *ci, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(ci[i].name, name) == 0) return &ci[i];
    }
    return NULL;
}

static int hold_sub(void *arg)
{
    am_arena *a;
    am_sub *s;
    am_arena_opts o = { .flags = AM_EXTENDED_OPTS, .node = "far-away" };
    if (am_arena_open(arena_name, &o, &a) || am_sub_open(a, (const char *)arg, NULL, &s)) return 1;
    pause();
    return 0;
}

static void on_change(void *source, void *user)
{
    (void)source;
    (*(int *)user)++;
}

START_TEST(discovery_lists_and_watches)
{
    arena_name = tu_name("disc");
    am_arena *a = tu_open(arena_name, 16 << 20, 0);
    am_channel_info ci[8];
    ck_assert_int_eq(am_channels_list(a, ci, 8), 0);
    ck_assert_int_eq(am_channels_list(a, NULL, 0), 0);
    ck_assert_int_eq(am_channels_list(a, NULL, 1), AM_EINVAL);
    ck_assert_int_eq(am_channels_list(NULL, ci, 8), AM_EINVAL);

    am_waitset *w;
    ck_assert_int_eq(am_waitset_open(&w), 0);
    int changes = 0;
    ck_assert_int_eq(am_waitset_add_discovery(w, a, on_change, &changes), 0);
    ck_assert_int_eq(am_waitset_add_discovery(w, a, on_change, &changes), AM_EEXIST);
    void *ready[2];
    ck_assert_int_eq(am_waitset_wait(w, ready, 2, 1000000), AM_ETIMEDOUT);

    am_type t = { "demo.Pose", 0x1234 };
    am_pub_opts po = { .type = t };
    am_pub *p;
    ck_assert_int_eq(am_pub_open(a, "pose", &po, &p), 0);
    ck_assert_int_eq(am_waitset_wait(w, ready, 2, 0), 1);         /* woken by the change */
    ck_assert_ptr_eq(ready[0], &changes);
    ck_assert_int_eq(am_waitset_wait(w, ready, 2, 0), AM_ETIMEDOUT);   /* reported once */
    am_sub *s1, *s2;
    am_server *sv;
    am_client *cl;
    ck_assert_int_eq(am_sub_open(a, "pose", NULL, &s1), 0);
    ck_assert_int_eq(am_sub_open(a, "pose", NULL, &s2), 0);
    ck_assert_int_eq(am_server_open(a, "plan", NULL, &sv), 0);
    ck_assert_int_eq(am_client_open(a, "plan", NULL, &cl), 0);
    ck_assert_int_eq(am_waitset_dispatch(w, 0), 1);              /* a burst: one call */
    ck_assert_int_eq(changes, 1);

    /* a process elsewhere holds a subscriber, then is killed */
    int fd = am_waitset_fd(w);
    ck_assert(!readable(fd));
    pid_t k = tu_fork(hold_sub, (void *)"far");
    int ep = epoll_on(fd);
    ck_assert(wakes(ep, 10000));                                  /* the channel, its port */
    am_port_info pi[4];
    for (int tries = 0; am_channel_ports(a, "far", pi, 4) < 1 && tries < 10000; tries++) usleep(1000);
    int n = am_channels_list(a, ci, 8);
    ck_assert_int_eq(n, 3);
    const am_channel_info *pose = find_info(ci, n, "pose"), *plan = find_info(ci, n, "plan"),
                          *far = find_info(ci, n, "far");
    ck_assert(pose && plan && far);
    ck_assert_int_eq(pose->kind, AM_KIND_TOPIC);
    ck_assert_str_eq(pose->type, "demo.Pose");
    ck_assert_uint_eq(pose->fingerprint, 0x1234);
    ck_assert_uint_eq(pose->publishers, 1);
    ck_assert_uint_eq(pose->subscribers, 2);
    ck_assert_uint_eq(pose->servers + pose->clients, 0);
    ck_assert_int_eq(plan->kind, AM_KIND_SERVICE);
    ck_assert_str_eq(plan->type, "");
    ck_assert_uint_eq(plan->servers, 1);
    ck_assert_uint_eq(plan->clients, 1);
    ck_assert_uint_eq(far->subscribers, 1);
    ck_assert_int_eq(am_channels_list(a, ci, 1), 3);             /* fills 1, counts 3 */

    ck_assert_int_eq(am_channel_ports(a, "far", pi, 4), 1);
    ck_assert_int_eq(pi[0].role, AM_ROLE_SUBSCRIBER);
    ck_assert_uint_eq(pi[0].pid, (uint32_t)k);
    ck_assert_str_eq(pi[0].process, "test_events");
    ck_assert_str_eq(pi[0].node, "far-away");
    ck_assert_int_eq(am_channel_ports(a, "pose", pi, 4), 3);
    ck_assert_int_eq(am_channel_ports(a, "nowhere", pi, 4), AM_ENOENT);
    ck_assert_int_eq(am_channel_ports(a, "bad name!", pi, 4), AM_ENAME);

    ck_assert_int_ge(am_waitset_wait(w, ready, 2, 0), 1);
    ck_assert(!readable(fd));
    kill(k, SIGKILL);
    ck_assert_int_eq(tu_wait(k), 128 + SIGKILL);
    ck_assert_int_eq(am_channels_list(a, ci, 8), 3);
    far = find_info(ci, 3, "far");
    ck_assert_uint_eq(far->subscribers, 0);                       /* dead: not counted */
    ck_assert_int_eq(am_channels_gc(a), 1);                       /* cleaned: announced */
    ck_assert(wakes(ep, 1000));
    ck_assert_int_eq(am_channels_list(a, ci, 8), 2);             /* and its channel gone */
    ck_assert_ptr_null(find_info(ci, 2, "far"));
    ck_assert_int_ge(am_waitset_wait(w, ready, 2, 0), 1);
    ck_assert(!readable(fd));
    am_client_close(cl);
    ck_assert(wakes(ep, 1000));
    ck_assert_int_ge(am_waitset_wait(w, ready, 2, 0), 1);
    close(ep);
    am_waitset_close(w);
    am_pub_close(p);
    am_sub_close(s1);
    am_sub_close(s2);
    am_server_close(sv);
    ck_assert_int_ge(am_arena_reclaim(a), 0);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("events", 120, (const TTest *[]){
        descriptor_is_level_triggered,
        epoll_across_processes_loses_no_wake,
        killed_publisher_leaves_descriptor_honest,
        two_hundred_ports,
        idle_waiter_uses_no_cpu,
        dispatch_calls_listeners,
        discovery_lists_and_watches,
        NULL });
}
