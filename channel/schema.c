/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema.c — the schema a typed publisher records with its topic, or a typed server
 * with its service, so that tools (amctl echo, amctl services) can decode samples,
 * requests and replies by field name without the sender's headers.
 *
 * The first port that offers a schema stores it in an arena block the channel names
 * by {offset, generation}; later offers are ignored (the channel's type fingerprint
 * already refuses another schema). No lock: the block is filled while owned, named by
 * the channel with one CAS, then disowned. The block goes with the channel. Topics and
 * services record and read it the same way: the public calls below are one function
 * each, on the port's connection.
 */
#include <string.h>
#include "channel_internal.h"

#define SCHEMA_MAX ((size_t)1 << 20)

const void *amc_schema_at(am_arena *a, amc_chan *ch, size_t *len)
{
    uint64_t ref = atomic_load_explicit(&ch->schema_ref, memory_order_acquire);
    if (ref == 0) return NULL;
    amc_slot s = amc_ref_unpack(ref);
    size_t sz;
    const uint64_t *p = am_block_probe(a, s.off, s.gen, NULL, &sz);
    if (!p || sz < sizeof *p) return NULL;
    uint64_t n = p[0];                       /* written before the block was named */
    if (n > sz - sizeof *p || n > SCHEMA_MAX) return NULL;
    *len = (size_t)n;
    return p + 1;
}

static int schema_record(amc_conn *c, const void *data, size_t len)
{
    if (!amc_usable(c) || !data || len == 0) return AM_EINVAL;
    if (len > SCHEMA_MAX) return AM_ETOOBIG;
    amc_chan *ch = c->ch;
    size_t have;
    if (amc_schema_at(c->a, ch, &have)) return 0;                /* recorded already */
    void *blk;
    int rc = am_try_alloc(c->a, sizeof(uint64_t) + len, &blk);
    if (rc) return rc;
    *(uint64_t *)blk = len;                                  /* the length travels with it */
    memcpy((uint64_t *)blk + 1, data, len);
    amc_slot fresh = { 0, 0, 0 };
    (void)am_block_identify(c->a, blk, &fresh.off, &fresh.gen, NULL);
    /* Named by CAS (from nothing, or from a block that is gone: a recorder that died
     * before disowning it), then disowned: a death in between leaves a name whose block
     * the arena frees, which the next recorder replaces. */
    uint64_t cur = atomic_load_explicit(&ch->schema_ref, memory_order_acquire);
    for (;;) {
        if (cur != 0 && amc_schema_at(c->a, ch, &have)) return am_ack(c->a, blk);   /* somebody was first */
        if (atomic_compare_exchange_weak_explicit(&ch->schema_ref, &cur, amc_ref_pack(fresh), memory_order_acq_rel,
                                                  memory_order_acquire)) {
            break;
        }
    }
    AM_CRASH_POINT(CH_SCHEMA_RECORDED);
    (void)am_disown(c->a, blk);
    return 0;
}

static int schema_read(amc_conn *c, const void **data, size_t *len)
{
    if (!amc_usable(c) || !data || !len) return AM_EINVAL;
    *data = amc_schema_at(c->a, c->ch, len);
    return *data ? 0 : AM_ENOENT;
}

int am_pub_set_schema(am_pub *p, const void *data, size_t len)
{
    return schema_record(amc_conn_of(p), data, len);
}

int am_server_set_schema(am_server *s, const void *data, size_t len)
{
    return schema_record(amc_conn_of(s), data, len);
}

int am_sub_schema(am_sub *s, const void **data, size_t *len)
{
    return schema_read(amc_conn_of(s), data, len);
}

int am_client_schema(am_client *c, const void **data, size_t *len)
{
    return schema_read(amc_conn_of(c), data, len);
}

void amc_schema_drop(am_arena *a, amc_chan *ch)
{
    uint64_t ref = atomic_load_explicit(&ch->schema_ref, memory_order_acquire);
    if (ref == 0) return;
    amc_slot s = amc_ref_unpack(ref);
    void *blk = am_block_probe(a, s.off, s.gen, NULL, NULL);
    if (blk) (void)am_ack(a, blk);
    atomic_store_explicit(&ch->schema_ref, 0, memory_order_release);
}
