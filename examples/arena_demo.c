/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arena_demo — several processes share one atomicmatrix arena.
 *
 * The parent creates an arena (default: "demo", 64 MiB) and a mailbox inside it,
 * published through the arena's root slot, so the arena file is the only thing the
 * processes share. Each worker process attaches on its own (its own mapping, at its
 * own address), allocates blocks of random sizes (16 B - 256 KiB), writes a checked
 * message into each, disowns it and drops its offset in the mailbox; it also takes
 * offsets others left there, verifies them and acks them, which frees them. Midway one
 * worker is killed with SIGKILL while it owns blocks: the parent reclaims them.
 * At the end the arena is back to one free block per sector, and its figures print.
 *
 * usage: arena_demo [--name NAME] [--workers N] [--seconds S]
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "atomicmatrix/atomicmatrix.h"

#define MAILBOX_SLOTS 1024

typedef struct mailbox {            /* lives in the arena; found through the root slot */
    _Atomic uint64_t slot[MAILBOX_SLOTS];   /* offsets of messages, 0 = empty */
    _Atomic uint64_t sent, received, bad;
    _Atomic int stop;
} mailbox;

typedef struct message {            /* the first bytes of every block */
    uint64_t len;
    uint64_t sum;
    uint32_t from;
} message;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t checksum(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "arena_demo: %s: %s\n", what, am_strerror(rc));
    return 1;
}

static void take_one(am_arena *a, mailbox *mb, uint64_t *rng)
{
    uint64_t off = atomic_exchange(&mb->slot[rnd(rng) % MAILBOX_SLOTS], 0);
    message *m = am_ptr(a, off);
    if (!m) return;
    uint8_t *body = (uint8_t *)(m + 1);
    if (m->len < sizeof *m || m->len > am_block_size(a, m) || checksum(body, m->len - sizeof *m) != m->sum) {
        atomic_fetch_add(&mb->bad, 1);
    }
    atomic_fetch_add(&mb->received, 1);
    am_ack(a, m);
}

static int worker(const char *name, unsigned me, double seconds)
{
    am_arena *a;
    am_arena_opts o = { .flags = AM_ATTACH_ONLY };
    int rc = am_arena_open(name, &o, &a);
    if (rc) return die("worker open", rc);
    mailbox *mb = am_ptr(a, am_arena_root(a));
    if (!mb) return die("mailbox", AM_ECORRUPT);
    printf("  worker %u (pid %d): participant slot %u, arena mapped at %p\n", me, (int)getpid(),
           am_arena_slot(a), (void *)mb);
    fflush(stdout);
    uint64_t rng = 0x9E3779B97F4A7C15ull * (me + 1);
    double end = now() + seconds;
    while (now() < end && !atomic_load(&mb->stop)) {
        size_t len = sizeof(message) + 16 + (size_t)(rnd(&rng) % (rnd(&rng) % 8 == 0 ? 262144 : 2048));
        message *m = am_alloc(a, len);
        if (!m) { take_one(a, mb, &rng); continue; }         /* full: make room */
        uint8_t *body = (uint8_t *)(m + 1);
        for (size_t i = 0; i < len - sizeof *m; i++) body[i] = (uint8_t)rnd(&rng);
        *m = (message){ .len = len, .sum = checksum(body, len - sizeof *m), .from = me };
        uint64_t empty = 0;
        if (am_disown(a, m) == 0 &&
            atomic_compare_exchange_strong(&mb->slot[rnd(&rng) % MAILBOX_SLOTS], &empty, am_offset(a, m))) {
            atomic_fetch_add(&mb->sent, 1);
        } else {
            am_ack(a, m);
        }
        take_one(a, mb, &rng);
    }
    am_arena_close(a);
    return 0;
}

/* A worker that allocates and keeps blocks, then waits to be killed. */
static int hoarder(const char *name)
{
    am_arena *a;
    am_arena_opts o = { .flags = AM_ATTACH_ONLY };
    if (am_arena_open(name, &o, &a) != 0) return 1;
    for (int i = 0; i < 100; i++) memset(am_alloc(a, 4096), 0xee, 4096);
    printf("  hoarder (pid %d) holds 100 blocks of 4 KiB and waits for SIGKILL\n", (int)getpid());
    fflush(stdout);
    pause();
    return 0;
}

static pid_t spawn(int (*fn)(const char *, unsigned, double), const char *name, unsigned me, double s)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(fn ? fn(name, me, s) : hoarder(name));
    }
    return pid;
}

static void print_stats(am_arena *a, const char *when)
{
    am_stats st;
    am_arena_stats(a, &st);
    printf("%s:\n", when);
    printf("  size %llu MiB in %u sectors of %llu KiB; %u live participants\n",
           (unsigned long long)(st.size >> 20), st.sectors, (unsigned long long)(st.sector_size >> 10), st.participants);
    printf("  used %llu bytes in %llu blocks; free %llu bytes in %llu blocks; largest free %llu\n",
           (unsigned long long)st.used, (unsigned long long)st.used_blocks, (unsigned long long)st.free,
           (unsigned long long)st.free_blocks, (unsigned long long)st.largest_free);
    printf("  fragmentation %.3f; %llu allocations, %llu frees, %llu sector repairs, %llu blocks reclaimed\n",
           st.fragmentation, (unsigned long long)st.allocs, (unsigned long long)st.frees,
           (unsigned long long)st.repairs, (unsigned long long)st.reclaimed);
}

int main(int argc, char **argv)
{
    const char *name = "demo";
    unsigned workers = 3;
    double seconds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--name")) name = argv[i + 1];
        else if (!strcmp(argv[i], "--workers")) workers = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    }
    if (workers < 1 || workers > 64) workers = 3;
    am_arena_unlink(name);           /* a demo starts fresh */
    am_arena *a;
    int rc = am_arena_open(name, NULL, &a);
    if (rc) return die("open", rc);
    mailbox *mb = am_alloc(a, sizeof *mb);
    if (!mb) return die("mailbox", AM_ENOMEM);
    memset(mb, 0, sizeof *mb);
    am_disown(a, mb);
    am_arena_root_cas(a, 0, am_offset(a, mb));
    printf("arena \"%s\" (/dev/shm/am.%s): %u workers for %.1f s; the parent maps it at %p\n", name, name,
           workers, seconds, (void *)mb);
    print_stats(a, "fresh arena (the mailbox is the one used block)");

    pid_t pids[64];
    for (unsigned w = 0; w < workers; w++) pids[w] = spawn(worker, name, w, seconds);
    pid_t h = spawn(NULL, name, 0, 0);
    usleep((useconds_t)(seconds * 500000));
    print_stats(a, "midway, busy");
    kill(h, SIGKILL);
    waitpid(h, NULL, 0);
    int reclaimed = am_arena_reclaim(a);
    printf("killed the hoarder with SIGKILL: am_arena_reclaim() gave back %d blocks\n", reclaimed);
    for (unsigned w = 0; w < workers; w++) waitpid(pids[w], NULL, 0);

    for (unsigned i = 0; i < MAILBOX_SLOTS; i++) {       /* what was still in flight */
        uint64_t off = atomic_exchange(&mb->slot[i], 0);
        if (off) { am_ack(a, am_ptr(a, off)); atomic_fetch_add(&mb->received, 1); }
    }
    printf("messages: %llu sent between processes, %llu received, %llu corrupt\n",
           (unsigned long long)atomic_load(&mb->sent), (unsigned long long)atomic_load(&mb->received),
           (unsigned long long)atomic_load(&mb->bad));
    int bad = atomic_load(&mb->bad) != 0 || atomic_load(&mb->sent) != atomic_load(&mb->received);
    am_arena_root_cas(a, am_offset(a, mb), 0);
    am_ack(a, mb);
    rc = am_arena_check(a);
    print_stats(a, "at the end");
    printf("am_arena_check: %s\n", rc == 0 ? "clean" : am_arena_check_report());
    am_arena_close(a);
    am_arena_unlink(name);
    return rc || bad ? 1 : 0;
}
