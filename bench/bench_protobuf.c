/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_protobuf — what the transport adds to protobuf serialization.
 *
 * One process, one ~1 KiB message of mixed fields (bench/proto/bench.proto), three ways,
 * each a full round: build nothing (the message is built once), then
 *   - protobuf-c alone:  get_packed_size + pack into a malloc'd buffer + unpack + free;
 *   - atomicmatrix:      the generated ambench__sample__am_publish (packed straight into
 *                        an arena block) + ambench__sample__am_take (unpack) + free;
 *   - Unix socket:       pack into a buffer + write on a SOCK_SEQPACKET socketpair +
 *                        read + unpack + free.
 * Rounds alternate the three back to back (this VM's speed wanders); a sample is the
 * mean of 2000 operations; the figures are medians over rounds, and the ratios the
 * medians of per-round ratios. Target: atomicmatrix within 1.25x of protobuf-c alone.
 *
 *   build/bench_protobuf [--quick] [--json]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench.am.h"
#include "bench_util.h"

enum { OPS = 2000, ROUNDS = 30, QUICK_ROUNDS = 3, WAYS = 3 };
static const char *const WAY_NAMES[WAYS] = { "protobuf-c pack+unpack", "atomicmatrix publish+take", "Unix socket" };

static Ambench__Sample msg;
static Ambench__Item items[10], *pitems[10];
static char labels[10][32];
static double values[64];
static uint8_t blob[200];

static void build_message(void)
{
    ambench__sample__init(&msg);
    msg.seq = 1;
    msg.name = "bench-sensor";
    for (int i = 0; i < 64; i++) values[i] = i * 1.5;
    msg.n_values = 64;
    msg.values = values;
    for (int i = 0; i < 10; i++) {
        ambench__item__init(&items[i]);
        items[i].id = i * 1000;
        snprintf(labels[i], sizeof labels[i], "item number %d", i);
        items[i].label = labels[i];
        pitems[i] = &items[i];
    }
    msg.n_items = 10;
    msg.items = pitems;
    memset(blob, 7, sizeof blob);
    msg.blob.len = sizeof blob;
    msg.blob.data = blob;
}

static int check(const Ambench__Sample *m)
{
    return m && m->n_values == 64 && m->n_items == 10 && m->blob.len == sizeof blob;
}

static am_pub *pub;
static am_sub *sub;
static int sv[2];

static int way_alone(void)
{
    size_t n = ambench__sample__get_packed_size(&msg);
    uint8_t *buf = malloc(n);
    ambench__sample__pack(&msg, buf);
    Ambench__Sample *m = ambench__sample__unpack(NULL, n, buf);
    int ok = check(m);
    ambench__sample__free_unpacked(m, NULL);
    free(buf);
    return ok;
}

static int way_arena(void)
{
    if (ambench__sample__am_publish(pub, &msg)) return 0;
    Ambench__Sample *m;
    if (ambench__sample__am_take(sub, NULL, &m, NULL, 0)) return 0;
    int ok = check(m);
    ambench__sample__am_free(m, NULL);
    return ok;
}

static int way_socket(void)
{
    static uint8_t rbuf[8192];
    size_t n = ambench__sample__get_packed_size(&msg);
    uint8_t *buf = malloc(n);
    ambench__sample__pack(&msg, buf);
    if (write(sv[0], buf, n) != (ssize_t)n) return 0;
    free(buf);
    ssize_t got = read(sv[1], rbuf, sizeof rbuf);
    if (got <= 0) return 0;
    Ambench__Sample *m = ambench__sample__unpack(NULL, (size_t)got, rbuf);
    int ok = check(m);
    ambench__sample__free_unpacked(m, NULL);
    return ok;
}

static int (*const WAYS_FN[WAYS])(void) = { way_alone, way_arena, way_socket };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int quick = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--json") == 0) json = 1;
        else { fprintf(stderr, "usage: %s [--quick] [--json]\n", argv[0]); return 2; }
    }
    build_message();
    char name[64];
    snprintf(name, sizeof name, "bench_pb_%d", (int)getpid());
    am_arena *a;
    if (am_arena_open(name, NULL, &a)) return 1;
    am_arena_unlink(name);
    if (ambench__sample__am_sub_open(a, "samples", NULL, &sub) || ambench__sample__am_pub_open(a, "samples", NULL, &pub)) return 1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)) return 1;
    int rounds = quick ? QUICK_ROUNDS : ROUNDS, ops = quick ? 200 : OPS;
    double t[WAYS][ROUNDS], ratio[WAYS][ROUNDS];
    for (int w = 0; w < WAYS; w++) {
        for (int i = 0; i < ops; i++) WAYS_FN[w]();            /* warm up */
    }
    for (int r = 0; r < rounds; r++) {
        for (int w = 0; w < WAYS; w++) {
            uint64_t t0 = now_ns();
            for (int i = 0; i < ops; i++) {
                if (!WAYS_FN[w]()) { fprintf(stderr, "%s failed\n", WAY_NAMES[w]); return 1; }
            }
            t[w][r] = (double)(now_ns() - t0) / ops;
        }
        for (int w = 0; w < WAYS; w++) ratio[w][r] = t[w][r] / t[0][r];
    }
    size_t packed = ambench__sample__get_packed_size(&msg);
    double med[WAYS], rat[WAYS];
    for (int w = 0; w < WAYS; w++) {
        med[w] = median(t[w], rounds);
        rat[w] = median(ratio[w], rounds);
    }
    if (json) {
        printf("{\"bytes\": %zu, \"rounds\": %d, \"rows\": [", packed, rounds);
        for (int w = 0; w < WAYS; w++) printf("%s{\"way\": \"%s\", \"ns\": %.1f, \"vs_protobuf\": %.3f}", w ? ", " : "",
                                               WAY_NAMES[w], med[w], rat[w]);
        printf("]}\n");
    } else {
        printf("bench_protobuf: one %zu-byte message, %d rounds of %d operations each way, alternating\n\n", packed,
               rounds, ops);
        printf("%-28s %12s %14s\n", "way", "ns / message", "vs protobuf-c");
        for (int w = 0; w < WAYS; w++) printf("%-28s %12.1f %13.2fx\n", WAY_NAMES[w], med[w], rat[w]);
        printf("\ntarget: atomicmatrix publish+take within 1.25x of protobuf-c pack+unpack: %.2fx -> %s\n", rat[1],
               rat[1] <= 1.25 ? "PASS" : "FAIL");
    }
    am_pub_close(pub);
    am_sub_close(sub);
    am_arena_close(a);
    return 0;
}
