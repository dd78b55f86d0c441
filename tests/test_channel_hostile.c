/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_channel_hostile.c — the channel layer's shared memory written by a hostile
 * process: link slots, sample headers, link and rx blocks, port records and directory
 * entries. Readers must answer AM_ECORRUPT or skip what is bad, keep delivering what is
 * good, and never crash; each round runs in a child so a crash shows as a signal.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "channel_internal.h"
#include "test_util.h"

static amc_dir *dir_of(am_arena *a) { return am_upper(a); }

/* The channel block of the directory's entry called name. */
static amc_chan *chan_of(am_arena *a, const char *name)
{
    amc_dir *d = dir_of(a);
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        if (d->e[i].state == AMC_ENT_READY && strcmp(d->e[i].name, name) == 0) {
            return am_ptr(a, d->e[i].chan_off);
        }
    }
    return NULL;
}

/* The rx block of the first subscriber port of a channel. */
static amc_rx *sub_rx(amc_chan *ch, am_arena *a, unsigned *port)
{
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) {
        if (ch->ports[i].state == AMC_PORT_ACTIVE && ch->ports[i].role == AMC_ROLE_SUB) {
            *port = i;
            return am_ptr(a, amc_ref_unpack(ch->ports[i].rx_ref).off);
        }
    }
    return NULL;
}

/* The first link into rx block r. */
static amc_link *first_link(amc_rx *r, am_arena *a)
{
    for (unsigned j = 0; r && j < AM_MAX_PORTS; j++) {
        if (r->links[j]) return am_ptr(a, amc_ref_unpack(r->links[j]).off);
    }
    return NULL;
}

static int take_value(am_sub *s, int *v)
{
    am_sample m;
    int rc = am_sub_take(s, &m, 0);
    if (rc) return rc;
    memcpy(v, m.data, sizeof *v);
    return am_sub_ack(s, &m);
}

START_TEST(bad_ring_slots_are_skipped)
{
    am_arena *a = tu_open(tu_name("slots"), 16 << 20, 0);
    am_pub *p;
    am_sub *s;
    ck_assert_int_eq(am_pub_open(a, "t", NULL, &p), 0);
    ck_assert_int_eq(am_sub_open(a, "t", &(am_sub_opts){ .depth = 16 }, &s), 0);
    for (int i = 1; i <= 6; i++) ck_assert_int_eq(am_pub_publish(p, &i, sizeof i), 0);
    unsigned port;
    amc_rx *rx = sub_rx(chan_of(a, "t"), a, &port);
    amc_link *r = first_link(rx, a);
    ck_assert_ptr_nonnull(r);
    amc_slot *slots = amc_link_slots(r);
    unsigned h = r->ring.c_head, mask = r->ring.mask;
    void *ringblk = r;
    uint64_t ring_off = am_offset(a, ringblk);
    slots[h & mask].off = 12345;                             /* not a block           */
    slots[(h + 1) & mask].gen ^= 0x55;                       /* a reuse of the block   */
    slots[(h + 2) & mask].off = ring_off;                    /* a block, not a sample  */
    slots[(h + 2) & mask].gen = 0;
    amc_msg *m4 = am_ptr(a, slots[(h + 3) & mask].off);
    m4->len = 1u << 30;                                      /* longer than its block  */
    amc_msg *m5 = am_ptr(a, slots[(h + 4) & mask].off);
    atomic_fetch_and(&m5->owe, ~(1ull << port));             /* not held by this port  */
    int v;
    for (int i = 0; i < 5; i++) ck_assert_int_eq(take_value(s, &v), AM_ECORRUPT);
    ck_assert_int_eq(take_value(s, &v), 0);                  /* the good one still comes */
    ck_assert_int_eq(v, 6);
    ck_assert_int_eq(am_arena_check(a), 0);
    /* A scribbled mask: the subscriber refuses to read, the publisher skips the queue. */
    r->ring.mask = 0xffff;
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    ck_assert_int_eq(take_value(s, &v), AM_ECORRUPT);
    r->ring.mask = mask;
    /* A held list full of garbage: no free entry to take into, and no endless search. */
    amc_slot *held = amc_rx_held(rx);
    amc_slot keep[64];
    ck_assert_uint_le(rx->max_held, 64);
    memcpy(keep, held, rx->max_held * sizeof *held);
    for (unsigned k = 0; k < rx->max_held; k++) held[k] = (amc_slot){ 16 * (k + 1), 7, 0 };
    ck_assert_int_eq(am_pub_publish(p, &v, sizeof v), 0);
    ck_assert_int_eq(take_value(s, &v), AM_ECORRUPT);
    memcpy(held, keep, rx->max_held * sizeof *held);
    am_sub_close(s);
    am_pub_close(p);
    ck_assert_int_eq(am_arena_check(a), 0);
    am_arena_close(a);
    tu_cleanup();
}
END_TEST

/* One round: scribble on `bytes` random bytes of the channel structures, then use the
 * bus. Runs in a child: the result is its exit status. */
typedef struct round_arg { const char *name; uint64_t seed; } round_arg;

static int scribble_round(void *arg)
{
    round_arg *ra = arg;
    am_arena *a;
    if (am_arena_open(ra->name, NULL, &a)) return 1;
    uint64_t rng = ra->seed;
    amc_chan *ch = chan_of(a, "bus");
    unsigned port = 0;
    amc_rx *rx = ch ? sub_rx(ch, a, &port) : NULL;
    amc_link *l = first_link(rx, a);
    struct { void *base; size_t len; } areas[] = {
        { dir_of(a), sizeof(amc_dir) },
        { ch, ch ? sizeof(amc_chan) : 0 },
        { rx, rx ? amc_rx_bytes(rx->max_held, rx->max_replay) : 0 },
        { l, l ? amc_link_bytes(l->depth) : 0 },
    };
    unsigned which = (unsigned)(tu_rand(&rng) % 4);
    /* The directory lock is left alone: a forged live stamp there costs every creator
     * its full deadline (1 s), which would only make this test slow. */
    uint64_t dir_lock = atomic_load(&dir_of(a)->lock);
    if (areas[which].base) {
        for (int k = 0; k < 8; k++) {
            size_t at = tu_rand(&rng) % areas[which].len;
            ((uint8_t *)areas[which].base)[at] ^= (uint8_t)(1 + tu_rand(&rng) % 255);
        }
    }
    atomic_store(&dir_of(a)->lock, dir_lock);
    am_pub *p;
    am_sub *s;
    /* the owner's lossless subscriber is full: do not wait on it */
    int rc1 = am_pub_open(a, "bus", &(am_pub_opts){ .send_timeout_ns = 1000000 }, &p);
    int rc2 = am_sub_open(a, "bus", NULL, &s);
    for (int i = 0; i < 20; i++) {
        if (rc1 == 0) (void)am_pub_publish(p, &i, sizeof i);
        am_sample m;
        if (rc2 == 0 && am_sub_take(s, &m, 0) == 0) {
            volatile const uint8_t *d = m.data;
            for (size_t j = 0; j < m.len; j++) (void)d[j];
            (void)am_sub_ack(s, &m);
        }
    }
    am_server *sv;
    if (am_server_open(a, "svc", NULL, &sv) == 0) am_server_close(sv);
    (void)am_channels_gc(a);
    if (rc2 == 0) am_sub_close(s);
    if (rc1 == 0) am_pub_close(p);
    am_arena_close(a);
    return 0;
}

START_TEST(scribbled_structures_never_crash)
{
    uint64_t rng = 7;
    for (int round = 0; round < 200; round++) {
        round_arg ra = { tu_name("scribble"), tu_rand(&rng) };
        am_arena *a = tu_open(ra.name, 16 << 20, 0);
        am_pub *p;
        am_sub *s1, *s2;
        ck_assert_int_eq(am_pub_open(a, "bus", &(am_pub_opts){ .history = 3, .send_timeout_ns = 1000000 }, &p), 0);
        ck_assert_int_eq(am_sub_open(a, "bus", &(am_sub_opts){ .depth = 8 }, &s1), 0);
        ck_assert_int_eq(am_sub_open(a, "bus", &(am_sub_opts){ .depth = 4, .policy = AM_POLICY_DROP_OLDEST }, &s2), 0);
        for (int i = 0; i < 6; i++) ck_assert_int_eq(am_pub_publish(p, &i, sizeof i), 0);
        int st = tu_wait(tu_fork(scribble_round, &ra));
        ck_assert_msg(st == 0, "round %d (seed %llu): the bus user ended with %d", round, (unsigned long long)ra.seed, st);
        /* The owner's ports keep working (or say what is wrong) after the scribbling. */
        am_sample m;
        for (int i = 0; i < 10; i++) {
            if (am_sub_take(s1, &m, 0) == 0) am_sub_ack(s1, &m);
            (void)am_pub_publish(p, &i, sizeof i);
        }
        am_sub_close(s1);
        am_sub_close(s2);
        am_pub_close(p);
        am_arena_close(a);
        tu_cleanup();
    }
}
END_TEST

START_TEST(foreign_directory_is_refused)
{
    am_arena *a = tu_open(tu_name("dirmagic"), 16 << 20, 0);
    am_pub *p;
    ck_assert_int_eq(am_pub_open(a, "x", NULL, &p), 0);
    am_pub_close(p);
    dir_of(a)->magic ^= 1;
    ck_assert_int_eq(am_pub_open(a, "x", NULL, &p), AM_ECORRUPT);
    ck_assert_int_eq(am_channels_gc(a), AM_ECORRUPT);
    dir_of(a)->magic ^= 1;
    /* An entry naming a block that is not a channel is settled (cleared), not used. */
    ck_assert_int_eq(am_pub_open(a, "y", NULL, &p), 0);
    amc_dir *d = dir_of(a);
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        if (d->e[i].state == AMC_ENT_READY) d->e[i].chan_gen ^= 1;
    }
    am_pub *q;
    ck_assert_int_eq(am_pub_open(a, "y", NULL, &q), 0);          /* a new channel */
    am_pub_close(q);
    am_pub_close(p);                   /* its channel, lost by the directory, goes too */
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("channel_hostile", 300, (const TTest *[]){
        bad_ring_slots_are_skipped,
        scribbled_structures_never_crash,
        foreign_directory_is_refused,
        NULL });
}
