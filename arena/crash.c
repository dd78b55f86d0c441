/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crash.c — crash points for fault-injection tests.
 *
 * AM_CRASH_POINT(id) sits between the steps of every multi-step operation (split,
 * merge, drain, the free claim, reclaim, repair, join; the list is in
 * arena_internal.h). A test sets a rate with am_test_set_crash_rate(); each point then
 * kills the process with SIGKILL with that probability, which lands deaths inside
 * critical sections far more often than external kills could. A test may also weight
 * one point more heavily and have each death counted per point (its last words).
 * A test may instead run a function of its own at one point (am_test_at_point), to
 * make a race happen at exactly that step.
 * Off (rate 0), a point costs one relaxed load and a branch.
 */
#include <signal.h>
#include <string.h>
#include "arena_internal.h"
#include "testing.h"

_Atomic uint32_t am__crash_rate;       /* the points' gate: nonzero when any is on     */
static uint32_t kill_rate;             /* kills per 2^32 passes at an unfocused point */
static uint32_t focus_rate;            /* the rate at the focused point               */
static unsigned focus = AM_CP_COUNT;   /* AM_CP_COUNT: no point focused               */
static uint64_t *death_counts;         /* test-provided shared array, or NULL         */
static _Thread_local uint64_t rng;

static const char *const point_names[AM_CP_COUNT] = {
#define AM_CP_NAME(id, text) #id,
    AM_CRASH_POINT_LIST(AM_CP_NAME)
#undef AM_CP_NAME
};

static unsigned hook_point = AM_CP_COUNT;   /* a test function runs there instead */
static void (*hook_fn)(void *);
static void *hook_arg;

static void open_gate(void)
{
    atomic_store(&am__crash_rate, kill_rate || hook_point < AM_CP_COUNT ? 1u : 0u);
}

static unsigned point_named(const char *name)
{
    unsigned i = 0;
    while (name && i < AM_CP_COUNT && strcmp(name, point_names[i]) != 0) i++;
    return name ? i : AM_CP_COUNT;
}

static uint32_t rate_of(double probability)
{
    return probability <= 0 ? 0 : probability >= 1 ? UINT32_MAX : (uint32_t)(probability * 4294967296.0);
}

void am_test_set_crash_rate(double probability, uint64_t seed)
{
    rng = seed | 1;
    kill_rate = rate_of(probability);
    open_gate();
}

int am_test_focus_crash_point(const char *name, double probability)
{
    focus = point_named(name);
    focus_rate = rate_of(probability);
    open_gate();
    return name && focus == AM_CP_COUNT ? AM_EINVAL : 0;
}

int am_test_at_point(const char *name, void (*fn)(void *), void *arg)
{
    hook_point = point_named(name);
    hook_fn = fn;
    hook_arg = arg;
    open_gate();
    return name && hook_point == AM_CP_COUNT ? AM_EINVAL : 0;
}

void am_test_count_crashes(uint64_t *counts)
{
    death_counts = counts;
}

unsigned am_test_crash_points(void)
{
    return AM_CP_COUNT;
}

const char *am_test_crash_point_name(unsigned i)
{
    return i < AM_CP_COUNT ? point_names[i] : NULL;
}

void am__crash_maybe(unsigned point)
{
    if (point == hook_point) {
        hook_fn(hook_arg);
        return;
    }
    if (rng == 0) rng = 0x9E3779B97F4A7C15ull;
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    uint32_t rate = kill_rate == 0 ? 0 : point == focus ? focus_rate : kill_rate;   /* rate 0: all off */
    if ((uint32_t)(rng >> 32) < rate) {
        if (death_counts) __atomic_fetch_add(&death_counts[point], 1, __ATOMIC_SEQ_CST);
        raise(SIGKILL);
    }
}
