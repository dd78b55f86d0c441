/* SPDX-License-Identifier: Apache-2.0 */
/*
 * batch.c — several samples of one topic in one NATS message (docs/bridge.md,
 * "Batches").
 *
 * The five headers of a single-sample message cost more than a 64 B sample itself
 * (libnats builds and parses a header map per message), so when several samples of one
 * exported topic wait in the bridge's queue they travel together: one message with the
 * topic's headers once (Am-Type, Am-Fp, Am-Origin) and Am-Batch (the number of
 * samples), whose payload is the samples one after the other, each framed as
 *
 *     u32 length | u64 seq | i64 sent (CLOCK_REALTIME ns) | length bytes
 *
 * integers little-endian, no padding (BR_FRAME_HDR = 20 bytes). A batch is only what
 * was waiting already: the bridge never holds a sample back to fill one. The importing
 * side checks the whole payload before it publishes any sample of it: a count that
 * is not a number from 2 to BR_BATCH_FRAMES, a frame header or body cut short, a
 * sample above --max-size, bytes left over after the last frame make the message
 * malformed, and none of its samples is delivered.
 */
#include <stdlib.h>
#include <string.h>
#include "bridge.h"

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

bool br_batch_fits(const br_batch *bt, size_t len)
{
    return bt->n < BR_BATCH_FRAMES && bt->len + BR_FRAME_HDR + len <= sizeof bt->buf;
}

void br_batch_add(br_batch *bt, const void *data, size_t len, uint64_t seq, int64_t sent_ns)
{
    uint8_t *p = bt->buf + bt->len;
    put_u32(p, (uint32_t)len);
    put_u64(p + 4, seq);
    put_u64(p + 12, (uint64_t)sent_ns);
    memcpy(p + BR_FRAME_HDR, data, len);
    bt->len += BR_FRAME_HDR + len;
    bt->n++;
}

bool br_batch_frame(const br_batch *bt, size_t at, br_frame *f)
{
    if (at + BR_FRAME_HDR > bt->len) return false;
    const uint8_t *p = bt->buf + at;
    *f = (br_frame){ .len = get_u32(p), .seq = get_u64(p + 4), .sent_ns = (int64_t)get_u64(p + 12), .data = p + BR_FRAME_HDR };
    return true;
}

int br_batch_parse(const void *payload, size_t len, uint64_t count, size_t max_size, br_frame *out)
{
    if (count < 2 || count > BR_BATCH_FRAMES) return -1;
    const uint8_t *p = payload, *end = p + len;
    for (uint64_t i = 0; i < count; i++) {
        if ((size_t)(end - p) < BR_FRAME_HDR) return -1;          /* frame header cut short */
        uint32_t n = get_u32(p);
        if (n > max_size || (size_t)(end - p) - BR_FRAME_HDR < n) return -1;  /* oversized, body cut short */
        out[i] = (br_frame){ .len = n, .seq = get_u64(p + 4), .sent_ns = (int64_t)get_u64(p + 12), .data = p + BR_FRAME_HDR };
        p += BR_FRAME_HDR + n;
    }
    return p == end ? 0 : -1;                                    /* bytes after the last frame */
}
