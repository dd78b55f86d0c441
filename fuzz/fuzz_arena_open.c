/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_arena_open.c — libFuzzer target: attach to a segment file whose bytes are the
 * fuzzer's input.
 *
 * An arena file is shared memory any process of the user may have scribbled on, so
 * am_arena_open must answer a mangled one with an error code, and a file it accepts
 * must survive the check, the statistics, an allocation, a free and a close: never a
 * crash, a hang or a sanitizer report. Seeds are real fresh arenas (fuzz/seed_arena.c).
 */
#include <stdint.h>
#include "arena_file.h"
#include "atomicmatrix/arena.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    arena_file_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_file_write(data, size);
    am_arena *a;
    if (am_arena_open(ARENA_FILE_NAME, &(am_arena_opts){ .flags = AM_ATTACH_ONLY }, &a) != 0) return 0;
    (void)am_arena_check(a);
    am_stats st;
    (void)am_arena_stats(a, &st);
    /* A small and a larger block, freed in the other order: splits and both merges. */
    void *p = NULL, *q = NULL;
    (void)am_try_alloc(a, 24, &p);
    (void)am_try_alloc(a, 1000, &q);
    if (p) (void)am_ack(a, p);
    if (q) (void)am_ack(a, q);
    (void)am_arena_check(a);
    am_arena_close(a);
    return 0;
}
