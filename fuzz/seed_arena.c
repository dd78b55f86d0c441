/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seed_arena.c — the seed corpus of fuzz_arena_open: real arenas of the smallest size
 * the library accepts (about 124 KiB; too big to keep in git, so scripts/fuzz.sh makes
 * them at each run). `seed_arena DIR` leaves DIR/am.<name> files:
 *   fresh-1     one sector, as created
 *   fresh-2     two sectors
 *   used        two sectors holding disowned blocks of several sizes, with holes
 *               between them (split blocks, several free lists, non-zero counters)
 *   channels    a typed topic with a recorded schema and kept history, a subscriber
 *               holding a sample with more queued, a typed service with a recorded
 *               schema (one method), a server and a client; left by a process that
 *               exits without closing (the amctl seeds: its ports are then held by a
 *               dead participant)
 * and no lock file (amlock.*: only the images are seeds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "atomicmatrix/arena.h"
#include "atomicmatrix/channel.h"
#include "arena_file.h"           /* remove_lock_files: the arenas' lock files are not seeds */

/* The smallest size of an arena of `sectors` sectors: found by asking the library (an
 * arena too small for its own tables gives AM_EINVAL), so it follows layout changes. */
static am_arena *smallest(const char *name, unsigned sectors)
{
    for (size_t size = 4096; size <= ((size_t)1 << 20); size += 4096) {
        am_arena *a;
        /* never growing: a growable arena's sector table (room for grown sectors)
         * would make the seed bigger than fuzz.sh's max_len */
        int rc = am_arena_open(name, &(am_arena_opts){ .size = size, .sectors = sectors, .max_size = size,
                                                       .flags = AM_CREATE_ONLY | AM_EXTENDED_OPTS }, &a);
        if (rc == 0) return a;
        if (rc != AM_EINVAL) { fprintf(stderr, "seed_arena: %s: %s\n", name, am_strerror(rc)); exit(1); }
    }
    fprintf(stderr, "seed_arena: no size up to 1 MiB fits %u sectors\n", sectors);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: seed_arena DIR\n"); return 2; }
    setenv("AM_SHM_DIR", argv[1], 1);             /* before the library reads it */
    am_arena_close(smallest("fresh-1", 1));
    am_arena_close(smallest("fresh-2", 2));
    am_arena *a = smallest("used", 2);
    void *keep[12];
    for (unsigned i = 0; i < 12; i++) {
        if (am_try_alloc(a, (size_t)16 << (i % 8), &keep[i]) != 0) { fprintf(stderr, "seed_arena: alloc\n"); return 1; }
    }
    /* Every other one outlives the handle (disowned); the rest are freed by the close. */
    for (unsigned i = 0; i < 12; i += 2) (void)am_disown(a, keep[i]);
    am_arena_close(a);

    /* The smallest arena cannot hold a topic's tables: 256 KiB (fuzz.sh's max_len), and
     * one that never grows (a growable one's sector table, with room for grown sectors,
     * leaves too little of 256 KiB for two sectors). */
    if (am_arena_open("channels", &(am_arena_opts){ .size = 256 << 10, .sectors = 2, .max_size = 256 << 10,
                                                    .flags = AM_CREATE_ONLY | AM_EXTENDED_OPTS }, &a) != 0) {
        fprintf(stderr, "seed_arena: channels: %s\n", am_arena_open_report());
        return 1;
    }
    am_pub *p;
    am_sub *sub;
    am_server *srv;
    am_client *cli;
    am_sample got;
    const am_type type = { "seed.Pose", 0x1234 };
    static const uint8_t schema[] = { 0x0a, 0x04, 's', 'e', 'e', 'd' };
    int rc;
    if ((rc = am_pub_open(a, "pose", &(am_pub_opts){ .type = type, .history = 2 }, &p)) != 0 ||
        (rc = am_pub_set_schema(p, schema, sizeof schema)) != 0 ||
        (rc = am_sub_open(a, "pose", &(am_sub_opts){ .type = type, .depth = 4 }, &sub)) != 0) {
        fprintf(stderr, "seed_arena: topic: %s %s\n", am_strerror(rc), am_channel_open_report());
        return 1;
    }
    for (unsigned i = 0; i < 3; i++) {
        uint8_t sample[24] = { 0x08, (uint8_t)(i + 1) };
        if (am_pub_publish(p, sample, sizeof sample) != 0) { fprintf(stderr, "seed_arena: publish\n"); return 1; }
    }
    if (am_sub_take(sub, &got, 0) != 0) { fprintf(stderr, "seed_arena: take\n"); return 1; }
    /* FileDescriptorSet { file { package "seed" service { name "Svc" method { name "Get"
     * input_type ".seed.Pose" output_type ".seed.Pose" } } } }: what amctl services parses */
    static const char svc_schema[] = "\x0a\x2c\x12\x04" "seed" "\x32\x24\x0a\x03" "Svc" "\x12\x1d\x0a\x03" "Get"
                                     "\x12\x0a" ".seed.Pose" "\x1a\x0a" ".seed.Pose";
    if (am_server_open(a, "svc", &(am_server_opts){ .type = { "seed.Svc", 0x5678 } }, &srv) != 0 ||
        am_server_set_schema(srv, svc_schema, sizeof svc_schema - 1) != 0 || am_client_open(a, "svc", NULL, &cli) != 0) {
        fprintf(stderr, "seed_arena: service: %s\n", am_channel_open_report());
        return 1;
    }
    remove_lock_files(argv[1]);
    _exit(0);                 /* no close (nor leak report): the file keeps the ports and the held sample */
}
