/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_channel.c — libFuzzer target: the channel layer on an arena file whose bytes are
 * the fuzzer's input.
 *
 * The channel directory, channel blocks, port records, links, rings, held lists and
 * sample headers all live in shared memory that any process of the user may scribble
 * on. Attached to a mangled arena, every channel call must answer with an error code
 * or carry on: open and close ports of every role on the seed's names (and a fresh
 * one), take, ack, publish, call, serve, list, watch and gc — never a crash, a hang or
 * a sanitizer report. Every wait is 0: a mangled word that looks like a live peer
 * costs at most the library's own deadlines. Seeds: fuzz/seed_arena's "channels".
 */
#include <stdint.h>
#include <string.h>
#include "arena_file.h"
#include "atomicmatrix/arena.h"
#include "atomicmatrix/channel.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    arena_file_init();
    return 0;
}

static void subscribe(am_arena *a, const char *topic)
{
    am_sub *s;
    if (am_sub_open(a, topic, &(am_sub_opts){ .depth = 4, .history = 2 }, &s) != 0) return;
    const void *schema;
    size_t len;
    (void)am_sub_schema(s, &schema, &len);
    am_sample m[3];
    int n = 0;
    while (n < 3 && am_sub_take(s, &m[n], 0) == 0) n++;
    for (int i = n - 1; i >= 0; i--) (void)am_sub_ack(s, &m[i]);
    am_sub_counts st;
    (void)am_sub_stats(s, &st);
    am_sub_close(s);
}

static void publish(am_arena *a, const char *topic)
{
    am_pub *p;
    if (am_pub_open(a, topic, &(am_pub_opts){ .history = 1 }, &p) != 0) return;
    static const uint8_t sample[40] = { 0x08, 0x01 };
    (void)am_pub_publish(p, sample, sizeof sample);
    void *buf;
    if (am_pub_loan(p, 100, &buf) == 0) {
        memset(buf, 0x5a, 100);
        if (am_pub_send(p, buf, 100) != 0) (void)am_pub_discard(p, buf);
    }
    am_pub_close(p);
}

static void serve_and_call(am_arena *a, const char *service)
{
    am_server *srv = NULL;
    am_client *cli = NULL;
    (void)am_server_open(a, service, NULL, &srv);
    (void)am_client_open(a, service, NULL, &cli);
    if (cli) {
        am_sample r;
        static const uint8_t req[16] = { 0x08, 0x02 };
        if (am_client_call(cli, req, sizeof req, &r, 0) == 0) (void)am_client_ack(cli, &r);
        const void *schema;
        size_t len;
        (void)am_client_schema(cli, &schema, &len);
    }
    if (srv) {
        am_request q;
        while (am_server_take(srv, &q, 0) == 0) (void)am_server_reply(srv, &q, "ok", 2);
    }
    am_client_close(cli);
    am_server_close(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_file_write(data, size);
    am_arena *a;
    if (am_arena_open(ARENA_FILE_NAME, &(am_arena_opts){ .flags = AM_ATTACH_ONLY }, &a) != 0) return 0;
    am_channel_info ci[8];
    (void)am_channels_list(a, ci, 8);
    am_port_info pi[8];
    (void)am_channel_ports(a, "pose", pi, 8);
    am_waitset *w = NULL;
    (void)am_waitset_open(&w);
    (void)am_waitset_add_discovery(w, a, NULL, NULL);
    subscribe(a, "pose");
    publish(a, "pose");
    publish(a, "fresh");
    serve_and_call(a, "svc");
    void *ready[2];
    (void)am_waitset_wait(w, ready, 2, 0);
    am_waitset_close(w);
    (void)am_channels_gc(a);
    (void)am_arena_check(a);
    am_arena_close(a);
    return 0;
}
