/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upper.c — the arena's interface to the layer above (arena_api.h): the upper area,
 * fork and liveness queries, the clock.
 */
#include <time.h>
#include "arena_internal.h"

uint64_t am_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void *am_upper(const am_arena *a)
{
    return a->base + a->g.upper_off;
}

bool am_forked(const am_arena *a)
{
    return atomic_load_explicit(&a->forked, memory_order_relaxed) != 0;
}

void am_note_dead(am_arena *a)
{
    atomic_store_explicit(&a->dead_seen, 1, memory_order_relaxed);
}
