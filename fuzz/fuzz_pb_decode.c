/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pb_decode.c — libFuzzer target: am_pb_decode of arbitrary bytes.
 *
 * A payload comes from a peer's block: garbage must give AM_EDECODE, never a crash, a
 * leak or a sanitizer report. Input: one byte choosing the message type (pb_types.h),
 * then the payload.
 */
#include <stdlib.h>
#include "atomicmatrix/protobuf.h"
#include "pb_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const ProtobufCMessageDescriptor *desc = fuzz_pb_types[data[0] % FUZZ_PB_NTYPES];
    ProtobufCMessage *msg;
    int rc = am_pb_decode(desc, NULL, data + 1, size - 1, &msg);
    if (rc == 0) {
        /* What decoded must pack again (a message protobuf-c built half-way would not). */
        size_t n = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf || protobuf_c_message_pack(msg, buf) != n) abort();
        free(buf);
        am_pb_free(msg, NULL);
    } else if (rc != AM_EDECODE && rc != AM_ENOMEM) {
        abort();                                  /* not one of the documented errors */
    }
    return 0;
}
