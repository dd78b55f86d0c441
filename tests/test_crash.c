/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_crash.c — kill -9 inside every multi-step operation.
 *
 * Workers allocate, fill, retain and ack blocks (random sizes) on a small arena with
 * few sectors, so that frees often find their sector busy and go through the deferred
 * stack; now and then a block larger than a sector makes the arena grow, and grown
 * sectors left idle for 2 ms are given back and taken again (grow.c). Crash points inside split, merge, drain, the free claim, repair, reclaim and
 * join kill a worker with SIGKILL at a small probability; the parent respawns it.
 * A dead worker's blocks and locks must be recovered by the others (or by the next
 * joiner): at the end no granule is held twice, nothing leaks after reclaim, and the
 * checker passes with every sector one free block.
 *
 * CI makes >= 1000 deaths; AM_CRASH_DEATHS=N asks for more.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testing.h"
#include "arena_internal.h"
#include "test_util.h"

enum { WORKERS = 4, KEEP = 48, MAX_IDS = 1 << 20 };

typedef struct shared {
    const char *name;
    _Atomic uint64_t who[MAX_IDS];      /* id -> (arena participant gen << 32 | slot + 1) */
    uint64_t deaths_at[64];             /* per crash point, counted by the dying worker */
    char focus[64];                     /* a crash point weighted up, or "" */
    _Atomic uint64_t ops, allocs;
    tu_map *map;
} shared;

static shared *sh;
static am_arena *arena;

/* Is worker id dead, as the arena sees it? Its slot is being reclaimed (RECLAIMING is
 * set before anything is freed) or free, or has a newer incarnation, or nobody holds
 * the slot's byte lock. Blocks the arena gave back always belong to a dead id.
 * The state is read before the gen: a joiner bumps the gen before it turns LIVE, so a
 * LIVE read first and the old gen after can only be the old incarnation's. */
static int id_dead(uint32_t id)
{
    uint64_t w = id < MAX_IDS ? atomic_load(&sh->who[id]) : 0;
    if (w == 0) return 0;
    am_participant *p = &arena->parts[(w & 0xffffffffu) - 1];
    if (atomic_load(&p->state) != AM_PART_LIVE || atomic_load(&p->gen) != (uint32_t)(w >> 32)) return 1;
    return am_arena_participant_alive(arena, (unsigned)(w & 0xffffffffu) - 1) == 0;
}

typedef struct held { void *p; uint64_t off, len, seed; uint32_t refs; } held;

static int worker(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    tu_shift_mappings(id);
    /* ~1 death per few hundred operations; joining and reclaiming can die too */
    am_test_set_crash_rate(sh->focus[0] ? 1.0 / 4000 : 1.0 / 1500, 0x9e3779b97f4a7c15ull * id);
    /* Growth, release and reuse are rare steps (a few dozen a run): weighted up harder. */
    bool rare = strncmp(sh->focus, "GROW_", 5) == 0 || strncmp(sh->focus, "RELEASE_", 8) == 0 ||
                strncmp(sh->focus, "REUSE_", 6) == 0;
    if (sh->focus[0] && am_test_focus_crash_point(sh->focus, rare ? 0.5 : 1.0 / 20) != 0) return 31;
    /* am_arena_reclaim meets a dead slot only between a death and its successor's join
     * (the joiner takes the dead slot over and reclaims it inside the join): workers
     * focused on it look for dead peers themselves, often, so the point is reached by
     * more than the rare race of two deaths at once. */
    bool reclaims = strncmp(sh->focus, "RECLAIM_", 8) == 0;
    am_test_count_crashes(sh->deaths_at);
    am_test_set_release_idle(2000000);
    am_arena *a = NULL;
    if (am_arena_open(sh->name, NULL, &a) != 0) return 10;
    arena = a;   /* id_dead reads this worker's own mapping */
    atomic_store(&sh->who[id], ((uint64_t)a->gen << 32) | (a->slot + 1));
    uint64_t rng = id * 2654435761u + 1;
    held h[KEEP];
    int n = 0;
    for (int op = 0; op < 4000; op++) {
        atomic_fetch_add_explicit(&sh->ops, 1, memory_order_relaxed);
        if (reclaims && op % 32 == 0 && am_arena_reclaim(a) < 0) return 27;
        if (n == KEEP || (n > 0 && tu_rand(&rng) % 2 == 0)) {
            int j = (int)(tu_rand(&rng) % (uint64_t)n);
            if (!tu_verify(h[j].p, h[j].len, h[j].seed)) return 20;
            /* still ours: nobody reclaimed a live participant's block */
            if (atomic_load(&am_blk(a, h[j].off - AM_HDR)->owner) != a->slot + 1) return 26;
            if (h[j].refs == 1 && tu_map_release(sh->map, h[j].off, h[j].len, id) != 0) return 21;
            if (am_ack(a, h[j].p) != 0) return 22;
            if (--h[j].refs == 0) h[j] = h[--n];
            continue;
        }
        uint64_t r = tu_rand(&rng);
        size_t len = r % 100 == 0 ? ((size_t)512 << 10) + (size_t)(r >> 20) % ((size_t)2 << 20)   /* grows */
                   : 1 + (size_t)(tu_rand(&rng) % (r % 4 == 0 ? 16384 : 600));
        void *p = am_alloc(a, len);
        if (!p) continue;
        atomic_fetch_add_explicit(&sh->allocs, 1, memory_order_relaxed);
        held b = { p, am_offset(a, p), len, ((uint64_t)id << 32) ^ (uint64_t)op, 1 };
        if (tu_map_claim(sh->map, b.off, len, id, id_dead) != 0) return 24;   /* overlap */
        tu_fill(p, len, b.seed);
        if (tu_rand(&rng) % 4 == 0) {
            if (am_retain(a, p, 1) != 0) return 25;
            b.refs = 2;
        }
        h[n++] = b;
    }
    /* A survivor lets its blocks go through am_arena_close (as a death would). */
    for (int j = 0; j < n; j++) {
        if (tu_map_release(sh->map, h[j].off, h[j].len, id) != 0) return 21;
    }
    am_test_set_crash_rate(0, 0);
    am_arena_close(a);
    return 0;
}

/* Run workers on a fresh arena, respawning the dead, until `want` deaths (or, with a
 * focused point, until it caused `want_focus` of them or `want` passed); then check
 * that nothing overlapped, nothing leaked after reclaim, and the checker passes. */
static void run_deaths(const char *focus, int want, int want_focus)
{
    sh = tu_shared(sizeof *sh);
    sh->name = tu_name("crash");
    snprintf(sh->focus, sizeof sh->focus, "%s", focus);
    am_arena_opts o = { .size = 2 << 20, .sectors = 2, .flags = AM_EXTENDED_OPTS, .max_size = 1 << 30 };
    am_arena *a = NULL;
    ck_assert_int_eq(am_arena_open(sh->name, &o, &a), 0);
    am_test_set_release_idle(2000000);
    arena = a;
    sh->map = tu_map_new(a);
    unsigned fp = am_test_crash_points();
    for (unsigned i = 0; i < am_test_crash_points(); i++) {
        if (focus[0] && strcmp(focus, am_test_crash_point_name(i)) == 0) fp = i;
    }
    ck_assert(!focus[0] || fp < am_test_crash_points());

    pid_t pids[WORKERS];
    uint32_t next_id = 1;
    int deaths = 0, clean = 0;
    for (unsigned w = 0; w < WORKERS; w++) pids[w] = tu_fork(worker, (void *)(uintptr_t)next_id++);
    while (deaths < want && (fp == am_test_crash_points() || __atomic_load_n(&sh->deaths_at[fp], __ATOMIC_SEQ_CST) < (uint64_t)want_focus)) {
        int st;
        pid_t pid = wait(&st);
        ck_assert_int_gt(pid, 0);
        unsigned w = 0;
        while (w < WORKERS && pids[w] != pid) w++;
        ck_assert_uint_lt(w, WORKERS);
        if (WIFSIGNALED(st)) {
            ck_assert_msg(WTERMSIG(st) == SIGKILL, "worker died of signal %d", WTERMSIG(st));
            deaths++;
        } else {
            ck_assert_msg(WEXITSTATUS(st) == 0, "worker failed with %d", WEXITSTATUS(st));
            clean++;
        }
        ck_assert_uint_lt(next_id, MAX_IDS);
        pids[w] = tu_fork(worker, (void *)(uintptr_t)next_id++);
        if (deaths % 250 == 0 && WIFSIGNALED(st)) {
            ck_assert_msg(am_arena_check(a) == 0, "mid-run: %s", am_arena_check_report());
        }
    }
    for (unsigned w = 0; w < WORKERS; w++) {
        int rc = tu_wait(pids[w]);
        ck_assert_msg(rc == 0 || rc == 128 + SIGKILL, "worker ended with %d", rc);
        deaths += rc != 0;
    }
    int reclaimed = am_arena_reclaim(a);
    ck_assert_int_ge(reclaimed, 0);
    ck_assert_msg(am_arena_check(a) == 0, "%s", am_arena_check_report());
    am_stats st;
    ck_assert_int_eq(am_arena_stats(a, &st), 0);
    ck_assert_msg(tu_all_free(a), "leak: %llu blocks still used", (unsigned long long)st.used_blocks);
    if (!focus[0]) {
        printf("crash: %d deaths, %d clean exits, %llu operations, %llu allocations, "
               "%llu sector repairs, %llu blocks reclaimed\ncrash: deaths by point:",
               deaths, clean, (unsigned long long)atomic_load(&sh->ops), (unsigned long long)atomic_load(&sh->allocs),
               (unsigned long long)st.repairs, (unsigned long long)st.reclaimed);
        for (unsigned i = 0; i < am_test_crash_points(); i++) {
            printf(" %s %llu", am_test_crash_point_name(i), (unsigned long long)sh->deaths_at[i]);
        }
        printf("\n");
        ck_assert_int_ge(deaths, want);
        ck_assert_uint_gt(st.repairs, 0);        /* deaths did land inside critical sections */
        ck_assert_uint_gt(st.reclaimed, 0);
    } else {
        printf("crash: %s: %llu of %d deaths\n", focus, (unsigned long long)sh->deaths_at[fp], deaths);
        ck_assert_msg(sh->deaths_at[fp] > 0, "no death at %s in %d deaths", focus, deaths);
    }
    am_arena_close(a);
    tu_cleanup();
}

START_TEST(kill_inside_critical_sections)
{
    const char *want = getenv("AM_CRASH_DEATHS");
    run_deaths("", want ? atoi(want) : 1000, 0);
}
END_TEST

/* Every arena crash point in turn, weighted up: each must be reached, kill, and be
 * recovered from (split, merge, drain, the free claim, reclaim, repair, join). */
START_TEST(every_crash_point_recovers)
{
    for (unsigned i = 0; i < am_test_crash_points(); i++) {
        const char *name = am_test_crash_point_name(i);
        if (strncmp(name, "CH_", 3) == 0) continue;   /* the channel's: test_channel_crash */
        run_deaths(name, 600, 5);
    }
}
END_TEST

int main(void)
{
    return tu_main("crash", 600, (const TTest *[]){
        kill_inside_critical_sections,
        every_crash_point_recovers,
        NULL });
}
