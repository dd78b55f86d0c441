/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_protobuf.c — protobuf-c messages on topics and services: type fingerprints and
 * AM_ETYPE, 10 000 random messages across processes checked field by field, a
 * caller's allocator, malformed and truncated payloads, and calls with messages.
 */
#include <string.h>
#include <unistd.h>
#include "amtest.pb-c.h"
#include "atomicmatrix/protobuf.h"
#include "test_util.h"

#define SEC 1000000000ll
enum { MSGS = 10000 };

/* A random Frame from seed: everything derived from it, so the receiver can rebuild
 * what the sender sent and compare field by field. */
typedef struct frame_buf {
    Amtest__Frame f;
    Amtest__Item items[8], *pitems[8];
    char labels[8][32];
    uint8_t blob[3000];
    int64_t values[16];
} frame_buf;

static void make_frame(frame_buf *b, uint64_t seed)
{
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    amtest__frame__init(&b->f);
    b->f.id = seed;
    b->f.n_items = tu_rand(&rng) % 9;
    for (size_t i = 0; i < b->f.n_items; i++) {
        amtest__item__init(&b->items[i]);
        b->items[i].a = (int32_t)tu_rand(&rng);
        snprintf(b->labels[i], sizeof b->labels[i], "item-%llu", (unsigned long long)(tu_rand(&rng) % 100000));
        b->items[i].label = b->labels[i];
        b->items[i].kind = (Amtest__Kind)(tu_rand(&rng) % 3);
        b->pitems[i] = &b->items[i];
    }
    b->f.items = b->pitems;
    b->f.blob.len = tu_rand(&rng) % sizeof b->blob;
    for (size_t i = 0; i < b->f.blob.len; i++) b->blob[i] = (uint8_t)tu_rand(&rng);
    b->f.blob.data = b->blob;
    b->f.x = (double)(tu_rand(&rng) % 1000000) / 7.0;
    b->f.n_values = tu_rand(&rng) % 17;
    for (size_t i = 0; i < b->f.n_values; i++) b->values[i] = (int64_t)(tu_rand(&rng) >> 1) - INT64_MAX / 2;
    b->f.values = b->values;
}

static int same_frame(const Amtest__Frame *got, uint64_t seed)
{
    frame_buf *want = malloc(sizeof *want);
    make_frame(want, seed);
    const Amtest__Frame *w = &want->f;
    int ok = got->id == w->id && got->n_items == w->n_items && got->blob.len == w->blob.len &&
             (w->blob.len == 0 || memcmp(got->blob.data, w->blob.data, w->blob.len) == 0) && got->x == w->x &&
             got->n_values == w->n_values &&
             (w->n_values == 0 || memcmp(got->values, w->values, w->n_values * sizeof *w->values) == 0);
    for (size_t i = 0; ok && i < w->n_items; i++) {
        ok = got->items[i]->a == w->items[i]->a && strcmp(got->items[i]->label, w->items[i]->label) == 0 &&
             got->items[i]->kind == w->items[i]->kind;
    }
    free(want);
    return ok;
}

START_TEST(types_and_fingerprints)
{
    am_type f1 = am_pb_type(&amtest__frame__descriptor), f2 = am_pb_type(&amtest__frame__descriptor);
    am_type it = am_pb_type(&amtest__item__descriptor);
    ck_assert_str_eq(f1.name, "amtest.Frame");
    ck_assert(f1.fingerprint == f2.fingerprint);
    ck_assert(f1.fingerprint != it.fingerprint);
    am_arena *a = tu_open(tu_name("pbtypes"), 16 << 20, 0);
    am_pub *p;
    am_sub *s;
    ck_assert_int_eq(am_pub_open(a, "frames", &(am_pub_opts){ .type = f1 }, &p), 0);
    ck_assert_int_eq(am_sub_open(a, "frames", &(am_sub_opts){ .type = it }, &s), AM_ETYPE);
    /* Same name, other schema: refused too. */
    ck_assert_int_eq(am_sub_open(a, "frames", &(am_sub_opts){ .type = { "amtest.Frame", f1.fingerprint ^ 1 } }, &s),
                     AM_ETYPE);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

typedef struct shared { const char *name; _Atomic int ready; } shared;

/* A ProtobufCAllocator that counts what it hands out. */
static _Atomic long live_allocs;
static void *count_alloc(void *data, size_t n)
{
    (void)data;
    atomic_fetch_add(&live_allocs, 1);
    return malloc(n);
}
static void count_free(void *data, void *p)
{
    (void)data;
    if (p) atomic_fetch_sub(&live_allocs, 1);
    free(p);
}
static ProtobufCAllocator counting = { count_alloc, count_free, NULL };

static int receiver(void *arg)
{
    shared *sh = arg;
    am_arena *a;
    am_sub *s;
    if (am_arena_open(sh->name, NULL, &a)) return 1;
    if (am_sub_open(a, "frames", &(am_sub_opts){ .type = am_pb_type(&amtest__frame__descriptor), .depth = 64,
                                              .policy = AM_POLICY_BLOCK }, &s)) return 2;
    atomic_store(&sh->ready, 1);
    for (uint64_t i = 1; i <= MSGS; i++) {
        ProtobufCMessage *m;
        am_sample info;
        if (am_sub_take_pb(s, &amtest__frame__descriptor, &counting, &m, &info, 30 * SEC)) return 3;
        if (info.seq != i || !same_frame((Amtest__Frame *)m, i)) return 4;
        am_pb_free(m, &counting);
    }
    if (atomic_load(&live_allocs) != 0) return 5;        /* everything unpacked was freed */
    am_sub_close(s);
    am_arena_close(a);
    return 0;
}

START_TEST(random_messages_across_processes)
{
    shared *sh = tu_shared(sizeof *sh);
    sh->name = tu_name("pbframes");
    am_arena *a = tu_open(sh->name, 64 << 20, 0);
    pid_t k = tu_fork(receiver, sh);
    while (!atomic_load(&sh->ready)) usleep(100);
    am_pub *p;
    ck_assert_int_eq(am_pub_open(a, "frames", &(am_pub_opts){ .type = am_pb_type(&amtest__frame__descriptor),
                                                               .send_timeout_ns = 30 * SEC }, &p), 0);
    frame_buf *b = malloc(sizeof *b);
    for (uint64_t i = 1; i <= MSGS; i++) {
        make_frame(b, i);
        TU_REQUIRE(am_pub_publish_pb(p, &b->f.base) == 0, "publish %llu", (unsigned long long)i);
    }
    free(b);
    ck_assert_int_eq(tu_wait(k), 0);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

START_TEST(malformed_payloads)
{
    am_arena *a = tu_open(tu_name("pbbad"), 16 << 20, 0);
    am_pub *raw;
    am_sub *s;
    ck_assert_int_eq(am_sub_open(a, "frames", &(am_sub_opts){ .type = am_pb_type(&amtest__frame__descriptor) }, &s), 0);
    ck_assert_int_eq(am_pub_open(a, "frames", NULL, &raw), 0);      /* untyped: any bytes */
    const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    ck_assert_int_eq(am_pub_publish(raw, garbage, sizeof garbage), 0);
    frame_buf *b = malloc(sizeof *b);
    make_frame(b, 7);
    b->f.blob.len = 100;
    size_t n = amtest__frame__get_packed_size(&b->f);
    uint8_t *packed = malloc(n);
    amtest__frame__pack(&b->f, packed);
    ck_assert_int_eq(am_pub_publish(raw, packed, n - 10), 0);        /* truncated */
    ck_assert_int_eq(am_pub_publish(raw, packed, n), 0);             /* good */
    ProtobufCMessage *m;
    ck_assert_int_eq(am_sub_take_pb(s, &amtest__frame__descriptor, NULL, &m, NULL, 0), AM_EDECODE);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(am_sub_take_pb(s, &amtest__frame__descriptor, NULL, &m, NULL, 0), AM_EDECODE);
    ck_assert_int_eq(am_sub_take_pb(s, &amtest__frame__descriptor, NULL, &m, NULL, 0), 0);
    ck_assert_int_eq(((Amtest__Frame *)m)->id, 7);
    am_pb_free(m, NULL);
    ck_assert_int_eq(am_sub_take_pb(s, &amtest__frame__descriptor, NULL, &m, NULL, 0), AM_ETIMEDOUT);
    /* Raw take, decode later. */
    ck_assert_int_eq(am_pub_publish(raw, packed, n), 0);
    am_sample smp;
    ck_assert_int_eq(am_sub_take(s, &smp, 0), 0);
    ck_assert_int_eq(am_pb_decode(&amtest__frame__descriptor, NULL, smp.data, smp.len, &m), 0);
    ck_assert_int_eq(((Amtest__Frame *)m)->blob.len, 100);
    am_pb_free(m, NULL);
    ck_assert_int_eq(am_pb_decode(&amtest__frame__descriptor, NULL, smp.data, 3, &m), AM_EDECODE);
    am_sub_ack(s, &smp);
    free(packed);
    free(b);
    am_pub_close(raw);
    am_sub_close(s);
    tu_finish(a);
}
END_TEST

static int sum_server(void *arg)
{
    shared *sh = arg;
    am_arena *a;
    am_server *sv;
    if (am_arena_open(sh->name, NULL, &a) || am_server_open(a, "sum", NULL, &sv)) return 1;
    atomic_store(&sh->ready, 1);
    for (int served = 0; served < 3 * 500;) {
        am_request r;
        int rc = am_server_take(sv, &r, 30 * SEC);
        if (rc) return 2;
        ProtobufCMessage *m;
        if (am_pb_decode(&amtest__sum__descriptor, NULL, r.data, r.len, &m)) return 3;
        Amtest__Sum *sum = (Amtest__Sum *)m;
        Amtest__Total t = AMTEST__TOTAL__INIT;
        for (size_t i = 0; i < sum->n_terms; i++) t.total += sum->terms[i];
        t.count = (uint32_t)sum->n_terms;
        am_pb_free(m, NULL);
        if (am_server_reply_pb(sv, &r, &t.base)) return 4;
        served++;
    }
    am_server_close(sv);
    am_arena_close(a);
    return 0;
}

static int sum_client(void *arg)
{
    shared *sh = arg;
    am_arena *a;
    am_client *c;
    if (am_arena_open(sh->name, NULL, &a) || am_client_open(a, "sum", NULL, &c)) return 1;
    uint64_t rng = (uint64_t)getpid();
    for (int i = 0; i < 500; i++) {
        int64_t terms[20];
        Amtest__Sum sum = AMTEST__SUM__INIT;
        sum.n_terms = tu_rand(&rng) % 20;
        int64_t want = 0;
        for (size_t k = 0; k < sum.n_terms; k++) want += terms[k] = (int64_t)(tu_rand(&rng) % 1000000) - 500000;
        sum.terms = terms;
        ProtobufCMessage *r;
        if (am_client_call_pb(c, 1, &sum.base, &amtest__total__descriptor, NULL, &r, 10 * SEC)) return 2;
        Amtest__Total *t = (Amtest__Total *)r;
        int ok = t->total == want && t->count == sum.n_terms;
        am_pb_free(r, NULL);
        if (!ok) return 3;
    }
    am_client_close(c);
    am_arena_close(a);
    return 0;
}

START_TEST(calls_with_messages)
{
    shared *sh = tu_shared(sizeof *sh);
    sh->name = tu_name("pbsum");
    am_arena *a = tu_open(sh->name, 16 << 20, 0);
    pid_t srv = tu_fork(sum_server, sh);
    while (!atomic_load(&sh->ready)) usleep(100);
    pid_t cli[3];
    for (int i = 0; i < 3; i++) cli[i] = tu_fork(sum_client, sh);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(tu_wait(cli[i]), 0);
    ck_assert_int_eq(tu_wait(srv), 0);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("protobuf", 300, (const TTest *[]){
        types_and_fingerprints, random_messages_across_processes, malformed_payloads, calls_with_messages, NULL });
}
