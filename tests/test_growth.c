/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The arena grows: messages of 1 KiB to 1 GiB through a default-opened arena to a
 * subscriber that attached before it grew; the grown sectors given back once idle;
 * growth on a full tmpfs ends in AM_ENOMEM, never a signal. (Crash injection over the
 * growth steps is in test_crash.)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "testing.h"
#include "test_util.h"

#define MIB ((size_t)1 << 20)
#define SEC 1000000000ll

static const char *arena_name;

typedef struct board {
    _Atomic int ready;           /* the subscriber is attached                         */
    _Atomic int got;             /* messages it verified                               */
    _Atomic int bad;             /* 0, or the index of the first message that was wrong */
} board;

static board *bd;
static size_t sizes[] = { 1 << 10, 8 * MIB, 100 * MIB, 1024 * MIB };
static int nsizes;

static int subscriber(void *arg)
{
    (void)arg;
    am_arena *a;
    am_sub *s;
    am_sub_opts so = { .depth = 8, .policy = AM_POLICY_BLOCK };
    if (am_arena_open(arena_name, NULL, &a) || am_sub_open(a, "frames", &so, &s)) return 1;
    atomic_store(&bd->ready, 1);
    for (int i = 0; i < nsizes; i++) {
        am_sample m;
        int rc = am_sub_take(s, &m, 120 * SEC);
        if (rc) return 2;
        if (m.len != sizes[i] || !tu_verify(m.data, m.len, (uint64_t)i + 1)) atomic_store(&bd->bad, i + 1);
        am_sub_ack(s, &m);
        atomic_fetch_add(&bd->got, 1);
    }
    am_sample m;
    (void)am_sub_take(s, &m, 100000000);         /* idle: its caches go back (docs/channels.md) */
    am_sub_close(s);
    am_arena_close(a);
    return 0;
}

START_TEST(messages_up_to_a_gibibyte)
{
    struct statvfs vfs;
    ck_assert_int_eq(statvfs("/dev/shm", &vfs), 0);
    uint64_t room = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    nsizes = room > (uint64_t)3 << 30 ? 4 : 3;           /* 1 GiB where the machine allows */
    if (nsizes < 4) fprintf(stderr, "messages_up_to_a_gibibyte: 1 GiB SKIPPED: /dev/shm has %llu bytes free\n",
                            (unsigned long long)room);
    arena_name = tu_name("grow");
    bd = tu_shared(sizeof *bd);
    am_arena *a = NULL;
    ck_assert_int_eq(am_arena_open(arena_name, NULL, &a), 0);     /* a default arena */
    am_growth g0;
    ck_assert_int_eq(am_arena_growth(a, &g0), 0);
    ck_assert_uint_eq(g0.initial, AM_DEFAULT_SIZE);
    ck_assert_uint_eq(g0.added, 0);
    ck_assert_uint_ge(g0.maximum, (uint64_t)room);             /* the filesystem's size */
    pid_t k = tu_fork(subscriber, NULL);
    while (!atomic_load(&bd->ready)) usleep(1000);              /* attached before growing */
    am_pub *p;
    am_pub_opts po = { .send_timeout_ns = 120 * SEC };
    ck_assert_int_eq(am_pub_open(a, "frames", &po, &p), 0);
    for (int i = 0; i < nsizes; i++) {
        void *buf;
        int rc = am_pub_loan(p, sizes[i], &buf);
        ck_assert_msg(rc == 0, "loan of %zu bytes: %s: %s", sizes[i], am_err_name(rc), am_arena_open_report());
        tu_fill(buf, sizes[i], (uint64_t)i + 1);
        ck_assert_int_eq(am_pub_send(p, buf, sizes[i]), 0);
    }
    ck_assert_int_eq(tu_wait(k), 0);
    ck_assert_int_eq(atomic_load(&bd->got), nsizes);
    ck_assert_int_eq(atomic_load(&bd->bad), 0);
    am_growth g1;
    ck_assert_int_eq(am_arena_growth(a, &g1), 0);
    ck_assert_uint_ge(g1.added, (uint64_t)nsizes - 1);         /* 8 MiB and up did not fit */
    ck_assert_uint_gt(g1.current, sizes[nsizes - 1]);
    am_pub_close(p);                                             /* its block cache goes too */
    /* Idle grown sectors are given back after AM_RELEASE_IDLE_NS (1 s): by the next
     * allocation, free, stats or reclaim after that. */
    usleep(1100000);
    am_stats st;
    ck_assert_int_eq(am_arena_stats(a, &st), 0);
    am_growth g2;
    ck_assert_int_eq(am_arena_growth(a, &g2), 0);
    ck_assert_uint_eq(g2.released_now, g2.sectors - 8);          /* every grown one */
    ck_assert_uint_eq(st.sectors, 8);                            /* the first ones are kept */
    ck_assert_uint_le(g2.reserved, AM_DEFAULT_SIZE);
    ck_assert_uint_ge(g2.releases, g2.released_now);
    /* and taken back when needed */
    void *again = NULL;
    ck_assert_int_eq(am_try_alloc(a, 8 * MIB, &again), 0);
    tu_fill(again, 8 * MIB, 99);
    ck_assert(tu_verify(again, 8 * MIB, 99));
    am_growth g3;
    ck_assert_int_eq(am_arena_growth(a, &g3), 0);
    ck_assert_uint_eq(g3.released_now, g2.released_now - 1);
    ck_assert_uint_eq(g3.added, g2.added);                       /* reused, not added */
    ck_assert_int_eq(am_ack(a, again), 0);
    ck_assert_int_ge(am_channels_gc(a), 0);
    tu_finish(a);
}
END_TEST

/* ---------------------------------------------------------------- a full table */

/* Growth stops when the sector table is full (64 grown sectors), with AM_ENOMEM and the
 * table intact: nothing written past it. A sparse arena (test builds: pages not
 * reserved) with the largest maximum gets there without the memory. */
START_TEST(growth_stops_at_a_full_table)
{
    am_test_sparse_arenas(1);
    const char *name = tu_name("table");
    am_arena_opts o = { .size = 2 * MIB, .sectors = 1, .flags = AM_EXTENDED_OPTS, .max_size = AM_MAX_SIZE };
    am_arena *a = NULL;
    ck_assert_int_eq(am_arena_open(name, &o, &a), 0);    /* growth stays sparse too */
    enum { MAX_BLOCKS = 1 << 16 };
    void **held = malloc(MAX_BLOCKS * sizeof *held);
    int n = 0, rc = 0;
    while (n < MAX_BLOCKS && (rc = am_try_alloc(a, 4 * MIB, &held[n])) == 0) n++;  /* untouched: sparse */
    ck_assert_int_eq(rc, AM_ENOMEM);
    ck_assert_msg(strstr(am_arena_open_report(), "cannot add a sector"), "%s", am_arena_open_report());
    am_growth g;
    ck_assert_int_eq(am_arena_growth(a, &g), 0);
    ck_assert_uint_eq(g.sectors, 1 + 64);
    ck_assert_uint_eq(g.added, 64);
    ck_assert_uint_le(g.current, AM_MAX_SIZE);
    ck_assert_msg(am_arena_check(a) == 0, "%s", am_arena_check_report());
    /* a second handle validates all 65 */
    am_arena *b = NULL;
    ck_assert_int_eq(am_arena_open(name, NULL, &b), 0);
    am_growth gb;
    ck_assert_int_eq(am_arena_growth(b, &gb), 0);
    ck_assert_uint_eq(gb.sectors, 65);
    am_arena_close(b);
    for (int i = 0; i < n; i++) ck_assert_int_eq(am_ack(a, held[i]), 0);
    free(held);
    tu_finish(a);
    am_test_sparse_arenas(0);
}
END_TEST

/* ---------------------------------------------------------------- a full tmpfs */

#define CHILD_FAIL(code, ...) do { fprintf(stderr, "full_tmpfs: " __VA_ARGS__); fputc('\n', stderr); return code; } while (0)

static int grow_until_full(void *arg)
{
    const char *dir = arg;
    setenv("AM_SHM_DIR", dir, 1);
    /* someone else's 12 MiB: the filesystem fills before the arena's maximum (48 MiB) */
    char filler[256];
    snprintf(filler, sizeof filler, "%s/filler", dir);
    int fd = open(filler, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || posix_fallocate(fd, 0, 12 * MIB) != 0) CHILD_FAIL(2, "filler");
    close(fd);
    am_arena *a = NULL;
    int rc = am_arena_open("grows", &(am_arena_opts){ .size = 16 * MIB }, &a);
    if (rc) CHILD_FAIL(3, "open: %s", am_err_name(rc));
    void *blocks[64];
    int n = 0;
    for (; n < 64; n++) {
        rc = am_try_alloc(a, 4 * MIB, &blocks[n]);
        if (rc) break;
        memset(blocks[n], 0x5a, 4 * MIB);                /* every page touched: no SIGBUS */
    }
    if (rc != AM_ENOMEM) CHILD_FAIL(4, "after %d blocks: %s, not AM_ENOMEM", n, am_err_name(rc));
    const char *why = am_arena_open_report();
    if (!strstr(why, dir) || !strstr(why, "free")) CHILD_FAIL(5, "report does not name %s and its free space: %s", dir, why);
    am_growth g;
    am_arena_growth(a, &g);
    if (g.added == 0 || n < 3) CHILD_FAIL(6, "did not grow: %d blocks, %llu sectors added", n, (unsigned long long)g.added);
    if (am_arena_check(a) != 0) CHILD_FAIL(7, "check: %s", am_arena_check_report());
    for (int i = 0; i < n; i++) am_ack(a, blocks[i]);
    am_arena_close(a);
    am_arena_unlink("grows");
    unlink(filler);
    return 0;
}

START_TEST(growth_on_a_full_tmpfs_gives_enomem)
{
    if (geteuid() != 0) {
        fprintf(stderr, "growth_on_a_full_tmpfs_gives_enomem: SKIPPED: mounting a tmpfs needs root\n");
        return;
    }
    char dir[] = "/tmp/am-grow-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (mount("tmpfs", dir, "tmpfs", 0, "size=48m,mode=0700") != 0) {
        int err = errno;
        rmdir(dir);
        ck_assert_msg(err == EPERM, "mount tmpfs on %s: %s", dir, strerror(err));
        fprintf(stderr, "growth_on_a_full_tmpfs_gives_enomem: SKIPPED: cannot mount a tmpfs here\n");
        return;
    }
    int status = tu_wait(tu_fork(grow_until_full, dir));
    int um = umount2(dir, MNT_DETACH);
    rmdir(dir);
    ck_assert_msg(status == 0, "child failed with %d (its message is above; %d = SIGBUS)", status, 128 + SIGBUS);
    ck_assert_int_eq(um, 0);
}
END_TEST

int main(void)
{
    return tu_main("growth", 300, (const TTest *[]){
        messages_up_to_a_gibibyte,
        growth_stops_at_a_full_table,
        growth_on_a_full_tmpfs_gives_enomem,
        NULL });
}
