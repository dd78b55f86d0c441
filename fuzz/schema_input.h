/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema_input.h — how fuzz_schema's input is laid out, shared with seed_pb.c:
 *
 *   u16 little-endian n | n bytes: a serialized FileDescriptorSet (the recorded schema)
 *   | the topic's type name | NUL | the sample's payload
 *
 * so that one input mutates the schema, the name looked up in it and the sample.
 */
#ifndef AM_FUZZ_SCHEMA_INPUT_H
#define AM_FUZZ_SCHEMA_INPUT_H

#include <stdint.h>
#include <string.h>

#define FUZZ_TYPE_MAX 256u

typedef struct schema_input {
    const uint8_t *set; size_t set_len;
    char type[FUZZ_TYPE_MAX + 1];
    const uint8_t *payload; size_t payload_len;
} schema_input;

/* 0, or -1 if data is not laid out as above. */
static inline int schema_input_split(const uint8_t *data, size_t size, schema_input *in)
{
    if (size < 2) return -1;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8;
    if (n > size - 2) return -1;
    in->set = data + 2;
    in->set_len = n;
    const uint8_t *rest = in->set + n, *end = data + size;
    const uint8_t *nul = memchr(rest, 0, (size_t)(end - rest));
    if (!nul || (size_t)(nul - rest) > FUZZ_TYPE_MAX) return -1;
    memcpy(in->type, rest, (size_t)(nul - rest));
    in->type[nul - rest] = 0;
    in->payload = nul + 1;
    in->payload_len = (size_t)(end - in->payload);
    return 0;
}

#endif
