/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_bridge — am-bridge against plain libnats over the same nats-server, same run.
 *
 *   build/bench_bridge [--quick] [--rounds R] [--only 64|4k|rtt]
 *
 * It starts a nats-server on 127.0.0.1 and a free port, then, for each round:
 *   plain    a libnats publisher and a libnats subscriber (two connections) send N
 *            messages of 64 B and of 4 KiB; a requester and a responder make M round
 *            trips of 64 B (natsConnection_Request, both connections with
 *            natsOptions_SetSendAsap: the default flusher adds about 1 ms a hop).
 *   bridged  a publisher on arena A and a subscriber on arena B, joined by two
 *            am-bridge processes (A exports, B imports) over that nats-server, send the
 *            same; a client on B calls a server on A M times (am_client_call).
 * Throughput is messages received / (last receipt - first send); round trip the
 * median of M calls. Each figure is the median of R rounds; then the ratios; the
 * plain throughput is also measured with the five headers a bridge adds to a sample
 * (targets: bridged throughput >= 0.8x plain, added round trip <= 20 us).
 */
#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "atomicmatrix/atomicmatrix.h"
#include "bench_util.h"

static int port;
static char url[64];
static unsigned n_small = 200000, n_big = 20000, calls = 2000, rounds = 3;
static const char *only;   /* --only: one phase, for profiling it (the others print 0) */

static bool phase(const char *name) { return !only || strcmp(only, name) == 0; }

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000 }, NULL); }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, unsigned n)
{
    qsort(v, n, sizeof *v, cmp_u64);
    return v[n / 2];
}

static double median_d(double *v, unsigned n)
{
    for (unsigned i = 1; i < n; i++)   /* insertion sort: a handful of rounds */
        for (unsigned j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen("/dev/null", "w", stdout) || (!getenv("AM_BRIDGE_VERBOSE") && !freopen("/dev/null", "w", stderr))) _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t n = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &n)) return -1;
    close(s);
    return ntohs(a.sin_port);
}

/* ---- plain libnats */

static atomic_uint plain_got;
static uint64_t plain_last;

static void on_plain(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *c)
{
    const char *v;   /* as a bridge does: read the headers */
    natsMsgHeader_Get(m, "Am-Fp", &v);
    atomic_fetch_add(&plain_got, 1);
    plain_last = now_ns();
    natsMsg_Destroy(m);
}

static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *c)
{
    natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

/* Wait until *got reaches n or stops growing for 2 s. */
static unsigned wait_count(atomic_uint *got, unsigned n)
{
    unsigned last = 0;
    uint64_t since = now_ns();
    while (atomic_load(got) < n) {
        sleep_ms(1);
        unsigned g = atomic_load(got);
        if (g != last) {
            last = g;
            since = now_ns();
        } else if (now_ns() - since > 2000000000ull) {
            break;
        }
    }
    return atomic_load(got);
}

/* headers: publish each message with the five headers a bridge adds (Am-Type, Am-Fp,
 * Am-Seq, Am-Sent, Am-Origin), built per message as the bridge does, to show what the
 * headers cost apart from the bridge. */
static double plain_throughput(size_t size, unsigned n, bool headers)
{
    natsConnection *pc, *sc;
    natsSubscription *sub;
    static char buf[4096];
    if (natsConnection_ConnectTo(&pc, url) || natsConnection_ConnectTo(&sc, url) ||
        natsConnection_Subscribe(&sub, sc, "bench.plain", on_plain, NULL))
        return 0;
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsConnection_Flush(sc);
    atomic_store(&plain_got, 0);
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        if (!headers) {
            natsConnection_Publish(pc, "bench.plain", buf, (int)size);
            continue;
        }
        natsMsg *m;
        char v[24];
        natsMsg_Create(&m, "bench.plain", NULL, buf, (int)size);
        natsMsgHeader_Set(m, "Am-Fp", "0123456789abcdef");
        snprintf(v, sizeof v, "%u", i + 1);
        natsMsgHeader_Set(m, "Am-Seq", v);
        snprintf(v, sizeof v, "%llu", (unsigned long long)now_ns());
        natsMsgHeader_Set(m, "Am-Sent", v);
        natsMsgHeader_Set(m, "Am-Origin", "benchA");
        natsMsgHeader_Set(m, "Am-Type", "bench.Sample");
        natsConnection_PublishMsg(pc, m);
        natsMsg_Destroy(m);
    }
    natsConnection_Flush(pc);
    unsigned got = wait_count(&plain_got, n);
    if (got < n) fprintf(stderr, "bench_bridge: plain %zu B: %u of %u arrived (the rate counts those)\n", size, got, n);
    double rate = got / ((double)(plain_last - t0) / 1e9);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(pc);
    natsConnection_Destroy(sc);
    return rate;
}

static uint64_t plain_rtt(void)
{
    natsConnection *rc, *ec;
    natsSubscription *sub;
    char buf[64] = { 0 };
    uint64_t *t = malloc(calls * sizeof *t);
    natsOptions *o;   /* the best round trip libnats offers: every message written at once */
    if (natsOptions_Create(&o) || natsOptions_SetURL(o, url) || natsOptions_SetSendAsap(o, true) ||
        natsConnection_Connect(&rc, o) || natsConnection_Connect(&ec, o) ||
        natsConnection_Subscribe(&sub, ec, "bench.rr", on_echo, NULL))
        return 0;
    natsOptions_Destroy(o);
    natsConnection_Flush(ec);
    for (unsigned i = 0; i < calls; i++) {
        natsMsg *reply = NULL;
        uint64_t t0 = now_ns();
        if (natsConnection_Request(&reply, rc, "bench.rr", buf, sizeof buf, 1000) != NATS_OK) return 0;
        t[i] = now_ns() - t0;
        natsMsg_Destroy(reply);
    }
    uint64_t m = median(t, calls);
    free(t);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(rc);
    natsConnection_Destroy(ec);
    return m;
}

/* ---- bridged */

static am_arena *A, *B;
static atomic_uint bridged_got;
static uint64_t bridged_last;
static atomic_int stop_threads;

static void *sub_thread(void *arg)
{
    am_sub *s = arg;
    am_sample smp;
    while (!atomic_load(&stop_threads)) {
        if (am_sub_take(s, &smp, 10000000) == 0) {
            am_sub_ack(s, &smp);
            bridged_last = now_ns();
            atomic_fetch_add(&bridged_got, 1);
        }
    }
    return NULL;
}

static void *server_thread(void *arg)
{
    am_server *s = arg;
    am_request r;
    while (!atomic_load(&stop_threads))
        if (am_server_take(s, &r, 10000000) == 0) am_server_reply(s, &r, r.data, r.len);
    return NULL;
}

/* Wait until arena a has a port of role held by am-bridge on channel name. */
static int wait_mirror(am_arena *a, const char *name, am_role role)
{
    for (int i = 0; i < 1000; i++) {
        am_port_info pi[AM_MAX_PORTS];
        int k = am_channel_ports(a, name, pi, AM_MAX_PORTS);
        for (int j = 0; j < k; j++)
            if (pi[j].role == role && strcmp(pi[j].process, "am-bridge") == 0) return 0;
        sleep_ms(10);
    }
    return -1;
}

static double bridged_throughput(size_t size, unsigned n)
{
    static char buf[4096];
    am_pub *p;
    am_sub *s;
    char topic[32];
    snprintf(topic, sizeof topic, "bench/t%zu", size);
    if (am_pub_open(A, topic, NULL, &p) || wait_mirror(B, topic, AM_ROLE_PUBLISHER)) return 0;
    if (am_sub_open(B, topic, &(am_sub_opts){ .depth = AM_MAX_DEPTH, .policy = AM_POLICY_BLOCK }, &s)) return 0;
    pthread_t th;
    atomic_store(&stop_threads, 0);
    atomic_store(&bridged_got, 0);
    pthread_create(&th, NULL, sub_thread, s);
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        while (am_pub_publish(p, buf, size) == AM_ENOMEM) sleep_ms(1);   /* the arena full of queued samples */
    }
    unsigned got = wait_count(&bridged_got, n);
    if (got < n) fprintf(stderr, "bench_bridge: bridged %zu B: %u of %u arrived (the rate counts those)\n", size, got, n);
    double rate = got / ((double)(bridged_last - t0) / 1e9);
    atomic_store(&stop_threads, 1);
    pthread_join(th, NULL);
    am_sub_close(s);
    am_pub_close(p);
    return rate;
}

static uint64_t bridged_rtt(void)
{
    am_server *srv;
    am_client *c;
    char buf[64] = { 0 };
    uint64_t *t = malloc(calls * sizeof *t);
    if (am_server_open(A, "bench/rr", NULL, &srv) || wait_mirror(B, "bench/rr", AM_ROLE_SERVER)) return 0;
    pthread_t th;
    atomic_store(&stop_threads, 0);
    pthread_create(&th, NULL, server_thread, srv);
    if (am_client_open(B, "bench/rr", NULL, &c)) return 0;
    for (unsigned i = 0; i < calls; i++) {
        am_sample rep;
        uint64_t t0 = now_ns();
        int rc = am_client_call(c, buf, sizeof buf, &rep, 1000000000);
        if (rc) {
            fprintf(stderr, "bench_bridge: call: %s\n", am_strerror(rc));
            return 0;
        }
        t[i] = now_ns() - t0;
        am_client_ack(c, &rep);
    }
    uint64_t m = median(t, calls);
    free(t);
    atomic_store(&stop_threads, 1);
    pthread_join(th, NULL);
    am_client_close(c);
    am_server_close(srv);
    return m;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n_small = 20000;
            n_big = 2000;
            calls = 300;
            rounds = 1;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc &&
                   (strcmp(argv[i + 1], "64") == 0 || strcmp(argv[i + 1], "4k") == 0 || strcmp(argv[i + 1], "rtt") == 0)) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_bridge [--quick] [--rounds R] [--only 64|4k|rtt]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 15) rounds = 3;
    if ((port = free_port()) < 0) return 1;
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    pid_t ns = spawn((char *[]){ "nats-server", "-a", "127.0.0.1", "-p", ps, NULL });
    sleep_ms(300);
    char na[64], nb[64];
    snprintf(na, sizeof na, "bench-bridge-A-%d", (int)getpid());
    snprintf(nb, sizeof nb, "bench-bridge-B-%d", (int)getpid());
    am_arena_opts o = { .size = (size_t)256 << 20 };
    if (am_arena_open(na, &o, &A) || am_arena_open(nb, &o, &B)) {
        fprintf(stderr, "bench_bridge: cannot create arenas\n");
        return 1;
    }
    pid_t ba = spawn((char *[]){ AM_BRIDGE, "--arena", na, "--url", url, "--name", "benchA", "--export", "bench/*",
                                 "--queue", "65535", NULL });
    pid_t bb = spawn((char *[]){ AM_BRIDGE, "--arena", nb, "--url", url, "--name", "benchB", "--import", "bench/*", NULL });

    double tp[6][15] = { { 0 } };   /* plain 64, bridged 64, plain 4K, bridged 4K, plain+headers 64, 4K */
    uint64_t rt[2][15] = { { 0 } };
    for (unsigned r = 0; r < rounds; r++) {
        if (phase("64")) {
            tp[0][r] = plain_throughput(64, n_small, false);
            tp[4][r] = plain_throughput(64, n_small, true);
            tp[1][r] = bridged_throughput(64, n_small);
        }
        if (phase("4k")) {
            tp[2][r] = plain_throughput(4096, n_big, false);
            tp[5][r] = plain_throughput(4096, n_big, true);
            tp[3][r] = bridged_throughput(4096, n_big);
        }
        if (phase("rtt")) {
            rt[0][r] = plain_rtt();
            rt[1][r] = bridged_rtt();
        }
    }
    double t64p = median_d(tp[0], rounds), t64b = median_d(tp[1], rounds), t4p = median_d(tp[2], rounds),
           t4b = median_d(tp[3], rounds), t64h = median_d(tp[4], rounds), t4h = median_d(tp[5], rounds);
    uint64_t rp = median(rt[0], rounds), rb = median(rt[1], rounds);
    printf("bench_bridge: nats-server on 127.0.0.1:%d; %u x 64 B, %u x 4 KiB, %u round trips; median of %u round%s\n", port,
           n_small, n_big, calls, rounds, rounds == 1 ? "" : "s");
    printf("%-22s %14s %14s %10s\n", "", "plain libnats", "am-bridge", "bridged/plain");
    printf("%-22s %14.0f %14.0f %9.2fx  (target >= 0.8x)\n", "64 B throughput msg/s", t64p, t64b, t64b / t64p);
    printf("%-22s %14.0f %14.0f %9.2fx  (target >= 0.8x)\n", "4 KiB throughput msg/s", t4p, t4b, t4b / t4p);
    printf("%-22s %14.0f %14.0f %9.2fx  (plain publishing the bridge's 5 headers)\n", "64 B + headers msg/s", t64h,
           t64b, t64b / t64h);
    printf("%-22s %14.0f %14.0f %9.2fx  (the same)\n", "4 KiB + headers msg/s", t4h, t4b, t4b / t4h);
    printf("%-22s %14.1f %14.1f %+9.1f us (target <= +20 us)\n", "64 B round trip us", rp / 1e3, rb / 1e3,
           ((double)rb - (double)rp) / 1e3);
    kill(ba, SIGTERM);
    kill(bb, SIGTERM);
    waitpid(ba, NULL, 0);
    waitpid(bb, NULL, 0);
    kill(ns, SIGTERM);
    waitpid(ns, NULL, 0);
    am_arena_close(A);
    am_arena_close(B);
    am_arena_unlink(na);
    am_arena_unlink(nb);
    return 0;
}
