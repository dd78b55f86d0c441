/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seed_pb.c — seed corpora of fuzz_pb_decode and fuzz_schema: a few messages of
 * tests/proto/amtest.proto, packed. `seed_pb PB_DIR SCHEMA_DIR FDS` writes each
 * message into PB_DIR (type byte + payload, pb_types.h) and into SCHEMA_DIR with the
 * FileDescriptorSet of amtest.proto read from FDS (schema_input.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include "pb_types.h"
#include "schema_input.h"

static uint8_t set[1 << 16];
static size_t set_len;

/* dir/name: a's an bytes, then b's bn. */
static void put(const char *dir, const char *name, const void *a, size_t an, const void *b, size_t bn)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, an, f) != an || fwrite(b, 1, bn, f) != bn || fclose(f)) {
        perror(path);
        exit(1);
    }
}

/* msg into both corpora, as the type at index `type` of fuzz_pb_types. */
static void seed(const char *pb_dir, const char *schema_dir, const char *name, unsigned type,
                 const ProtobufCMessage *msg)
{
    uint8_t buf[4096];
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > sizeof buf || fuzz_pb_types[type] != msg->descriptor) abort();
    protobuf_c_message_pack(msg, buf);
    uint8_t t = (uint8_t)type;
    put(pb_dir, name, &t, 1, buf, n);
    uint8_t hdr[2] = { (uint8_t)set_len, (uint8_t)(set_len >> 8) };
    char head[2 + sizeof set];
    memcpy(head, hdr, 2);
    memcpy(head + 2, set, set_len);
    const char *full = msg->descriptor->name;                 /* "amtest.Frame" */
    char tail[FUZZ_TYPE_MAX + 1 + sizeof buf];
    size_t fl = strlen(full) + 1;
    memcpy(tail, full, fl);
    memcpy(tail + fl, buf, n);
    put(schema_dir, name, head, 2 + set_len, tail, fl + n);
}

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: seed_pb PB_DIR SCHEMA_DIR FDS\n"); return 2; }
    FILE *f = fopen(argv[3], "rb");
    if (!f) { perror(argv[3]); return 1; }
    set_len = fread(set, 1, sizeof set, f);
    fclose(f);
    if (set_len == 0 || set_len >= sizeof set) { fprintf(stderr, "seed_pb: %s: empty or too big\n", argv[3]); return 1; }

    Amtest__Item items[3] = { AMTEST__ITEM__INIT, AMTEST__ITEM__INIT, AMTEST__ITEM__INIT };
    Amtest__Item *ip[3] = { &items[0], &items[1], &items[2] };
    items[0].a = 7; items[0].label = "seven"; items[0].kind = AMTEST__KIND__KIND_A;
    items[1].a = -1; items[1].label = ""; items[1].kind = AMTEST__KIND__KIND_B;
    items[2].a = 1 << 30; items[2].label = "\x01\x02 not printable";
    int64_t values[] = { 0, -1, 1, INT64_MIN, INT64_MAX };
    uint8_t blob[] = { 0x08, 0x96, 0x01, 0xff, 0x00 };
    Amtest__Frame frame = AMTEST__FRAME__INIT;
    frame.id = 123456789012345ull;
    frame.n_items = 3; frame.items = ip;
    frame.blob = (ProtobufCBinaryData){ sizeof blob, blob };
    frame.x = -2.5;
    frame.n_values = 5; frame.values = values;
    seed(argv[1], argv[2], "frame", 0, &frame.base);
    uint8_t big[2000] = { 0 };                  /* over 1 KiB: am_pb_decode's heap copy */
    frame.blob = (ProtobufCBinaryData){ sizeof big, big };
    seed(argv[1], argv[2], "frame-big", 0, &frame.base);

    Amtest__Frame empty = AMTEST__FRAME__INIT;
    seed(argv[1], argv[2], "frame-empty", 0, &empty.base);
    seed(argv[1], argv[2], "item", 1, &items[0].base);
    int64_t terms[] = { 1, 2, 3, -300, 1LL << 40 };
    Amtest__Sum sum = AMTEST__SUM__INIT;
    sum.n_terms = 5; sum.terms = terms;
    seed(argv[1], argv[2], "sum", 2, &sum.base);
    Amtest__Total total = AMTEST__TOTAL__INIT;
    total.total = -42; total.count = 3;
    seed(argv[1], argv[2], "total", 3, &total.base);
    return 0;
}
