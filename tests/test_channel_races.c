/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_channel_races.c — races made to happen at exactly the wrong step.
 *
 * A test function runs at a crash point (am_test_at_point) in place of a death there,
 * and does what another process could do at that moment: here, reuse a block between
 * one party's look at it and its CAS on it.
 */
#include <string.h>
#include "channel_internal.h"
#include "test_util.h"
#include "testing.h"

/* The port number of the first subscriber of topic `name`. */
static unsigned sub_port(am_arena *a, const char *name)
{
    amc_dir *d = am_upper(a);
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        if (d->e[i].state != AMC_ENT_READY || strcmp(d->e[i].name, name) != 0) continue;
        amc_chan *ch = am_ptr(a, d->e[i].chan_off);
        for (unsigned p = 0; p < AM_MAX_PORTS; p++) {
            if (ch->ports[p].state == AMC_PORT_ACTIVE && ch->ports[p].role == AMC_ROLE_SUB) return p;
        }
    }
    ck_abort_msg("no subscriber on %s", name);
    return 0;
}

static amc_slot slot_of(am_arena *a, const am_sample *m)
{
    amc_slot s = { 0, 0, 0 };
    ck_assert_int_eq(am_block_identify(a, (const amc_msg *)m->data - 1, &s.off, &s.gen, NULL), 0);
    return s;
}

static am_pub *reuser;
static int reuse_rc = -1;

/* Publish once more: the loan takes back the block the subscriber just returned. */
static void reuse_now(void *arg)
{
    (void)arg;
    am_test_at_point(NULL, NULL, NULL);          /* once */
    int v = 2;
    reuse_rc = am_pub_publish(reuser, &v, sizeof v);
}

/* A second drop of a hold that is gone (a cleaner repeating a dead process's
 * release does that) must not clear the same bit of the block's next sample: the
 * subscriber holds that one for real. */
START_TEST(stale_drop_leaves_the_next_sample_alone)
{
    am_arena *a = tu_open(tu_name("races"), 16 << 20, 0);
    am_sub *s;
    ck_assert_int_eq(am_pub_open(a, "t", NULL, &reuser), 0);
    ck_assert_int_eq(am_sub_open(a, "t", &(am_sub_opts){ .depth = 4 }, &s), 0);
    unsigned port = sub_port(a, "t");
    int v = 1;
    ck_assert_int_eq(am_pub_publish(reuser, &v, sizeof v), 0);
    am_sample m;
    ck_assert_int_eq(am_sub_take(s, &m, 0), 0);
    amc_slot old = slot_of(a, &m);
    ck_assert_int_eq(am_sub_ack(s, &m), 0);      /* the last hold: back to the publisher */

    /* The stale drop finds the old sample live, then the publisher reuses its block
     * for a sample to the same subscriber before the drop's CAS. */
    ck_assert_int_eq(am_test_at_point("CH_DROP_PROBED", reuse_now, NULL), 0);
    ck_assert_int_eq(amc_release(a, old, 1ull << port, port + 1, true), 0);
    ck_assert_int_eq(reuse_rc, 0);

    ck_assert_int_eq(am_sub_take(s, &m, 0), 0);  /* still held by the subscriber's bit */
    amc_slot now = slot_of(a, &m);
    ck_assert_uint_eq(now.off, old.off);         /* the race happened: the same bytes */
    ck_assert_uint_ne(now.gen, old.gen);
    memcpy(&v, m.data, sizeof v);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(am_sub_ack(s, &m), 0);
    am_sub_close(s);
    am_pub_close(reuser);
    tu_finish(a);
}
END_TEST

/* ------------------------------------------------------------ a channel destroyed under an open */

static am_arena *arena;
static am_sub *last_port;
static uint8_t *reused;

static amc_chan *chan_named(am_arena *a, const char *name)
{
    amc_dir *d = am_upper(a);
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        if (d->e[i].state == AMC_ENT_READY && strcmp(d->e[i].name, name) == 0) return am_ptr(a, d->e[i].chan_off);
    }
    return NULL;
}

/* The channel's last port closes (the channel goes with it), and its bytes are
 * allocated again and filled with a pattern. */
static void destroy_and_reuse(void *arg)
{
    (void)arg;
    am_test_at_point(NULL, NULL, NULL);
    am_sub_close(last_port);
    reused = am_alloc(arena, sizeof(amc_chan));
    if (reused) memset(reused, 0x5a, sizeof(amc_chan));
}

/* An open that found a channel in the directory, and is then overtaken by the
 * channel's destruction and the reuse of its block, must not write into those bytes
 * (a port claim, a gc of dead ports): it finds the channel gone and makes a new one. */
START_TEST(open_leaves_a_destroyed_channel_alone)
{
    arena = tu_open(tu_name("races"), 16 << 20, 0);
    ck_assert_int_eq(am_sub_open(arena, "t", NULL, &last_port), 0);
    amc_chan *old = chan_named(arena, "t");
    ck_assert_ptr_nonnull(old);
    ck_assert_int_eq(am_test_at_point("CH_OPEN_FOUND", destroy_and_reuse, NULL), 0);
    am_pub *p;
    ck_assert_int_eq(am_pub_open(arena, "t", NULL, &p), 0);
    ck_assert_ptr_eq(reused, (uint8_t *)old);        /* the race happened: the same bytes */
    for (size_t i = 0; i < sizeof(amc_chan); i++) ck_assert_uint_eq(reused[i], 0x5a);
    ck_assert_ptr_ne(chan_named(arena, "t"), old);
    ck_assert_int_eq(am_pub_publish(p, "x", 1), 0);
    am_pub_close(p);
    ck_assert_int_eq(am_ack(arena, reused), 0);
    tu_finish(arena);
}
END_TEST

/* ------------------------------------------------------------ a receiver's cleanup repeated */

static amc_rx *rx_of(am_arena *a, amc_chan *ch, unsigned port, uint64_t *ref)
{
    *ref = atomic_load(&ch->ports[port].rx_ref);
    return am_ptr(a, amc_ref_unpack(*ref).off);
}

static am_pub *last_user;
static size_t rx_bytes;

/* The last sender lets go of the rx block (which frees it), and its freed bytes get a
 * pattern (free memory: only the allocator's two links at its start are in use). */
static void free_rx_and_mark(void *arg)
{
    uint8_t *r = arg;
    am_test_at_point(NULL, NULL, NULL);
    am_pub_close(last_user);
    memset(r + 16, 0x5a, rx_bytes - 16);
}

/* A cleaner repeating a receiver's cleanup after an earlier one dropped the receiver's
 * own bit (and died) must leave the rx block to its senders: the last of them frees it,
 * possibly while the cleaner looks, and nothing may be written into it after. */
START_TEST(repeated_cleanup_leaves_a_freed_rx_block_alone)
{
    am_arena *a = tu_open(tu_name("races"), 16 << 20, 0);
    am_sub *s;
    ck_assert_int_eq(am_sub_open(a, "t", &(am_sub_opts){ .depth = 4 }, &s), 0);
    ck_assert_int_eq(am_pub_open(a, "t", NULL, &last_user), 0);
    ck_assert_int_eq(am_pub_publish(last_user, "x", 1), 0);   /* a link, a queued sample */
    amc_chan *ch = chan_named(a, "t");
    unsigned port = sub_port(a, "t");
    uint64_t ref;
    amc_rx *r = rx_of(a, ch, port, &ref);
    rx_bytes = am_block_size(a, r);
    /* The earlier cleaner: it released the receiver's share and dropped its own bit,
     * then died (the publisher's bit keeps the block). */
    amc_rx_release_own(a, r);
    amc_rx_drop(a, ref, AMC_RX_SELF, AMC_FREER_RX, true);
    ck_assert_uint_eq(atomic_load(&r->users) & AMC_RX_SELF, 0);
    ck_assert_ptr_eq(rx_of(a, ch, port, &ref), r);
    /* The next one: the publisher frees the block right after the cleaner found it. */
    ck_assert_int_eq(am_test_at_point("CH_CLEAN_RX_FOUND", free_rx_and_mark, r), 0);
    ck_assert_int_eq(amc_port_release(a, ch, port), 0);
    am_test_at_point(NULL, NULL, NULL);
    for (size_t i = 16; i < rx_bytes; i++) ck_assert_uint_eq(((uint8_t *)r)[i], 0x5a);
    am_sub_close(s);                                  /* its port is released already */
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("channel_races", 60, (const TTest *[]){ stale_drop_leaves_the_next_sample_alone,
                                                          open_leaves_a_destroyed_channel_alone,
                                                          repeated_cleanup_leaves_a_freed_rx_block_alone, NULL });
}
