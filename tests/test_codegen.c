/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_codegen.c — the code protoc-gen-am generates (tests/proto/calc.proto, built by
 * am_protobuf_generate), used across processes: typed publish/take of 10 000 messages
 * compared field by field, a subscriber of another type refused, every rpc of a service
 * with concurrent clients, an unknown method id refused, the schema a typed server
 * records with its service read back by a client in another process.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include "calc.am.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "test_util.h"

#define SEC 1000000000ll
enum { MSGS = 10000, CALLS = 400 };

typedef struct shared { const char *name; _Atomic int ready; } shared;

/* A random Reading, rebuilt from its sequence number by the receiver to compare. */
static void fill_reading(Am__Calc__Reading *r, Am__Calc__Reading__Where *w, double *samples, char *sensor,
                         uint8_t *raw, uint64_t seq)
{
    uint64_t rng = seq * 0x9E3779B97F4A7C15ull + 1;
    am__calc__reading__init(r);
    am__calc__reading__where__init(w);
    r->seq = seq;
    snprintf(sensor, 32, "sensor-%llu", (unsigned long long)(tu_rand(&rng) % 100000));
    r->sensor = sensor;
    r->n_samples = tu_rand(&rng) % 17;
    for (size_t i = 0; i < r->n_samples; i++) samples[i] = (double)(int64_t)tu_rand(&rng) / 3.0;
    r->samples = samples;
    w->x = (int32_t)tu_rand(&rng);
    w->y = (int32_t)tu_rand(&rng);
    r->where = tu_rand(&rng) % 4 ? w : NULL;            /* sometimes absent */
    r->raw.len = tu_rand(&rng) % 256;
    for (size_t i = 0; i < r->raw.len; i++) raw[i] = (uint8_t)tu_rand(&rng);
    r->raw.data = raw;
}

static int reader(void *arg)
{
    shared *sh = arg;
    am_arena *a;
    am_sub *s;
    if (am_arena_open(sh->name, NULL, &a) || am__calc__reading__am_sub_open(a, "readings", &(am_sub_opts){ .policy = AM_POLICY_BLOCK }, &s)) return 1;
    atomic_store(&sh->ready, 1);
    for (uint64_t i = 1; i <= MSGS; i++) {
        Am__Calc__Reading *got;
        if (am__calc__reading__am_take(s, NULL, &got, NULL, 30 * SEC)) return 2;
        Am__Calc__Reading want;
        Am__Calc__Reading__Where w;
        double samples[16];
        char sensor[32];
        uint8_t raw[256];
        fill_reading(&want, &w, samples, sensor, raw, i);
        int ok = got->seq == i && strcmp(got->sensor, sensor) == 0 && got->n_samples == want.n_samples &&
                 (want.n_samples == 0 || memcmp(got->samples, samples, want.n_samples * sizeof *samples) == 0) &&
                 (want.where ? got->where && got->where->x == w.x && got->where->y == w.y : !got->where) &&
                 got->raw.len == want.raw.len &&
                 (want.raw.len == 0 || memcmp(got->raw.data, raw, want.raw.len) == 0);
        am__calc__reading__am_free(got, NULL);
        if (!ok) return 3;
    }
    am_sub_close(s);
    am_arena_close(a);
    return 0;
}

START_TEST(typed_topic_across_processes)
{
    shared *sh = tu_shared(sizeof *sh);
    sh->name = tu_name("cgtopic");
    am_arena *a = tu_open(sh->name, 32 << 20, 0);
    pid_t k = tu_fork(reader, sh);
    while (!atomic_load(&sh->ready)) usleep(100);
    am_pub *p;
    ck_assert_int_eq(am__calc__reading__am_pub_open(a, "readings", &(am_pub_opts){ .send_timeout_ns = 30 * SEC }, &p), 0);
    /* Another message type on the same topic is refused. */
    am_sub *wrong;
    ck_assert_int_eq(am__calc__pair__am_sub_open(a, "readings", NULL, &wrong), AM_ETYPE);
    for (uint64_t i = 1; i <= MSGS; i++) {
        Am__Calc__Reading r;
        Am__Calc__Reading__Where w;
        double samples[16];
        char sensor[32];
        uint8_t raw[256];
        fill_reading(&r, &w, samples, sensor, raw, i);
        TU_REQUIRE(am__calc__reading__am_publish(p, &r) == 0, "publish %llu", (unsigned long long)i);
    }
    ck_assert_int_eq(tu_wait(k), 0);
    /* A payload that is not a Reading (an untyped publisher's bytes) is refused. */
    am_sub *s;
    am_pub *raw;
    ck_assert_int_eq(am__calc__reading__am_sub_open(a, "readings", NULL, &s), 0);
    ck_assert_int_eq(am_pub_open(a, "readings", NULL, &raw), 0);
    ck_assert_int_eq(am_pub_publish(raw, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), 0);
    Am__Calc__Reading *bad;
    ck_assert_int_eq(am__calc__reading__am_take(s, NULL, &bad, NULL, 0), AM_EDECODE);
    am_pub_close(raw);
    am_sub_close(s);
    am_pub_close(p);
    tu_finish(a);
}
END_TEST

static int do_add(void *ctx, const Am__Calc__Pair *req, Am__Calc__Number *reply)
{
    (void)ctx;
    reply->value = req->a + req->b;
    return 0;
}

static int do_shout(void *ctx, const Am__Calc__Text *req, Am__Calc__Text *reply)
{
    char *buf = ctx;                                  /* the handler's memory until its next call */
    size_t n = strlen(req->text);
    if (n >= 256) return -1;
    for (size_t i = 0; i <= n; i++) buf[i] = (char)toupper((unsigned char)req->text[i]);
    reply->text = buf;
    return 0;
}

static int server(void *arg)
{
    shared *sh = arg;
    am_arena *a;
    am_server *s;
    if (am_arena_open(sh->name, NULL, &a) || am__calc__calc__am_server_open(a, "calc", NULL, &s)) return 1;
    atomic_store(&sh->ready, 1);
    const Am__Calc__Calc_AmHandlers h = { do_add, do_shout };
    char shout_buf[256];
    for (int n = 0; n < 3 * CALLS + 3 + 1;) {            /* + 3 failed calls, the unknown method */
        int rc = am__calc__calc__am_serve(s, &h, shout_buf, 30 * SEC);
        if (rc == 0 || rc == AM_EDECODE) n++;
        else return 2;
    }
    am_server_close(s);
    am_arena_close(a);
    return 0;
}

static int client(void *arg)
{
    shared *sh = arg;
    am_arena *a;
    am_client *c;
    if (am_arena_open(sh->name, NULL, &a) || am__calc__calc__am_client_open(a, "calc", NULL, &c)) return 1;
    uint64_t rng = (uint64_t)getpid();
    for (int i = 0; i < CALLS; i++) {
        if (i % 2) {
            Am__Calc__Pair p = AM__CALC__PAIR__INIT;
            p.a = (int64_t)(tu_rand(&rng) % 1000000);
            p.b = -(int64_t)(tu_rand(&rng) % 1000);
            Am__Calc__Number *r;
            if (am__calc__calc__am_add(c, &p, &r, NULL, 10 * SEC)) return 2;
            int ok = r->value == p.a + p.b;
            am__calc__number__free_unpacked(r, NULL);
            if (!ok) return 3;
        } else {
            char text[32];
            snprintf(text, sizeof text, "hello %d", i);
            Am__Calc__Text t = AM__CALC__TEXT__INIT;
            t.text = text;
            Am__Calc__Text *r;
            if (am__calc__calc__am_shout(c, &t, &r, NULL, 10 * SEC)) return 4;
            char want[32];
            snprintf(want, sizeof want, "HELLO %d", i);
            int ok = strcmp(r->text, want) == 0;
            am__calc__text__free_unpacked(r, NULL);
            if (!ok) return 5;
        }
    }
    /* A handler that fails: the stub returns AM_EREMOTE with the handler's status. */
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    Am__Calc__Text t = AM__CALC__TEXT__INIT;
    t.text = big;
    Am__Calc__Text *r;
    if (am__calc__calc__am_shout(c, &t, &r, NULL, 10 * SEC) != AM_EREMOTE || am_client_status(c) != -1) return 6;
    am_client_close(c);
    am_arena_close(a);
    return 0;
}

START_TEST(service_with_concurrent_clients)
{
    shared *sh = tu_shared(sizeof *sh);
    sh->name = tu_name("cgsvc");
    am_arena *a = tu_open(sh->name, 16 << 20, 0);
    pid_t srv = tu_fork(server, sh);
    while (!atomic_load(&sh->ready)) usleep(100);
    /* A raw client of the same service asks for a method the service does not have. */
    am_client *raw;
    ck_assert_int_eq(am_client_open(a, "calc", NULL, &raw), 0);
    am_sample r;
    ck_assert_int_eq(am_client_call_method(raw, 99, "x", 1, &r, 50000000), AM_ETIMEDOUT);
    am_client_close(raw);
    /* And a client typed for another service is refused. */
    am_client *wrong;
    ck_assert_int_eq(am_client_open(a, "calc", &(am_client_opts){ .type = { "am.calc.Other", 1 } }, &wrong), AM_ETYPE);
    pid_t cli[3];
    for (int i = 0; i < 3; i++) cli[i] = tu_fork(client, sh);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(tu_wait(cli[i]), 0);
    ck_assert_int_eq(tu_wait(srv), 0);
    tu_finish(a);
}
END_TEST

/* The service descriptor the channel's type names in a recorded FileDescriptorSet. */
static const Google__Protobuf__ServiceDescriptorProto *find_service(const Google__Protobuf__FileDescriptorSet *set,
                                                                    const char *full)
{
    for (size_t i = 0; i < set->n_file; i++) {
        const char *pkg = set->file[i]->package ? set->file[i]->package : "";
        size_t pl = strlen(pkg);
        for (size_t k = 0; k < set->file[i]->n_service; k++) {
            const char *n = set->file[i]->service[k]->name;
            if (n && (pl ? strncmp(full, pkg, pl) == 0 && full[pl] == '.' && strcmp(full + pl + 1, n) == 0
                         : strcmp(full, n) == 0)) {
                return set->file[i]->service[k];
            }
        }
    }
    return NULL;
}

static bool is_rpc(const Google__Protobuf__MethodDescriptorProto *m, const char *name, const char *in, const char *out)
{
    return m->name && m->input_type && m->output_type && strcmp(m->name, name) == 0 &&
           strcmp(m->input_type, in) == 0 && strcmp(m->output_type, out) == 0;
}

/* A client in another process reads the schema back: the service the channel's type
 * names, and method id k (am_request.method) as its k-th rpc (method[k - 1]) with both
 * types. */
static int schema_reader(void *arg)
{
    shared *sh = arg;
    am_arena *a;
    am_client *c;
    if (am_arena_open(sh->name, NULL, &a) || am_client_open(a, "calc", NULL, &c)) return 1;
    const void *data;
    size_t len;
    if (am_client_schema(c, &data, &len)) return 2;
    Google__Protobuf__FileDescriptorSet *set = google__protobuf__file_descriptor_set__unpack(NULL, len, data);
    if (!set) return 3;
    const Google__Protobuf__ServiceDescriptorProto *svc = find_service(set, am__calc__calc__am_type().name);
    int rc = !svc ? 4 : svc->n_method != 2 ? 5
           : !is_rpc(svc->method[0], "Add", ".am.calc.Pair", ".am.calc.Number") ? 6
           : !is_rpc(svc->method[1], "Shout", ".am.calc.Text", ".am.calc.Text") ? 7 : 0;
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    am_client_close(c);
    am_arena_close(a);
    return rc;
}

START_TEST(server_records_its_schema)
{
    shared *sh = tu_shared(sizeof *sh);
    sh->name = tu_name("cgschema");
    am_arena *a = tu_open(sh->name, 16 << 20, 0);
    am_server *s;
    ck_assert_int_eq(am__calc__calc__am_server_open(a, "calc", NULL, &s), 0);
    ck_assert_int_eq(tu_wait(tu_fork(schema_reader, sh)), 0);
    /* The first schema stays: a later one is accepted and changes nothing. */
    am_client *c;
    const void *before, *after;
    size_t n0, n1;
    ck_assert_int_eq(am_client_open(a, "calc", NULL, &c), 0);
    ck_assert_int_eq(am_client_schema(c, &before, &n0), 0);
    ck_assert_int_eq(am_server_set_schema(s, "other", 5), 0);
    ck_assert_int_eq(am_client_schema(c, &after, &n1), 0);
    ck_assert(before == after && n0 == n1);
    ck_assert_int_eq(am_server_set_schema(s, NULL, 5), AM_EINVAL);
    ck_assert_int_eq(am_server_set_schema(s, "x", 0), AM_EINVAL);
    ck_assert_int_eq(am_client_schema(NULL, &after, &n1), AM_EINVAL);
    /* An untyped server records nothing. */
    am_server *raw;
    am_client *plain;
    ck_assert_int_eq(am_server_open(a, "plain", NULL, &raw), 0);
    ck_assert_int_eq(am_client_open(a, "plain", NULL, &plain), 0);
    ck_assert_int_eq(am_client_schema(plain, &after, &n1), AM_ENOENT);
    am_client_close(plain);
    am_server_close(raw);
    am_client_close(c);
    am_server_close(s);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("codegen", 300, (const TTest *[]){ typed_topic_across_processes, service_with_concurrent_clients,
                                                      server_records_its_schema, NULL });
}
