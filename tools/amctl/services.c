/* SPDX-License-Identifier: Apache-2.0 */
/*
 * services.c — what a service's recorded schema says: its methods (amctl services),
 * and its requests and replies decoded by method (amctl echo on a service).
 *
 * A typed server (code from protoc-gen-am) records a serialized FileDescriptorSet with
 * its service (am_server_set_schema): the channel's type name is the full name of the
 * service in the set, and method id k in a request's header is the service's k-th rpc
 * (from 1), which names the request and response message types. Everything here is
 * read from shared memory any process may write: the schema is copied out before it is
 * parsed, every name is printed sanitised, and a schema that does not parse or does not
 * name the service is said so, never trusted.
 *
 * Echo cannot join a service to see its calls: a server would be given requests to
 * answer, and a client sees only its own replies. It watches instead: every millisecond
 * it reads, without locks and without joining (am_arena_peek), the request queues and
 * held requests of the servers and the reply queues and held replies of the clients,
 * and prints each message the first time it finds it. A message is copied out and
 * kept only if its block is still the same allocation after the copy (a generation
 * check), so what is printed is what was sent; a call answered and acked between two
 * looks is not seen at all.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "amctl.h"
#include "pb_print.h"

/* ------------------------------------------------------------------ the schema */

static FileSet *chan_schema(am_arena *a, amc_chan *ch)
{
    size_t len = 0;
    const void *p = amc_schema_at(a, ch, &len);
    if (!p || len == 0) return NULL;
    void *copy = malloc(len);
    if (!copy) return NULL;
    memcpy(copy, p, len);                    /* parsed from our copy, not shared memory */
    FileSet *set = google__protobuf__file_descriptor_set__unpack(NULL, len, copy);
    free(copy);
    return set;
}

/* A name from the schema as amctl prints it: without the leading dot of a type
 * reference, anything but printable ASCII as '?', cut to fit; "?" for none. */
static const char *clean(const char *s, char *out, size_t n)
{
    if (!s || !*s) return "?";
    if (*s == '.') s++;
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) out[i] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[i] = 0;
    return out;
}

/* The service the type names, or NULL with *why saying what is missing. */
static const SvcDesc *service_of(const FileSet *set, bool recorded, const char *type, const char **why)
{
    const SvcDesc *s = set && type[0] ? pb_find_service(set, type) : NULL;
    *why = !recorded ? "no schema recorded" : !set ? "the recorded schema is not a FileDescriptorSet"
         : !type[0] ? "the service is untyped" : !s ? "the recorded schema does not hold the service's type" : NULL;
    return s;
}

void service_methods(am_arena *a, amc_chan *ch, const char *type, bool json)
{
    size_t len = 0;
    bool recorded = amc_schema_at(a, ch, &len) != NULL;
    FileSet *set = recorded ? chan_schema(a, ch) : NULL;
    const char *why;
    const SvcDesc *s = service_of(set, recorded, type, &why);
    char name[128], in[256], out[256];
    if (json) printf(", \"methods\": [");
    for (size_t i = 0; s && i < s->n_method; i++) {
        const MethodDesc *m = s->method[i];
        if (json) {
            printf("%s{\"id\": %zu, \"name\": ", i ? ", " : "", i + 1);
            json_str(stdout, clean(m->name, name, sizeof name));
            printf(", \"request\": ");
            json_str(stdout, clean(m->input_type, in, sizeof in));
            printf(", \"response\": ");
            json_str(stdout, clean(m->output_type, out, sizeof out));
            printf("}");
        } else {
            printf("  method %-3zu %s(%s) returns %s\n", i + 1, clean(m->name, name, sizeof name),
                   clean(m->input_type, in, sizeof in), clean(m->output_type, out, sizeof out));
        }
    }
    if (json) {
        printf("], \"schema_error\": ");
        if (why && recorded) json_str(stdout, why);
        else printf("null");
    } else if (why && recorded) {
        printf("  methods unknown: %s\n", why);
    }
    if (set) google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

/* ------------------------------------------------------------------ echo */

#define SCAN_MAX 4096u          /* messages looked at in one pass */

/* A message found in a queue or held list, copied out. */
typedef struct found {
    amc_slot slot;
    amc_msg  hdr;
    uint8_t *data;
    unsigned port;              /* the port whose queue or held list had it */
    bool     reply;             /* in a client's: a reply; in a server's: a request */
} found;

typedef struct watch {
    am_arena *a;
    found    *now;              /* this pass's messages, then sorted by send time */
    unsigned  n;
    amc_slot *before;           /* the previous pass's, sorted */
    unsigned  nbefore;
} watch;

static int by_slot(const void *x, const void *y)
{
    const amc_slot *a = x, *b = y;
    return a->off != b->off ? (a->off < b->off ? -1 : 1) : a->gen != b->gen ? (a->gen < b->gen ? -1 : 1) : 0;
}

static int by_send_time(const void *x, const void *y)
{
    const found *a = x, *b = y;
    return a->hdr.send_ns != b->hdr.send_ns ? (a->hdr.send_ns < b->hdr.send_ns ? -1 : 1) : 0;
}

/* Copy the message slot s names into w->now, if its block is a live message and is
 * still that allocation once copied. */
static void take_copy(watch *w, amc_slot s, unsigned port, bool reply)
{
    if (w->n == SCAN_MAX || s.off == 0) return;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->now[i].slot.off == s.off && w->now[i].slot.gen == s.gen) return;   /* met twice in one pass */
    }
    size_t size;
    const uint8_t *p = am_block_probe(w->a, s.off, s.gen, NULL, &size);
    if (!p || size < AMC_MSG_HDR) return;
    found f = { .slot = s, .port = port, .reply = reply };
    memcpy(&f.hdr, p, sizeof f.hdr);
    if (f.hdr.len > size - AMC_MSG_HDR) return;
    f.data = malloc(f.hdr.len ? f.hdr.len : 1);
    if (!f.data) return;
    memcpy(f.data, p + AMC_MSG_HDR, f.hdr.len);
    atomic_thread_fence(memory_order_acquire);            /* the copies before the look below */
    if (atomic_load_explicit(am_block_gen_word(p), memory_order_relaxed) != s.gen) {
        free(f.data);                                     /* freed and reused meanwhile */
        return;
    }
    w->now[w->n++] = f;
}

/* The messages of the link ring r (`depth` slots, as checked with its rx block). */
static void ring_copies(watch *w, amc_link *l, uint32_t depth, unsigned port, bool reply)
{
    struct ck_ring *r = &l->ring;
    unsigned head = atomic_load((_Atomic unsigned *)&r->c_head), tail = atomic_load((_Atomic unsigned *)&r->p_tail);
    unsigned n = tail - head < depth ? tail - head : 0;
    for (unsigned i = 0; i < n; i++) take_copy(w, amc_link_slots(l)[(head + i) & (depth - 1)], port, reply);
}

/* One pass over the service's servers and clients: queues first, then held lists (a
 * message taken meanwhile moves from the one to the other, so it is not missed). */
static void scan(watch *w, amc_chan *ch)
{
    w->n = 0;
    for (unsigned k = 0; k < AM_MAX_PORTS; k++) {
        uint32_t role = ch->ports[k].role;
        if (atomic_load(&ch->ports[k].state) == AMC_PORT_FREE || (role != AMC_ROLE_SERVER && role != AMC_ROLE_CLIENT)) {
            continue;
        }
        amc_rx *r = amc_port_rx(w->a, ch, k, NULL);       /* checked as senders check it */
        if (!r) continue;
        uint32_t depth = r->depth, max_held = r->max_held;
        uint64_t linked = atomic_load(&r->linked);
        for (unsigned j = 0; j < AM_MAX_PORTS; j++) {
            amc_link *l = (linked >> j) & 1 ? amc_link_at(w->a, atomic_load(&r->links[j]), depth, NULL) : NULL;
            if (l) ring_copies(w, l, depth, k, role == AMC_ROLE_CLIENT);
        }
        const amc_slot *held = amc_rx_held(r);
        for (uint32_t i = 0; i < max_held; i++) take_copy(w, held[i], k, role == AMC_ROLE_CLIENT);
    }
}

static void print_hex_line(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

/* Print f: its rpc and message type from the schema, then its payload by field name
 * (or by number with --raw, or as hex). */
static void print_found(const char *service, const FileSet *set, const SvcDesc *svc, const found *f, const opts *o)
{
    const MethodDesc *m = svc ? pb_method(svc, f->hdr.method) : NULL;
    char rpc[128], type[256];
    const char *rpc_name = m ? clean(m->name, rpc, sizeof rpc) : "";
    const char *type_name = m ? clean(f->reply ? m->output_type : m->input_type, type, sizeof type) : "";
    bool failed = f->reply && f->hdr.status != 0;
    unsigned client = f->reply ? f->port : f->hdr.from, server = f->reply ? f->hdr.from : f->port;
    const char *ref = m && !failed ? (f->reply ? m->output_type : m->input_type) : NULL;   /* looked up as recorded */
    const MsgDesc *md = ref && !o->raw ? pb_find_message(set, ref) : NULL;
    if (o->json) {                                        /* as echo --json on a topic */
        printf("{\"service\": ");
        json_str(stdout, service);
        printf(", \"kind\": \"%s\", \"method\": %u, \"rpc\": ", f->reply ? "reply" : "request", f->hdr.method);
        json_str(stdout, rpc_name);
        printf(", \"call\": %llu, \"client\": %u, \"server\": %u, \"status\": %d, \"len\": %u, \"type\": ",
               (unsigned long long)f->hdr.corr, client, server, f->hdr.status, f->hdr.len);
        json_str(stdout, failed ? "" : type_name);
        if (md && pb_message_parses(md, f->data, f->hdr.len)) {
            printf(", \"message\": ");
            (void)pb_print_json(set, md, f->data, f->hdr.len);
        } else {
            if (md) printf(", \"error\": \"does not parse as its type\"");
            printf(", \"hex\": \"");
            print_hex_line(f->data, f->hdr.len);
            printf("\"");
        }
        printf("}\n");
        return;
    }
    printf("# %s %s ", service, f->reply ? "reply" : "request");
    if (m) printf("%s (method %u)", rpc_name, f->hdr.method);
    else printf("method %u%s", f->hdr.method, svc ? " (not in the schema)" : "");
    printf(", call %llu, client port %u, server port %u", (unsigned long long)f->hdr.corr, client, server);
    if (failed) {
        printf(": failed with status %d\n", f->hdr.status);
        return;
    }
    printf(", %u bytes%s%s\n", f->hdr.len, type_name[0] ? ", type " : "", type_name);
    if (o->raw || !md) {
        if (pb_parses(f->data, f->hdr.len, 0)) pb_print_raw(f->data, f->hdr.len, 0);
        else if (f->hdr.len) print_hex(f->data, f->hdr.len);
    } else if (pb_print_message(set, md, f->data, f->hdr.len, 0) != 0) {
        printf("(does not parse as %s)\n", type_name);
        print_hex(f->data, f->hdr.len);
    }
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* The service's channel block, checked, and its type; NULL if there is none now. Looked
 * up again for every pass: the service may go, and its block be reused, meanwhile. */
static amc_chan *find_service(am_arena *a, const char *service, char *type, size_t n, amc_slot *at)
{
    const amc_dir *d = am_upper(a);
    for (unsigned i = 0; d->magic == AMC_DIR_MAGIC && i < AM_MAX_CHANNELS; i++) {
        const amc_entry *e = &d->e[i];
        if (atomic_load(&e->state) != AMC_ENT_READY || e->kind != AMC_KIND_SERVICE ||
            strncmp(e->name, service, sizeof e->name) != 0) {
            continue;
        }
        snprintf(type, n, "%.*s", (int)AM_TYPE_MAX, e->typed ? e->type : "");
        *at = (amc_slot){ .off = e->chan_off, .gen = e->chan_gen };
        return amc_chan_at(a, e->chan_off, e->chan_gen);
    }
    return NULL;
}

int cmd_echo_service(const char *name, const char *service, const opts *o)
{
    am_arena *a = peek(name);
    if (!a) return 1;
    char type[AM_TYPE_MAX + 1];
    amc_slot at, schema_of = { 0 };                       /* the channel now, the one the schema is of */
    amc_chan *ch = find_service(a, service, type, sizeof type, &at);
    if (!ch) {
        fprintf(stderr, "amctl: %s: no service %s\n", name, service);
        am_arena_unpeek(a);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    watch w = { .a = a, .now = calloc(SCAN_MAX, sizeof(found)), .before = calloc(SCAN_MAX, sizeof(amc_slot)) };
    if (!w.now || !w.before) {
        free(w.now);
        free(w.before);
        am_arena_unpeek(a);
        return 1;
    }
    FileSet *set = NULL;
    const SvcDesc *svc = NULL;
    size_t len;
    uint64_t deadline = o->seconds > 0 ? am_now_ns() + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
    long seen = 0;
    for (; !stop && (o->count == 0 || seen < o->count) && am_now_ns() < deadline;
         nanosleep(&(struct timespec){ 0, 1000000 }, NULL)) {
        ch = find_service(a, service, type, sizeof type, &at);
        if (schema_of.off && (!ch || at.off != schema_of.off || at.gen != schema_of.gen)) {   /* another one now */
            if (set) google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
            set = NULL;
            svc = NULL;
            schema_of = (amc_slot){ 0 };
        }
        if (!ch) continue;                                /* gone; it may come back */
        if (schema_of.off == 0 && amc_schema_at(a, ch, &len)) {   /* the schema, once recorded */
            const char *why;
            schema_of = at;
            set = chan_schema(a, ch);
            svc = service_of(set, true, type, &why);
            if (!svc) fprintf(stderr, "amctl: %s: %s: requests and replies are not decoded\n", service, why);
        }
        scan(&w, ch);
        qsort(w.now, w.n, sizeof *w.now, by_send_time);
        for (unsigned i = 0; i < w.n; i++) {
            found *f = &w.now[i];
            if (bsearch(&f->slot, w.before, w.nbefore, sizeof *w.before, by_slot)) continue;   /* printed already */
            if (!stop && (o->count == 0 || seen < o->count)) {
                print_found(service, set, svc, f, o);
                seen++;
            }
        }
        fflush(stdout);
        for (unsigned i = 0; i < w.n; i++) {
            w.before[i] = w.now[i].slot;
            free(w.now[i].data);
        }
        w.nbefore = w.n;
        qsort(w.before, w.nbefore, sizeof *w.before, by_slot);
    }
    if (set) google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    free(w.now);
    free(w.before);
    am_arena_unpeek(a);
    return 0;
}
