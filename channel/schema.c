/*
 * schema.c — the schema a typed publisher records with its topic, so that tools (amctl
 * echo) can decode samples by field name without the publisher's headers.
 *
 * The first publisher that offers a schema stores it in an arena block the channel
 * names by {offset, generation}; later offers are ignored (the topic's type
 * fingerprint already refuses another schema). Recording is crash-safe the same way a
 * history table is grown: the in-flight record names the new block, which is filled
 * while owned, disowned, then named by the channel in one store; a thief of the lock
 * frees a disowned block the channel does not name. The block goes with the channel.
 */
#include <string.h>
#include "channel_internal.h"

#define SCHEMA_MAX ((size_t)1 << 20)

static const void *schema_at(am_arena *a, amc_chan *ch, size_t *len)
{
    uint64_t ref = atomic_load_explicit(&ch->schema_ref, memory_order_acquire);
    if (ref == 0) return NULL;
    amc_slot s = amc_ref_unpack(ref);
    size_t sz;
    const void *p = am_block_probe(a, s.off, s.gen, NULL, &sz);
    uint64_t n = ch->schema_len;
    if (!p || n > sz || n > SCHEMA_MAX) return NULL;
    *len = (size_t)n;
    return p;
}

int am_pub_set_schema(am_pub *p, const void *data, size_t len)
{
    amc_conn *c = amc_conn_of(p);
    if (!amc_usable(c) || !data || len == 0) return AM_EINVAL;
    if (len > SCHEMA_MAX) return AM_ETOOBIG;
    amc_chan *ch = c->ch;
    size_t have;
    if (schema_at(c->a, ch, &have)) return 0;                /* recorded already */
    void *blk;
    int rc = am_try_alloc(c->a, len, &blk);
    if (rc) return rc;
    memcpy(blk, data, len);
    amc_slot fresh = { 0, 0, 0 };
    (void)am_block_identify(c->a, blk, &fresh.off, &fresh.gen, NULL);
    amc_chan_lock(c);
    if (schema_at(c->a, ch, &have)) {                        /* somebody was first */
        amc_chan_unlock(c);
        return am_ack(c->a, blk);
    }
    ch->rec.hist_new = fresh;
    atomic_store_explicit(&ch->rec.op, AMC_REC_SCHEMA, memory_order_release);
    AM_CRASH_POINT(CH_SCHEMA_RECORDED);
    (void)am_disown(c->a, blk);
    ch->schema_len = len;
    atomic_store_explicit(&ch->schema_ref, amc_ref_pack(fresh), memory_order_release);
    atomic_store_explicit(&ch->rec.op, AMC_REC_NONE, memory_order_release);
    amc_chan_unlock(c);
    return 0;
}

int am_sub_schema(am_sub *s, const void **data, size_t *len)
{
    amc_conn *c = amc_conn_of(s);
    if (!amc_usable(c) || !data || !len) return AM_EINVAL;
    *data = schema_at(c->a, c->ch, len);
    return *data ? 0 : AM_ENOENT;
}

void amc_schema_finish(am_arena *a, amc_chan *ch, const amc_record *rec)
{
    uint32_t owner = 0;
    void *blk;
    if (atomic_load_explicit(&ch->schema_ref, memory_order_acquire) != amc_ref_pack(rec->hist_new) &&
        (blk = am_block_probe(a, rec->hist_new.off, rec->hist_new.gen, &owner, NULL)) && owner == 0) {
        (void)am_ack(a, blk);                                /* disowned, never named */
    }
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
