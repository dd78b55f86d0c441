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
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "atomicmatrix/arena.h"

static char dir[] = "/dev/shm/am-fuzz.XXXXXX";
static char path[sizeof dir + 16];

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

/* The library reads $AM_SHM_DIR once per process: a private directory, made before the
 * first arena call, keeps parallel fuzzing processes (-jobs, -fork) off each other's file. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
    snprintf(path, sizeof path, "%s/am.fuzz", dir);
    setenv("AM_SHM_DIR", dir, 1);
    atexit(remove_dir);
    return 0;
}

static void write_file(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(path); abort(); }
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) { perror(path); abort(); }
        done += (size_t)n;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_file(data, size);
    am_arena *a;
    if (am_arena_open("fuzz", &(am_arena_opts){ .flags = AM_ATTACH_ONLY }, &a) != 0) return 0;
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
