/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arena_file.h — the fuzzer's input as the arena file "fuzz", shared by the targets that
 * read arenas (fuzz_arena_open, fuzz_amctl).
 *
 * The library reads $AM_SHM_DIR once per process: arena_file_init (from
 * LLVMFuzzerInitialize, before the first arena call) makes a private directory for it,
 * which keeps parallel fuzzing processes (-jobs, -fork) off each other's file, and
 * removes it at exit. arena_file_write then writes each input as DIR/am.fuzz.
 *
 * An input the library accepts gets a lock file next to it (amlock.fuzz.<its header's
 * lock_id>, made by the joiner when missing): each write removes those of the inputs
 * before, so they do not pile up in the directory.
 */
#ifndef AM_FUZZ_ARENA_FILE_H
#define AM_FUZZ_ARENA_FILE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARENA_FILE_NAME "fuzz"

static char arena_file_dir[] = "/dev/shm/am-fuzz.XXXXXX";
static char arena_file_path[sizeof arena_file_dir + 16];

/* Remove every arena lock file in dir (names starting "amlock."): those of the inputs
 * here, and seed_arena's (only the images are seeds). */
static inline void remove_lock_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "amlock.", 7) == 0) unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static void arena_file_remove(void)
{
    unlink(arena_file_path);
    remove_lock_files(arena_file_dir);
    rmdir(arena_file_dir);
}

static inline void arena_file_init(void)
{
    if (!mkdtemp(arena_file_dir)) { perror("mkdtemp"); exit(1); }
    snprintf(arena_file_path, sizeof arena_file_path, "%s/am." ARENA_FILE_NAME, arena_file_dir);
    setenv("AM_SHM_DIR", arena_file_dir, 1);
    atexit(arena_file_remove);
}

static inline void arena_file_write(const uint8_t *data, size_t size)
{
    remove_lock_files(arena_file_dir);
    int fd = open(arena_file_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(arena_file_path); abort(); }
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) { perror(arena_file_path); abort(); }
        done += (size_t)n;
    }
    close(fd);
}

#endif
