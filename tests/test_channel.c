/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_channel.c — topics and services across processes: names and types, fan-out of
 * 100k messages of random sizes, several publishers with subscribers coming and going,
 * each queue policy with its counters, history for late joiners, request/response with
 * concurrent clients, timeouts, late replies and server death, waitsets, the block
 * cache (reuse, idle sweep, give-back on close), and an idle
 * arena back to its fresh state after every test.
 */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "test_util.h"

#define SEC 1000000000ll

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Payload pattern, 8 bytes at a time (fan-out moves gigabytes). */
static void fill(void *p, size_t n, uint64_t seed)
{
    uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = seed ^ (i * 0x9E3779B97F4A7C15ull);
        memcpy(b + i, &w, 8);
    }
    for (; i < n; i++) b[i] = (uint8_t)(seed >> (i % 8 * 8)) ^ (uint8_t)i;
}

static int verify(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w != (seed ^ (i * 0x9E3779B97F4A7C15ull))) return 0;
    }
    for (; i < n; i++) {
        if (b[i] != ((uint8_t)(seed >> (i % 8 * 8)) ^ (uint8_t)i)) return 0;
    }
    return 1;
}

/* The fresh-arena figures every test ends with (tu_finish checks them). */
static am_arena *open_arena(const char *tag, size_t size)
{
    return tu_open(tu_name(tag), size, 0);
}

/* ------------------------------------------------------------------ names */

START_TEST(names_and_types)
{
    am_arena *a = open_arena("names", 16 << 20);
    am_pub *p = NULL;
    am_sub *s = NULL;
    const char *bad[] = { "", "/abs", ".hidden", "sp ace", "tab\t", "semi;colon",
                          "x123456789012345678901234567890123456789012345678901234567890123" };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(am_pub_open(a, bad[i], NULL, &p), AM_ENAME);
        ck_assert_ptr_null(p);
    }
    ck_assert_int_eq(am_pub_open(a, NULL, NULL, &p), AM_EINVAL);
    ck_assert_int_eq(am_pub_open(a, "ok/with-all_chars.0", &(am_pub_opts){ .type = { "bad type", 1 } }, &p), AM_ENAME);

    am_type pose = { "robot.Pose", 42 };
    ck_assert_int_eq(am_pub_open(a, "pose", &(am_pub_opts){ .type = pose }, &p), 0);
    ck_assert_int_eq(am_sub_open(a, "pose", &(am_sub_opts){ .type = { "robot.Twist", 42 } }, &s), AM_ETYPE);
    ck_assert_int_eq(am_sub_open(a, "pose", &(am_sub_opts){ .type = { "robot.Pose", 43 } }, &s), AM_ETYPE);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(am_sub_open(a, "pose", &(am_sub_opts){ .type = pose }, &s), 0);
    am_sub *raw;
    ck_assert_int_eq(am_sub_open(a, "pose", NULL, &raw), 0);       /* untyped: raw access */
    am_server *srv;
    ck_assert_int_eq(am_server_open(a, "pose", NULL, &srv), AM_ETYPE); /* a topic, not a service */
    /* The first typed opener of an untyped topic sets its type. */
    am_sub *u1, *u2;
    ck_assert_int_eq(am_sub_open(a, "later", NULL, &u1), 0);
    ck_assert_int_eq(am_sub_open(a, "later", &(am_sub_opts){ .type = pose }, &u2), 0);
    am_pub *wrong;
    ck_assert_int_eq(am_pub_open(a, "later", &(am_pub_opts){ .type = { "other", 0 } }, &wrong), AM_ETYPE);
    am_sub_close(u1);
    am_sub_close(u2);
    /* Once the last port has gone, the name is free for any type. */
    ck_assert_int_eq(am_pub_open(a, "later", &(am_pub_opts){ .type = { "other", 0 } }, &wrong), 0);
    am_pub_close(wrong);
    am_sub_close(raw);
    am_sub_close(s);
    am_pub_close(p);
    /* Bad options. */
    ck_assert_int_eq(am_sub_open(a, "x", &(am_sub_opts){ .depth = AM_MAX_DEPTH + 1 }, &s), AM_EINVAL);
    ck_assert_int_eq(am_sub_open(a, "x", &(am_sub_opts){ .policy = (am_policy)7 }, &s), AM_EINVAL);
    ck_assert_int_eq(am_pub_open(a, "x", &(am_pub_opts){ .history = AM_MAX_HISTORY + 1 }, &p), AM_EINVAL);
    tu_finish(a);
}
END_TEST

START_TEST(loans_and_bad_calls)
{
    am_arena *a = open_arena("loans", 16 << 20);
    am_pub *p;
    am_sub *s;
    ck_assert_int_eq(am_pub_open(a, "loans", NULL, &p), 0);
    ck_assert_int_eq(am_sub_open(a, "loans", NULL, &s), 0);
    void *x, *y;
    ck_assert_int_eq(am_pub_loan(p, 100, &x), 0);
    ck_assert_int_eq((uintptr_t)x % AM_ALIGN, 0);
    ck_assert_int_eq(am_pub_loan(p, 200, &y), 0);
    ck_assert_int_eq(am_pub_send(p, x, 101 + 15 + 1000), AM_EINVAL);  /* longer than the loan */
    char local[8];
    ck_assert_int_eq(am_pub_send(p, local, 8), AM_EINVAL);              /* not a loan */
    ck_assert_int_eq(am_pub_discard(p, y), 0);
    ck_assert_int_eq(am_pub_discard(p, y), AM_EINVAL);                  /* twice */
    memcpy(x, "zero-copy", 9);
    ck_assert_int_eq(am_pub_send(p, x, 9), 0);
    ck_assert_int_eq(am_pub_send(p, x, 9), AM_EINVAL);                  /* the loan is gone */
    am_sample m;
    ck_assert_int_eq(am_sub_take(s, &m, 0), 0);
    ck_assert_int_eq(m.len, 9);
    ck_assert_int_eq(memcmp(m.data, "zero-copy", 9), 0);
    ck_assert_int_eq(m.seq, 1);
    am_sample copy = m;
    ck_assert_int_eq(am_sub_ack(s, &m), 0);
    ck_assert_int_eq(am_sub_ack(s, &copy), AM_EINVAL);                  /* double ack */
    ck_assert_int_eq(am_sub_take(s, &m, 0), AM_ETIMEDOUT);
    ck_assert_int_eq(am_sub_take(s, &m, 2000000), AM_ETIMEDOUT);
    /* Held list full: AM_EAGAIN until something is acked. */
    am_sub *h;
    ck_assert_int_eq(am_sub_open(a, "loans", &(am_sub_opts){ .max_held = 2 }, &h), 0);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(am_pub_publish(p, "abc", 3), 0);
    am_sample t1, t2, t3;
    ck_assert_int_eq(am_sub_take(h, &t1, 0), 0);
    ck_assert_int_eq(am_sub_take(h, &t2, 0), 0);
    ck_assert_int_eq(am_sub_take(h, &t3, 0), AM_EAGAIN);
    ck_assert_int_eq(am_sub_ack(h, &t1), 0);
    ck_assert_int_eq(am_sub_take(h, &t3, 0), 0);
    ck_assert_int_eq(t3.seq, 4);
    /* A fork child cannot use its parent's ports (it would take the parent's samples). */
    ck_assert_int_eq(am_pub_publish(p, "abc", 3), 0);
    pid_t k = fork();
    if (k == 0) {
        am_sample stolen;
        void *l;
        int ok = am_sub_take(h, &stolen, 0) == AM_EINVAL && am_pub_publish(p, "x", 1) == AM_EINVAL &&
                 am_pub_loan(p, 8, &l) == AM_EINVAL && am_sub_ack(h, &t2) == AM_EINVAL;
        am_sub_close(h);                /* frees the child's copy only */
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(tu_wait(k), 0);
    ck_assert_int_eq(am_sub_ack(h, &t2), 0);
    ck_assert_int_eq(am_sub_take(h, &t1, 0), 0);          /* still the parent's */
    ck_assert_int_eq(am_sub_ack(h, &t1), 0);
    /* Loans left at close are freed; held and queued samples too. */
    ck_assert_int_eq(am_pub_loan(p, 5000, &x), 0);
    am_sub_close(h);
    am_sub_close(s);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

/* ------------------------------------------------------------------ fan-out */

enum { FAN_SUBS = 3 };
typedef struct fan {
    const char *name;
    unsigned    count;
    _Atomic int ready;
    _Atomic uint64_t bytes;
} fan;

static size_t fan_size(uint64_t *rng)
{
    /* Log-uniform 1 B .. 1 MiB: every size class gets its share. */
    unsigned bits = (unsigned)(tu_rand(rng) % 21);
    size_t lo = (size_t)1 << bits >> 1, size = lo + tu_rand(rng) % (lo + 1);
    return size < 1 ? 1 : size > (1u << 20) ? (1u << 20) : size;
}

static int fan_sub(void *arg)
{
    fan *f = arg;
    am_arena *a;
    if (am_arena_open(f->name, NULL, &a)) return 1;
    am_sub *s;
    if (am_sub_open(a, "fan", &(am_sub_opts){ .depth = 16, .policy = AM_POLICY_BLOCK }, &s)) return 2;
    atomic_fetch_add(&f->ready, 1);
    uint64_t rng = 12345;
    for (unsigned i = 1; i <= f->count; i++) {
        am_sample m;
        int rc = am_sub_take(s, &m, 30 * SEC);
        if (rc) return 3;
        size_t want = fan_size(&rng);
        if (m.seq != i || m.len != want || !verify(m.data, m.len, i)) return 4;
        if (am_sub_ack(s, &m)) return 5;
    }
    am_sample m;
    if (am_sub_take(s, &m, 0) != AM_ETIMEDOUT) return 6;   /* exactly once */
    am_sub_close(s);
    am_arena_close(a);
    return 0;
}

START_TEST(fan_out_100k)
{
    const char *env = getenv("AM_FANOUT_MESSAGES");
    fan *f = tu_shared(sizeof *f);
    f->name = tu_name("fan");
    f->count = env ? (unsigned)atoi(env) : 100000;
    am_arena *a = tu_open(f->name, 256 << 20, 0);
    pid_t kids[FAN_SUBS];
    for (int i = 0; i < FAN_SUBS; i++) kids[i] = tu_fork(fan_sub, f);
    while (atomic_load(&f->ready) < FAN_SUBS) usleep(1000);
    am_pub *p;
    ck_assert_int_eq(am_pub_open(a, "fan", &(am_pub_opts){ .send_timeout_ns = 30 * SEC }, &p), 0);
    uint64_t rng = 12345;
    double t0 = now_s();
    for (unsigned i = 1; i <= f->count; i++) {
        size_t n = fan_size(&rng);
        void *buf;
        TU_REQUIRE(am_pub_loan(p, n, &buf) == 0, "loan %u", i);
        fill(buf, n, i);
        TU_REQUIRE(am_pub_send(p, buf, n) == 0, "send %u", i);
        f->bytes += n;
    }
    for (int i = 0; i < FAN_SUBS; i++) ck_assert_int_eq(tu_wait(kids[i]), 0);
    printf("fan-out: %u messages, %.1f MB to each of %d subscribers in %.2f s\n", f->count, f->bytes / 1e6,
           FAN_SUBS, now_s() - t0);
    am_pub_counts st;
    ck_assert_int_eq(am_pub_stats(p, &st), 0);
    ck_assert_int_eq(st.sent, f->count);
    ck_assert_int_eq(st.dropped, 0);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

/* ------------------------------------------------------------------ many publishers */

enum { MP_PUBS = 3, MP_MSGS = 20000 };
typedef struct mp {
    const char *name;
    _Atomic int subs_ready, pubs_done;
    _Atomic uint64_t joiner_got, leaver_got;
} mp;

static int mp_pub(void *arg)
{
    mp *m = arg;
    am_arena *a;
    am_pub *p;
    if (am_arena_open(m->name, NULL, &a) || am_pub_open(a, "mp", &(am_pub_opts){ .send_timeout_ns = 30 * SEC }, &p)) return 1;
    while (atomic_load(&m->subs_ready) < 2) usleep(100);
    for (uint64_t i = 1; i <= MP_MSGS; i++) {
        uint64_t v[2] = { (uint64_t)getpid(), i };
        if (am_pub_publish(p, v, sizeof v)) return 2;
    }
    atomic_fetch_add(&m->pubs_done, 1);
    am_pub_close(p);
    am_arena_close(a);
    return 0;
}

/* mode 0: attached from the start, must get everything, per-publisher in order;
 * 1: joins mid-stream, per publisher gets a gap-free run; 2: leaves mid-stream. */
static int mp_sub(am_arena *a, mp *m, int mode)
{
    am_sub *s;
    if (am_sub_open(a, "mp", &(am_sub_opts){ .depth = 32, .policy = AM_POLICY_BLOCK }, &s)) return 10;
    if (mode == 0) atomic_fetch_add(&m->subs_ready, 1);
    uint64_t last[AM_MAX_PORTS] = { 0 };
    uint64_t got = 0;
    for (;;) {
        am_sample x;
        int rc = am_sub_take(s, &x, mode == 0 ? 30 * SEC : 200000000);
        if (rc == AM_ETIMEDOUT && mode != 0 && atomic_load(&m->pubs_done) == MP_PUBS) break;
        if (rc == AM_ETIMEDOUT && mode != 0) continue;
        if (rc) return 11;
        uint64_t v[2];
        if (x.len != sizeof v) return 12;
        memcpy(v, x.data, sizeof v);
        if (x.seq != v[1]) return 13;
        if (x.publisher >= AM_MAX_PORTS) return 14;
        /* per publisher port: strictly one more than the last, or the first seen */
        if (last[x.publisher] ? x.seq != last[x.publisher] + 1 : (mode == 0 && x.seq != 1)) return 15;
        last[x.publisher] = x.seq;
        am_sub_ack(s, &x);
        got++;
        if (mode == 0 && got == (uint64_t)MP_PUBS * MP_MSGS) break;
        if (mode == 2 && got == MP_MSGS / 2) break;
    }
    if (mode == 1) atomic_store(&m->joiner_got, got);
    if (mode == 2) atomic_store(&m->leaver_got, got);
    am_sub_close(s);                   /* the leaver leaves with samples still queued */
    return 0;
}

static int mp_sub0(void *arg)
{
    mp *m = arg;
    am_arena *a;
    if (am_arena_open(m->name, NULL, &a)) return 1;
    int rc = mp_sub(a, m, 0);
    am_arena_close(a);
    return rc;
}

static int mp_churn(void *arg)
{
    mp *m = arg;
    am_arena *a;
    if (am_arena_open(m->name, NULL, &a)) return 1;
    while (atomic_load(&m->subs_ready) < 2) usleep(100);
    int rc = mp_sub(a, m, 2);          /* leave half-way ... */
    if (rc == 0) rc = mp_sub(a, m, 1); /* ... and join again */
    am_arena_close(a);
    return rc;
}

START_TEST(many_publishers_and_churn)
{
    mp *m = tu_shared(sizeof *m);
    m->name = tu_name("mp");
    am_arena *a = tu_open(m->name, 64 << 20, 0);
    pid_t kids[MP_PUBS + 3];
    int n = 0;
    kids[n++] = tu_fork(mp_sub0, m);
    kids[n++] = tu_fork(mp_sub0, m);
    kids[n++] = tu_fork(mp_churn, m);
    for (int i = 0; i < MP_PUBS; i++) kids[n++] = tu_fork(mp_pub, m);
    for (int i = 0; i < n; i++) ck_assert_int_eq(tu_wait(kids[i]), 0);
    ck_assert_int_eq(m->leaver_got, MP_MSGS / 2);
    printf("churn: the joiner got %llu samples\n", (unsigned long long)m->joiner_got);
    tu_finish(a);
}
END_TEST

/* ------------------------------------------------------------------ policies */

static void publish_n(am_pub *p, int from, int to)
{
    for (int i = from; i <= to; i++) ck_assert_int_eq(am_pub_publish(p, &i, sizeof i), 0);
}

static int take_int(am_sub *s)
{
    am_sample m;
    if (am_sub_take(s, &m, 0) != 0) return -1;
    int v;
    memcpy(&v, m.data, sizeof v);
    am_sub_ack(s, &m);
    return v;
}

START_TEST(queue_policies)
{
    am_arena *a = open_arena("policy", 16 << 20);
    am_pub *p;
    am_sub *block, *newest, *oldest;
    ck_assert_int_eq(am_pub_open(a, "pol", &(am_pub_opts){ .send_timeout_ns = 20000000 }, &p), 0);
    ck_assert_int_eq(am_sub_open(a, "pol", &(am_sub_opts){ .depth = 4, .policy = AM_POLICY_DROP_NEWEST }, &newest), 0);
    ck_assert_int_eq(am_sub_open(a, "pol", &(am_sub_opts){ .depth = 4, .policy = AM_POLICY_DROP_OLDEST }, &oldest), 0);
    publish_n(p, 1, 10);
    for (int i = 1; i <= 4; i++) ck_assert_int_eq(take_int(newest), i);
    ck_assert_int_eq(take_int(newest), -1);
    for (int i = 7; i <= 10; i++) ck_assert_int_eq(take_int(oldest), i);
    ck_assert_int_eq(take_int(oldest), -1);
    am_sub_counts sc;
    am_sub_stats(newest, &sc);
    ck_assert_int_eq(sc.dropped, 6);
    ck_assert_int_eq(sc.received, 4);
    am_sub_stats(oldest, &sc);
    ck_assert_int_eq(sc.dropped, 6);
    am_pub_counts pc;
    am_pub_stats(p, &pc);
    ck_assert_int_eq(pc.sent, 10);
    ck_assert_int_eq(pc.dropped, 12);
    ck_assert_int_eq(pc.subscribers, 2);

    /* Lossless (opt-in): a full blocking queue times the send out, and nobody gets it. */
    ck_assert_int_eq(am_sub_open(a, "pol", &(am_sub_opts){ .depth = 2, .policy = AM_POLICY_BLOCK }, &block), 0);
    publish_n(p, 11, 12);
    int v = 13;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), AM_ETIMEDOUT);
    am_pub_stats(p, &pc);
    ck_assert_int_eq(pc.timeouts, 1);
    ck_assert_int_eq(pc.sent, 12);
    ck_assert_int_eq(take_int(newest), 11);
    ck_assert_int_eq(take_int(newest), 12);
    ck_assert_int_eq(take_int(newest), -1);                 /* not half-sent */
    ck_assert_int_eq(take_int(block), 11);
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);   /* room again */
    ck_assert_int_eq(take_int(block), 12);
    ck_assert_int_eq(take_int(block), 13);
    /* A zero-copy send that timed out leaves the loan with the caller. */
    publish_n(p, 14, 15);
    void *x;
    ck_assert_int_eq(am_pub_loan(p, 16, &x), 0);
    ck_assert_int_eq(am_pub_send(p, x, 16), AM_ETIMEDOUT);
    ck_assert_int_eq(take_int(block), 14);
    ck_assert_int_eq(am_pub_send(p, x, 16), 0);
    am_sub_close(block);
    am_sub_close(newest);
    am_sub_close(oldest);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

/* Zeroed options are the safe ones: a subscriber drops its oldest (a stuck one costs
 * the publisher nothing), and a publisher's send timeout 0 means "do not wait" for a
 * lossless subscriber that opted in (AM_EAGAIN, counted on both ends). */
START_TEST(safe_defaults)
{
    am_arena *a = open_arena("defaults", 16 << 20);
    am_pub *p;
    am_sub *stuck, *lossless;
    ck_assert_int_eq(am_pub_open(a, "def", NULL, &p), 0);
    ck_assert_int_eq(am_sub_open(a, "def", &(am_sub_opts){ .depth = 4 }, &stuck), 0);
    publish_n(p, 1, 10);                                    /* never waits */
    for (int i = 7; i <= 10; i++) ck_assert_int_eq(take_int(stuck), i);
    am_sub_counts sc;
    am_sub_stats(stuck, &sc);
    ck_assert_int_eq(sc.dropped, 6);
    ck_assert_int_eq(am_sub_open(a, "def", &(am_sub_opts){ .depth = 2, .policy = AM_POLICY_BLOCK }, &lossless), 0);
    publish_n(p, 11, 12);
    int v = 13;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), AM_EAGAIN);   /* full, and no wait */
    am_pub_counts pc;
    am_pub_stats(p, &pc);
    ck_assert_int_eq(pc.timeouts, 1);
    ck_assert_int_eq(take_int(lossless), 11);
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    am_sub *bad;
    ck_assert_int_eq(am_sub_open(a, "def", &(am_sub_opts){ .policy = (am_policy)4 }, &bad), AM_EINVAL);
    am_sub_close(lossless);
    am_sub_close(stuck);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

typedef struct slow { const char *name; _Atomic int ready; } slow;

static int slow_taker(void *arg)
{
    slow *w = arg;
    am_arena *a;
    am_sub *s;
    if (am_arena_open(w->name, NULL, &a) || am_sub_open(a, "bp", &(am_sub_opts){ .depth = 2, .policy = AM_POLICY_BLOCK }, &s)) return 1;
    atomic_store(&w->ready, 1);
    for (int i = 1; i <= 50; i++) {
        am_sample m;
        if (am_sub_take(s, &m, 10 * SEC)) return 2;
        int v;
        memcpy(&v, m.data, sizeof v);
        if (v != i) return 3;
        am_sub_ack(s, &m);
        usleep(1000);
    }
    am_sub_close(s);
    am_arena_close(a);
    return 0;
}

/* Back-pressure across processes: the publisher sleeps until the slow subscriber makes
 * room, loses nothing, and wakes without waiting for its timeout. */
START_TEST(blocking_publisher_waits_for_room)
{
    slow *w = tu_shared(sizeof *w);
    w->name = tu_name("bp");
    am_arena *a = tu_open(w->name, 16 << 20, 0);
    pid_t k = tu_fork(slow_taker, w);
    while (!atomic_load(&w->ready)) usleep(100);
    am_pub *p;
    ck_assert_int_eq(am_pub_open(a, "bp", &(am_pub_opts){ .send_timeout_ns = 10 * SEC }, &p), 0);
    publish_n(p, 1, 50);
    ck_assert_int_eq(tu_wait(k), 0);
    am_pub_counts pc;
    am_pub_stats(p, &pc);
    ck_assert_int_eq(pc.timeouts, 0);
    ck_assert_int_eq(pc.dropped, 0);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

START_TEST(history_for_late_joiners)
{
    am_arena *a = open_arena("hist", 16 << 20);
    am_pub *p;
    ck_assert_int_eq(am_pub_open(a, "h", &(am_pub_opts){ .history = 5 }, &p), 0);
    publish_n(p, 1, 10);
    am_sub *late, *none;
    ck_assert_int_eq(am_sub_open(a, "h", &(am_sub_opts){ .history = 3 }, &late), 0);
    ck_assert_int_eq(am_sub_open(a, "h", NULL, &none), 0);
    publish_n(p, 11, 11);
    for (int i = 8; i <= 11; i++) ck_assert_int_eq(take_int(late), i);
    ck_assert_int_eq(take_int(late), -1);
    ck_assert_int_eq(take_int(none), 11);
    am_sub *all;
    ck_assert_int_eq(am_sub_open(a, "h", &(am_sub_opts){ .history = 100 }, &all), 0);
    for (int i = 7; i <= 11; i++) ck_assert_int_eq(take_int(all), i);
    am_sub_close(all);
    am_sub_close(late);
    am_sub_close(none);
    am_pub_close(p);                    /* the kept samples go with the topic */

    /* History is per publisher (as in iceoryx2): a late joiner gets the newest kept
     * samples of all publishers, oldest first; a publisher's go when it closes. */
    am_sub *early;
    ck_assert_int_eq(am_sub_open(a, "h2", NULL, &early), 0);
    ck_assert_int_eq(am_pub_open(a, "h2", &(am_pub_opts){ .history = 2 }, &p), 0);
    publish_n(p, 1, 3);
    am_pub *more;
    ck_assert_int_eq(am_pub_open(a, "h2", &(am_pub_opts){ .history = 4 }, &more), 0);
    publish_n(more, 4, 5);
    publish_n(p, 6, 6);
    ck_assert_int_eq(am_sub_open(a, "h2", &(am_sub_opts){ .history = 10 }, &all), 0);
    int want[] = { 3, 4, 5, 6 };
    for (int i = 0; i < 4; i++) ck_assert_int_eq(take_int(all), want[i]);
    ck_assert_int_eq(take_int(all), -1);
    am_sub_close(all);
    ck_assert_int_eq(am_sub_open(a, "h2", &(am_sub_opts){ .history = 2 }, &all), 0);
    ck_assert_int_eq(take_int(all), 5);
    ck_assert_int_eq(take_int(all), 6);
    ck_assert_int_eq(take_int(all), -1);
    am_sub_close(all);
    am_pub_close(more);                 /* its kept samples go with it */
    ck_assert_int_eq(am_sub_open(a, "h2", &(am_sub_opts){ .history = 10 }, &all), 0);
    ck_assert_int_eq(take_int(all), 3);
    ck_assert_int_eq(take_int(all), 6);
    ck_assert_int_eq(take_int(all), -1);
    am_sub_close(all);
    am_sub_close(early);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

typedef struct holder { const char *name; _Atomic int holding; } holder;

static int hold_and_wait(void *arg)
{
    holder *h = arg;
    am_arena *a;
    am_sub *s;
    if (am_arena_open(h->name, NULL, &a) || am_sub_open(a, "dead", &(am_sub_opts){ .depth = 1000 }, &s)) return 1;
    atomic_store(&h->holding, 1);
    for (int got = 0; got < 3;) {
        am_sample m;
        if (am_sub_take(s, &m, 10 * SEC) == 0) got++;            /* held, never acked */
    }
    atomic_store(&h->holding, 2);
    pause();
    return 0;
}

/* ------------------------------------------------------------ restarts */

typedef struct typed_holder { const char *name; _Atomic int ready; } typed_holder;

/* Publish topic "restart" with type v1.Msg and stay. */
static int hold_v1(void *arg)
{
    typed_holder *h = arg;
    am_arena *a;
    am_pub *p;
    if (am_arena_open(h->name, NULL, &a) || am_pub_open(a, "restart", &(am_pub_opts){ .type = { "v1.Msg", 1 } }, &p)) {
        return 1;
    }
    atomic_store(&h->ready, 1);
    pause();
    return 0;
}

/* A program killed with kill -9 while it is the only port of its topic, restarted
 * with a new type: the open clears the dead predecessor's port instead of refusing it
 * (no gc needed). A live holder of the old type still gets AM_ETYPE, and the report
 * names its pid and type. */
START_TEST(restart_with_a_new_type)
{
    typed_holder *h = tu_shared(sizeof *h);
    h->name = tu_name("restart");
    am_arena *a = tu_open(h->name, 16 << 20, 0);
    pid_t k = tu_fork(hold_v1, h);
    while (!atomic_load(&h->ready)) usleep(100);
    am_pub *p;
    ck_assert_int_eq(am_pub_open(a, "restart", &(am_pub_opts){ .type = { "v2.Msg", 2 } }, &p), AM_ETYPE);
    char want[64];
    snprintf(want, sizeof want, "live pid(s) %d;", (int)k);
    ck_assert_msg(strstr(am_channel_open_report(), want) && strstr(am_channel_open_report(), "v1.Msg"),
                  "report: %s", am_channel_open_report());
    kill(k, SIGKILL);
    tu_wait(k);
    ck_assert_int_eq(am_pub_open(a, "restart", &(am_pub_opts){ .type = { "v2.Msg", 2 } }, &p), 0);
    ck_assert_str_eq(am_channel_open_report(), "");
    am_sub *s, *no;
    ck_assert_int_eq(am_sub_open(a, "restart", &(am_sub_opts){ .type = { "v2.Msg", 2 } }, &s), 0);
    ck_assert_int_eq(am_sub_open(a, "restart", &(am_sub_opts){ .type = { "v1.Msg", 1 } }, &no), AM_ETYPE);
    am_pub_close(p);                                  /* the live subscriber keeps v2 */
    ck_assert_int_eq(am_sub_open(a, "restart", &(am_sub_opts){ .type = { "v1.Msg", 1 } }, &no), AM_ETYPE);
    am_sub_close(s);                                  /* nobody left: v1 may come back */
    ck_assert_int_eq(am_sub_open(a, "restart", &(am_sub_opts){ .type = { "v1.Msg", 1 } }, &s), 0);
    am_sub_close(s);
    tu_finish(a);
}
END_TEST

/* A subscriber killed holding samples, its queue far from full: the publisher finds it
 * dead by itself (within 100 ms of sending) and what it held comes back. */
START_TEST(dead_subscriber_found_by_publisher)
{
    holder *h = tu_shared(sizeof *h);
    h->name = tu_name("deadsub");
    am_arena *a = tu_open(h->name, 16 << 20, 0);
    am_pub *p;
    am_sub *live;
    ck_assert_int_eq(am_pub_open(a, "dead", NULL, &p), 0);
    ck_assert_int_eq(am_sub_open(a, "dead", &(am_sub_opts){ .depth = 1000 }, &live), 0);
    pid_t k = tu_fork(hold_and_wait, h);
    while (atomic_load(&h->holding) != 1) usleep(100);
    publish_n(p, 1, 10);
    while (atomic_load(&h->holding) != 2) usleep(100);
    kill(k, SIGKILL);
    tu_wait(k);
    am_pub_counts pc;
    am_pub_stats(p, &pc);
    ck_assert_int_eq(pc.subscribers, 2);                         /* not noticed yet */
    for (int i = 11; i <= 200; i++) {                            /* 190 sends over ~200 ms */
        publish_n(p, i, i);
        usleep(1000);
    }
    am_pub_stats(p, &pc);
    ck_assert_int_eq(pc.subscribers, 1);
    for (int i = 1; i <= 200; i++) ck_assert_int_eq(take_int(live), i);
    am_sub_close(live);
    am_pub_close(p);
    tu_finish(a);                                                /* nothing it held leaked */
}
END_TEST

/* ------------------------------------------------------------------ services */

typedef struct svc {
    const char *name;
    _Atomic int servers_ready;
    _Atomic int stop;
    _Atomic int loaned;      /* a server loaned a reply block and stalls (999997) */
    int64_t delay_us;
} svc;

static int server_proc(void *arg)
{
    svc *v = arg;
    am_arena *a;
    am_server *s;
    if (am_arena_open(v->name, NULL, &a) || am_server_open(a, "calc", NULL, &s)) return 1;
    atomic_fetch_add(&v->servers_ready, 1);
    while (!atomic_load(&v->stop)) {
        am_request r;
        int rc = am_server_take(s, &r, 50000000);
        if (rc == AM_ETIMEDOUT) continue;
        if (rc) return 2;
        uint64_t in[2];
        if (r.len != sizeof in) return 3;
        memcpy(in, r.data, sizeof in);
        if (in[0] == 999999) {                         /* a request this server refuses */
            if (am_server_fail(s, &r, 42)) return 7;
            continue;
        }
        if (in[0] == 999997) {                         /* a reply loan, then stall until killed */
            void *buf;
            if (am_server_loan(s, 64, &buf)) return 9;
            atomic_store(&v->loaned, 1);
            for (;;) pause();
        }
        if (in[0] == 999998) {                         /* a payload that is not a loan of ours */
            void *not_ours = (void *)r.data;           /* the request itself: sent, disowned */
            if (am_server_reply_loan(s, &r, not_ours, 8) != AM_EINVAL) return 8;
        }
        if (v->delay_us) usleep((useconds_t)v->delay_us);
        uint64_t out = r.method == 1 ? in[0] + in[1] : in[0] * in[1];
        if (in[0] % 2) {                               /* zero-copy: written in place */
            void *buf;
            if (am_server_loan(s, sizeof out, &buf)) return 5;
            memcpy(buf, &out, sizeof out);
            if (am_server_reply_loan(s, &r, buf, sizeof out)) return 6;
        } else if (am_server_reply(s, &r, &out, sizeof out)) {
            return 4;
        }
    }
    am_server_close(s);
    am_arena_close(a);
    return 0;
}

static int client_proc(void *arg)
{
    svc *v = arg;
    am_arena *a;
    am_client *c;
    if (am_arena_open(v->name, NULL, &a) || am_client_open(a, "calc", NULL, &c)) return 1;
    uint64_t rng = (uint64_t)getpid();
    for (int i = 0; i < 2000; i++) {
        uint64_t in[2] = { tu_rand(&rng) % 100000, tu_rand(&rng) % 100000 };
        uint32_t method = 1 + (uint32_t)(tu_rand(&rng) % 2);
        am_sample r;
        if (i % 2) {                                   /* zero-copy request */
            void *buf;
            if (am_client_loan(c, sizeof in, &buf)) return 5;
            memcpy(buf, in, sizeof in);
            if (am_client_call_loan(c, method, buf, sizeof in, &r, 10 * SEC)) return 6;
        } else if (am_client_call_method(c, method, in, sizeof in, &r, 10 * SEC)) {
            return 2;
        }
        uint64_t out;
        if (r.len != sizeof out) return 3;
        memcpy(&out, r.data, sizeof out);
        if (out != (method == 1 ? in[0] + in[1] : in[0] * in[1])) return 4;
        am_client_ack(c, &r);
    }
    am_client_close(c);
    am_arena_close(a);
    return 0;
}

START_TEST(concurrent_clients_two_servers)
{
    svc *v = tu_shared(sizeof *v);
    v->name = tu_name("svc");
    am_arena *a = tu_open(v->name, 16 << 20, 0);
    pid_t srv[2] = { tu_fork(server_proc, v), tu_fork(server_proc, v) };
    while (atomic_load(&v->servers_ready) < 2) usleep(100);
    pid_t cli[3];
    for (int i = 0; i < 3; i++) cli[i] = tu_fork(client_proc, v);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(tu_wait(cli[i]), 0);
    atomic_store(&v->stop, 1);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(tu_wait(srv[i]), 0);
    tu_finish(a);
}
END_TEST

START_TEST(timeouts_and_late_replies)
{
    svc *v = tu_shared(sizeof *v);
    v->name = tu_name("late");
    v->delay_us = 30000;                           /* the server answers in 30 ms */
    am_arena *a = tu_open(v->name, 16 << 20, 0);
    am_client *c;
    ck_assert_int_eq(am_client_open(a, "calc", NULL, &c), 0);
    am_sample r;
    uint64_t in[2] = { 2, 3 };
    ck_assert_int_eq(am_client_call(c, in, sizeof in, &r, 10000000), AM_ENOENT);  /* no server yet */
    pid_t srv = tu_fork(server_proc, v);
    while (atomic_load(&v->servers_ready) < 1) usleep(100);
    ck_assert_int_eq(am_client_call_method(c, 1, in, sizeof in, &r, 5000000), AM_ETIMEDOUT);
    /* The next call must get its own answer, not the late one. */
    uint64_t in2[2] = { 4, 5 };
    ck_assert_int_eq(am_client_call_method(c, 2, in2, sizeof in2, &r, 5 * SEC), 0);
    uint64_t out;
    memcpy(&out, r.data, sizeof out);
    ck_assert_int_eq(out, 20);
    am_client_ack(c, &r);
    am_client_counts st;
    am_client_stats(c, &st);
    ck_assert_int_eq(st.late, 1);
    ck_assert_int_eq(st.timeouts, 1);
    ck_assert_int_eq(st.calls, 2);
    ck_assert_int_eq(am_client_status(c), 0);
    /* A reply_loan of a block that is not the server's loan is refused, nothing sent. */
    uint64_t probe[2] = { 999998, 1 };
    ck_assert_int_eq(am_client_call_method(c, 1, probe, sizeof probe, &r, 5 * SEC), 0);
    memcpy(&out, r.data, sizeof out);
    ck_assert_int_eq(out, 999999);
    am_client_ack(c, &r);
    char local[128];                                   /* and a call with a non-loan */
    ck_assert_int_eq(am_client_call_loan(c, 1, local + 64, 8, &r, 0), AM_EINVAL);
    /* A call the server fails: AM_EREMOTE at once (not a timeout), with its status. */
    uint64_t refused[2] = { 999999, 0 };
    ck_assert_int_eq(am_client_call(c, refused, sizeof refused, &r, 5 * SEC), AM_EREMOTE);
    ck_assert_int_eq(am_client_status(c), 42);
    ck_assert_int_eq(am_client_call_method(c, 2, in2, sizeof in2, &r, 5 * SEC), 0);   /* and on it goes */
    ck_assert_int_eq(am_client_status(c), 0);
    am_client_ack(c, &r);
    atomic_store(&v->stop, 1);
    ck_assert_int_eq(tu_wait(srv), 0);
    am_client_close(c);
    tu_finish(a);
}
END_TEST

static int stuck_server(void *arg)
{
    svc *v = arg;
    am_arena *a;
    am_server *s;
    if (am_arena_open(v->name, NULL, &a) || am_server_open(a, "calc", NULL, &s)) return 1;
    atomic_fetch_add(&v->servers_ready, 1);
    am_request r;
    if (am_server_take(s, &r, 10 * SEC)) return 2;
    pause();                                        /* holds the request until killed */
    return 0;
}

START_TEST(server_death_is_reported_promptly)
{
    svc *v = tu_shared(sizeof *v);
    v->name = tu_name("death");
    am_arena *a = tu_open(v->name, 16 << 20, 0);
    pid_t srv = tu_fork(stuck_server, v);
    while (atomic_load(&v->servers_ready) < 1) usleep(100);
    am_client *c;
    ck_assert_int_eq(am_client_open(a, "calc", NULL, &c), 0);
    pid_t killer = fork();
    if (killer == 0) {
        usleep(50000);
        kill(srv, SIGKILL);
        _exit(0);
    }
    am_sample r;
    uint64_t in[2] = { 1, 2 };
    double t0 = now_s();
    ck_assert_int_eq(am_client_call(c, in, sizeof in, &r, 60 * SEC), AM_EPEERDEAD);
    double waited = now_s() - t0;
    ck_assert_msg(waited < 5, "AM_EPEERDEAD after %.3f s, not promptly", waited);
    printf("server death seen after %.1f ms\n", waited * 1e3);
    tu_wait(killer);
    tu_wait(srv);
    am_client_close(c);
    tu_finish(a);
}
END_TEST

/* A server killed while it owns a block that no record names (a reply loan not yet
 * handed over): the block is freed as soon as its port is cleaned up, not when some
 * process happens to join the arena next. */
START_TEST(killed_server_leaves_nothing_behind)
{
    svc *v = tu_shared(sizeof *v);
    v->name = tu_name("srvkill");
    am_arena *a = tu_open(v->name, 16 << 20, 0);
    pid_t srv = tu_fork(server_proc, v);
    while (atomic_load(&v->servers_ready) < 1) usleep(100);
    am_client *c;
    ck_assert_int_eq(am_client_open(a, "calc", NULL, &c), 0);
    uint64_t in[2] = { 999997, 0 };                      /* loan a reply, then stall */
    am_sample r;
    ck_assert_int_eq(am_client_call(c, in, sizeof in, &r, 1000000), AM_ETIMEDOUT);
    while (!atomic_load(&v->loaned)) usleep(100);
    kill(srv, SIGKILL);
    ck_assert_int_eq(tu_wait(srv), 128 + SIGKILL);
    ck_assert_int_eq(am_channels_gc(a), 1);              /* its port cleaned up ... */
    am_client_close(c);
    tu_finish(a);                                        /* ... and its loan freed */
}
END_TEST

/* ------------------------------------------------------------------ waitsets */

START_TEST(waitset_wakes_on_any)
{
    const char *name = tu_name("ws");
    am_arena *a = tu_open(name, 16 << 20, 0);
    am_pub *p1, *p2;
    am_sub *s1, *s2;
    am_server *sv;
    ck_assert_int_eq(am_sub_open(a, "one", NULL, &s1), 0);
    ck_assert_int_eq(am_sub_open(a, "two", NULL, &s2), 0);
    ck_assert_int_eq(am_server_open(a, "svc", NULL, &sv), 0);
    ck_assert_int_eq(am_pub_open(a, "one", NULL, &p1), 0);
    ck_assert_int_eq(am_pub_open(a, "two", NULL, &p2), 0);
    am_waitset *w;
    ck_assert_int_eq(am_waitset_open(&w), 0);
    int tag1 = 1, tag2 = 2, tag3 = 3;
    ck_assert_int_eq(am_waitset_add_sub(w, s1, &tag1), 0);
    ck_assert_int_eq(am_waitset_add_sub(w, s2, &tag2), 0);
    ck_assert_int_eq(am_waitset_add_server(w, sv, &tag3), 0);
    ck_assert_int_eq(am_waitset_add_sub(w, s2, &tag2), AM_EEXIST);
    void *ready[4];
    ck_assert_int_eq(am_waitset_wait(w, ready, 4, 30000000), AM_ETIMEDOUT);  /* sleeps, times out */
    pid_t k = fork();
    if (k == 0) {                                    /* a sender in another process */
        am_arena *b;
        am_pub *q;
        if (am_arena_open(name, NULL, &b) || am_pub_open(b, "two", NULL, &q)) _exit(1);
        usleep(50000);
        _exit(am_pub_publish(q, "x", 1) ? 2 : 0);
    }
    ck_assert_int_eq(am_waitset_wait(w, ready, 4, 10 * SEC), 1);
    ck_assert_ptr_eq(ready[0], &tag2);
    ck_assert_int_eq(tu_wait(k), 0);
    ck_assert_int_eq(take_int(s2) >= 0, 1);
    ck_assert_int_eq(am_waitset_remove(w, s2), 0);
    ck_assert_int_eq(am_waitset_remove(w, s2), AM_ENOENT);
    am_waitset_close(w);
    am_pub_close(p1);
    am_pub_close(p2);
    am_sub_close(s1);
    am_sub_close(s2);
    am_server_close(sv);
    tu_finish(a);
}
END_TEST

/* Many messages in one call each way (am_pub_publish_packed, am_sub_take_copies): a
 * sample that does not fit the buffer stays taken, is what the next take of either
 * kind returns, and counts as ready for a waitset. */
START_TEST(packed_publish_and_copied_takes)
{
    const char *name = tu_name("packed");
    am_arena *a = tu_open(name, 16 << 20, 0);
    am_pub *p;
    am_sub *s;
    ck_assert_int_eq(am_sub_open(a, "t", &(am_sub_opts){ .depth = 16 }, &s), 0);
    ck_assert_int_eq(am_pub_open(a, "t", NULL, &p), 0);
    uint8_t msgs[150];
    for (unsigned i = 0; i < sizeof msgs; i++) msgs[i] = (uint8_t)i;
    const uint32_t lens[] = { 10, 20, 30, 40, 50 };
    ck_assert_int_eq(am_pub_publish_packed(p, msgs, lens, 5), 5);
    ck_assert_int_eq(am_pub_publish_packed(p, NULL, lens, 1), AM_EINVAL);
    ck_assert_int_eq(am_pub_publish_packed(p, NULL, NULL, 0), 0);
    uint8_t buf[70];
    uint32_t got[8];
    uint64_t seqs[8];
    ck_assert_int_eq(am_sub_take_copies(s, buf, sizeof buf, got, seqs, 8, 0), 3);   /* 10+20+30; 40 does not fit */
    ck_assert_uint_eq(got[0], 10);
    ck_assert_uint_eq(got[2], 30);
    ck_assert_uint_eq(seqs[0], 1);
    ck_assert_uint_eq(seqs[2], 3);
    ck_assert_int_eq(memcmp(buf, msgs, 60), 0);
    am_sub_counts st;
    ck_assert_int_eq(am_sub_stats(s, &st), 0);
    ck_assert_uint_eq(st.held, 1);                          /* the one carried over */
    am_waitset *w;
    ck_assert_int_eq(am_waitset_open(&w), 0);
    ck_assert_int_eq(am_waitset_add_sub(w, s, s), 0);
    void *ready[1];
    ck_assert_int_eq(am_waitset_wait(w, ready, 1, 0), 1);  /* the carried one is ready */
    am_sample m;
    ck_assert_int_eq(am_sub_take(s, &m, 0), 0);             /* it comes first */
    ck_assert_uint_eq(m.seq, 4);
    ck_assert_uint_eq(m.len, 40);
    ck_assert_int_eq(memcmp(m.data, msgs + 60, 40), 0);
    ck_assert_int_eq(am_sub_ack(s, &m), 0);
    ck_assert_int_eq(am_sub_take_copies(s, buf, 30, got, NULL, 8, 0), AM_ETOOBIG); /* 50 > 30 */
    ck_assert_int_eq(am_sub_take_copies(s, buf, sizeof buf, got, seqs, 8, 0), 1);  /* then it fits */
    ck_assert_uint_eq(got[0], 50);
    ck_assert_uint_eq(seqs[0], 5);
    ck_assert_int_eq(memcmp(buf, msgs + 100, 50), 0);
    ck_assert_int_eq(am_sub_take_copies(s, buf, sizeof buf, got, seqs, 8, 0), AM_ETIMEDOUT);
    ck_assert_int_eq(am_sub_take_copies(s, buf, sizeof buf, got, seqs, 0, 0), AM_EINVAL);
    ck_assert_int_eq(am_sub_stats(s, &st), 0);
    ck_assert_uint_eq(st.held, 0);
    ck_assert_uint_eq(st.received, 5);
    am_waitset_close(w);
    am_pub_close(p);
    am_sub_close(s);
    tu_finish(a);
}
END_TEST

/* ------------------------------------------------------------------ block cache */

static uint64_t used_blocks(am_arena *a)
{
    am_stats st;
    ck_assert_int_eq(am_arena_stats(a, &st), 0);
    return st.used_blocks;
}

static void pass_one(am_pub *p, am_sub *s, size_t len)
{
    void *buf;
    ck_assert_int_eq(am_pub_loan(p, len, &buf), 0);
    memset(buf, 0x5a, len);
    ck_assert_int_eq(am_pub_send(p, buf, len), 0);
    am_sample m;
    ck_assert_int_eq(am_sub_take(s, &m, 0), 0);
    ck_assert_uint_eq(m.len, len);
    ck_assert_int_eq(am_sub_ack(s, &m), 0);
}

/* A block its subscriber acked goes back to the publisher and serves the next loan of
 * a fitting size; what is cached goes back to the arena when the publisher idles
 * (swept by the subscriber) or closes. */
START_TEST(block_cache_reuses_and_gives_back)
{
    am_arena *a = open_arena("bc", 16 << 20);
    am_sub *s;
    am_pub *p;
    ck_assert_int_eq(am_sub_open(a, "bc", NULL, &s), 0);
    uint64_t with_sub = used_blocks(a);
    ck_assert_int_eq(am_pub_open(a, "bc", NULL, &p), 0);
    pass_one(p, s, 100);                       /* creates the link; one block comes back */
    ck_assert_uint_eq(am_pub_reused(p), 0);
    uint64_t cached_one = used_blocks(a);
    for (int i = 0; i < 50; i++) pass_one(p, s, 100);
    ck_assert_uint_eq(am_pub_reused(p), 50);   /* every later loan was the returned block */
    ck_assert_uint_eq(used_blocks(a), cached_one);
    pass_one(p, s, 4000);                      /* a misfit: freed, a new block is allocated */
    ck_assert_uint_eq(am_pub_reused(p), 50);
    ck_assert_uint_eq(used_blocks(a), cached_one);
    /* Idle publisher: a subscriber going to sleep sweeps its returns into the arena. */
    usleep(20000);
    am_sample m;
    ck_assert_int_eq(am_sub_take(s, &m, 2000000), AM_ETIMEDOUT);
    ck_assert_uint_eq(used_blocks(a), cached_one - 1);
    /* A closing publisher frees what came back; its tx block goes, its link stays with
     * the subscriber's rx block. */
    pass_one(p, s, 100);
    ck_assert_uint_eq(used_blocks(a), cached_one);
    am_pub_close(p);
    ck_assert_uint_eq(used_blocks(a), with_sub + 1);
    am_sub_close(s);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("channel", 600, (const TTest *[]){
        packed_publish_and_copied_takes,
        killed_server_leaves_nothing_behind,
        names_and_types,
        loans_and_bad_calls,
        fan_out_100k,
        many_publishers_and_churn,
        queue_policies,
        safe_defaults,
        blocking_publisher_waits_for_room,
        history_for_late_joiners,
        dead_subscriber_found_by_publisher,
        restart_with_a_new_type,
        concurrent_clients_two_servers,
        timeouts_and_late_replies,
        server_death_is_reported_promptly,
        waitset_wakes_on_any,
        block_cache_reuses_and_gives_back,
        NULL });
}
