/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stress.c — several processes, each mapping the arena at its own address,
 * allocate random sizes (1 B - 64 KiB), fill them with a pattern, and hand blocks to
 * each other; receivers verify and ack. The ownership map catches any byte handed
 * out twice. At the end the checker must pass and every sector be one free block.
 *
 * CI runs a few seconds; AM_SOAK_SECONDS=N runs N seconds (a soak).
 */
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "test_util.h"

enum { WORKERS = 4, RING = 256, KEEP = 64 };

typedef struct msg { uint64_t off; uint64_t len; uint64_t seed; } msg;
typedef struct ring { _Atomic uint32_t head, tail; msg slot[RING]; } ring;

typedef struct shared {
    const char *name;
    double seconds;
    _Atomic int go;
    _Atomic int done[WORKERS];
    _Atomic uint64_t sent, received, allocs;
    _Atomic uintptr_t base[WORKERS];
    ring rings[WORKERS][WORKERS];       /* [from][to], one producer, one consumer */
    tu_map *map;
} shared;

static shared *sh;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int ring_put(ring *r, msg m)
{
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING) return 0;
    r->slot[t % RING] = m;
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return 1;
}

static int ring_get(ring *r, msg *m)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&r->tail, memory_order_acquire)) return 0;
    *m = r->slot[h % RING];
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return 1;
}

/* Verify, unmark and ack one block held by worker id. Non-zero exit code on error. */
static int release(am_arena *a, uint32_t id, msg m)
{
    void *p = am_ptr(a, m.off);
    if (!p || !tu_verify(p, m.len, m.seed)) return 20;        /* payload overwritten */
    if (tu_map_release(sh->map, m.off, m.len, id) != 0) return 21;
    return am_ack(a, p) == 0 ? 0 : 22;
}

static int worker(void *arg)
{
    uint32_t me = (uint32_t)(uintptr_t)arg, id = me + 1;
    tu_shift_mappings(me);
    am_arena *a = NULL;
    if (am_arena_open(sh->name, NULL, &a) != 0) return 10;
    atomic_store(&sh->base[me], (uintptr_t)am_ptr(a, am_offset(a, am_alloc(a, 1))));
    while (!atomic_load(&sh->go)) {
    }
    uint64_t rng = 0x1234567ull * id, seq = 0;
    msg keep[KEEP];
    int nkeep = 0, rc = 0;
    double end = now() + sh->seconds;
    while (rc == 0 && now() < end) {
        /* receive whatever came */
        for (unsigned from = 0; from < WORKERS && rc == 0; from++) {
            msg m;
            while (rc == 0 && ring_get(&sh->rings[from][me], &m)) {
                /* the sender's granules become ours, then we release them */
                if (tu_map_release(sh->map, m.off, m.len, from + 1) != 0 ||
                    tu_map_claim(sh->map, m.off, m.len, id, NULL) != 0) rc = 23;
                else rc = release(a, id, m);
                atomic_fetch_add(&sh->received, 1);
            }
        }
        if (rc) break;
        if (nkeep == KEEP || (nkeep > 0 && tu_rand(&rng) % 3 == 0)) {
            int j = (int)(tu_rand(&rng) % (uint64_t)nkeep);
            rc = release(a, id, keep[j]);
            keep[j] = keep[--nkeep];
            continue;
        }
        uint64_t r = tu_rand(&rng);
        size_t len = 1 + (size_t)(r % 8 == 0 ? tu_rand(&rng) % 65536 : tu_rand(&rng) % 1024);
        void *p = am_alloc(a, len);
        if (!p) continue;                               /* full for now: others will free */
        atomic_fetch_add(&sh->allocs, 1);
        msg m = { am_offset(a, p), len, (id << 24) ^ seq++ };
        if (tu_map_claim(sh->map, m.off, len, id, NULL) != 0) { rc = 24; break; }  /* overlap */
        tu_fill(p, len, m.seed);
        if (r % 4 == 0) {                               /* extra references, dropped again */
            if (am_retain(a, p, 2) != 0 || am_ack(a, p) != 0 || am_ack(a, p) != 0) { rc = 25; break; }
        }
        unsigned to = (unsigned)(tu_rand(&rng) % WORKERS);
        if (to != me && am_disown(a, p) == 0 && ring_put(&sh->rings[me][to], m)) {
            atomic_fetch_add(&sh->sent, 1);
        } else {
            keep[nkeep++] = m;
        }
    }
    /* wind down: free ours, then keep receiving until every sender is done */
    for (int j = 0; j < nkeep && rc == 0; j++) rc = release(a, id, keep[j]);
    atomic_store(&sh->done[me], 1);
    for (int quiet = 0; rc == 0 && quiet < 2;) {
        int all_done = 1;
        for (unsigned w = 0; w < WORKERS; w++) all_done &= atomic_load(&sh->done[w]);
        int got = 0;
        for (unsigned from = 0; from < WORKERS && rc == 0; from++) {
            msg m;
            while (rc == 0 && ring_get(&sh->rings[from][me], &m)) {
                got = 1;
                if (tu_map_release(sh->map, m.off, m.len, from + 1) != 0 ||
                    tu_map_claim(sh->map, m.off, m.len, id, NULL) != 0) rc = 23;
                else rc = release(a, id, m);
                atomic_fetch_add(&sh->received, 1);
            }
        }
        quiet = all_done && !got ? quiet + 1 : 0;
    }
    am_arena_close(a);   /* frees the 1-byte probe block we still own */
    return rc;
}

START_TEST(processes_hand_blocks_around)
{
    sh = tu_shared(sizeof *sh);
    sh->name = tu_name("stress");
    const char *soak = getenv("AM_SOAK_SECONDS");
    sh->seconds = soak ? atof(soak) : 4.0;
    am_arena *a = tu_open(sh->name, 16 << 20, 4);
    sh->map = tu_map_new(a);
    pid_t pids[WORKERS];
    for (unsigned w = 0; w < WORKERS; w++) pids[w] = tu_fork(worker, (void *)(uintptr_t)w);
    for (unsigned w = 0; w < WORKERS; w++) {
        while (!atomic_load(&sh->base[w])) usleep(1000);
    }
    atomic_store(&sh->go, 1);
    for (unsigned w = 0; w < WORKERS; w++) {
        int rc = tu_wait(pids[w]);
        ck_assert_msg(rc == 0, "worker %u ended with %d", w, rc);
    }
    /* each worker mapped the segment somewhere else */
    int distinct = 0;
    for (unsigned w = 1; w < WORKERS; w++) distinct += sh->base[w] != sh->base[0];
    ck_assert_int_gt(distinct, 0);
    ck_assert_uint_eq(atomic_load(&sh->sent), atomic_load(&sh->received));
    ck_assert_uint_gt(atomic_load(&sh->sent), 1000);
    printf("stress: %llu allocations, %llu handed between processes\n",
           (unsigned long long)atomic_load(&sh->allocs), (unsigned long long)atomic_load(&sh->sent));
    tu_finish(a);
}
END_TEST

int main(void)
{
    const char *soak = getenv("AM_SOAK_SECONDS");
    return tu_main("stress", soak ? atof(soak) + 120 : 120, (const TTest *[]){ processes_hand_blocks_around, NULL });
}
