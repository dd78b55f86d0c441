/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small things every benchmark needs: a monotonic clock in nanoseconds and the spin
 * hint for busy-wait loops.
 */
#ifndef AM_BENCH_UTIL_H
#define AM_BENCH_UTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
