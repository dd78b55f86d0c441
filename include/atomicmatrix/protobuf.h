/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomicmatrix — protobuf-c messages on topics and services.
 *
 * A message is packed once, straight into the arena block that carries it (packed
 * size -> loan of exactly that size -> protobuf_c_message_pack into it -> send): no
 * other copy on the sending side. A receiver unpacks with the ProtobufCAllocator it
 * chooses (NULL = protobuf-c's default, malloc), or takes the raw bytes and decodes
 * later. Unpacking works on a private copy of the payload: the arena is shared memory a
 * faulty peer could change under protobuf-c's two-pass parser.
 *
 * Link with libatomicmatrix_protobuf (pkg-config atomicmatrix-protobuf; CMake:
 * find_package(atomicmatrix COMPONENTS protobuf), target
 * atomicmatrix::atomicmatrix_protobuf or atomicmatrix::atomicmatrix_protobuf_static),
 * which needs libprotobuf-c.
 */
#ifndef ATOMICMATRIX_PROTOBUF_H
#define ATOMICMATRIX_PROTOBUF_H

#include <protobuf-c/protobuf-c.h>
#include "atomicmatrix/channel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The topic type of a message: its full name and a fingerprint of its schema (names,
 * numbers, labels and types of its fields, and of the messages and enums they use), so
 * that opening a topic with another schema gives AM_ETYPE. */
AM_API am_type am_pb_type(const ProtobufCMessageDescriptor *desc);

/* Publish msg: packed straight into a loaned block, then sent (as am_pub_send). */
AM_API int am_pub_publish_pb(am_pub *p, const ProtobufCMessage *msg);

/* Take the next sample (waiting up to timeout_ns; AM_FOREVER: no deadline), unpack it
 * as desc (with alloc; NULL = default) and ack it. info (may be NULL) gets its sequence number, send time and publisher (its data
 * pointer is no longer valid). Free *out with am_pb_free. AM_EDECODE if the payload is
 * not a valid desc message (the sample is dropped); otherwise as am_sub_take. */
AM_API int am_sub_take_pb(am_sub *s, const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                   ProtobufCMessage **out, am_sample *info, int64_t timeout_ns);

/* Decode len bytes (a sample taken raw, a request) as desc. 0 or AM_EDECODE,
 * AM_ENOMEM, AM_EINVAL. */
AM_API int am_pb_decode(const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc, const void *data,
                 size_t len, ProtobufCMessage **out);
AM_API void am_pb_free(ProtobufCMessage *msg, ProtobufCAllocator *alloc);

/* Call: req packed straight into the request block; the reply unpacked as reply_desc
 * and acked. Errors as am_client_call, and AM_EDECODE for a reply that does not decode. */
AM_API int am_client_call_pb(am_client *c, uint32_t method, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *reply_desc, ProtobufCAllocator *alloc,
                      ProtobufCMessage **reply, int64_t timeout_ns);

/* Reply to a taken request with msg, packed straight into the reply block. */
AM_API int am_server_reply_pb(am_server *s, am_request *req, const ProtobufCMessage *msg);

#ifdef __cplusplus
}
#endif
#endif
