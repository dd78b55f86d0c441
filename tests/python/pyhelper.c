/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pyhelper — the C peer of the Python tests (tests/python/peers.py is the Python one;
 * both take the same arguments and say the same things, so a test can pair any two).
 *
 *   pyhelper ARENA pub TOPIC N      wait for a subscriber, publish "msg <i>" for i = 1..N
 *   pyhelper ARENA sub TOPIC N      take N samples, each "msg <seq>", in order
 *   pyhelper ARENA server NAME N    answer N requests with "echo:" + the request
 *                                   (method 7: fail it with status 42)
 *   pyhelper ARENA call NAME N      call N times with "req <i>", check each reply
 *
 * Every role prints "ready" once its port is open and exits 0 when all its checks
 * passed (1: could not attach, 2: a call failed, 3: wrong data).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <atomicmatrix/atomicmatrix.h>

#define SEC 1000000000ll

static void ready(void)
{
    printf("ready\n");
    fflush(stdout);
}

static int pub(am_arena *a, const char *topic, unsigned n)
{
    am_pub *p;
    if (am_pub_open(a, topic, &(am_pub_opts){ .send_timeout_ns = 10 * SEC }, &p)) return 1;
    ready();
    am_pub_counts st = { 0 };
    for (int waited = 0; am_pub_stats(p, &st) == 0 && st.subscribers == 0; waited++) {
        if (waited == 1000) return 2;
        nanosleep(&(struct timespec){ 0, 10 * 1000000 }, NULL);
    }
    for (unsigned i = 1; i <= n; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "msg %u", i);
        if (am_pub_publish(p, msg, (size_t)len)) return 2;
    }
    am_pub_close(p);
    return 0;
}

static int sub(am_arena *a, const char *topic, unsigned n)
{
    am_sub *s;
    if (am_sub_open(a, topic, &(am_sub_opts){ .policy = AM_POLICY_BLOCK, .depth = 64 }, &s)) return 1;
    ready();
    for (unsigned i = 1; i <= n; i++) {
        am_sample m;
        if (am_sub_take(s, &m, 10 * SEC)) return 2;
        char want[32];
        int len = snprintf(want, sizeof want, "msg %u", i);
        int ok = m.seq == i && m.len == (size_t)len && memcmp(m.data, want, m.len) == 0;
        am_sub_ack(s, &m);
        if (!ok) return 3;
    }
    am_sub_close(s);
    return 0;
}

static int server(am_arena *a, const char *name, unsigned n)
{
    am_server *s;
    if (am_server_open(a, name, NULL, &s)) return 1;
    ready();
    for (unsigned i = 0; i < n; i++) {
        am_request r;
        if (am_server_take(s, &r, 10 * SEC)) return 2;
        if (r.method == 7) {
            if (am_server_fail(s, &r, 42)) return 2;
            continue;
        }
        char out[256];
        if (r.len > sizeof out - 5) return 3;
        memcpy(out, "echo:", 5);
        memcpy(out + 5, r.data, r.len);
        if (am_server_reply(s, &r, out, r.len + 5)) return 2;
    }
    am_server_close(s);
    return 0;
}

static int call(am_arena *a, const char *name, unsigned n)
{
    am_client *c;
    if (am_client_open(a, name, NULL, &c)) return 1;
    ready();
    for (unsigned i = 1; i <= n; i++) {
        char req[32], want[40];
        int len = snprintf(req, sizeof req, "req %u", i);
        int wlen = snprintf(want, sizeof want, "echo:req %u", i);
        am_sample r;
        int rc;
        for (int tries = 0; (rc = am_client_call(c, req, (size_t)len, &r, 5 * SEC)) == AM_ENOENT && tries < 500; tries++) {
            nanosleep(&(struct timespec){ 0, 10 * 1000000 }, NULL);   /* no server yet */
        }
        if (rc) return 2;
        int ok = r.len == (size_t)wlen && memcmp(r.data, want, r.len) == 0;
        am_client_ack(c, &r);
        if (!ok) return 3;
    }
    am_client_close(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: pyhelper ARENA pub|sub|server|call NAME N\n");
        return 64;
    }
    am_arena *a;
    if (am_arena_open(argv[1], NULL, &a)) return 1;
    unsigned n = (unsigned)strtoul(argv[4], NULL, 10);
    int rc = strcmp(argv[2], "pub") == 0      ? pub(a, argv[3], n)
             : strcmp(argv[2], "sub") == 0    ? sub(a, argv[3], n)
             : strcmp(argv[2], "server") == 0 ? server(a, argv[3], n)
             : strcmp(argv[2], "call") == 0   ? call(a, argv[3], n)
                                              : 64;
    am_arena_close(a);
    return rc;
}
