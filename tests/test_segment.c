/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_segment.c — the arena file: creation races, validation of bad and foreign
 * files, trust rules, fork, and shared memory corrupted by a hostile neighbour.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "arena_internal.h"
#include "test_util.h"

START_TEST(open_flags_and_names)
{
    const char *name = tu_name("flags");
    am_arena *a = NULL;
    am_arena_opts attach = { .flags = AM_ATTACH_ONLY }, create = { .flags = AM_CREATE_ONLY };
    ck_assert_int_eq(am_arena_open(name, &attach, &a), AM_ENOENT);
    ck_assert_int_eq(am_arena_open(name, &create, &a), 0);
    am_arena *b = NULL;
    ck_assert_int_eq(am_arena_open(name, &create, &b), AM_EEXIST);
    ck_assert_int_eq(am_arena_open(name, &attach, &b), 0);
    am_arena_close(b);
    am_arena_close(a);
    const char *bad[] = { "", ".hidden", "a/b", "../x", "sp ace", "t\n" };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(am_arena_open(bad[i], NULL, &a), AM_ENAME);
        ck_assert_int_eq(am_arena_unlink(bad[i]), AM_ENAME);
    }
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ck_assert_int_eq(am_arena_open(longname, NULL, &a), AM_ENAME);
    ck_assert_int_eq(am_arena_open(NULL, NULL, &a), AM_EINVAL);
    ck_assert_int_eq(am_arena_open(name, NULL, NULL), AM_EINVAL);
    am_arena_opts huge = { .size = (size_t)AM_MAX_SIZE + 1 }, tiny = { .size = 1000 };
    ck_assert_int_eq(am_arena_open(tu_name("huge"), &huge, &a), AM_ETOOBIG);
    ck_assert_int_eq(am_arena_open(tu_name("tiny"), &tiny, &a), AM_EINVAL);
    am_arena_opts both = { .flags = AM_ATTACH_ONLY | AM_CREATE_ONLY };
    ck_assert_int_eq(am_arena_open(name, &both, &a), AM_EINVAL);
    ck_assert_int_eq(am_arena_unlink(name), 0);
    ck_assert_int_eq(am_arena_unlink(name), AM_ENOENT);
    tu_cleanup();
}
END_TEST

/* The mode of name's file. */
static unsigned file_mode(const char *name)
{
    char path[128];
    tu_path(path, sizeof path, name);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_mode & 0777;
}

/* A requested mode honours the umask, as open(2) does, unless asked not to: a 0666
 * arena under umask 027 is 0640, and 0666 exactly with AM_EXACT_MODE. */
START_TEST(requested_mode_honours_the_umask)
{
    mode_t old = umask(027);
    const char *name = tu_name("umask"), *exact = tu_name("exact");
    am_arena *a, *b;
    ck_assert_int_eq(am_arena_open(name, &(am_arena_opts){ .size = 1 << 20, .mode = 0666 }, &a), 0);
    ck_assert_uint_eq(file_mode(name), 0640);
    ck_assert_int_eq(am_arena_open(exact, &(am_arena_opts){ .size = 1 << 20, .mode = 0666, .flags = AM_EXACT_MODE }, &b),
                     0);
    ck_assert_uint_eq(file_mode(exact), 0666);
    umask(old);
    am_arena_close(b);
    tu_finish(a);
}
END_TEST

START_TEST(mode_and_trust)
{
    const char *name = tu_name("mode");
    char path[128];
    tu_path(path, sizeof path, name);
    am_arena *a = tu_open(name, 1 << 20, 1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    am_arena_close(a);
    am_arena_unlink(name);
    am_arena_opts o = { .size = 1 << 20, .mode = 0640 };
    ck_assert_int_eq(am_arena_open(name, &o, &a), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    am_arena_close(a);
    /* world-writable: anybody could scribble on it, so attached only when trusted */
    ck_assert_int_eq(chmod(path, 0666), 0);
    ck_assert_int_eq(am_arena_open(name, NULL, &a), AM_EPERM);
    am_arena_opts trusted = { .flags = AM_TRUST_OTHER_OWNER };
    ck_assert_int_eq(am_arena_open(name, &trusted, &a), 0);
    am_arena_close(a);
    ck_assert_int_eq(chmod(path, 0640), 0);
    if (geteuid() == 0) {           /* give it to another user: refused unless trusted */
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        /* its lock file must be the owner's too (test_lock_file: another owner's is
         * refused) */
        char lock[512];
        ck_assert_int_eq(tu_lock_path(lock, sizeof lock, name), 0);
        ck_assert_int_eq(chown(lock, 65534, 65534), 0);
        ck_assert_int_eq(am_arena_open(name, NULL, &a), AM_EPERM);
        am_arena_opts trust = { .flags = AM_TRUST_OTHER_OWNER };
        ck_assert_int_eq(am_arena_open(name, &trust, &a), 0);
        am_arena_close(a);
    }
    tu_cleanup();
}
END_TEST

START_TEST(symlink_refused)
{
    const char *name = tu_name("link");
    const char *target = tu_name("target");
    am_arena *a = tu_open(target, 1 << 20, 1);
    char path[128], tpath[128];
    tu_path(path, sizeof path, name);
    tu_path(tpath, sizeof tpath, target);
    ck_assert_int_eq(symlink(tpath, path), 0);
    am_arena *b = NULL;
    ck_assert_int_eq(am_arena_open(name, NULL, &b), AM_EPERM);
    unlink(path);
    am_arena_close(a);
    tu_cleanup();
}
END_TEST

/* Write a file at the arena's path and return what am_arena_open says of it. */
static int open_image(const char *name, const void *data, size_t len, off_t trunc)
{
    char path[128];
    tu_path(path, sizeof path, name);
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    if (trunc >= 0) ck_assert_int_eq(ftruncate(fd, trunc), 0);
    close(fd);
    am_arena *a = NULL;
    int rc = am_arena_open(name, NULL, &a);
    if (rc == 0) {
        ck_assert_int_eq(am_arena_check(a), 0);
        am_arena_close(a);
    } else {
        ck_assert_ptr_null(a);
    }
    unlink(path);
    return rc;
}

#define EXPECT(expr, want) do { int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s: got %d (%s), want %s", #expr, rc_, am_strerror(rc_), #want); } while (0)

START_TEST(bad_files)
{
    const char *name = tu_name("bad");
    /* a real arena's image, to corrupt one field at a time */
    const char *good = tu_name("good");
    am_arena *a = tu_open(good, 1 << 20, 2);
    am_arena_close(a);
    char gpath[128];
    tu_path(gpath, sizeof gpath, good);
    int fd = open(gpath, O_RDONLY);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    size_t len = (size_t)st.st_size;
    uint8_t *img = malloc(len), *bad = malloc(len);
    ck_assert_int_eq(pread(fd, img, len, 0), (ssize_t)len);
    close(fd);
    am_seg_header *h = (am_seg_header *)bad;

    EXPECT(open_image(name, img, len, -1), 0);                     /* the copy is fine */
    EXPECT(open_image(name, "", 0, -1), AM_EFORMAT);                /* empty file */
    EXPECT(open_image(name, "hello, I am a text file\n", 24, -1), AM_EFORMAT); /* foreign */
    memset(bad, 0x5a, len);
    EXPECT(open_image(name, bad, len, -1), AM_EFORMAT);             /* foreign, big */
    EXPECT(open_image(name, img, len, (off_t)len / 2), AM_ECORRUPT); /* truncated */
    EXPECT(open_image(name, img, 100, -1), AM_ECORRUPT);            /* truncated in the header */
    /* longer than its sectors: what a grower killed before publishing leaves (grow.c) */
    EXPECT(open_image(name, img, len, (off_t)len * 2), 0);

#define MUTATE(stmt, want) do { memcpy(bad, img, len); stmt; EXPECT(open_image(name, bad, len, -1), want); } while (0)
    MUTATE(h->magic ^= 1, AM_EFORMAT);
    MUTATE(h->version = AM_VERSION + 1, AM_EVERSION);
    MUTATE(h->layout ^= 0x100, AM_EVERSION);
    MUTATE(h->size = len * 4, AM_ECORRUPT);
    MUTATE(atomic_store(&h->state, AM_STATE_FORMATTING), AM_ECORRUPT);
    MUTATE(h->nsectors = 0, AM_ECORRUPT);
    MUTATE(h->nsectors = 100000, AM_ECORRUPT);
    MUTATE(h->nsectors = 1, AM_ECORRUPT);                           /* fewer than the first */
    MUTATE(h->nsectors = 3, AM_ECORRUPT);                           /* a grown one, unformed */
    MUTATE(h->first_sectors = 1, AM_ECORRUPT);
    MUTATE(h->max_size = h->size - 4096, AM_ECORRUPT);
    MUTATE(h->max_size += 16, AM_ECORRUPT);
    MUTATE(h->max_size = AM_MAX_SIZE + 4096, AM_ECORRUPT);
    MUTATE(h->heap_off = 4096, AM_ECORRUPT);
    MUTATE(h->sector_size += 16, AM_ECORRUPT);
    MUTATE(h->parts_off = len, AM_ECORRUPT);
    MUTATE(h->sectors_off = 0, AM_ECORRUPT);
    MUTATE(h->nparticipants = 3, AM_ECORRUPT);
    free(img);
    free(bad);
    tu_cleanup();
}
END_TEST

/* Eight processes race to create-or-open one name; all end in one formatted arena. */
struct race { const char *name; _Atomic int go; _Atomic int idx; _Atomic uint64_t seen[8]; _Atomic int won; };

static int racer(void *arg)
{
    struct race *r = arg;
    int me = atomic_fetch_add(&r->idx, 1);
    while (!atomic_load(&r->go)) {
    }
    am_arena *a = NULL;
    int rc = am_arena_open(r->name, NULL, &a);
    if (rc != 0) {
        fprintf(stderr, "racer: am_arena_open: %s\n", am_strerror(rc));
        return 1;
    }
    if (am_arena_root_cas(a, 0, 1000 + (uint64_t)getpid()) == 0) atomic_fetch_add(&r->won, 1);
    void *p = am_alloc(a, 4096);
    if (!p) return 2;
    tu_fill(p, 4096, (uint64_t)me);
    if (!tu_verify(p, 4096, (uint64_t)me) || am_ack(a, p) != 0) return 3;
    atomic_store(&r->seen[me % 8], am_arena_root(a));
    rc = am_arena_check(a) == 0 ? 0 : 4;
    am_arena_close(a);
    return rc;
}

START_TEST(eight_racing_creators)
{
    struct race *r = tu_shared(sizeof *r);
    for (int round = 0; round < 10; round++) {
        memset(r, 0, sizeof *r);
        r->name = tu_name("race");
        pid_t pids[8];
        for (int i = 0; i < 8; i++) pids[i] = tu_fork(racer, r);
        atomic_store(&r->go, 1);
        for (int i = 0; i < 8; i++) ck_assert_int_eq(tu_wait(pids[i]), 0);
        ck_assert_int_eq(atomic_load(&r->won), 1);          /* one segment: one root */
        for (int i = 1; i < 8; i++) ck_assert_uint_eq(atomic_load(&r->seen[i]), atomic_load(&r->seen[0]));
        am_arena *a = tu_open(r->name, 0, 0);
        ck_assert_uint_eq(am_arena_root(a), atomic_load(&r->seen[0]));
        ck_assert(tu_all_free(a));
        ck_assert_int_eq(am_arena_check(a), 0);
        am_arena_close(a);
        am_arena_unlink(r->name);
    }
    tu_cleanup();
}
END_TEST

START_TEST(dead_creator_leaves_no_trap)
{
    const char *name = tu_name("orphan");
    char path[128], orphan[200];
    tu_path(path, sizeof path, name);
    /* a creator that died while formatting leaves only its private file */
    snprintf(orphan, sizeof orphan, "%s.tmp.999999.0", path);
    int fd = open(orphan, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
    close(fd);
    am_arena *a = NULL;
    ck_assert_int_eq(am_arena_open(name, NULL, &a), 0);
    ck_assert_int_eq(access(orphan, F_OK), -1);     /* cleaned up */
    am_arena_close(a);
    am_arena_unlink(name);
    /* a zero-length file at the name (another program's, or an older protocol's):
     * a clear error at once, not a wait */
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    close(fd);
    ck_assert_int_eq(am_arena_open(name, NULL, &a), AM_EFORMAT);
    unlink(path);
    tu_cleanup();
}
END_TEST

static am_arena *inherited;
static int use_inherited(void *arg)
{
    (void)arg;
    if (am_alloc(inherited, 16) != NULL) return 1;
    if (am_arena_check(inherited) != AM_EINVAL) return 2;
    am_arena_close(inherited);                 /* allowed: unmaps only */
    return 0;
}

START_TEST(fork_child_cannot_use_parent_handle)
{
    const char *name = tu_name("fork");
    inherited = tu_open(name, 1 << 20, 1);
    ck_assert_int_eq(tu_wait(tu_fork(use_inherited, NULL)), 0);
    /* the parent's participant is still alive and its handle still works */
    void *p = am_alloc(inherited, 16);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(am_ack(inherited, p), 0);
    ck_assert_int_eq(am_arena_participant_alive(inherited, am_arena_slot(inherited)), 1);
    am_arena_close(inherited);
    tu_cleanup();
}
END_TEST

/* Stamps: a live handle's reads alive to everyone; a closed or killed one reads dead,
 * and a slot taken again by a new participant does not bring the old stamp back. */
static const char *stamp_arena;
static int hold_and_report(void *arg)
{
    _Atomic uint64_t *out = arg;
    am_arena *a = NULL;
    if (am_arena_open(stamp_arena, NULL, &a) != 0) return 1;
    atomic_store(out, am_arena_stamp(a));
    pause();                                   /* until SIGKILL */
    return 0;
}

START_TEST(stamps_tell_the_living_from_the_dead)
{
    stamp_arena = tu_name("stamps");
    am_arena *a = tu_open(stamp_arena, 1 << 20, 1);
    am_arena *b = tu_open(stamp_arena, 0, 0);
    uint64_t sb = am_arena_stamp(b);
    ck_assert_uint_ne(sb, 0);
    ck_assert_uint_ne(sb, am_arena_stamp(a));
    ck_assert_int_eq(am_arena_stamp_alive(a, am_arena_stamp(a)), 1);
    ck_assert_int_eq(am_arena_stamp_alive(a, sb), 1);
    am_arena_close(b);
    ck_assert_int_eq(am_arena_stamp_alive(a, sb), 0);
    b = tu_open(stamp_arena, 0, 0);                       /* likely the same slot again */
    ck_assert_int_eq(am_arena_stamp_alive(a, sb), 0);
    ck_assert_int_eq(am_arena_stamp_alive(a, am_arena_stamp(b)), 1);
    am_arena_close(b);
    /* another process, killed */
    _Atomic uint64_t *theirs = tu_shared(sizeof *theirs);
    pid_t pid = tu_fork(hold_and_report, (void *)theirs);
    while (atomic_load(theirs) == 0) usleep(1000);
    ck_assert_int_eq(am_arena_stamp_alive(a, atomic_load(theirs)), 1);
    kill(pid, SIGKILL);
    ck_assert_int_eq(tu_wait(pid), 128 + SIGKILL);
    ck_assert_int_eq(am_arena_stamp_alive(a, atomic_load(theirs)), 0);
    /* malformed stamps read from shared memory are simply not alive */
    ck_assert_int_eq(am_arena_stamp_alive(a, 0), 0);
    ck_assert_int_eq(am_arena_stamp_alive(a, 0xffffffffffffffffull), 0);
    ck_assert_int_eq(am_arena_stamp_alive(a, ((uint64_t)7 << 32) | 100000), 0);
    am_arena_close(a);
    tu_cleanup();
}
END_TEST

/* am_sector_of divides by a multiply with a rounded-up inverse and one correction:
 * it must agree with the sector table at every boundary, for sector sizes that are
 * not powers of two (the first sectors split the size into whole pages). */
START_TEST(sector_of_matches_the_table)
{
    const uint64_t sizes[] = { 1u << 20, 3u << 20, (5u << 20) + 4096 * 7, 64u << 20 };
    const unsigned counts[] = { 1, 3, 7, 13 };
    for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        const char *name = tu_name("sector-of");
        am_arena *a = tu_open(name, sizes[i], counts[i]);
        for (unsigned k = 0; k < a->g.nsectors; k++) {
            uint64_t lo = am_sector_start(a, k), hi = am_sector_end(a, k);
            const uint64_t probes[] = { lo, lo + 16, lo + (hi - lo) / 2, hi - 16, hi - 1 };
            for (unsigned j = 0; j < sizeof probes / sizeof *probes; j++) ck_assert_int_eq(am_sector_of(a, probes[j]), (int)k);
        }
        ck_assert_int_eq(am_sector_of(a, a->g.heap_off - 1), -1);
        ck_assert_int_eq(am_sector_of(a, am_sector_end(a, a->g.nsectors - 1)), -1);
        am_arena_close(a);
        (void)am_arena_unlink(name);
    }
}
END_TEST

/* A sender adopting returned blocks from two sectors in turn draws generations in
 * batches per sector: each sector's counter moves by about what was adopted from it,
 * not by a whole batch at every switch (a stale reference must not meet its
 * generation again soon), and every adoption gets a generation its block never had. */
START_TEST(adopted_generations_per_sector)
{
    const char *name = tu_name("gens");
    am_arena *a = tu_open_fixed(name, 4u << 20, 2);
    void *blk[2] = { NULL, NULL };
    void *fill[64];
    unsigned nfill = 0;
    while ((!blk[0] || !blk[1]) && nfill < 64) {          /* one small block in each sector */
        void *p = am_alloc(a, 64);
        ck_assert_ptr_nonnull(p);
        unsigned k = (unsigned)am_sector_of(a, am_offset(a, p));
        if (!blk[k]) { blk[k] = p; continue; }
        ck_assert_int_eq(am_ack(a, p), 0);
        fill[nfill] = am_alloc(a, 512 * 1024);           /* push allocation to the other one */
        if (fill[nfill]) nfill++;
    }
    ck_assert_msg(blk[0] && blk[1], "no block in both sectors");
    uint32_t before[2] = { atomic_load(&a->sectors[0].alloc_gen), atomic_load(&a->sectors[1].alloc_gen) };
    am_gen_batch gb = { 0 };
    uint32_t last[2] = { 0, 0 };
    for (int i = 0; i < 100; i++) {
        for (unsigned k = 0; k < 2; k++) {
            uint64_t off;
            uint32_t gen;
            ck_assert_int_eq(am_block_identify(a, blk[k], &off, &gen, NULL), 0);
            ck_assert_int_eq(am_disown(a, blk[k]), 0);
            ck_assert_ptr_eq(am_block_adopt(a, off, gen, &gb, NULL), blk[k]);
            ck_assert_int_eq(am_block_identify(a, blk[k], &off, &last[k], NULL), 0);
            ck_assert_uint_gt(last[k], gen);
        }
    }
    for (unsigned k = 0; k < 2; k++) {
        uint32_t used = atomic_load(&a->sectors[k].alloc_gen) - before[k];
        ck_assert_msg(used <= 2 * AM_GEN_BATCH, "sector %u: 100 adoptions drew %u generations", k, used);
        ck_assert_int_eq(am_ack(a, blk[k]), 0);
    }
    while (nfill) ck_assert_int_eq(am_ack(a, fill[--nfill]), 0);
    tu_finish(a);
}
END_TEST

/* A participant records its program name and the node name it was given; a bad node
 * name is refused; a scribbled name reads back terminated and printable. */
START_TEST(participants_have_names)
{
    const char *name = tu_name("names");
    am_arena_opts o = { .size = 1 << 20, .flags = AM_EXTENDED_OPTS, .node = "rover-7" };
    am_arena *a = NULL, *b = NULL;
    ck_assert_int_eq(am_arena_open(name, &o, &a), 0);
    am_participant_info pi;
    ck_assert_int_eq(am_arena_participant_info(a, am_arena_slot(a), &pi), 1);
    ck_assert_str_eq(pi.name, "test_segment");
    ck_assert_str_eq(pi.node, "rover-7");
    ck_assert_uint_eq(pi.pid, (uint32_t)getpid());
    ck_assert_uint_eq(pi.stamp, am_arena_stamp(a));
    ck_assert_uint_ne(pi.joined_ns, 0);
    /* without the flag the field is not read at all */
    am_arena_opts stale = { .node = (const char *)(uintptr_t)1 };
    ck_assert_int_eq(am_arena_open(name, &stale, &b), 0);
    ck_assert_int_eq(am_arena_participant_info(a, am_arena_slot(b), &pi), 1);
    ck_assert_str_eq(pi.node, "");
    unsigned b_slot = am_arena_slot(b);
    am_arena_close(b);
    ck_assert_int_eq(am_arena_participant_info(a, b_slot, &pi), 0);
    ck_assert_str_eq(pi.name, "");
    char longest[AM_NODE_MAX + 1];
    memset(longest, 'n', AM_NODE_MAX);
    longest[AM_NODE_MAX] = 0;
    o.node = longest;
    ck_assert_int_eq(am_arena_open(name, &o, &b), AM_EINVAL);   /* no room for its NUL */
    longest[AM_NODE_MAX - 1] = 0;
    ck_assert_int_eq(am_arena_open(name, &o, &b), 0);
    ck_assert_int_eq(am_arena_participant_info(a, am_arena_slot(b), &pi), 1);
    ck_assert_uint_eq(strlen(pi.node), AM_NODE_MAX - 1);
    /* a hostile peer's unterminated, unprintable bytes */
    am_participant *raw = &a->parts[am_arena_slot(b)];
    memset(raw->name, 0x01, sizeof raw->name);
    memset(raw->node, 'x', sizeof raw->node);
    ck_assert_int_eq(am_arena_participant_info(a, am_arena_slot(b), &pi), 1);
    ck_assert_str_eq(pi.name, "???????????????");
    ck_assert_uint_eq(strlen(pi.node), AM_NODE_MAX - 1);
    am_arena_close(b);
    o.node = "bad\nnode";
    ck_assert_int_eq(am_arena_open(name, &o, &b), AM_EINVAL);
    ck_assert_int_eq(am_arena_participant_info(a, AM_MAX_PARTICIPANTS, &pi), AM_EINVAL);
    ck_assert_int_eq(am_arena_participant_info(NULL, 0, &pi), AM_EINVAL);
    am_arena_close(a);
    tu_cleanup();
}
END_TEST

/* ---------------------------------------------------------------- hostile neighbour */

/* Run ops against an arena after corrupting it; report how the child ended. */
static am_arena *victim;
static int exercise(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg, rng = seed;
    void *held[64] = { 0 };
    for (int i = 0; i < 2000; i++) {
        unsigned j = (unsigned)(tu_rand(&rng) % 64);
        if (held[j]) {
            (void)am_ack(victim, held[j]);
            held[j] = NULL;
        } else {
            held[j] = am_alloc(victim, 1 + tu_rand(&rng) % 3000);
        }
        if (i % 500 == 0) {
            am_stats st;
            (void)am_arena_check(victim);
            (void)am_arena_stats(victim, &st);
            (void)am_arena_reclaim(victim);
        }
    }
    return 0;
}

static int scribble_run(uint64_t seed, int where)
{
    const char *name = tu_name("scribble");
    am_arena *a = tu_open(name, 1 << 20, 4);
    /* some live and freed blocks first, so lists and chains are non-trivial */
    void *p[40];
    for (int i = 0; i < 40; i++) p[i] = am_alloc(a, 100 + (size_t)i * 37);
    for (int i = 0; i < 40; i += 2) am_ack(a, p[i]);
    uint64_t rng = seed;
    uint8_t *lo = a->base + (where == 0 ? a->g.sectors_off : a->g.heap_off);
    uint64_t span = where == 0 ? a->g.heap_off - a->g.sectors_off : a->g.nsectors * a->g.sector_size;
    for (int i = 0; i < 64; i++) {
        uint64_t at = tu_rand(&rng) % (span - 8) & ~3ull;
        uint32_t v = (uint32_t)tu_rand(&rng);
        if (i % 4 == 0) v &= 0xffff;              /* plausible small values too */
        memcpy(lo + at, &v, 4);
    }
    victim = a;
    int rc = tu_wait(tu_fork(exercise, (void *)(uintptr_t)seed));
    am_arena_close(a);
    am_arena_unlink(name);
    return rc;
}

/* Random byte flips anywhere in the metadata of an arena file (header, participants,
 * sector table) and in its first blocks, then open and use it: errors are fine, a
 * signal is not. */
static const char *mutant_name;
static int open_and_use(void *arg)
{
    (void)arg;
    am_arena *a = NULL;
    if (am_arena_open(mutant_name, NULL, &a) != 0) return 0;
    am_stats st;
    (void)am_arena_check(a);
    (void)am_arena_stats(a, &st);
    void *p[16];
    for (int i = 0; i < 16; i++) p[i] = am_alloc(a, 100 + (size_t)i * 500);
    for (int i = 0; i < 16; i++) (void)am_ack(a, p[i]);
    (void)am_arena_reclaim(a);
    (void)am_arena_check(a);
    am_arena_close(a);
    return 0;
}

START_TEST(mutated_files_never_crash)
{
    mutant_name = tu_name("mutant");
    const char *good = tu_name("mutant-src");
    am_arena *a = tu_open(good, 1 << 20, 4);
    void *keep[8];
    for (int i = 0; i < 8; i++) keep[i] = am_alloc(a, 300 + (size_t)i * 100);
    for (int i = 0; i < 8; i += 2) am_ack(a, keep[i]);
    size_t meta = (size_t)(a->g.heap_off + 8192);       /* metadata and the first blocks */
    size_t len = (size_t)a->g.size;
    uint8_t *img = malloc(len), *bad = malloc(len);
    memcpy(img, a->base, len);
    am_arena_close(a);
    char path[128];
    tu_path(path, sizeof path, mutant_name);
    uint64_t rng = 99;
    for (int round = 0; round < 1000; round++) {
        memcpy(bad, img, len);
        int flips = 1 + (int)(tu_rand(&rng) % 8);
        for (int f = 0; f < flips; f++) bad[tu_rand(&rng) % meta] ^= (uint8_t)(1u << (tu_rand(&rng) % 8));
        unlink(path);
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, bad, len), (ssize_t)len);
        close(fd);
        int rc = tu_wait(tu_fork(open_and_use, NULL));
        ck_assert_msg(rc == 0, "round %d: the child ended with %d", round, rc);
    }
    unlink(path);
    free(img);
    free(bad);
    tu_cleanup();
}
END_TEST

START_TEST(scribbled_arena_never_crashes)
{
    for (uint64_t seed = 1; seed <= 60; seed++) {
        int rc = scribble_run(seed * 7919, (int)(seed % 2));
        ck_assert_msg(rc == 0, "seed %llu: child ended with %d (signal %d)", (unsigned long long)seed, rc, rc - 128);
    }
    tu_cleanup();
}
END_TEST

START_TEST(targeted_corruption)
{
    const char *name = tu_name("target");
    am_arena *a = tu_open(name, 1 << 20, 1);
    char *p = am_alloc(a, 200), *q = am_alloc(a, 200);
    am_block *bq = am_blk(a, am_offset(a, q) - AM_HDR);
    /* a header size that runs off the sector */
    uint32_t saved = atomic_load(&bq->size16);
    atomic_store(&bq->size16, 0xffffffffu);
    EXPECT(am_arena_check(a), AM_ECORRUPT);
    ck_assert_str_ne(am_arena_check_report(), "");
    EXPECT(am_ack(a, q), AM_EINVAL);
    atomic_store(&bq->size16, 1);                   /* below the minimum */
    EXPECT(am_arena_check(a), AM_ECORRUPT);
    atomic_store(&bq->size16, saved);
    EXPECT(am_arena_check(a), 0);
    /* a free-list head pointing into the middle of a block */
    am_sector *s = &a->sectors[0];
    unsigned fl = (unsigned)__builtin_ctz(atomic_load(&s->fl_bitmap));
    unsigned sl = (unsigned)__builtin_ctz(atomic_load(&s->sl_bitmap[fl]));
    uint32_t head = atomic_load(&s->heads[fl][sl]);
    atomic_store(&s->heads[fl][sl], (uint32_t)(am_offset(a, p) / 16 + 2));
    void *r = NULL;
    EXPECT(am_arena_check(a), AM_ECORRUPT);              /* the checker sees it */
    EXPECT(am_try_alloc(a, 100, &r), AM_ECORRUPT);       /* an allocation meets it... */
    EXPECT(am_arena_check(a), 0);                        /* ...and rebuilds the lists */
    ck_assert_uint_ne(atomic_load(&s->heads[fl][sl]), am_offset(a, p) / 16 + 2);
    (void)head;
    /* a lock stamp of garbage: taken as a dead holder's, stolen and repaired */
    atomic_store(&s->lock, 0xdeadbeefdeadbeefull);
    r = am_alloc(a, 100);
    ck_assert_ptr_nonnull(r);
    EXPECT(am_arena_check(a), 0);
    ck_assert_uint_ge(atomic_load(&s->repairs), 1);
    /* a deferred stack pointing at garbage is dropped, not walked */
    atomic_store(&s->pending, 12345);
    EXPECT(am_arena_check(a), AM_ECORRUPT);
    EXPECT(am_arena_check(a), 0);
    /* an intent record of garbage in a dead slot's table */
    atomic_store(&a->parts[200].state, AM_PART_LIVE);
    atomic_store(&a->parts[200].intent[3], 0xffffffffffffffffull);
    ck_assert_int_ge(am_arena_reclaim(a), 0);
    ck_assert_uint_eq(atomic_load(&a->parts[200].state), AM_PART_FREE);
    am_ack(a, p);
    am_ack(a, q);
    am_ack(a, r);
    tu_finish(a);
}
END_TEST

/* A process stopped (SIGSTOP) while it holds the only sector's lock (to a waiter the
 * same as a live-looking stamp a hostile peer wrote there): another allocation, a
 * check and the stats give up with AM_ETIMEDOUT (after AM_ALLOC_WAIT_NS, 1 s) instead
 * of waiting for it forever, and succeed once it runs again. */
static int lock_and_stop(void *arg)
{
    am_arena *a;
    if (am_arena_open(arg, NULL, &a)) return 1;
    if (am_sector_lock_until(a, 0, UINT64_MAX)) return 2;
    raise(SIGSTOP);
    am_sector_unlock(a, 0);
    am_arena_close(a);
    return 0;
}

START_TEST(stopped_lock_holder_costs_a_deadline)
{
    const char *name = tu_name("stopped");
    am_arena *a = tu_open(name, 4 << 20, 1);
    pid_t pid = tu_fork(lock_and_stop, (void *)name);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, WUNTRACED), pid);
    ck_assert(WIFSTOPPED(st));
    void *p;
    ck_assert_int_eq(am_try_alloc(a, 64, &p), AM_ETIMEDOUT);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(am_arena_check(a), AM_ETIMEDOUT);
    ck_assert_ptr_nonnull(strstr(am_arena_check_report(), "held by a live process"));
    am_stats stats;
    ck_assert_int_eq(am_arena_stats(a, &stats), AM_ETIMEDOUT);
    ck_assert_uint_eq(stats.sectors, 1);                /* the rest is filled in */
    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    ck_assert_int_eq(tu_wait(pid), 0);
    ck_assert_int_eq(am_try_alloc(a, 64, &p), 0);
    ck_assert_int_eq(am_ack(a, p), 0);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("segment", 120, (const TTest *[]){
        stopped_lock_holder_costs_a_deadline,
        open_flags_and_names,
        mode_and_trust,
        requested_mode_honours_the_umask,
        symlink_refused,
        bad_files,
        eight_racing_creators,
        dead_creator_leaves_no_trap,
        fork_child_cannot_use_parent_handle,
        stamps_tell_the_living_from_the_dead,
        participants_have_names,
        sector_of_matches_the_table,
        adopted_generations_per_sector,
        targeted_corruption,
        scribbled_arena_never_crashes,
        mutated_files_never_crash,
        NULL });
}
