/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fixture — an arena for tests/amctl/run.sh to look at, in a known state:
 *   - fragmented: 50 blocks of 10-60 KB, every other one freed;
 *   - a typed topic "readings" (calc.proto's Reading, schema recorded) with a
 *     drop-oldest subscriber holding 3 samples, and a publisher that keeps publishing;
 *   - a dead participant: a child that allocated 10 blocks of 50 000 bytes, subscribed
 *     to "readings", took 2 samples and was killed with SIGKILL holding them.
 * Prints "ready", then publishes one more Reading each time it gets SIGUSR1, until killed.
 * SIGUSR2 opens an untyped topic "later" (for echo --wait), which from then on gets the
 * bytes "later" on each SIGUSR1 too.
 *
 *   fixture NAME
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "calc.am.h"

static void reading(Am__Calc__Reading *r, Am__Calc__Reading__Where *w, double *samples, uint64_t seq)
{
    am__calc__reading__init(r);
    am__calc__reading__where__init(w);
    static uint8_t raw[] = { 0x00, 0xff, 'a' };    /* base64 "AP9h" */
    r->seq = seq;
    r->sensor = "imu-left";
    r->raw.data = raw;
    r->raw.len = sizeof raw;
    samples[0] = 1.5;
    samples[1] = -2.25;
    r->n_samples = 2;
    r->samples = samples;
    w->x = 3;
    w->y = -4;
    r->where = w;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    const char *name = argv[1];
    am_arena_unlink(name);
    am_arena *a;
    if (am_arena_open(name, NULL, &a)) return 1;
    void *junk[50];
    for (int i = 0; i < 50; i++) junk[i] = am_alloc(a, 10000 + (size_t)i * 1000);
    for (int i = 0; i < 50; i += 2) am_ack(a, junk[i]);
    am_pub *p;
    am_sub *s;
    if (am__calc__reading__am_pub_open(a, "readings", NULL, &p) ||
        am__calc__reading__am_sub_open(a, "readings", &(am_sub_opts){ .depth = 8, .policy = AM_POLICY_DROP_OLDEST }, &s)) {
        return 1;
    }
    int pipefd[2];
    if (pipe(pipefd)) return 1;
    pid_t child = fork();
    if (child == 0) {
        am_arena *b;
        am_sub *ds;
        if (am_arena_open(name, NULL, &b) || am__calc__reading__am_sub_open(b, "readings", NULL, &ds)) _exit(1);
        for (int i = 0; i < 10; i++) if (!am_alloc(b, 50000)) _exit(1);
        if (write(pipefd[1], "x", 1) != 1) _exit(1);
        for (int got = 0; got < 2;) {
            am_sample m;
            if (am_sub_take(ds, &m, 1000000000) == 0) got++;            /* held, never acked */
        }
        if (write(pipefd[1], "y", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char c;
    if (read(pipefd[0], &c, 1) != 1) return 1;
    Am__Calc__Reading r;
    Am__Calc__Reading__Where w;
    double samples[2];
    uint64_t seq = 0;
    for (int i = 0; i < 2; i++) {                 /* the two the child will hold */
        reading(&r, &w, samples, ++seq);
        am__calc__reading__am_publish(p, &r);
    }
    if (read(pipefd[0], &c, 1) != 1) return 1;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    am_sample m;
    for (int i = 0; i < 2; i++) {                 /* ours let go of those two: only the dead holds them */
        if (am_sub_take(s, &m, 0)) return 1;
        am_sub_ack(s, &m);
    }
    for (int i = 0; i < 3; i++) {                 /* three more, held by us (and queued for the dead) */
        reading(&r, &w, samples, ++seq);
        am__calc__reading__am_publish(p, &r);
    }
    am_sample held[3];
    for (int i = 0; i < 3; i++) if (am_sub_take(s, &held[i], 0)) return 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    am_pub *later = NULL;
    printf("ready\n");
    fflush(stdout);
    for (;;) {                                    /* one more Reading per SIGUSR1 (for echo) */
        int sig;
        if (sigwait(&set, &sig)) return 1;
        if (sig == SIGUSR2) {
            if (!later && am_pub_open(a, "later", NULL, &later)) return 1;
            continue;
        }
        reading(&r, &w, samples, ++seq);
        am__calc__reading__am_publish(p, &r);
        if (later) am_pub_publish(later, "later", 5);
    }
}
