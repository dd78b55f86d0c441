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

int main(void)
{
    return tu_main("channel_races", 60, (const TTest *[]){ stale_drop_leaves_the_next_sample_alone, NULL });
}
