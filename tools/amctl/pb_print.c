/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_print.c — protobuf wire format printed by field number or, with a recorded schema,
 * by field name (pb_print.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "pb_print.h"

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

bool pb_parses(const uint8_t *p, size_t n, unsigned depth)
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
void pb_print_raw(const uint8_t *p, size_t n, unsigned indent)
{
    rd r = { p, p + n };
    field f;
    while (r.p < r.end && next_field(&r, &f) == 0) {
        printf("%*s%u", indent * 2, "", f.num);
        if (f.wt == 2 && !printable(f.data, f.len) && pb_parses(f.data, f.len, indent + 1)) {
            printf(" {\n");
            pb_print_raw(f.data, f.len, indent + 1);
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

const MsgDesc *pb_find_message(const FileSet *set, const char *full)
{
    if (full[0] == '.') full++;
    for (size_t i = 0; i < set->n_file; i++) {
        const char *pkg = set->file[i]->package ? set->file[i]->package : "";
        const MsgDesc *m = find_in(pkg, set->file[i]->message_type, set->file[i]->n_message_type, full);
        if (m) return m;
    }
    return NULL;
}

/* Is full "<package>.<name>" (or just "<name>" when there is no package)? The package
 * is compared, not just skipped by its length: a type name from a recorded schema may
 * be shorter than the package, and skipping read past its end (found by fuzz_schema;
 * fuzz/regressions/schema/enum-name-shorter-than-package). */
static bool in_package(const char *full, const char *package, const char *name)
{
    size_t pl = package ? strlen(package) : 0;
    if (pl) {
        if (strncmp(full, package, pl) != 0 || full[pl] != '.') return false;
        full += pl + 1;
    }
    return strcmp(full, name) == 0;
}

const SvcDesc *pb_find_service(const FileSet *set, const char *full)
{
    if (full[0] == '.') full++;
    for (size_t i = 0; i < set->n_file; i++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[i];
        for (size_t k = 0; k < f->n_service; k++) {
            if (f->service[k]->name && in_package(full, f->package, f->service[k]->name)) return f->service[k];
        }
    }
    return NULL;
}

const MethodDesc *pb_method(const SvcDesc *s, uint32_t method)
{
    return method >= 1 && method <= s->n_method ? s->method[method - 1] : NULL;
}

static const char *enum_value(const FileSet *set, const char *type, int32_t v)
{
    if (!type) return NULL;
    const char *full = type[0] == '.' ? type + 1 : type;
    for (size_t i = 0; i < set->n_file; i++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[i];
        for (size_t k = 0; k < f->n_enum_type; k++) {
            const char *n = f->enum_type[k]->name;
            if (!n || !in_package(full, f->package, n)) continue;
            for (size_t j = 0; j < f->enum_type[k]->n_value; j++) {
                if (f->enum_type[k]->value[j]->number == v) return f->enum_type[k]->value[j]->name;
            }
        }
    }
    return NULL;
}


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

int pb_print_message(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n, unsigned indent)
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
            const MsgDesc *sub = fd->type_name ? pb_find_message(set, fd->type_name) : NULL;
            printf("%*s%s {\n", indent * 2, "", fd->name);
            if (!sub || pb_print_message(set, sub, f.data, f.len, indent + 1)) pb_print_raw(f.data, f.len, indent + 1);
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
