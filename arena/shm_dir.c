/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shm_dir.c — where arena files live: $AM_SHM_DIR, or /dev/shm.
 *
 * The variable is read once per process (the first time any arena call needs it), so
 * every handle of a process agrees on the directory even if the environment changes
 * later. It exists so that a test (or a deployment) can put arenas on a tmpfs of its
 * own size; an arena's name says nothing about its directory, so processes sharing an
 * arena must agree on the variable.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena_internal.h"

#define DEFAULT_DIR "/dev/shm"
#define MAX_DIR 200u

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char dir[MAX_DIR + 1];
static int dir_ok;

static void read_env(void)
{
    const char *e = getenv("AM_SHM_DIR");
    if (!e || !e[0]) e = DEFAULT_DIR;
    /* Relative paths would depend on each process's working directory: two processes
     * would silently use two different arenas of one name. */
    size_t n = strlen(e);
    if (e[0] != '/' || n > MAX_DIR) return;
    while (n > 1 && e[n - 1] == '/') n--;       /* "/tmp/x/" and "/tmp/x" are one dir */
    memcpy(dir, e, n);
    dir[n] = 0;
    dir_ok = 1;
}

const char *am_shm_dir(void)
{
    pthread_once(&once, read_env);
    return dir_ok ? dir : NULL;
}

int am_shm_path(char *buf, size_t len, const char *file)
{
    const char *d = am_shm_dir();
    if (!d) return am_open_reportf(AM_EINVAL, "AM_SHM_DIR must be an absolute path of at most %u characters",
                                   MAX_DIR);
    int n = snprintf(buf, len, "%s/%s", d, file);
    return n < 0 || (size_t)n >= len ? AM_ENAME : 0;
}
