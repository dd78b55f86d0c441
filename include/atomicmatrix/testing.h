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

#ifdef __cplusplus
}
#endif
#endif
