/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_runtime.c — protobuf-c messages over topics and services (atomicmatrix/protobuf.h).
 *
 * Sending packs into the loaned block itself: one pass to size, one to write, no other
 * copy. Receiving copies the payload out of the arena before unpacking: protobuf-c
 * scans a buffer twice (counting repeated fields, then filling them), and a peer
 * scribbling on shared memory between the passes must not make it overrun its arrays.
 */
#include <stdlib.h>
#include <string.h>
#include "atomicmatrix/protobuf.h"

/* ------------------------------------------------------------------ fingerprints */

typedef struct fp { uint64_t h; const ProtobufCMessageDescriptor *path[16]; unsigned depth; } fp;

static void mix(fp *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) f->h = (f->h ^ b[i]) * 0x100000001b3ull;
}

static void mix_str(fp *f, const char *s)
{
    mix(f, s ? s : "", s ? strlen(s) + 1 : 1);
}

static void mix_u32(fp *f, uint32_t v)
{
    mix(f, &v, sizeof v);
}

static void mix_message(fp *f, const ProtobufCMessageDescriptor *d)
{
    mix_str(f, d->name);
    /* A message already being hashed (recursive types), or too deep: its name only. */
    for (unsigned i = 0; i < f->depth; i++) {
        if (f->path[i] == d) return;
    }
    if (f->depth == sizeof f->path / sizeof f->path[0]) return;
    f->path[f->depth++] = d;
    mix_u32(f, d->n_fields);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        mix_str(f, fd->name);
        mix_u32(f, fd->id);
        mix_u32(f, (uint32_t)fd->label);
        mix_u32(f, (uint32_t)fd->type);
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE && fd->descriptor) {
            mix_message(f, fd->descriptor);
        } else if (fd->type == PROTOBUF_C_TYPE_ENUM && fd->descriptor) {
            const ProtobufCEnumDescriptor *e = fd->descriptor;
            mix_str(f, e->name);
            for (unsigned k = 0; k < e->n_values; k++) {
                mix_str(f, e->values[k].name);
                mix_u32(f, (uint32_t)e->values[k].value);
            }
        }
    }
    f->depth--;
}

am_type am_pb_type(const ProtobufCMessageDescriptor *desc)
{
    if (!desc) return (am_type){ NULL, 0 };
    fp f = { .h = 0xcbf29ce484222325ull };
    mix_message(&f, desc);
    return (am_type){ desc->name, f.h ? f.h : 1 };
}

/* ------------------------------------------------------------------ sending */

int am_pub_publish_pb(am_pub *p, const ProtobufCMessage *msg)
{
    if (!p || !msg || !msg->descriptor) return AM_EINVAL;
    size_t n = protobuf_c_message_get_packed_size(msg);
    void *buf;
    int rc = am_pub_loan(p, n, &buf);
    if (rc) return rc;
    protobuf_c_message_pack(msg, buf);
    rc = am_pub_send(p, buf, n);
    if (rc) (void)am_pub_discard(p, buf);
    return rc;
}

int am_server_reply_pb(am_server *s, am_request *req, const ProtobufCMessage *msg)
{
    if (!s || !req || !msg || !msg->descriptor) return AM_EINVAL;
    size_t n = protobuf_c_message_get_packed_size(msg);
    void *buf;
    int rc = am_server_loan(s, n, &buf);
    if (rc) return rc;
    protobuf_c_message_pack(msg, buf);
    return am_server_reply_loan(s, req, buf, n);
}

/* ------------------------------------------------------------------ receiving */

int am_pb_decode(const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc, const void *data,
                 size_t len, ProtobufCMessage **out)
{
    if (!out) return AM_EINVAL;
    *out = NULL;
    if (!desc || (!data && len)) return AM_EINVAL;
    if (len == 0) {                               /* every field at its default */
        *out = protobuf_c_message_unpack(desc, alloc, 0, (const uint8_t *)"");
        return *out ? 0 : AM_EDECODE;
    }
    /* A private copy (see the top of this file); small ones on the stack. */
    unsigned char local[1024];
    unsigned char *copy = len <= sizeof local ? local : malloc(len);
    if (!copy) return AM_ENOMEM;
    memcpy(copy, data, len);
    *out = protobuf_c_message_unpack(desc, alloc, len, copy);
    if (copy != local) free(copy);
    return *out ? 0 : AM_EDECODE;
}

void am_pb_free(ProtobufCMessage *msg, ProtobufCAllocator *alloc)
{
    if (msg) protobuf_c_message_free_unpacked(msg, alloc);
}

int am_sub_take_pb(am_sub *s, const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                   ProtobufCMessage **out, am_sample *info, int64_t timeout_ns)
{
    if (!out) return AM_EINVAL;
    *out = NULL;
    if (!s || !desc) return AM_EINVAL;
    am_sample m;
    int rc = am_sub_take(s, &m, timeout_ns);
    if (rc) return rc;
    rc = am_pb_decode(desc, alloc, m.data, m.len, out);
    if (info) *info = m;
    (void)am_sub_ack(s, &m);
    if (info) info->data = NULL;
    return rc;
}

int am_client_call_pb(am_client *c, uint32_t method, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *reply_desc, ProtobufCAllocator *alloc,
                      ProtobufCMessage **reply, int64_t timeout_ns)
{
    if (!reply) return AM_EINVAL;
    *reply = NULL;
    if (!c || !req || !req->descriptor || !reply_desc) return AM_EINVAL;
    size_t n = protobuf_c_message_get_packed_size(req);
    void *buf;
    int rc = am_client_loan(c, n, &buf);
    if (rc) return rc;
    protobuf_c_message_pack(req, buf);
    am_sample r;
    rc = am_client_call_loan(c, method, buf, n, &r, timeout_ns);
    if (rc) return rc;
    rc = am_pb_decode(reply_desc, alloc, r.data, r.len, reply);
    (void)am_client_ack(c, &r);
    return rc;
}
