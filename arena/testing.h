/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomicmatrix — hooks for fault-injection tests. Not for production use.
 */
#ifndef ATOMICMATRIX_TESTING_H
#define ATOMICMATRIX_TESTING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Make every crash point inside the library kill this process with SIGKILL with the
 * given probability (0 turns them off). seed seeds this thread's generator. */
void am_test_set_crash_rate(double probability, uint64_t seed);

/* Give the crash point called name (see am_test_crash_point_name) its own probability;
 * NULL removes the focus. AM_EINVAL for an unknown name. */
int am_test_focus_crash_point(const char *name, double probability);

/* Count each death by its crash point: counts[i] (am_test_crash_points() entries, in
 * memory the test shares between processes) is incremented before the kill. */
void am_test_count_crashes(uint64_t *counts);

/* Run fn(arg) whenever the crash point called name is passed, in place of a death
 * there: a test makes something happen at exactly that step (another handle's work, a
 * reuse of a block). name NULL removes it. AM_EINVAL for an unknown name. */
int am_test_at_point(const char *name, void (*fn)(void *), void *arg);

/* The crash points: how many, and the name of point i (NULL past the end). */
unsigned am_test_crash_points(void);
const char *am_test_crash_point_name(unsigned i);

/* on != 0: arenas created from now on are sparse files, their pages not reserved and
 * the filesystem's free space not checked (as before reservation existed). Only for
 * tests of geometry larger than this machine's /dev/shm (the 64 GiB arena). */
void am_test_sparse_arenas(int on);

/* How long a grown sector must stay entirely free before its pages are given back
 * (default AM_RELEASE_IDLE_NS, 1 s): crash tests shorten it to reach the release. */
void am_test_set_release_idle(uint64_t ns);

#ifdef __cplusplus
}
#endif
#endif
