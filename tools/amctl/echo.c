/* SPDX-License-Identifier: Apache-2.0 */
/*
 * echo.c — amctl echo: print a topic's samples as they arrive.
 *
 * A sample of a topic whose publisher recorded a schema (a serialized protobuf
 * FileDescriptorSet, as code from protoc-gen-am does) is printed by field name, like
 * `protoc --decode`; --raw prints the wire format by field number, like
 * `protoc --decode_raw`; anything else, or a sample that does not parse, as hex (with
 * the error). echo attaches as an ordinary untyped subscriber (drop-oldest, so it never
 * holds a publisher back). --json prints one object a line (sequence, publisher, length,
 * type, the payload in hex) for scripts.
 */
#include <ctype.h>
#include <signal.h>
#include <string.h>
#include "amctl.h"
#include "google/protobuf/descriptor.pb-c.h"

typedef Google__Protobuf__DescriptorProto MsgDesc;
typedef Google__Protobuf__FieldDescriptorProto FieldDesc;
typedef Google__Protobuf__FileDescriptorSet FileSet;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* ------------------------------------------------------------------ wire format */

typedef struct rd { const uint8_t *p, *end; } rd;

static bool varint(rd *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t c = *r->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* One field: its number, wire type and value (a varint/fixed value, or a byte run). */
typedef struct field { uint32_t num, wt; uint64_t v; const uint8_t *data; size_t len; } field;

static int next_field(rd *r, field *f)
{
    uint64_t key;
    if (!varint(r, &key)) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (uint32_t)(key & 7);
    if (f->num == 0) return -1;
    switch (f->wt) {
    case 0: return varint(r, &f->v) ? 0 : -1;
    case 1: if (r->end - r->p < 8) return -1; memcpy(&f->v, r->p, 8); r->p += 8; return 0;
    case 5: { uint32_t v; if (r->end - r->p < 4) return -1; memcpy(&v, r->p, 4); f->v = v; r->p += 4; return 0; }
    case 2:
        if (!varint(r, &f->v) || f->v > (uint64_t)(r->end - r->p)) return -1;
        f->data = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return 0;
    default: return -1;
    }
}

static bool parses(const uint8_t *p, size_t n, unsigned depth)
{
    rd r = { p, p + n };
    field f;
    if (n == 0 || depth > 32) return false;
    while (r.p < r.end) {
        if (next_field(&r, &f)) return false;
        if (f.wt == 3 || f.wt == 4) return false;
    }
    return true;
}

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isprint(p[i]) && p[i] != '\n' && p[i] != '\t') return false;
    }
    return true;
}

static void put_string(const uint8_t *p, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\') printf("\\%c", p[i]);
        else if (isprint(p[i])) putchar(p[i]);
        else printf("\\%03o", p[i]);
    }
    putchar('"');
}

/* Like protoc --decode_raw. */
static void print_raw(const uint8_t *p, size_t n, unsigned indent)
{
    rd r = { p, p + n };
    field f;
    while (r.p < r.end && next_field(&r, &f) == 0) {
        printf("%*s%u", indent * 2, "", f.num);
        if (f.wt == 2 && !printable(f.data, f.len) && parses(f.data, f.len, indent + 1)) {
            printf(" {\n");
            print_raw(f.data, f.len, indent + 1);
            printf("%*s}\n", indent * 2, "");
        } else if (f.wt == 2) {
            printf(": ");
            put_string(f.data, f.len);
            putchar('\n');
        } else {
            printf(": %llu\n", (unsigned long long)f.v);
        }
    }
}

/* ------------------------------------------------------------------ with a schema */

/* The message called `full` (no leading dot) in the set. */
static const MsgDesc *find_in(const char *prefix, MsgDesc *const *msgs, size_t n, const char *full)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        const MsgDesc *m = msgs[i];
        if (!m->name) continue;
        size_t nl = strlen(m->name);
        bool here = strncmp(full, prefix, pl) == 0 && (pl == 0 || full[pl] == '.');
        const char *rest = full + pl + (pl ? 1 : 0);
        if (!here || strncmp(rest, m->name, nl) != 0) continue;
        if (rest[nl] == 0) return m;
        if (rest[nl] == '.') {
            char sub[512];
            snprintf(sub, sizeof sub, "%.*s", (int)(rest + nl - full), full);
            const MsgDesc *found = find_in(sub, m->nested_type, m->n_nested_type, full);
            if (found) return found;
        }
    }
    return NULL;
}

static const MsgDesc *find_message(const FileSet *set, const char *full)
{
    if (full[0] == '.') full++;
    for (size_t i = 0; i < set->n_file; i++) {
        const char *pkg = set->file[i]->package ? set->file[i]->package : "";
        const MsgDesc *m = find_in(pkg, set->file[i]->message_type, set->file[i]->n_message_type, full);
        if (m) return m;
    }
    return NULL;
}

static const char *enum_value(const FileSet *set, const char *type, int32_t v)
{
    if (!type) return NULL;
    const char *full = type[0] == '.' ? type + 1 : type;
    for (size_t i = 0; i < set->n_file; i++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[i];
        for (size_t k = 0; k < f->n_enum_type; k++) {
            const char *n = f->enum_type[k]->name;
            size_t pl = f->package ? strlen(f->package) : 0;
            if (!n || strcmp(full + (pl ? pl + 1 : 0), n) != 0) continue;
            for (size_t j = 0; j < f->enum_type[k]->n_value; j++) {
                if (f->enum_type[k]->value[j]->number == v) return f->enum_type[k]->value[j]->name;
            }
        }
    }
    return NULL;
}

static int print_message(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n, unsigned indent);

static void print_scalar(const FileSet *set, const FieldDesc *fd, const field *f)
{
    switch (fd->type) {
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE: { double d; memcpy(&d, &f->v, 8); printf("%.17g", d); break; }
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT: { uint32_t u = (uint32_t)f->v; float x; memcpy(&x, &u, 4); printf("%.9g", x); break; }
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64: printf("%lld", (long long)f->v); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32: printf("%d", (int32_t)(uint32_t)f->v); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64:
        printf("%lld", (long long)((f->v >> 1) ^ (~(f->v & 1) + 1)));
        break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL: printf("%s", f->v ? "true" : "false"); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM: {
        const char *name = enum_value(set, fd->type_name, (int32_t)f->v);
        if (name) printf("%s", name);
        else printf("%lld", (long long)f->v);
        break;
    }
    default: printf("%llu", (unsigned long long)f->v); break;
    }
}

static int print_message(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n, unsigned indent)
{
    rd r = { p, p + n };
    field f;
    if (indent > 32) return -1;
    while (r.p < r.end) {
        if (next_field(&r, &f)) return -1;
        const FieldDesc *fd = NULL;
        for (size_t i = 0; i < m->n_field; i++) {
            if (m->field[i]->has_number && (uint32_t)m->field[i]->number == f.num) fd = m->field[i];
        }
        if (!fd || !fd->name) {                                  /* unknown: by number */
            printf("%*s%u: ", indent * 2, "", f.num);
            if (f.wt == 2) put_string(f.data, f.len);
            else printf("%llu", (unsigned long long)f.v);
            putchar('\n');
            continue;
        }
        if (fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE && f.wt == 2) {
            const MsgDesc *sub = fd->type_name ? find_message(set, fd->type_name) : NULL;
            printf("%*s%s {\n", indent * 2, "", fd->name);
            if (!sub || print_message(set, sub, f.data, f.len, indent + 1)) print_raw(f.data, f.len, indent + 1);
            printf("%*s}\n", indent * 2, "");
        } else if (f.wt == 2 && (fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING ||
                                 fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES)) {
            printf("%*s%s: ", indent * 2, "", fd->name);
            put_string(f.data, f.len);
            putchar('\n');
        } else if (f.wt == 2) {                                  /* packed repeated scalars */
            rd pr = { f.data, f.data + f.len };
            bool fixed64 = fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE ||
                           fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64 ||
                           fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64;
            bool fixed32 = fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT ||
                           fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32 ||
                           fd->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32;
            while (pr.p < pr.end) {
                field e = { .num = f.num };
                if (fixed64) { if (pr.end - pr.p < 8) return -1; memcpy(&e.v, pr.p, 8); pr.p += 8; }
                else if (fixed32) { uint32_t u; if (pr.end - pr.p < 4) return -1; memcpy(&u, pr.p, 4); e.v = u; pr.p += 4; }
                else if (!varint(&pr, &e.v)) return -1;
                printf("%*s%s: ", indent * 2, "", fd->name);
                print_scalar(set, fd, &e);
                putchar('\n');
            }
        } else {
            printf("%*s%s: ", indent * 2, "", fd->name);
            print_scalar(set, fd, &f);
            putchar('\n');
        }
    }
    return 0;
}

static void print_hex(const uint8_t *p, size_t n)
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

/* The topic's type name, read from the directory of a read-only view. */
static void topic_type(const char *name, const char *topic, char *type, size_t n)
{
    type[0] = 0;
    am_arena *a;
    if (am_arena_peek(name, AM_TRUST_OTHER_OWNER, &a)) return;
    const amc_dir *d = am_upper(a);
    for (unsigned i = 0; d->magic == AMC_DIR_MAGIC && i < AM_MAX_CHANNELS; i++) {
        const amc_entry *e = &d->e[i];
        if (atomic_load(&e->state) == AMC_ENT_READY && e->typed && strncmp(e->name, topic, sizeof e->name) == 0) {
            snprintf(type, n, "%.*s", (int)AM_TYPE_MAX, e->type);
        }
    }
    am_arena_unpeek(a);
}

int cmd_echo(const char *name, const char *topic, const opts *o)
{
    char type[AM_TYPE_MAX + 1];
    topic_type(name, topic, type, sizeof type);
    am_arena *a;
    int rc = am_arena_open(name, &(am_arena_opts){ .flags = AM_ATTACH_ONLY | AM_TRUST_OTHER_OWNER }, &a);
    if (rc) { fprintf(stderr, "amctl: %s: %s\n", name, am_strerror(rc)); return 1; }
    am_sub *s;
    rc = am_sub_open(a, topic, &(am_sub_opts){ .depth = 256, .policy = AM_POLICY_DROP_OLDEST }, &s);
    if (rc) { fprintf(stderr, "amctl: %s: %s\n", topic, am_strerror(rc)); am_arena_close(a); return 1; }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    FileSet *set = NULL;
    const MsgDesc *md = NULL;
    uint64_t deadline = o->seconds > 0 ? am_now_ns() + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
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
                md = set ? find_message(set, type) : NULL;
            }
        }
        if (o->json) {                                        /* one JSON object a line */
            printf("{\"topic\": ");
            json_str(stdout, topic);
            printf(", \"seq\": %llu, \"publisher\": %u, \"len\": %zu, \"type\": ", (unsigned long long)m.seq,
                   m.publisher, m.len);
            json_str(stdout, type);
            printf(", \"hex\": \"");
            for (size_t i = 0; i < m.len; i++) printf("%02x", ((const uint8_t *)m.data)[i]);
            printf("\"}\n");
        } else {
            printf("# %s seq %llu from port %u, %zu bytes%s%s\n", topic, (unsigned long long)m.seq, m.publisher, m.len,
                   type[0] ? ", type " : "", type);
        }
        if (o->json) {
        } else if (o->raw) {
            if (parses(m.data, m.len, 0)) print_raw(m.data, m.len, 0);
            else { printf("(not protobuf wire format)\n"); print_hex(m.data, m.len); }
        } else if (md) {
            if (print_message(set, md, m.data, m.len, 0) != 0) {
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
