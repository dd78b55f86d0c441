/*
 * crash.c — crash points for fault-injection tests.
 *
 * AM_CRASH_POINT() sits between the steps of every multi-step operation (split, merge,
 * drain, reclaim, repair, the free claim). A test sets a rate with
 * am_test_set_crash_rate(); each point then kills the process with SIGKILL with that
 * probability, which lands deaths inside critical sections far more often than
 * external kills could. Off (rate 0), a point costs one relaxed load and a branch.
 */
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "arena_internal.h"
#include "atomicmatrix/testing.h"

_Atomic uint32_t am__crash_rate;
static _Thread_local uint64_t rng;

void am_test_set_crash_rate(double probability, uint64_t seed)
{
    rng = seed | 1;
    double r = probability <= 0 ? 0 : probability >= 1 ? 4294967295.0 : probability * 4294967296.0;
    atomic_store(&am__crash_rate, (uint32_t)r);
}

/* AM_CRASH_ONLY=file.c:line limits the points to one (to find which one matters). */
void am__crash_maybe(const char *file, int line)
{
    static _Thread_local char only_file[64];
    static _Thread_local int only_line = -1;
    if (only_line < 0) {
        const char *only = getenv("AM_CRASH_ONLY");
        const char *colon = only ? strchr(only, ':') : NULL;
        only_line = colon ? atoi(colon + 1) : 0;
        if (colon) snprintf(only_file, sizeof only_file, "%.*s", (int)(colon - only), only);
    }
    if (only_line > 0 && (line != only_line || !strstr(file, only_file))) return;
    if (rng == 0) rng = 0x9E3779B97F4A7C15ull;
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    if ((uint32_t)(rng >> 32) < atomic_load_explicit(&am__crash_rate, memory_order_relaxed)) raise(SIGKILL);
}
