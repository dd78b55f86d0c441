/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seed_arena.c — the seed corpus of fuzz_arena_open: real arenas of the smallest size
 * the library accepts (about 124 KiB; too big to keep in git, so scripts/fuzz.sh makes
 * them at each run). `seed_arena DIR` leaves DIR/am.<name> files:
 *   fresh-1     one sector, as created
 *   fresh-2     two sectors
 *   used        two sectors holding disowned blocks of several sizes, with holes
 *               between them (split blocks, several free lists, non-zero counters)
 */
#include <stdio.h>
#include <stdlib.h>
#include "atomicmatrix/arena.h"

/* The smallest size of an arena of `sectors` sectors: found by asking the library (an
 * arena too small for its own tables gives AM_EINVAL), so it follows layout changes. */
static am_arena *smallest(const char *name, unsigned sectors)
{
    for (size_t size = 4096; size <= ((size_t)1 << 20); size += 4096) {
        am_arena *a;
        int rc = am_arena_open(name, &(am_arena_opts){ .size = size, .sectors = sectors,
                                                       .flags = AM_CREATE_ONLY }, &a);
        if (rc == 0) return a;
        if (rc != AM_EINVAL) { fprintf(stderr, "seed_arena: %s: %s\n", name, am_strerror(rc)); exit(1); }
    }
    fprintf(stderr, "seed_arena: no size up to 1 MiB fits %u sectors\n", sectors);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: seed_arena DIR\n"); return 2; }
    setenv("AM_SHM_DIR", argv[1], 1);             /* before the library reads it */
    am_arena_close(smallest("fresh-1", 1));
    am_arena_close(smallest("fresh-2", 2));
    am_arena *a = smallest("used", 2);
    void *keep[12];
    for (unsigned i = 0; i < 12; i++) {
        if (am_try_alloc(a, (size_t)16 << (i % 8), &keep[i]) != 0) { fprintf(stderr, "seed_arena: alloc\n"); return 1; }
    }
    /* Every other one outlives the handle (disowned); the rest are freed by the close. */
    for (unsigned i = 0; i < 12; i += 2) (void)am_disown(a, keep[i]);
    am_arena_close(a);
    return 0;
}
