/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pid_alive.c — "may this participant still live?" without its liveness lock.
 *
 * The true answer is the byte lock on the lock file (participants.c), which only those
 * who may write the arena can open. A read-only view (am_arena_peek: amctl of another
 * user, the fuzzers) and a joiner deciding whether a vanished lock file may be made
 * again ask this instead: the pid the participant recorded at join and its process's
 * start time (/proc/<pid>/stat field 22, clock ticks after boot), so a pid reused by
 * another process reads as dead. Both are bytes any writer of the arena could forge,
 * so the answer is never the right to act for a slot; when unsure it says "may live".
 *
 * Known limit: a participant in another pid namespace is looked up by a pid that means
 * another process (or none) here.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "arena_internal.h"

#define PID_MAX_LIMIT 4194304u   /* the kernel's largest pid_max (include/linux/threads.h) */

/* State (field 3) and start time (field 22) from /proc/<pid>/stat: 0, or -1 if the
 * file cannot be read or parsed. */
static int proc_stat(uint32_t pid, char *state, unsigned long long *start)
{
    char path[48], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) { errno = EIO; return -1; }
    buf[n] = 0;
    /* The name (field 2) is in parentheses and may hold spaces and ')': fields 3 on
     * start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2]) { errno = EIO; return -1; }
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) { errno = EIO; return -1; }
        p++;
    }
    char *end;
    errno = 0;
    *start = strtoull(p, &end, 10);
    if (end == p || errno) { errno = EIO; return -1; }
    return 0;
}

uint32_t am_self_start_time(void)
{
    char state;
    unsigned long long start;
    return proc_stat((uint32_t)getpid(), &state, &start) == 0 ? (uint32_t)start : 0;
}

bool am_pid_may_live(uint32_t pid, uint32_t start_time)
{
    /* 0 and values no pid can have are garbage, not a process (and kill() must never
     * see 0 or a negative pid: those name process groups). */
    if (pid == 0 || pid > PID_MAX_LIMIT) return false;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return false;
    char state;
    unsigned long long start;
    /* It exists (kill said so): a stat we cannot read (no /proc, or it died just now)
     * leaves us unsure, so it may live. */
    if (proc_stat(pid, &state, &start) != 0) return true;
    if (state == 'Z' || state == 'X') return false;      /* exited: its locks are gone */
    return start_time == 0 || (uint32_t)start == start_time;   /* another process: dead */
}

bool am_slot_may_live(am_arena *a, unsigned slot)
{
    am_participant *p = &a->parts[slot];
    if (atomic_load_explicit(&p->state, memory_order_acquire) == AM_PART_FREE) return false;
    return am_pid_may_live(atomic_load_explicit(&p->pid, memory_order_relaxed),
                           atomic_load_explicit(&p->start_time, memory_order_relaxed));
}
