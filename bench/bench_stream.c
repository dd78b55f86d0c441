/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_stream — one two-process stream, small enough to run a hundred times: a
 * publisher pinned to CPU 0 loans, fills and sends `--size` bytes `--messages` times;
 * one thread pinned to CPU 1 takes and acks them from `--subs` blocking subscribers
 * (depth 256) in turn, checking every sequence number. Prints msgs/s. It links the
 * shared library, so bench/ab.sh can run it against two builds of the library in turn
 * (this VM's speed changes by 3-7x between phases, so only interleaved runs compare).
 *   bench_stream [--messages N] [--size BYTES] [--subs K]
 */
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "atomicmatrix/atomicmatrix.h"
#include "bench_util.h"

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_stream: %s: %s\n", what, am_strerror(rc));
    exit(1);
}

static void publish(const char *name, long n, size_t size)
{
    pin(0);
    am_arena *a;
    am_pub *p;
    int rc = am_arena_open(name, NULL, &a);
    if (rc) die("open the arena", rc);
    am_pub_opts po = { .send_timeout_ns = AM_FOREVER };
    if ((rc = am_pub_open(a, "stream", &po, &p))) die("open the publisher", rc);
    for (long i = 0; i < n; i++) {
        void *x;
        while ((rc = am_pub_loan(p, size, &x)) == AM_ENOMEM || rc == AM_ETIMEDOUT) {}
        if (rc) die("loan", rc);
        memset(x, (int)i, size);
        if ((rc = am_pub_send(p, x, size))) die("send", rc);
    }
    am_pub_close(p);
    am_arena_close(a);
}

int main(int argc, char **argv)
{
    long n = 3000000;
    size_t size = 64;
    int subs = 1;
    bool bad = argc % 2 == 0;                       /* an option without its value */
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--messages")) n = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--subs")) subs = atoi(argv[i + 1]);
        else bad = true;
    }
    if (bad || n < 1 || size < 1 || subs < 1 || subs > 8) {
        fprintf(stderr, "usage: bench_stream [--messages N] [--size BYTES] [--subs 1-8]\n");
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "bench-stream-%d", (int)getpid());
    am_arena *a;
    am_arena_opts o = { .size = 64u << 20 };
    int rc = am_arena_open(name, &o, &a);
    if (rc) die("create the arena", rc);
    am_sub *s[8];
    am_sub_opts so = { .depth = 256, .policy = AM_POLICY_BLOCK };
    for (int i = 0; i < subs; i++) {
        if ((rc = am_sub_open(a, "stream", &so, &s[i]))) die("open a subscriber", rc);
    }
    pid_t pid = fork();
    if (pid == 0) {
        publish(name, n, size);
        _exit(0);
    }
    pin(1);
    uint64_t t0 = 0;
    for (long got = 0; got < n; got++) {
        for (int i = 0; i < subs; i++) {
            am_sample m;
            while ((rc = am_sub_take(s[i], &m, 0)) == AM_ETIMEDOUT) cpu_relax();
            if (rc) die("take", rc);
            if (m.seq != (uint64_t)got + 1 || m.len != size) {
                fprintf(stderr, "bench_stream: got seq %llu (%zu bytes), expected %ld\n", (unsigned long long)m.seq,
                        m.len, got + 1);
                return 1;
            }
            (void)am_sub_ack(s[i], &m);
        }
        if (got == 0) t0 = now_ns();
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    int status;
    waitpid(pid, &status, 0);
    printf("%.3f M msgs/s\n", n > 1 ? (double)(n - 1) / secs / 1e6 : 0.0);
    for (int i = 0; i < subs; i++) am_sub_close(s[i]);
    (void)am_arena_unlink(name);
    am_arena_close(a);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
