/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_channel_threads.c — ports of one process in several threads (one port per
 * thread, one arena handle shared): a publisher and two subscribers, and clients
 * calling a server. Run under ThreadSanitizer in CI.
 */
#include <pthread.h>
#include <string.h>
#include "test_util.h"

enum { MSGS = 20000, CALLS = 3000 };
static am_arena *arena;

static void *subscriber(void *arg)
{
    am_sub *s = arg;
    for (uint64_t i = 1; i <= MSGS; i++) {
        am_sample m;
        if (am_sub_take(s, &m, 10ll * 1000000000) != 0) return (void *)1;
        uint64_t v;
        memcpy(&v, m.data, sizeof v);
        if (v != i || m.seq != i) return (void *)2;
        if (am_sub_ack(s, &m) != 0) return (void *)3;
    }
    return NULL;
}

START_TEST(publisher_and_subscribers_in_threads)
{
    arena = tu_open(tu_name("chthreads"), 16 << 20, 0);
    am_pub *p;
    am_sub *s[2];
    ck_assert_int_eq(am_pub_open(arena, "t", &(am_pub_opts){ .send_timeout_ns = -1 }, &p), 0);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(am_sub_open(arena, "t", &(am_sub_opts){ .depth = 8, .policy = AM_POLICY_BLOCK }, &s[i]), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, subscriber, s[i]);
    for (uint64_t i = 1; i <= MSGS; i++) {
        void *buf;
        TU_REQUIRE(am_pub_loan(p, 8 + i % 200, &buf) == 0, "loan");
        memcpy(buf, &i, sizeof i);
        TU_REQUIRE(am_pub_send(p, buf, 8) == 0, "send");
    }
    for (int i = 0; i < 2; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        ck_assert_ptr_null(rc);
        am_sub_close(s[i]);
    }
    am_pub_close(p);
    tu_finish(arena);
}
END_TEST

static void *client(void *arg)
{
    am_client *c;
    if (am_client_open(arena, "svc", NULL, &c) != 0) return (void *)1;
    uint64_t base = (uint64_t)(uintptr_t)arg * 1000000;
    for (uint64_t i = 0; i < CALLS; i++) {
        uint64_t v = base + i, out;
        am_sample r;
        if (am_client_call(c, &v, sizeof v, &r, 10ll * 1000000000) != 0) return (void *)2;
        memcpy(&out, r.data, sizeof out);
        if (out != v * 2) return (void *)3;
        am_client_ack(c, &r);
    }
    am_client_close(c);
    return NULL;
}

START_TEST(clients_and_server_in_threads)
{
    arena = tu_open(tu_name("svthreads"), 16 << 20, 0);
    am_server *sv;
    ck_assert_int_eq(am_server_open(arena, "svc", NULL, &sv), 0);
    pthread_t th[3];
    for (uintptr_t i = 0; i < 3; i++) pthread_create(&th[i], NULL, client, (void *)i);
    for (int n = 0; n < 3 * CALLS; n++) {
        am_request r;
        ck_assert_int_eq(am_server_take(sv, &r, 10ll * 1000000000), 0);
        uint64_t v;
        memcpy(&v, r.data, sizeof v);
        v *= 2;
        ck_assert_int_eq(am_server_reply(sv, &r, &v, sizeof v), 0);
    }
    for (int i = 0; i < 3; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        ck_assert_ptr_null(rc);
    }
    am_server_close(sv);
    tu_finish(arena);
}
END_TEST

int main(void)
{
    return tu_main("channel_threads", 300, (const TTest *[]){
        publisher_and_subscribers_in_threads, clients_and_server_in_threads, NULL });
}
