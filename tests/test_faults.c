/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_faults.c — every system call and allocation the library makes fails, one at a
 * time, at every point a scenario reaches (faults.h says how).
 *
 * For each kind of call and n = 1, 2, ... until a run no longer makes n such calls:
 * the n-th fails while one scenario runs (create an arena, publish, take, ack, a call
 * to a server, close everything). Every API call must give 0 or a known negative
 * AM_E* code, never a signal or a hang; afterwards no file descriptor, heap block or
 * file is left over, and the arena, reopened and cleaned, checks clean with every
 * sector one free block. The run that reaches no fault must succeed throughout.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include "faults.h"
#include "test_util.h"

#define MS 1000000ll

/* TU_REQUIRE, disarmed first: Check's own allocations must not be the ones failing. */
#define REQUIRE(cond, ...) do { if (!(cond)) { fault_disarm(); ck_abort_msg(__VA_ARGS__); } } while (0)

static fault_kind armed_kind;
static unsigned long armed_n;

/* rc must be 0 or one of the library's codes. */
static int known(const char *what, int rc)
{
    REQUIRE(rc == 0 || (rc < 0 && strcmp(am_err_name(rc), "unknown") != 0),
               "%s gave %d with %s failing at call %lu", what, rc, fault_name(armed_kind), armed_n);
    return rc;
}

/* The next step runs only while every earlier one succeeded. */
#define STEP(rc, call) do { if ((rc) == 0) (rc) = known(#call, (call)); } while (0)

/* Entries of a directory (without . and ..), -1 if it cannot be read. */
static int entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    }
    closedir(d);
    return n;
}

/* A call needs a second thread: the caller waits for its reply while this one serves. */
typedef struct caller {
    am_client *c;
    int rc;
    _Atomic int done;
} caller;

static void *call_once(void *arg)
{
    caller *k = arg;
    am_sample r;
    k->rc = known("am_client_call", am_client_call(k->c, "ping", 4, &r, 2000 * MS));
    if (k->rc == 0) {
        REQUIRE(r.len == 4 && memcmp(r.data, "pong", 4) == 0, "a wrong reply");
        k->rc = known("am_client_ack", am_client_ack(k->c, &r));
    }
    atomic_store(&k->done, 1);
    return NULL;
}

/* One call from c served by *srv. A server that failed is closed at once, so that its
 * caller gets AM_EPEERDEAD now rather than its timeout later. */
static int round_trip(am_server **srv, am_client *c)
{
    caller k = { .c = c };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, call_once, &k) == 0, "pthread_create");
    int rc = AM_ETIMEDOUT;
    while (rc == AM_ETIMEDOUT && !atomic_load(&k.done)) {
        am_request q;
        rc = known("am_server_take", am_server_take(*srv, &q, 10 * MS));
        if (rc == 0) rc = known("am_server_reply", am_server_reply(*srv, &q, "pong", 4));
    }
    if (rc != 0) {
        am_server_close(*srv);
        *srv = NULL;
    }
    pthread_join(t, NULL);
    return rc ? rc : k.rc;
}

/* Take and ack one sample, which must be there and be `want`: a sample that was sent
 * (or kept, for an open that asked for it) without an error is queued, so no waiting
 * and no AM_ETIMEDOUT. */
static int take(am_sub *s, const char *want)
{
    am_sample m;
    int rc = known("am_sub_take", am_sub_take(s, &m, 0));
    REQUIRE(rc != AM_ETIMEDOUT, "%s failing at call %lu: the sample \"%s\" is missing", fault_name(armed_kind),
            armed_n, want);
    if (rc) return rc;
    REQUIRE(m.len == strlen(want) && memcmp(m.data, want, m.len) == 0, "a wrong sample");
    return known("am_sub_ack", am_sub_ack(s, &m));
}

/* The scenario: 0, or the first failure's code. The receiving side attaches a second
 * handle, so that both the creation and the attach of an arena are gone through. */
static int scenario(const char *name)
{
    am_arena_opts o = { .size = 4u << 20 };
    am_arena *a = NULL, *b = NULL;
    am_pub *p = NULL;
    am_sub *s = NULL;
    am_server *srv = NULL;
    am_client *c = NULL;
    int rc = 0;
    STEP(rc, am_arena_open(name, &o, &a));
    STEP(rc, am_arena_open(name, &o, &b));
    STEP(rc, am_pub_open(a, "faults/topic", &(am_pub_opts){ .history = 1 }, &p));
    STEP(rc, am_pub_publish(p, "kept", 4));
    STEP(rc, am_sub_open(b, "faults/topic", &(am_sub_opts){ .history = 1 }, &s));
    STEP(rc, take(s, "kept"));                  /* the history's, replayed by the open */
    STEP(rc, am_pub_publish(p, "sent", 4));
    STEP(rc, take(s, "sent"));
    STEP(rc, am_server_open(b, "faults/service", NULL, &srv));
    STEP(rc, am_client_open(a, "faults/service", NULL, &c));
    if (rc == 0) rc = round_trip(&srv, c);
    STEP(rc, am_arena_check(b));
    am_client_close(c);
    am_server_close(srv);
    am_sub_close(s);
    am_pub_close(p);
    am_arena_close(b);
    am_arena_close(a);
    return rc;
}

/* With no fault armed: what the run left in the arena must come back, and then every
 * sector is one free block. */
static void settle(const char *name)
{
    char path[512];
    tu_path(path, sizeof path, name);
    if (access(path, F_OK) != 0) return;
    am_arena_opts o = { .flags = AM_ATTACH_ONLY };
    am_arena *a = NULL;
    int rc = am_arena_open(name, &o, &a);
    REQUIRE(rc == 0, "reopening after %s failed at call %lu: %s", fault_name(armed_kind), armed_n,
               am_strerror(rc));
    REQUIRE(am_channels_gc(a) >= 0, "am_channels_gc");
    REQUIRE(am_arena_reclaim(a) >= 0, "am_arena_reclaim");
    REQUIRE(am_arena_check(a) == 0, "after %s failed at call %lu: %s", fault_name(armed_kind), armed_n,
               am_arena_check_report());
    REQUIRE(tu_all_free(a), "after %s failed at call %lu: blocks are still in use", fault_name(armed_kind),
               armed_n);
    am_arena_close(a);
    REQUIRE(am_arena_unlink(name) == 0, "am_arena_unlink");
}

/* Fail the n-th call of kind k for every n a run reaches; returns how many runs failed one. */
static unsigned long every_point(fault_kind k)
{
    /* A directory of this test's own (each test is a fork of main, which has not read
     * AM_SHM_DIR yet): "nothing left behind" is then "the directory is empty". */
    char dir[] = "/dev/shm/am-faults.XXXXXX";
    ck_assert(mkdtemp(dir) && setenv("AM_SHM_DIR", dir, 1) == 0);
    /* Waits sleep on the futex at once instead of spinning first: futex waits happen. */
    ck_assert(setenv("AM_SPIN_NS", "0", 1) == 0);
    for (unsigned long n = 1;; n++) {
        int fds = entries("/proc/self/fd");
        const char *name = tu_name("faults");
        armed_kind = k;
        armed_n = n;
        fault_arm(k, n);
        int rc = scenario(name);
        unsigned long seen = fault_disarm();
        settle(name);
        REQUIRE(fault_heap_balance() == 0, "%s failing at call %lu: %ld heap blocks leaked", fault_name(k), n,
                   fault_heap_balance());
        REQUIRE(entries("/proc/self/fd") == fds, "%s failing at call %lu: %d file descriptors leaked",
                   fault_name(k), n, entries("/proc/self/fd") - fds);
        REQUIRE(entries(dir) == 0, "%s failing at call %lu: files left in %s", fault_name(k), n, dir);
        if (seen < n) {
            REQUIRE(rc == 0, "with no fault the scenario gave %s", am_err_name(rc));
            printf("test_faults: %-16s %lu calls failed in turn\n", fault_name(k), n - 1);
            rmdir(dir);
            return n - 1;
        }
        REQUIRE(n < 10000, "%s: the scenario never ends", fault_name(k));
    }
}

#define FAULT_TEST(kind, what)                                                      \
    START_TEST(fail_##kind) { every_point(FAULT_##kind); }                         \
    END_TEST
FAULT_KINDS(FAULT_TEST)
#undef FAULT_TEST

int main(void)
{
    const TTest *const tests[] = {
#define FAULT_TEST_REF(kind, what) fail_##kind,
        FAULT_KINDS(FAULT_TEST_REF)
#undef FAULT_TEST_REF
        NULL
    };
    return tu_main("faults", 60, tests);
}
