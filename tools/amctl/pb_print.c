/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_print.c — protobuf wire format printed by field number or, with a recorded schema,
 * by field name (pb_print.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "json.h"
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

typedef Google__Protobuf__EnumDescriptorProto EnumDesc;

/* The name of value v in enum e, or NULL. */
static const char *value_name(const EnumDesc *e, int32_t v)
{
    for (size_t j = 0; j < e->n_value; j++) {
        if (e->value[j]->has_number && e->value[j]->number == v) return e->value[j]->name;
    }
    return NULL;
}

/* The name of value v of the enum called type: declared at a file's top level, or in a
 * message ("pkg.Outer.Kind": enum Kind of message pkg.Outer). */
static const char *enum_value(const FileSet *set, const char *type, int32_t v)
{
    if (!type) return NULL;
    const char *full = type[0] == '.' ? type + 1 : type;
    for (size_t i = 0; i < set->n_file; i++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[i];
        for (size_t k = 0; k < f->n_enum_type; k++) {
            const char *n = f->enum_type[k]->name;
            if (n && in_package(full, f->package, n)) return value_name(f->enum_type[k], v);
        }
    }
    const char *dot = strrchr(full, '.');
    char outer[512];
    if (!dot || (size_t)(dot - full) >= sizeof outer) return NULL;
    snprintf(outer, sizeof outer, "%.*s", (int)(dot - full), full);
    const MsgDesc *m = pb_find_message(set, outer);
    for (size_t k = 0; m && k < m->n_enum_type; k++) {
        if (m->enum_type[k]->name && strcmp(m->enum_type[k]->name, dot + 1) == 0) return value_name(m->enum_type[k], v);
    }
    return NULL;
}


/* ------------------------------------------------------------------ one walker, two printers
 *
 * walk() goes through a message as its schema says: each field of the descriptor in
 * turn, with all its values (a repeated field's, packed or not, in wire order; only the
 * last of a singular field's, as a parser keeps it), then the fields the schema does
 * not know, in wire order. A message is checked whole before anything of it is
 * printed, so a printer never has to take back half an object: a nested message that
 * does not parse as its type is handed to the printer as bytes (`raw`) instead. The
 * printers (text like `protoc --decode`, JSON like the proto3 JSON mapping) only say
 * how a value looks. */

#define PB_MAX_DEPTH 32

typedef struct printer printer;
struct printer {
    /* A field with values begins / ends (repeated: its values are a list). */
    void (*open_field)(printer *pr, const FieldDesc *fd, bool repeated);
    void (*close_field)(printer *pr, const FieldDesc *fd, bool repeated);
    /* A scalar value (a varint or fixed value; an enum; a string or bytes in data). */
    void (*value)(printer *pr, const FileSet *set, const FieldDesc *fd, const field *f);
    /* A nested message: open, its fields (walked), close. */
    void (*open_message)(printer *pr, const FieldDesc *fd);
    void (*close_message)(printer *pr, const FieldDesc *fd);
    /* A nested message that does not parse as its type (or whose type is unknown). */
    void (*raw)(printer *pr, const FieldDesc *fd, const uint8_t *p, size_t n);
    /* A field the schema does not have. */
    void (*unknown)(printer *pr, const field *f);
    unsigned depth;                       /* of the message being walked, 0 at the top */
    bool first[PB_MAX_DEPTH + 2];         /* JSON: no comma before the next member      */
    bool first_value;                     /* JSON: no comma before the next list value  */
    bool unknown_open;                    /* JSON: the "_unknown" list of the message
                                             being walked has begun (a message's unknown
                                             fields come after its nested ones)         */
};

static bool is_type(const FieldDesc *fd, Google__Protobuf__FieldDescriptorProto__Type t)
{
    return fd->has_type ? fd->type == t : false;
}

static bool fixed64_type(const FieldDesc *fd)
{
    return is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE) ||
           is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64) ||
           is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64);
}

static bool fixed32_type(const FieldDesc *fd)
{
    return is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT) ||
           is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32) ||
           is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32);
}

/* Length-delimited on the wire by its type: a string, bytes or a message. */
static bool delimited_type(const FieldDesc *fd)
{
    return is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING) ||
           is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES) ||
           is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE);
}

/* The next element of a packed run of fd's scalars; false at the end or on a bad one. */
static bool packed_next(rd *r, const FieldDesc *fd, field *e)
{
    if (r->p >= r->end) return false;
    e->wt = 0;
    if (fixed64_type(fd)) {
        if (r->end - r->p < 8) return false;
        memcpy(&e->v, r->p, 8);
        r->p += 8;
        e->wt = 1;
        return true;
    }
    if (fixed32_type(fd)) {
        uint32_t u;
        if (r->end - r->p < 4) return false;
        memcpy(&u, r->p, 4);
        e->v = u;
        r->p += 4;
        e->wt = 5;
        return true;
    }
    return varint(r, &e->v);
}

/* A packed run that decodes to whole elements? */
static bool packed_ok(const FieldDesc *fd, const uint8_t *p, size_t n)
{
    rd r = { p, p + n };
    field e;
    while (r.p < r.end) {
        if (!packed_next(&r, fd, &e)) return false;   /* a cut element (a varint may end at the end) */
    }
    return true;
}

/* The field of m numbered num that counts (the first of any duplicates), or NULL. */
static const FieldDesc *field_of(const MsgDesc *m, uint32_t num)
{
    for (size_t i = 0; i < m->n_field; i++) {
        const FieldDesc *fd = m->field[i];
        if (fd->has_number && (uint32_t)fd->number == num && fd->name) return fd;
    }
    return NULL;
}

/* Does p[0..n) parse as m, as far as walk() looks at this level? */
static bool message_ok(const MsgDesc *m, const uint8_t *p, size_t n)
{
    rd r = { p, p + n };
    field f;
    while (r.p < r.end) {
        if (next_field(&r, &f)) return false;
        const FieldDesc *fd = field_of(m, f.num);
        if (fd && f.wt == 2 && !delimited_type(fd) && !packed_ok(fd, f.data, f.len)) return false;
    }
    return true;
}

bool pb_message_parses(const MsgDesc *m, const uint8_t *p, size_t n)
{
    return message_ok(m, p, n);
}

static int walk(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n, printer *pr);

/* One value of fd as found on the wire (a packed run: its elements, or with only_last
 * just the last). */
static void emit(const FileSet *set, const FieldDesc *fd, const field *f, bool only_last, printer *pr)
{
    if (f->wt != 2 || is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING) ||
        is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES)) {
        pr->value(pr, set, fd, f);
    } else if (is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE)) {
        const MsgDesc *sub = fd->type_name ? pb_find_message(set, fd->type_name) : NULL;
        if (sub && pr->depth < PB_MAX_DEPTH && message_ok(sub, f->data, f->len)) {
            pr->open_message(pr, fd);
            pr->depth++;
            (void)walk(set, sub, f->data, f->len, pr);
            pr->depth--;
            pr->close_message(pr, fd);
        } else {
            pr->raw(pr, fd, f->data, f->len);
        }
    } else {                                     /* packed scalars (checked whole) */
        rd r = { f->data, f->data + f->len };
        field e = { .num = f->num }, last = e;
        bool any = false;
        while (packed_next(&r, fd, &e)) {
            if (!only_last) pr->value(pr, set, fd, &e);
            last = e;
            any = true;
        }
        if (only_last && any) pr->value(pr, set, fd, &last);
    }
}

/* An empty packed run of a singular field has no value to show. */
static bool has_value(const FieldDesc *fd, const field *f)
{
    return f->wt != 2 || delimited_type(fd) || f->len > 0;
}

static int walk(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n, printer *pr)
{
    if (!message_ok(m, p, n)) return -1;
    for (size_t i = 0; i < m->n_field; i++) {
        const FieldDesc *fd = m->field[i];
        if (!fd->name || !fd->has_number || field_of(m, (uint32_t)fd->number) != fd) continue;
        bool repeated = fd->has_label && fd->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
        rd r = { p, p + n };
        field f, last = { 0 };
        bool open = false;
        while (r.p < r.end && next_field(&r, &f) == 0) {
            if (f.num != (uint32_t)fd->number) continue;
            if (!repeated) {
                if (has_value(fd, &f)) last = f;
                continue;
            }
            if (!open) pr->open_field(pr, fd, true);
            open = true;
            emit(set, fd, &f, false, pr);
        }
        if (!repeated && last.num) {
            pr->open_field(pr, fd, false);
            emit(set, fd, &last, true, pr);
            open = true;
        }
        if (open) pr->close_field(pr, fd, repeated);
    }
    rd r = { p, p + n };
    field f;
    while (r.p < r.end && next_field(&r, &f) == 0) {
        if (!field_of(m, f.num)) pr->unknown(pr, &f);
    }
    return 0;
}

/* ------------------------------------------------------------------ the text printer */

/* Text names each value, so a field's beginning and end print nothing. */
static void text_field(printer *pr, const FieldDesc *fd, bool repeated) {}

static void text_scalar(const FileSet *set, const FieldDesc *fd, const field *f)
{
    if (f->wt == 2) { put_string(f->data, f->len); return; }
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

static void text_value(printer *pr, const FileSet *set, const FieldDesc *fd, const field *f)
{
    printf("%*s%s: ", pr->depth * 2, "", fd->name);
    text_scalar(set, fd, f);
    putchar('\n');
}

static void text_open_message(printer *pr, const FieldDesc *fd) { printf("%*s%s {\n", pr->depth * 2, "", fd->name); }
static void text_close_message(printer *pr, const FieldDesc *fd) { printf("%*s}\n", pr->depth * 2, ""); }

static void text_raw(printer *pr, const FieldDesc *fd, const uint8_t *p, size_t n)
{
    printf("%*s%s {\n", pr->depth * 2, "", fd->name);
    pb_print_raw(p, n, pr->depth + 1);
    printf("%*s}\n", pr->depth * 2, "");
}

static void text_unknown(printer *pr, const field *f)
{
    printf("%*s%u: ", pr->depth * 2, "", f->num);
    if (f->wt == 2) put_string(f->data, f->len);
    else printf("%llu", (unsigned long long)f->v);
    putchar('\n');
}

int pb_print_message(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n, unsigned indent)
{
    printer pr = { text_field, text_field, text_value, text_open_message, text_close_message, text_raw,
                   text_unknown, .depth = indent };
    return indent > PB_MAX_DEPTH ? -1 : walk(set, m, p, n, &pr);
}

/* ------------------------------------------------------------------ the JSON printer
 * The proto3 JSON mapping, with the field names of the .proto (as protoc's
 * preserving_proto_field_name option prints them): 64-bit integers as strings, bytes
 * as base64, enums by name (a number the enum does not have: the number), floats
 * that are not finite as "NaN", "Infinity", "-Infinity". Unlike the mapping, fields
 * absent on the wire are left out (not printed with default values), and fields the
 * schema does not know are kept in "_unknown": [{"field": N, "wire_type": W, "value": V}]
 * (V a number, or base64 for length-delimited ones). */

static void json_member(printer *pr)
{
    if (!pr->first[pr->depth]) putchar(',');
    pr->first[pr->depth] = false;
}

static void json_open_field(printer *pr, const FieldDesc *fd, bool repeated)
{
    json_member(pr);
    json_str(stdout, fd->name);
    printf(repeated ? ":[" : ":");
    pr->first_value = true;
}

static void json_close_field(printer *pr, const FieldDesc *fd, bool repeated)
{
    if (repeated) putchar(']');
}

static void json_next_value(printer *pr)
{
    if (!pr->first_value) putchar(',');
    pr->first_value = false;
}

static void json_float(double d)
{
    if (d != d) printf("\"NaN\"");
    else if (d > 1.7976931348623157e308) printf("\"Infinity\"");
    else if (d < -1.7976931348623157e308) printf("\"-Infinity\"");
    else printf("%.17g", d);
}

static void json_value(printer *pr, const FileSet *set, const FieldDesc *fd, const field *f)
{
    json_next_value(pr);
    if (f->wt == 2) {
        if (is_type(fd, GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING)) json_string(stdout, (const char *)f->data, f->len);
        else json_base64(stdout, f->data, f->len);
        return;
    }
    switch (fd->type) {
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE: { double d; memcpy(&d, &f->v, 8); json_float(d); break; }
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT: { uint32_t u = (uint32_t)f->v; float x; memcpy(&x, &u, 4); json_float(x); break; }
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32: printf("%d", (int32_t)(uint32_t)f->v); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32: printf("%d", (int32_t)(uint32_t)f->v); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32: printf("%u", (uint32_t)f->v); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32:
        printf("%d", (int32_t)(uint32_t)(((uint32_t)f->v >> 1) ^ (~((uint32_t)f->v & 1) + 1)));
        break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64: printf("\"%lld\"", (long long)f->v); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64:
        printf("\"%lld\"", (long long)((f->v >> 1) ^ (~(f->v & 1) + 1)));
        break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT64:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64: printf("\"%llu\"", (unsigned long long)f->v); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL: printf("%s", f->v ? "true" : "false"); break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM: {
        const char *name = enum_value(set, fd->type_name, (int32_t)f->v);
        if (name) json_str(stdout, name);
        else printf("%d", (int32_t)f->v);
        break;
    }
    default: printf("%llu", (unsigned long long)f->v); break;   /* a wire type its type does not have */
    }
}

static void json_open_message(printer *pr, const FieldDesc *fd)
{
    json_next_value(pr);
    putchar('{');
    pr->first[pr->depth + 1] = true;
    pr->unknown_open = false;
}

static void json_close_unknown(printer *pr)
{
    if (pr->unknown_open) putchar(']');
    pr->unknown_open = false;
}

static void json_close_message(printer *pr, const FieldDesc *fd)
{
    json_close_unknown(pr);
    putchar('}');
    pr->first_value = false;                 /* the nested walk changed it */
}

static void json_raw(printer *pr, const FieldDesc *fd, const uint8_t *p, size_t n)
{
    json_next_value(pr);
    json_base64(stdout, p, n);
}

static void json_unknown(printer *pr, const field *f)
{
    if (!pr->unknown_open) {
        json_member(pr);
        printf("\"_unknown\":[");
    } else {
        putchar(',');
    }
    pr->unknown_open = true;
    printf("{\"field\":%u,\"wire_type\":%u,\"value\":", f->num, f->wt);
    if (f->wt == 2) json_base64(stdout, f->data, f->len);
    else printf("%llu", (unsigned long long)f->v);
    putchar('}');
}

int pb_print_json(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n)
{
    printer pr = { json_open_field, json_close_field, json_value, json_open_message, json_close_message, json_raw,
                   json_unknown, .depth = 0 };
    if (!message_ok(m, p, n)) return -1;
    pr.first[0] = true;
    putchar('{');
    (void)walk(set, m, p, n, &pr);
    json_close_unknown(&pr);
    putchar('}');
    return 0;
}
