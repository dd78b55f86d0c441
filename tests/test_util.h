/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the test suites: unique arena names, forked workers that never
 * outlive the test, and the per-granule ownership map that catches overlapping blocks.
 */
#ifndef AM_TEST_UTIL_H
#define AM_TEST_UTIL_H

#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include "atomicmatrix/atomicmatrix.h"

/* ck_assert records a mark point (a write to a pipe) on every call: in hot loops,
 * check with this, which only reaches Check when the condition fails. */
#define TU_REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

/* A name unique to this process and tag; the arena is unlinked by tu_cleanup(). */
const char *tu_name(const char *tag);
void tu_cleanup(void);
/* The file of arena `name`: <dir>/am.<name> (<dir>: $AM_SHM_DIR or /dev/shm). */
void tu_path(char *buf, size_t n, const char *name);
/* The lock file of arena `name` (<dir>/amlock.<name>.<lock_id>, lock_id read from its
 * header): 0, or -1 if the arena cannot be read. */
int tu_lock_path(char *buf, size_t n, const char *name);

/* Open (creating) the arena `name` with the given size and sectors, or fail the test.
 * It grows when full (up to what /dev/shm holds); tu_open_fixed's never grows. */
am_arena *tu_open(const char *name, size_t size, unsigned sectors);
am_arena *tu_open_fixed(const char *name, size_t size, unsigned sectors);

/* Fork a child that dies with the parent; it runs fn(arg) and _exits with its result. */
pid_t tu_fork(int (*fn)(void *), void *arg);
/* Wait for pid; returns its exit status, or 128 + signal. */
int tu_wait(pid_t pid);

/* Map fresh anonymous shared memory (visible to forked children). */
void *tu_shared(size_t bytes);

/* Every sector is one free block and nothing is used. */
int tu_all_free(am_arena *a);

/* The end of most tests: the checker passes, everything is free; close, clean up. */
void tu_finish(am_arena *a);

/* Fill / verify a payload with a pattern derived from seed. */
void tu_fill(void *p, size_t n, uint64_t seed);
int  tu_verify(const void *p, size_t n, uint64_t seed);

/* Move the next mapping to a different address: map and keep a random-size hole. */
void tu_shift_mappings(unsigned salt);

uint64_t tu_rand(uint64_t *s);

/* A test program's main: one suite and one case called `name`, each test with the
 * given timeout (seconds), tests a NULL-terminated list. Non-zero on failures. */
int tu_main(const char *name, double timeout, const TTest *const *tests);

#endif

/* The ownership map: one 32-bit owner id per 16-byte granule of the heap, in memory
 * shared by all test processes. A block's payload granules are claimed by CAS
 * (0 -> id) after allocation and released (id -> 0) before the last ack; a CAS that
 * finds another id means two live blocks overlap. In crash tests a granule left by a
 * dead id may be taken over: is_dead(id) says whether that owner is gone. */
typedef struct tu_map {
    uint64_t granules;          /* the whole segment, from offset 0 */
    _Atomic uint32_t owner[];
} tu_map;

tu_map *tu_map_new(am_arena *a);
/* 0, or the foreign id found (an overlap). */
uint32_t tu_map_claim(tu_map *m, uint64_t off, uint64_t len, uint32_t id, int (*is_dead)(uint32_t));
uint32_t tu_map_release(tu_map *m, uint64_t off, uint64_t len, uint32_t id);
