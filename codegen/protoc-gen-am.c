/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protoc-gen-am — a protoc plugin: typed atomicmatrix topics and services from .proto.
 *
 *   protoc --c_out=OUT --am_out=OUT x.proto      (protoc-c's plugin writes x.pb-c.[ch])
 *
 * For every file to generate it writes x.am.h and x.am.c beside protoc-c's output,
 * using protoc-c's C names (see name_* below), so the generated code calls protoc-c's
 * types and descriptors directly:
 *   - every message M: typed publisher and subscriber open (the topic records M's full
 *     name and schema fingerprint, so another type is refused with AM_ETYPE), publish
 *     (packed straight into an arena block), take (unpacked), free;
 *   - every service S: a handlers struct (one function pointer per rpc and a user
 *     context), server open (the service records S's full name and a fingerprint of
 *     its rpcs; the server records the file's descriptors, as a publisher does, so
 *     tools can list the rpcs and decode calls) and serve (take one request, dispatch
 *     on its method id, reply), client open and one blocking stub per rpc with a
 *     timeout. All rpcs of a service share one request/response channel; the method id
 *     is the rpc's index + 1.
 *
 * protoc talks to plugins through stdin/stdout: a CodeGeneratorRequest in, a
 * CodeGeneratorResponse out (unpacked and packed with protobuf-c, from
 * google/protobuf/compiler/plugin.proto). Anything the generator cannot do (streaming
 * rpcs, C names that would clash, within one file or across the files of one run) is
 * reported in the response's error, which makes protoc fail with that message rather
 * than emit broken C. Logs go to stderr only.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

typedef Google__Protobuf__FileDescriptorProto FileDesc;
typedef Google__Protobuf__DescriptorProto MsgDesc;
typedef Google__Protobuf__ServiceDescriptorProto SvcDesc;

/* ------------------------------------------------------------------ text buffers */

typedef struct buf { char *s; size_t len, cap; bool oom; } buf;

static void put(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->oom) { va_end(ap2); b->oom = true; return; }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s) { va_end(ap2); b->oom = true; return; }
        b->s = s;
        b->cap = cap;
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

/* ------------------------------------------------------------------ protoc-c's names
 * A full name is split on '.'; types CamelCase each piece and join with "__"
 * (my_pkg.foo_bar.Inner -> MyPkg__FooBar__Inner); functions lower each piece, an '_'
 * before an upper-case letter that follows a non-upper-case one (getURLNow ->
 * get_urlnow), joined with "__". The option (pb_c_file).c_package replaces the package. */

static void camel_piece(buf *b, const char *p, size_t n)
{
    bool up = true;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '_') { up = true; continue; }
        put(b, "%c", up ? toupper((unsigned char)p[i]) : p[i]);
        up = false;
    }
}

static void lower_piece(buf *b, const char *p, size_t n)
{
    bool was_upper = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (isupper(c)) {
            if (!was_upper) put(b, "_");
            put(b, "%c", tolower(c));
            was_upper = true;
        } else {
            put(b, "%c", c);
            was_upper = false;
        }
    }
}

/* The C name of a full proto name (no leading dot), `lower` or CamelCase. */
static char *c_name(const char *full, bool lower)
{
    buf b = { 0 };
    const char *p = full;
    for (bool first = true; *p; first = false) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!first) put(&b, "__");
        if (lower) lower_piece(&b, p, n);
        else camel_piece(&b, p, n);
        p += n + (dot ? 1 : 0);
    }
    if (!b.s) put(&b, "%s", "");
    return b.oom ? NULL : b.s;
}

/* The package for C names: (pb_c_file).c_package if set, else the proto package. The
 * option is an extension (field 1019 of FileOptions) that protobuf-c keeps among the
 * unknown fields: a ProtobufCFileOptions message whose field 6 is c_package. It is read
 * with a bounds-checked little wire-format walk (the request is untrusted input). */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

static char *c_package_option(const FileDesc *f)
{
    if (!f->options) return NULL;
    for (unsigned i = 0; i < f->options->base.n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &f->options->base.unknown_fields[i];
        if (u->tag != 1019 || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) continue;
        /* protobuf-c keeps a length-prefixed unknown field with its length prefix */
        const uint8_t *p = u->data, *end = u->data + u->len;
        uint64_t total;
        if (!read_varint(&p, end, &total) || total != (uint64_t)(end - p)) return NULL;
        while (p < end) {
            uint64_t key, len;
            if (!read_varint(&p, end, &key)) return NULL;
            if ((key & 7) == 0) { if (!read_varint(&p, end, &len)) return NULL; continue; }
            if ((key & 7) != 2 || !read_varint(&p, end, &len) || len > (uint64_t)(end - p)) return NULL;
            if ((key >> 3) == 6) {
                char *s = malloc(len + 1);
                if (!s) return NULL;
                memcpy(s, p, len);
                s[len] = 0;
                return s;
            }
            p += len;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ the generator */

/* The C symbols generated so far in this run, each with the file that generated it.
 * One table serves every file of the request: what one protoc run generates is meant
 * to be compiled and linked together, so a symbol from two files clashes just as one
 * from two definitions of a file does. */
typedef struct symbols {
    struct { char *sym; const char *file; } *v;   /* file: owned by the request */
    size_t n;
} symbols;

typedef struct gen {
    const FileDesc *file;
    const Google__Protobuf__Compiler__CodeGeneratorRequest *req;
    const char *cpkg;          /* package used for C names ("" for none)      */
    buf h, c;
    symbols *names;            /* generated symbols of the run, to refuse clashes */
    char err[512];
} gen;

static void fail(gen *g, const char *fmt, ...)
{
    if (g->err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
}

/* The request is untrusted: every name that ends up in C must be an identifier (and a
 * dotted name a run of them), every file name a relative path without "..", quotes or
 * control characters, or a hostile request could write C of its choosing, or files
 * outside the output directory. protoc itself never sends such names. */
static bool ident(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_') return false;
    }
    return true;
}

static bool dotted(const char *s, bool leading_dot)
{
    if (!s) return false;
    if (leading_dot && *s++ != '.') return false;
    char piece[256];
    while (*s) {
        size_t n = strcspn(s, ".");
        if (n == 0 || n >= sizeof piece) return false;
        memcpy(piece, s, n);
        piece[n] = 0;
        if (!ident(piece)) return false;
        s += n + (s[n] == '.');
        if (s[-1] == '.' && !*s) return false;
    }
    return true;
}

static bool safe_path(const char *s)
{
    if (!s || !*s || *s == '/' || strstr(s, "..")) return false;
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || *s == 0x7f) return false;
    }
    return true;
}

/* Remember a generated symbol; two proto names that map to one C name are an error,
 * whether the other one is in this file or in another file of the run (then named). */
static void claim(gen *g, const char *sym, const char *what)
{
    symbols *t = g->names;
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].sym, sym) == 0) {
            if (strcmp(t->v[i].file, g->file->name) == 0) {
                fail(g, "%s: %s gives the C name %s, which another definition already uses", g->file->name, what, sym);
            } else {
                fail(g, "%s: %s gives the C name %s, which a definition in %s already uses", g->file->name, what, sym,
                     t->v[i].file);
            }
            return;
        }
    }
    void *v = realloc(t->v, (t->n + 1) * sizeof *t->v);
    if (!v) { fail(g, "out of memory"); return; }
    t->v = v;
    if (!(t->v[t->n].sym = strdup(sym))) { fail(g, "out of memory"); return; }
    t->v[t->n++].file = g->file->name;
}

/* Full name (without leading dot) of a type inside this file's C package. */
static char *full_name(const gen *g, const char *scope, const char *name)
{
    size_t n = strlen(g->cpkg) + strlen(scope) + strlen(name) + 3;
    char *s = malloc(n);
    if (!s) return NULL;
    snprintf(s, n, "%s%s%s%s%s", g->cpkg, *g->cpkg ? "." : "", scope, *scope ? "." : "", name);
    return s;
}

/* A type reference (".pkg.Msg") as C names, with the c_package of this file when it is
 * one of this file's types. (Types of imported files keep their own package: protoc-c
 * does the same, reading each file's option; we only see ours.) */
static char *type_ref(const gen *g, const char *ref, bool lower)
{
    const char *full = ref[0] == '.' ? ref + 1 : ref;
    const char *pkg = g->file->package ? g->file->package : "";
    size_t pl = strlen(pkg);
    if (*g->cpkg && pl && strncmp(full, pkg, pl) == 0 && full[pl] == '.') {
        char *re = full_name(g, "", full + pl + 1);
        char *out = re ? c_name(re, lower) : NULL;
        free(re);
        return out;
    }
    if (*g->cpkg && !pl) {
        char *re = full_name(g, "", full);
        char *out = re ? c_name(re, lower) : NULL;
        free(re);
        return out;
    }
    return c_name(full, lower);
}

/* A port open that sets the port's type: l__am_<port>_open(a, <arg>, opts, out). The
 * sending port that describes the channel (a publisher, a server) also records the
 * file's schema (am_schema) with it: the first recorder of a channel wins, later ones
 * change nothing, and a failure is no reason to refuse the port (best effort). */
static void put_typed_open(buf *c, const char *l, const char *port, const char *arg, bool records_schema)
{
    put(c, "int %s__am_%s_open(am_arena *a, const char *%s, const am_%s_opts *opts, am_%s **out)\n{\n"
           "    am_%s_opts o = opts ? *opts : (am_%s_opts){ 0 };\n"
           "    o.type = %s__am_type();\n", l, port, arg, port, port, port, port, l);
    if (records_schema) {
        put(c, "    int rc = am_%s_open(a, %s, &o, out);\n"
               "    if (rc == 0) (void)am_%s_set_schema(*out, am_schema, sizeof am_schema);  /* best effort */\n"
               "    return rc;\n}\n\n", port, arg, port);
    } else {
        put(c, "    return am_%s_open(a, %s, &o, out);\n}\n\n", port, arg);
    }
}

static void gen_message(gen *g, const char *scope, const MsgDesc *m)
{
    if (!ident(m->name)) { fail(g, "%s: a message name that is not an identifier", g->file->name); return; }
    if (m->options && m->options->has_map_entry && m->options->map_entry) return;  /* map entries */
    char *full = full_name(g, scope, m->name);
    char *T = full ? c_name(full, false) : NULL, *l = full ? c_name(full, true) : NULL;
    if (!T || !l) { fail(g, "out of memory"); goto out; }
    const char *proto_full = full;
    char sym[1024];
    snprintf(sym, sizeof sym, "%s__am_publish", l);
    claim(g, sym, m->name);
    claim(g, T, m->name);                 /* two messages with one C type name */

    put(&g->h, "\n/* ---- %s (%s) */\n", T, proto_full);
    put(&g->h, "/* Topic type of %s: its full name and schema fingerprint. */\n", T);
    put(&g->h, "am_type %s__am_type(void);\n", l);
    put(&g->h, "/* Open a publisher / subscriber of %s on topic (opts may be NULL; its type is set). */\n", T);
    put(&g->h, "int  %s__am_pub_open(am_arena *a, const char *topic, const am_pub_opts *opts, am_pub **out);\n", l);
    put(&g->h, "int  %s__am_sub_open(am_arena *a, const char *topic, const am_sub_opts *opts, am_sub **out);\n", l);
    put(&g->h, "/* Publish msg, packed straight into an arena block. */\n");
    put(&g->h, "int  %s__am_publish(am_pub *p, const %s *msg);\n", l, T);
    put(&g->h, "/* Take the next message (unpacked with alloc, NULL = malloc); free it with %s__am_free. */\n", l);
    put(&g->h, "int  %s__am_take(am_sub *s, ProtobufCAllocator *alloc, %s **out, am_sample *info, int64_t timeout_ns);\n",
        l, T);
    put(&g->h, "void %s__am_free(%s *msg, ProtobufCAllocator *alloc);\n", l, T);

    put(&g->c, "\n/* ---- %s */\n", T);
    put(&g->c, "am_type %s__am_type(void)\n{\n    return am_pb_type(&%s__descriptor);\n}\n\n", l, l);
    put_typed_open(&g->c, l, "pub", "topic", true);
    put_typed_open(&g->c, l, "sub", "name", false);
    put(&g->c, "int %s__am_publish(am_pub *p, const %s *msg)\n{\n"
               "    return msg ? am_pub_publish_pb(p, &msg->base) : AM_EINVAL;\n}\n\n", l, T);
    put(&g->c, "int %s__am_take(am_sub *s, ProtobufCAllocator *alloc, %s **out, am_sample *info, int64_t timeout_ns)\n{\n"
               "    return am_sub_take_pb(s, &%s__descriptor, alloc, (ProtobufCMessage **)out, info, timeout_ns);\n}\n\n",
        l, T, l);
    put(&g->c, "void %s__am_free(%s *msg, ProtobufCAllocator *alloc)\n{\n"
               "    am_pb_free(msg ? &msg->base : NULL, alloc);\n}\n", l, T);

    /* nested messages, in their own scope */
    char *inner = NULL;
    size_t n = strlen(scope) + strlen(m->name) + 2;
    inner = malloc(n);
    if (!inner) { fail(g, "out of memory"); goto out; }
    snprintf(inner, n, "%s%s%s", scope, *scope ? "." : "", m->name);
    for (size_t i = 0; i < m->n_nested_type; i++) gen_message(g, inner, m->nested_type[i]);
    free(inner);
out:
    free(full);
    free(T);
    free(l);
}

static void gen_service(gen *g, const SvcDesc *s)
{
    if (!ident(s->name)) { fail(g, "%s: a service name that is not an identifier", g->file->name); return; }
    char *full = full_name(g, "", s->name);
    char *T = NULL, *l = NULL;
    /* The type recorded with the service is its proto name (not the C package's). */
    const char *pkg = g->file->package ? g->file->package : "";
    size_t pn = strlen(pkg) + strlen(s->name) + 2;
    char *proto_full = malloc(pn);
    if (proto_full) snprintf(proto_full, pn, "%s%s%s", pkg, *pkg ? "." : "", s->name);
    T = full ? c_name(full, false) : NULL;
    l = full ? c_name(full, true) : NULL;
    if (!T || !l || !proto_full) { fail(g, "out of memory"); goto out; }
    char sym[1024];
    snprintf(sym, sizeof sym, "%s__am_serve", l);
    claim(g, sym, s->name);
    claim(g, T, s->name);
    for (size_t i = 0; i < s->n_method; i++) {
        const Google__Protobuf__MethodDescriptorProto *md = s->method[i];
        if (!ident(md->name) || !dotted(md->input_type, true) || !dotted(md->output_type, true)) {
            fail(g, "%s: rpc of %s without a proper name or types", g->file->name, s->name);
            goto out;
        }
        if ((md->has_client_streaming && md->client_streaming) || (md->has_server_streaming && md->server_streaming)) {
            fail(g, "%s: rpc %s.%s streams; protoc-gen-am supports unary rpcs only", g->file->name, s->name, md->name);
            goto out;
        }
        char *ml = c_name(md->name, true);
        if (!ml) { fail(g, "out of memory"); goto out; }
        snprintf(sym, sizeof sym, "%s__am_%s", l, ml);
        claim(g, sym, md->name);
        free(ml);
    }

    put(&g->h, "\n/* ---- service %s (%s): %zu rpc(s), method ids 1..%zu */\n", T, proto_full, s->n_method, s->n_method);
    put(&g->h, "/* One function per rpc: fill *reply (an initialised message whose memory stays the\n"
               " * handler's until its next call) and return 0, or return a non-zero status to fail\n"
               " * the call (the caller gets AM_EREMOTE, and am_client_status() gives the status). */\n");
    put(&g->h, "typedef struct %s_AmHandlers {\n", T);
    for (size_t i = 0; i < s->n_method; i++) {
        const Google__Protobuf__MethodDescriptorProto *md = s->method[i];
        char *in = type_ref(g, md->input_type, false), *outT = type_ref(g, md->output_type, false);
        char *ml = c_name(md->name, true);
        put(&g->h, "    int (*%s)(void *ctx, const %s *req, %s *reply);\n", ml ? ml : "?", in ? in : "?", outT ? outT : "?");
        free(in); free(outT); free(ml);
    }
    put(&g->h, "} %s_AmHandlers;\n", T);
    put(&g->h, "/* The service type: its full name and a fingerprint of its rpcs and their types. */\n");
    put(&g->h, "am_type %s__am_type(void);\n", l);
    put(&g->h, "/* A server with the service's type; it records the file's descriptors with the service\n"
               " * once, so tools can list its rpcs and decode its requests and replies by method. */\n");
    put(&g->h, "int %s__am_server_open(am_arena *a, const char *name, const am_server_opts *opts, am_server **out);\n", l);
    put(&g->h, "/* Take one request (waiting up to timeout_ns), run its handler, send its reply.\n"
               " * 0, AM_ETIMEDOUT, AM_EDECODE (a request that does not decode: dropped), AM_E*. */\n");
    put(&g->h, "int %s__am_serve(am_server *s, const %s_AmHandlers *h, void *ctx, int64_t timeout_ns);\n", l, T);
    put(&g->h, "int %s__am_client_open(am_arena *a, const char *name, const am_client_opts *opts, am_client **out);\n", l);

    put(&g->c, "\n/* ---- service %s */\n", T);
    put(&g->c, "am_type %s__am_type(void)\n{\n    static const ProtobufCMessageDescriptor *const types[] = {\n", l);
    for (size_t i = 0; i < s->n_method; i++) {
        char *in = type_ref(g, s->method[i]->input_type, true), *outl = type_ref(g, s->method[i]->output_type, true);
        put(&g->c, "        &%s__descriptor, &%s__descriptor,\n", in ? in : "?", outl ? outl : "?");
        free(in); free(outl);
    }
    put(&g->c, "        NULL\n    };\n    uint64_t h = 0xcbf29ce484222325ull;  /* FNV-1a over rpc names and types */\n");
    put(&g->c, "    static const char *const rpcs[] = {");
    for (size_t i = 0; i < s->n_method; i++) put(&g->c, " \"%s\",", s->method[i]->name);
    put(&g->c, " NULL };\n");
    put(&g->c, "    for (unsigned i = 0; rpcs[i] && types[2 * i]; i++) {\n"
               "        for (const char *p = rpcs[i]; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;\n"
               "        h = (h ^ am_pb_type(types[2 * i]).fingerprint) * 0x100000001b3ull;\n"
               "        h = (h ^ am_pb_type(types[2 * i + 1]).fingerprint) * 0x100000001b3ull;\n"
               "    }\n"
               "    return (am_type){ \"%s\", h ? h : 1 };\n}\n\n", proto_full);
    put_typed_open(&g->c, l, "server", "name", true);
    put_typed_open(&g->c, l, "client", "name", false);
    put(&g->c, "int %s__am_serve(am_server *s, const %s_AmHandlers *h, void *ctx, int64_t timeout_ns)\n{\n"
               "    am_request r;\n"
               "    int rc = am_server_take(s, &r, timeout_ns);\n"
               "    if (rc) return rc;\n"
               "    ProtobufCMessage *in = NULL;\n"
               "    switch (r.method) {\n", l, T);
    for (size_t i = 0; i < s->n_method; i++) {
        const Google__Protobuf__MethodDescriptorProto *md = s->method[i];
        char *inl = type_ref(g, md->input_type, true), *inT = type_ref(g, md->input_type, false);
        char *outl = type_ref(g, md->output_type, true), *outT = type_ref(g, md->output_type, false);
        char *ml = c_name(md->name, true);
        put(&g->c, "    case %zu: {\n"
                   "        rc = am_pb_decode(&%s__descriptor, NULL, r.data, r.len, &in);\n"
                   "        if (rc || !h->%s) break;\n"
                   "        %s reply;\n"
                   "        %s__init(&reply);\n"
                   "        int status = h->%s(ctx, (const %s *)in, &reply);\n"
                   "        am_pb_free(in, NULL);\n"
                   "        if (status != 0) return am_server_fail(s, &r, status);  /* the caller gets AM_EREMOTE */\n"
                   "        return am_server_reply_pb(s, &r, &reply.base);\n"
                   "    }\n", i + 1, inl, ml, outT, outl, ml, inT);
        free(inl); free(inT); free(outl); free(outT); free(ml);
    }
    put(&g->c, "    default:\n        rc = AM_EDECODE;          /* no such method */\n        break;\n    }\n"
               "    am_pb_free(in, NULL);\n"
               "    (void)am_server_drop(s, &r);\n"
               "    return rc;\n}\n");
    for (size_t i = 0; i < s->n_method; i++) {
        const Google__Protobuf__MethodDescriptorProto *md = s->method[i];
        char *inT = type_ref(g, md->input_type, false), *outl = type_ref(g, md->output_type, true);
        char *outT = type_ref(g, md->output_type, false), *ml = c_name(md->name, true);
        put(&g->h, "/* rpc %s: call and wait up to timeout_ns; free *reply with %s__free_unpacked(*reply, alloc).\n"
               " * AM_EREMOTE if the handler failed it (am_client_status gives its status). */\n",
            md->name, outl ? outl : "?");
        put(&g->h, "int %s__am_%s(am_client *c, const %s *req, %s **reply, ProtobufCAllocator *alloc, int64_t timeout_ns);\n",
            l, ml, inT, outT);
        put(&g->c, "\nint %s__am_%s(am_client *c, const %s *req, %s **reply, ProtobufCAllocator *alloc, int64_t timeout_ns)\n{\n"
                   "    if (!req || !reply) return AM_EINVAL;\n"
                   "    return am_client_call_pb(c, %zu, &req->base, &%s__descriptor, alloc, (ProtobufCMessage **)reply,\n"
                   "                             timeout_ns);\n}\n", l, ml, inT, outT, i + 1, outl);
        free(inT); free(outl); free(outT); free(ml);
    }
out:
    free(proto_full);
    free(full);
    free(T);
    free(l);
}

/* Is file `name` this file or one it imports, directly or not? */
static bool needed(const gen *g, const FileDesc *f, const char *name, unsigned depth)
{
    if (strcmp(f->name, name) == 0) return true;
    if (depth > 64) return false;
    for (size_t i = 0; i < f->n_dependency; i++) {
        for (size_t k = 0; k < g->req->n_proto_file; k++) {
            const FileDesc *d = g->req->proto_file[k];
            if (d->name && strcmp(d->name, f->dependency[i]) == 0 && needed(g, d, name, depth + 1)) return true;
        }
    }
    return false;
}

/* The schema the typed publishers record with their topics, and the typed servers with
 * their services: a FileDescriptorSet of this file and everything it imports (in
 * protoc's order: imports first), without source info (comments and positions), as a
 * byte array in the generated .c. A service's type name is its full proto name, so a
 * tool finds its ServiceDescriptorProto in the set by that name, and a request's
 * method id k is its k-th rpc (from 1), whose input and output types the set holds. */
static void gen_schema(gen *g)
{
    Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
    FileDesc **files = calloc(g->req->n_proto_file + 1, sizeof *files);
    Google__Protobuf__SourceCodeInfo **saved = calloc(g->req->n_proto_file + 1, sizeof *saved);
    if (!files || !saved) { free(files); free(saved); fail(g, "out of memory"); return; }
    for (size_t k = 0; k < g->req->n_proto_file; k++) {
        FileDesc *d = g->req->proto_file[k];
        if (!d->name || !needed(g, g->file, d->name, 0)) continue;
        saved[set.n_file] = d->source_code_info;
        d->source_code_info = NULL;
        files[set.n_file++] = d;
    }
    set.file = files;
    size_t n = google__protobuf__file_descriptor_set__get_packed_size(&set);
    uint8_t *bytes = malloc(n ? n : 1);
    if (bytes) google__protobuf__file_descriptor_set__pack(&set, bytes);
    for (size_t i = 0; i < set.n_file; i++) files[i]->source_code_info = saved[i];
    free(files);
    free(saved);
    if (!bytes) { fail(g, "out of memory"); return; }
    put(&g->c, "\n/* The schema recorded with every topic a typed publisher opens and every service a\n"
               " * typed server opens: a serialized google.protobuf.FileDescriptorSet of %s\n"
               " * and its imports (%zu bytes). */\n"
               "static const uint8_t am_schema[] = {", g->file->name, n);
    for (size_t i = 0; i < n; i++) put(&g->c, "%s0x%02x,", i % 16 ? " " : "\n    ", bytes[i]);
    put(&g->c, "\n};\n");
    free(bytes);
}

/* x.proto -> x (the names of the outputs and of protoc-c's header). */
static char *base_name(const char *proto)
{
    size_t n = strlen(proto);
    if (n > 6 && strcmp(proto + n - 6, ".proto") == 0) n -= 6;
    char *s = malloc(n + 1);
    if (s) { memcpy(s, proto, n); s[n] = 0; }
    return s;
}

/* The include guard of x.am.h, as protoc-c makes its own: every non-alphanumeric
 * character of the file name as _xx (its hex code). */
static void put_guard(buf *b, const char *name)
{
    put(b, "PROTOBUF_AM_");
    for (const char *p = name; *p; p++) {
        if (isalnum((unsigned char)*p)) put(b, "%c", *p);
        else put(b, "_%02x", (unsigned char)*p);
    }
    put(b, "__INCLUDED");
}

static int gen_file(gen *g, Google__Protobuf__Compiler__CodeGeneratorResponse__File **hf,
                    Google__Protobuf__Compiler__CodeGeneratorResponse__File **cf)
{
    const FileDesc *f = g->file;
    char *opt = c_package_option(f);
    g->cpkg = opt ? opt : f->package ? f->package : "";
    if (!safe_path(f->name) || (*g->cpkg && !dotted(g->cpkg, false))) {
        fail(g, "%s: a file name or package protoc-gen-am will not write C for", safe_path(f->name) ? f->name : "?");
        free(opt);
        return -1;
    }
    char *base = base_name(f->name);
    if (!base) { fail(g, "out of memory"); free(opt); return -1; }
    buf guard = { 0 };
    put_guard(&guard, f->name);
    put(&g->h, "/*\n * %s.am.h — typed atomicmatrix topics and services for %s.\n"
               " * Generated by protoc-gen-am; do not edit.\n *\n"
               " * Every message M gets M__am_pub_open / M__am_sub_open (the topic records M's type\n"
               " * and schema fingerprint; another type is refused with AM_ETYPE; a publisher also\n"
               " * records the file's descriptors, so tools can decode samples), M__am_publish\n"
               " * (packed straight into an arena block), M__am_take (unpacked with your allocator)\n"
               " * and M__am_free. Every service S gets S_AmHandlers (one function per rpc),\n"
               " * S__am_server_open (the server records the file's descriptors with the service,\n"
               " * so tools can list its rpcs and decode calls), S__am_serve (one request: take,\n"
               " * dispatch, reply), S__am_client_open and one blocking call per rpc, S__am_<rpc>.\n"
               " * All calls return 0 or a negative AM_E* code (atomicmatrix/error.h).\n */\n", base, f->name);
    put(&g->h, "#ifndef %s\n#define %s\n\n#include <atomicmatrix/protobuf.h>\n#include \"%s.pb-c.h\"\n\n", guard.s, guard.s, base);
    put(&g->h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
    put(&g->c, "/* %s.am.c — generated by protoc-gen-am from %s; do not edit. */\n#include \"%s.am.h\"\n", base, f->name, base);
    if (f->n_message_type || f->n_service) gen_schema(g);
    for (size_t i = 0; i < f->n_message_type; i++) gen_message(g, "", f->message_type[i]);
    for (size_t i = 0; i < f->n_service; i++) gen_service(g, f->service[i]);
    put(&g->h, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
    free(guard.s);
    if (g->h.oom || g->c.oom) fail(g, "out of memory");
    int rc = g->err[0] ? -1 : 0;
    if (rc == 0) {
        static Google__Protobuf__Compiler__CodeGeneratorResponse__File init =
            GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FILE__INIT;
        *hf = malloc(sizeof **hf);
        *cf = malloc(sizeof **cf);
        size_t n = strlen(base) + 6;
        char *hn = malloc(n), *cn = malloc(n);
        if (!*hf || !*cf || !hn || !cn) {
            free(*hf);
            free(*cf);
            free(hn);
            free(cn);
            *hf = *cf = NULL;
            fail(g, "out of memory");
            rc = -1;
        }
        else {
            snprintf(hn, n, "%s.am.h", base);
            snprintf(cn, n, "%s.am.c", base);
            **hf = init;
            (*hf)->name = hn;
            (*hf)->content = g->h.s;
            **cf = init;
            (*cf)->name = cn;
            (*cf)->content = g->c.s;
        }
    }
    free(base);
    free(opt);
    return rc;
}

#ifndef AM_PLUGIN_NO_MAIN
static uint8_t *read_all(FILE *in, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, in);
        n += got;
        if (got == 0) break;
        if (n == cap) {
            uint8_t *nb = cap < ((size_t)1 << 30) ? realloc(b, cap * 2) : NULL;
            if (!nb) { free(b); return NULL; }
            b = nb;
            cap *= 2;
        }
    }
    *len = n;
    return b;
}
#endif

/* One serialized CodeGeneratorRequest in, its packed CodeGeneratorResponse out (*out,
 * *out_len bytes, malloc'd): 0, or -1 with a message on stderr if in is not a request
 * or memory runs out. main() is this on stdin and stdout; fuzz/fuzz_plugin.c calls it
 * on its input (built with AM_PLUGIN_NO_MAIN). */
int am_plugin_respond(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
    Google__Protobuf__Compiler__CodeGeneratorRequest *req =
        google__protobuf__compiler__code_generator_request__unpack(NULL, len, in);
    if (!req) { fprintf(stderr, "protoc-gen-am: the input is not a CodeGeneratorRequest\n"); return -1; }

    Google__Protobuf__Compiler__CodeGeneratorResponse resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    resp.has_supported_features = 1;
    resp.supported_features = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FEATURE__FEATURE_PROTO3_OPTIONAL;
    Google__Protobuf__Compiler__CodeGeneratorResponse__File **files = calloc(2 * req->n_file_to_generate + 1, sizeof *files);
    static char error[600];
    symbols names = { 0 };
    for (size_t i = 0; files && i < req->n_file_to_generate && !resp.error; i++) {
        const FileDesc *f = NULL;
        for (size_t k = 0; k < req->n_proto_file; k++) {
            if (req->proto_file[k]->name && strcmp(req->proto_file[k]->name, req->file_to_generate[i]) == 0) {
                f = req->proto_file[k];
            }
        }
        if (!f) {
            snprintf(error, sizeof error, "%s: not among the request's files", req->file_to_generate[i]);
            resp.error = error;
            break;
        }
        gen g = { .file = f, .req = req, .names = &names };
        if (gen_file(&g, &files[resp.n_file], &files[resp.n_file + 1]) == 0) {
            resp.n_file += 2;                  /* the files own the text now */
        } else {
            snprintf(error, sizeof error, "%s", g.err);
            resp.error = error;
            free(g.h.s);
            free(g.c.s);
        }
    }
    for (size_t k = 0; k < names.n; k++) free(names.v[k].sym);
    free(names.v);
    if (!files) resp.error = "protoc-gen-am: out of memory";
    resp.file = files;
    if (resp.error) resp.n_file = 0;
    size_t n = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
    *out = malloc(n ? n : 1);
    *out_len = n;
    int rc = 0;
    if (*out) google__protobuf__compiler__code_generator_response__pack(&resp, *out);
    else { fprintf(stderr, "protoc-gen-am: out of memory\n"); rc = -1; }
    for (size_t i = 0; files && files[i]; i++) {
        free(files[i]->name);
        free(files[i]->content);
        free(files[i]);
    }
    free(files);
    google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    return rc;
}

#ifndef AM_PLUGIN_NO_MAIN
int main(void)
{
    size_t len;
    uint8_t *in = read_all(stdin, &len);
    if (!in) { fprintf(stderr, "protoc-gen-am: cannot read the request\n"); return 1; }
    uint8_t *out;
    size_t n;
    int rc = am_plugin_respond(in, len, &out, &n);
    free(in);
    if (rc) return 1;
    rc = fwrite(out, 1, n, stdout) == n ? 0 : 1;
    free(out);
    return rc;
}
#endif
