/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_channel_pause.c — a process stopped (SIGSTOP) at random moments must not stall
 * anybody else.
 *
 * Seven worker processes share one arena: two publishers on one topic, a lossless and
 * a drop-oldest subscriber of it, a process that opens and closes ports on another
 * topic, a server and a client. Every call they make has a short deadline, and each
 * counts the loop rounds it completes. One of them is the victim of a phase: the parent
 * stops it for 20-100 ms at random moments, and during every pause each other worker
 * must complete rounds (nobody waits on the stopped one past a deadline), and the
 * subscribers must keep receiving from the publisher that was not stopped. After
 * SIGCONT everything goes on; at the end the lossless subscriber saw every sequence
 * number of both publishers exactly once and in order, the drop-oldest one in order
 * (its drops counted), and the arena checks clean.
 *
 * CI: 6 pauses per victim. AM_PAUSES=N for the long run (>= 100).
 */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "test_util.h"

enum { W_PUB_A, W_PUB_B, W_SUB_LOSSLESS, W_SUB_OLDEST, W_OPENER, W_SERVER, W_CLIENT, WORKERS };
static const char *const wname[WORKERS] = { "publisher A", "publisher B", "lossless subscriber",
                                            "drop-oldest subscriber", "opener", "server", "client" };

typedef struct shared {
    const char *name;
    _Atomic int stop;
    _Atomic int failed;                       /* a worker's error code */
    _Atomic uint64_t rounds[WORKERS];
    _Atomic uint64_t from[2][2];              /* [subscriber][publisher]: samples received */
    _Atomic uint64_t sent[2];                 /* samples each publisher sent            */
} shared;
static shared *sh;

#define MS 1000000ll

static void tick(int w) { atomic_fetch_add(&sh->rounds[w], 1); }

static int publisher(am_arena *a, int w)
{
    am_pub *p;
    if (am_pub_open(a, "pause/t", &(am_pub_opts){ .send_timeout_ns = 5 * MS }, &p)) return 10;
    uint64_t msg[2] = { (uint64_t)w, 0 };
    while (!atomic_load(&sh->stop)) {
        msg[1]++;
        int rc;
        while ((rc = am_pub_publish(p, msg, sizeof msg)) == AM_ETIMEDOUT && !atomic_load(&sh->stop)) tick(w);
        if (rc == AM_ETIMEDOUT) break;
        if (rc) return 11;
        atomic_store(&sh->sent[w], msg[1]);
        tick(w);
    }
    am_pub_close(p);
    return 0;
}

static int subscriber(am_arena *a, int w)
{
    am_sub *s;
    am_sub_opts o = { .depth = 64, .policy = w == W_SUB_LOSSLESS ? AM_POLICY_BLOCK : AM_POLICY_DROP_OLDEST };
    if (am_sub_open(a, "pause/t", &o, &s)) return 20;
    int me = w == W_SUB_LOSSLESS ? 0 : 1;
    uint64_t last[2] = { 0, 0 };
    for (;;) {
        am_sample m;
        int rc = am_sub_take(s, &m, 5 * MS);
        if (rc == AM_ETIMEDOUT) {
            tick(w);
            if (atomic_load(&sh->stop) == 2) break;       /* publishers are done */
            continue;
        }
        if (rc) return 21;
        uint64_t msg[2];
        memcpy(msg, m.data, sizeof msg);
        if (msg[0] > 1) return 22;
        /* in order, never twice; lossless: none missing (the first may be any) */
        if (msg[1] <= last[msg[0]]) return 23;
        if (me == 0 && last[msg[0]] != 0 && msg[1] != last[msg[0]] + 1) return 24;
        last[msg[0]] = msg[1];
        atomic_fetch_add(&sh->from[me][msg[0]], 1);
        if (am_sub_ack(s, &m)) return 25;
        tick(w);
    }
    am_sub_close(s);
    return 0;
}

static int opener(am_arena *a)
{
    while (!atomic_load(&sh->stop)) {
        am_sub *s;
        am_pub *p;
        if (am_sub_open(a, "pause/churn", NULL, &s)) return 30;
        if (am_pub_open(a, "pause/churn", NULL, &p)) return 31;
        am_pub_close(p);
        am_sub_close(s);
        tick(W_OPENER);
    }
    return 0;
}

static int server(am_arena *a)
{
    am_server *s;
    if (am_server_open(a, "pause/svc", NULL, &s)) return 40;
    while (!atomic_load(&sh->stop)) {
        am_request r;
        int rc = am_server_take(s, &r, 5 * MS);
        if (rc == 0) rc = am_server_reply(s, &r, r.data, r.len);
        if (rc && rc != AM_ETIMEDOUT) return 41;
        tick(W_SERVER);
    }
    am_server_close(s);
    return 0;
}

static int client(am_arena *a)
{
    am_client *c;
    if (am_client_open(a, "pause/svc", NULL, &c)) return 50;
    for (uint64_t i = 0; !atomic_load(&sh->stop); i++) {
        am_sample rep;
        int rc = am_client_call(c, &i, sizeof i, &rep, 10 * MS);
        if (rc == 0) {
            uint64_t v;
            memcpy(&v, rep.data, sizeof v);
            if (v != i) return 51;                    /* a reply to another call */
            (void)am_client_ack(c, &rep);
        } else if (rc != AM_ETIMEDOUT && rc != AM_ENOENT && rc != AM_EPEERDEAD) {
            return 52;
        }
        tick(W_CLIENT);
    }
    am_client_close(c);
    return 0;
}

static int worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    am_arena *a;
    if (am_arena_open(sh->name, NULL, &a)) return 1;
    int rc = w <= W_PUB_B ? publisher(a, w)
           : w <= W_SUB_OLDEST ? subscriber(a, w)
           : w == W_OPENER ? opener(a)
           : w == W_SERVER ? server(a) : client(a);
    if (rc) atomic_store(&sh->failed, rc);
    am_arena_close(a);
    return rc;
}

static void nap(int64_t ns)
{
    struct timespec ts = { ns / 1000000000, ns % 1000000000 };
    while (nanosleep(&ts, &ts) != 0) {}
}

static void phase(int victim, unsigned pauses, uint64_t *rng)
{
    memset((void *)sh->rounds, 0, sizeof sh->rounds);
    memset((void *)sh->from, 0, sizeof sh->from);
    atomic_store(&sh->stop, 0);
    pid_t pid[WORKERS];
    /* subscribers first, so that the lossless one sees both publishers from their start */
    int order[WORKERS] = { W_SUB_LOSSLESS, W_SUB_OLDEST, W_SERVER, W_PUB_A, W_PUB_B, W_OPENER, W_CLIENT };
    for (int k = 0; k < WORKERS; k++) {
        pid[order[k]] = tu_fork(worker, (void *)(intptr_t)order[k]);
        nap(5 * MS);
    }
    nap(50 * MS);
    for (unsigned n = 0; n < pauses; n++) {
        nap((int64_t)(tu_rand(rng) % 30) * MS);                  /* a random moment */
        uint64_t before[WORKERS], from_before[2][2];
        ck_assert_int_eq(kill(pid[victim], SIGSTOP), 0);
        nap(2 * MS);                                              /* it is stopped now */
        for (int w = 0; w < WORKERS; w++) before[w] = atomic_load(&sh->rounds[w]);
        memcpy(from_before, (void *)sh->from, sizeof from_before);
        nap((int64_t)(20 + tu_rand(rng) % 81) * MS);
        for (int w = 0; w < WORKERS; w++) {
            if (w == victim) continue;
            ck_assert_msg(atomic_load(&sh->rounds[w]) > before[w], "%s stalled while the %s was stopped", wname[w],
                          wname[victim]);
        }
        /* The publisher that runs still reaches both subscribers, unless one of them is
         * stopped: a stopped lossless subscriber makes every send wait its timeout and
         * then fail for all (what AM_POLICY_BLOCK promises). */
        int pub = victim == W_PUB_A ? 1 : 0;
        for (int s = 0; s < 2 && victim != W_SUB_LOSSLESS; s++) {
            if (victim == W_SUB_LOSSLESS + s || victim == W_PUB_A + pub) continue;
            ck_assert_msg(atomic_load(&sh->from[s][pub]) > from_before[s][pub],
                          "the %s got nothing from %s while the %s was stopped", wname[W_SUB_LOSSLESS + s],
                          wname[W_PUB_A + pub], wname[victim]);
        }
        ck_assert_int_eq(kill(pid[victim], SIGCONT), 0);
        ck_assert_int_eq(atomic_load(&sh->failed), 0);
    }
    atomic_store(&sh->stop, 1);
    ck_assert_int_eq(tu_wait(pid[W_PUB_A]), 0);
    ck_assert_int_eq(tu_wait(pid[W_PUB_B]), 0);
    atomic_store(&sh->stop, 2);
    for (int w = W_SUB_LOSSLESS; w < WORKERS; w++) ck_assert_msg(tu_wait(pid[w]) == 0, "%s failed: %d", wname[w], atomic_load(&sh->failed));
    ck_assert_int_eq(atomic_load(&sh->failed), 0);
    printf("victim %-22s: rounds %llu %llu %llu %llu %llu %llu %llu\n", wname[victim],
           (unsigned long long)sh->rounds[0], (unsigned long long)sh->rounds[1], (unsigned long long)sh->rounds[2],
           (unsigned long long)sh->rounds[3], (unsigned long long)sh->rounds[4], (unsigned long long)sh->rounds[5],
           (unsigned long long)sh->rounds[6]);
}

START_TEST(nobody_waits_on_a_stopped_process)
{
    const char *name = tu_name("pause");
    am_arena *a = tu_open(name, 32 << 20, 0);
    sh = tu_shared(sizeof *sh);
    sh->name = name;
    const char *e = getenv("AM_PAUSES");
    unsigned pauses = e ? (unsigned)atoi(e) : 6;
    uint64_t rng = (uint64_t)getpid() * 2654435761u;
    for (int victim = 0; victim < WORKERS; victim++) phase(victim, pauses, &rng);
    (void)am_channels_gc(a);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("channel_pause", 900, (const TTest *[]){ nobody_waits_on_a_stopped_process, NULL });
}
