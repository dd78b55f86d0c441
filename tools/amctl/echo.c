/* SPDX-License-Identifier: Apache-2.0 */
/*
 * echo.c — amctl echo: print a topic's samples as they arrive.
 *
 * A sample of a topic whose publisher recorded a schema (a serialized protobuf
 * FileDescriptorSet, as code from protoc-gen-am does) is printed by field name, like
 * `protoc --decode`; --raw prints the wire format by field number, like
 * `protoc --decode_raw`; anything else, or a sample that does not parse, as hex (with
 * the error). echo attaches as an ordinary untyped subscriber (drop-oldest, so it never
 * holds a publisher back), and only to a topic that exists: it never creates one (with
 * --wait it waits for it to appear). --json prints one object a line for scripts: the
 * sample decoded by field name (pb_print_json), or its payload in hex. On a service,
 * echo prints its requests and replies instead, decoded by method (services.c).
 */
#include <ctype.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include "amctl.h"
#include "pb_print.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        printf("  %06zx ", i);
        for (size_t k = i; k < i + 16; k++) {
            if (k < n) printf(" %02x", p[k]);
            else printf("   ");
        }
        printf("  ");
        for (size_t k = i; k < i + 16 && k < n; k++) putchar(isprint(p[k]) ? p[k] : '.');
        putchar('\n');
    }
}

/* The topic's type name, read from the directory of a read-only view, and the
 * channel's kind (AMC_KIND_*; 0 if there is none of that name). */
static unsigned topic_type(const char *name, const char *topic, char *type, size_t n)
{
    type[0] = 0;
    unsigned kind = 0;
    am_arena *a;
    if (am_arena_peek(name, AM_TRUST_OTHER_OWNER, &a)) return 0;
    const amc_dir *d = am_upper(a);
    for (unsigned i = 0; d->magic == AMC_DIR_MAGIC && i < AM_MAX_CHANNELS; i++) {
        const amc_entry *e = &d->e[i];
        if (atomic_load(&e->state) == AMC_ENT_READY && strncmp(e->name, topic, sizeof e->name) == 0) {
            kind = e->kind;
            if (e->typed) snprintf(type, n, "%.*s", (int)AM_TYPE_MAX, e->type);
        }
    }
    am_arena_unpeek(a);
    return kind;
}

/* Attach to the topic if it exists (never creating it); with --wait, until it does, a
 * signal or the deadline. 0, or the exit status. */
static int attach(am_arena *a, const char *name, const char *topic, const opts *o, uint64_t deadline, am_sub **s)
{
    for (;;) {
        int rc = amc_sub_attach(a, topic, &(am_sub_opts){ .depth = 256, .policy = AM_POLICY_DROP_OLDEST }, s);
        if (rc == 0) return 0;
        if (rc != AM_ENOENT) {
            const char *why = am_channel_open_report();
            fprintf(stderr, "amctl: %s: %s%s%s\n", topic, am_strerror(rc), why[0] ? ": " : "", why);
            return 1;
        }
        if (stop) return 0;
        if (!o->wait || am_now_ns() >= deadline) {
            fprintf(stderr, "amctl: %s: no topic \"%s\"%s (`amctl topics %s` lists them%s)\n", name, topic,
                    o->wait ? " appeared in time" : "", name, o->wait ? "" : "; --wait waits for one");
            return 1;
        }
        nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
    }
}

int cmd_echo(const char *name, const char *topic, const opts *o)
{
    char type[AM_TYPE_MAX + 1];
    if (topic_type(name, topic, type, sizeof type) == AMC_KIND_SERVICE) return cmd_echo_service(name, topic, o);
    am_arena *a;
    int rc = am_arena_open(name, &(am_arena_opts){ .flags = AM_ATTACH_ONLY | AM_TRUST_OTHER_OWNER }, &a);
    if (rc) { fprintf(stderr, "amctl: %s: %s\n", name, am_strerror(rc)); return 1; }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    uint64_t deadline = o->seconds > 0 ? am_now_ns() + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
    am_sub *s = NULL;
    rc = attach(a, name, topic, o, deadline, &s);
    if (!s) { am_arena_close(a); return rc; }
    topic_type(name, topic, type, sizeof type);
    FileSet *set = NULL;
    const MsgDesc *md = NULL;
    long seen = 0;
    while (!stop && (o->count == 0 || seen < o->count) && am_now_ns() < deadline) {
        am_sample m;
        rc = am_sub_take(s, &m, 100000000);
        if (rc == AM_ETIMEDOUT) continue;
        if (rc) { fprintf(stderr, "amctl: take: %s\n", am_strerror(rc)); continue; }
        if (!set && type[0] && !o->raw) {                     /* the schema, once recorded */
            const void *schema;
            size_t len;
            if (am_sub_schema(s, &schema, &len) == 0) {
                set = google__protobuf__file_descriptor_set__unpack(NULL, len, schema);
                md = set ? pb_find_message(set, type) : NULL;
            }
        }
        if (o->json) {                                        /* one JSON object a line */
            printf("{\"topic\": ");
            json_str(stdout, topic);
            printf(", \"seq\": %llu, \"publisher\": %u, \"len\": %zu, \"type\": ", (unsigned long long)m.seq,
                   m.publisher, m.len);
            json_str(stdout, type);
            if (md && pb_message_parses(md, m.data, m.len)) {
                printf(", \"message\": ");
                (void)pb_print_json(set, md, m.data, m.len);
            } else {
                if (md) printf(", \"error\": \"does not parse as its type\"");
                printf(", \"hex\": \"");
                for (size_t i = 0; i < m.len; i++) printf("%02x", ((const uint8_t *)m.data)[i]);
                printf("\"");
            }
            printf("}\n");
        } else {
            printf("# %s seq %llu from port %u, %zu bytes%s%s\n", topic, (unsigned long long)m.seq, m.publisher, m.len,
                   type[0] ? ", type " : "", type);
        }
        if (o->json) {
        } else if (o->raw) {
            if (pb_parses(m.data, m.len, 0)) pb_print_raw(m.data, m.len, 0);
            else { printf("(not protobuf wire format)\n"); print_hex(m.data, m.len); }
        } else if (md) {
            if (pb_print_message(set, md, m.data, m.len, 0) != 0) {
                printf("(does not parse as %s)\n", type);
                print_hex(m.data, m.len);
            }
        } else {
            print_hex(m.data, m.len);
        }
        fflush(stdout);
        am_sub_ack(s, &m);
        seen++;
    }
    if (set) google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    am_sub_close(s);
    am_arena_close(a);
    return 0;
}
