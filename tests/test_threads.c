/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_threads.c — threads of one process sharing one arena handle (it is
 * thread-safe), handing blocks to each other through lock-free mailboxes; and
 * threads with a handle each. Built with ThreadSanitizer in CI: every shared access
 * in the arena is a C11 atomic, so TSan sees real races, not noise.
 */
#include <pthread.h>
#include <string.h>
#include "test_util.h"

enum { THREADS = 4, OPS = 60000, BOX = 64 };

typedef struct box {
    _Atomic uint64_t slot[BOX];  /* an offset handed over (valid in every mapping), or 0 */
} box;

typedef struct ctx {
    am_arena *shared;            /* the handle all threads use (or NULL: own handle) */
    const char *name;
    box *boxes;
    _Atomic int failures;
    _Atomic int running;
} ctx;

typedef struct targ { ctx *c; unsigned me; } targ;

/* Each block carries its length and a pattern in its first bytes. */
static void stamp(void *p, size_t len, uint64_t seed)
{
    memcpy(p, &len, sizeof len);
    tu_fill((char *)p + sizeof len, len - sizeof len, seed);
}

static int stamped_ok(const void *p, uint64_t seed)
{
    size_t len;
    memcpy(&len, p, sizeof len);
    return len >= sizeof len && len <= 70000 && tu_verify((const char *)p + sizeof len, len - sizeof len, seed);
}

static void *run(void *arg)
{
    targ *t = arg;
    ctx *c = t->c;
    am_arena *a = c->shared;
    if (!a && am_arena_open(c->name, NULL, &a) != 0) {
        atomic_fetch_add(&c->failures, 1);
        return NULL;
    }
    uint64_t rng = 77 + t->me;
    for (int op = 0; op < OPS; op++) {
        /* take something another thread left for us */
        box *mine = &c->boxes[t->me];
        unsigned i = (unsigned)(tu_rand(&rng) % BOX);
        void *got = am_ptr(a, atomic_exchange(&mine->slot[i], 0));
        if (got) {
            if (!stamped_ok(got, 1234) || am_ack(a, got) != 0) atomic_fetch_add(&c->failures, 1);
        }
        size_t len = 8 + (size_t)(tu_rand(&rng) % (tu_rand(&rng) % 16 == 0 ? 60000 : 300));
        void *p = am_alloc(a, len);
        if (!p) continue;
        stamp(p, len, 1234);
        if (tu_rand(&rng) % 3 == 0) {             /* an extra reference, dropped at once */
            if (am_retain(a, p, 1) != 0 || am_ack(a, p) != 0) atomic_fetch_add(&c->failures, 1);
        }
        box *to = &c->boxes[tu_rand(&rng) % THREADS];
        uint64_t expected = 0;
        if (am_disown(a, p) != 0 || !atomic_compare_exchange_strong(&to->slot[tu_rand(&rng) % BOX], &expected, am_offset(a, p))) {
            if (am_ack(a, p) != 0) atomic_fetch_add(&c->failures, 1);
        }
    }
    atomic_fetch_sub(&c->running, 1);
    if (!c->shared) {
        /* each thread drains its own box once nobody sends any more */
        while (atomic_load(&c->running) > 0) {
        }
        for (unsigned i = 0; i < BOX; i++) {
            void *got = am_ptr(a, atomic_exchange(&c->boxes[t->me].slot[i], 0));
            if (got && (!stamped_ok(got, 1234) || am_ack(a, got) != 0)) atomic_fetch_add(&c->failures, 1);
        }
        am_arena_close(a);
    }
    return NULL;
}

static void run_threads(ctx *c)
{
    pthread_t th[THREADS];
    targ args[THREADS];
    atomic_store(&c->running, THREADS);
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (targ){ c, i };
        ck_assert_int_eq(pthread_create(&th[i], NULL, run, &args[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
}

START_TEST(threads_share_one_handle)
{
    static box boxes[THREADS];
    memset(boxes, 0, sizeof boxes);
    ctx c = { .shared = tu_open(tu_name("threads"), 8 << 20, 4), .boxes = boxes };
    run_threads(&c);
    ck_assert_int_eq(atomic_load(&c.failures), 0);
    for (unsigned b = 0; b < THREADS; b++) {
        for (unsigned i = 0; i < BOX; i++) {
            uint64_t off = atomic_load(&boxes[b].slot[i]);
            if (off) ck_assert_int_eq(am_ack(c.shared, am_ptr(c.shared, off)), 0);
        }
    }
    ck_assert_msg(am_arena_check(c.shared) == 0, "%s", am_arena_check_report());
    ck_assert(tu_all_free(c.shared));
    am_arena_close(c.shared);
    tu_cleanup();
}
END_TEST

/* A handle per thread: four participants of one process, each with its own mapping,
 * handing blocks over by offset as separate processes would. */
START_TEST(threads_with_own_handles)
{
    static box boxes[THREADS];
    memset(boxes, 0, sizeof boxes);
    const char *name = tu_name("threads-own");
    am_arena *probe = tu_open(name, 8 << 20, 2);
    ctx c = { .shared = NULL, .name = name, .boxes = boxes };
    run_threads(&c);
    ck_assert_int_eq(atomic_load(&c.failures), 0);
    tu_finish(probe);
}
END_TEST

int main(void)
{
    return tu_main("threads", 300, (const TTest *[]){
        threads_share_one_handle,
        threads_with_own_handles,
        NULL });
}
