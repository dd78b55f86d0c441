/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_print.h — amctl's reader of protobuf wire format: by field number (like
 * `protoc --decode_raw`), or by field name with the schema a publisher recorded (a
 * serialized FileDescriptorSet). Both bytes come from shared memory any process may
 * write, so every length and nesting level is checked; a sample that does not parse
 * gives -1 / false, never a read past its end. On its own file so that the fuzz target
 * (fuzz/fuzz_schema.c) runs the very code `amctl echo` runs.
 */
#ifndef AMCTL_PB_PRINT_H
#define AMCTL_PB_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "google/protobuf/descriptor.pb-c.h"

typedef Google__Protobuf__DescriptorProto MsgDesc;
typedef Google__Protobuf__FieldDescriptorProto FieldDesc;
typedef Google__Protobuf__FileDescriptorSet FileSet;
typedef Google__Protobuf__ServiceDescriptorProto SvcDesc;
typedef Google__Protobuf__MethodDescriptorProto MethodDesc;

/* Is p[0..n) a sequence of well-formed fields (nested at most 32 deep)? */
bool pb_parses(const uint8_t *p, size_t n, unsigned depth);

/* Print p[0..n) by field number on stdout, like protoc --decode_raw. */
void pb_print_raw(const uint8_t *p, size_t n, unsigned indent);

/* The message called `full` (a leading dot allowed) in the set, or NULL. */
const MsgDesc *pb_find_message(const FileSet *set, const char *full);

/* The service called `full` (a leading dot allowed) in the set, or NULL. */
const SvcDesc *pb_find_service(const FileSet *set, const char *full);

/* The rpc of service s that method id `method` (as in a request's header) names: its
 * `method`-th, counted from 1 (protoc-gen-am's numbering), or NULL. */
const MethodDesc *pb_method(const SvcDesc *s, uint32_t method);

/* Print p[0..n) as message m of the set on stdout, by field name, like protoc --decode
 * (fields in the schema's order, unknown ones by number after them). 0, or -1 (nothing
 * printed) if it does not parse as m. A nested message that does not parse as its type
 * is printed by field number. */
int pb_print_message(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n, unsigned indent);

/* Does p[0..n) parse as message m (as far as the printers need: a nested message that
 * does not is printed as bytes)? */
bool pb_message_parses(const MsgDesc *m, const uint8_t *p, size_t n);

/* The same as one JSON object (no newline), by the proto3 JSON mapping with the .proto's
 * field names (pb_print.c says where it differs); a nested message that does not parse
 * as its type is a base64 string. 0, or -1 (nothing printed). */
int pb_print_json(const FileSet *set, const MsgDesc *m, const uint8_t *p, size_t n);

#endif
