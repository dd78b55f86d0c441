/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fixture — an arena for tests/amctl/run.sh to look at, in a known state:
 *   - fragmented: 50 blocks of 10-60 KB, every other one freed;
 *   - a typed topic "readings" (calc.proto's Reading, schema recorded) with a
 *     drop-oldest subscriber holding 3 samples, and a publisher that keeps publishing;
 *   - a dead participant: a child that allocated 10 blocks of 50 000 bytes, subscribed
 *     to "readings", took 2 samples and was killed with SIGKILL holding them;
 *   - a service "calc" (calc.proto's Calc) with a typed server, which records the
 *     schema; two services with hostile schemas: "garbled" (not a FileDescriptorSet)
 *     and "evil" (an rpc named with a terminal escape, without a response type).
 * Prints "ready", then publishes one more Reading each time it gets SIGUSR1, until killed.
 * SIGUSR2 opens an untyped topic "later" (for echo --wait), which from then on gets the
 * bytes "later" on each SIGUSR1 too.
 * On SIGHUP it makes one slow call of Add(2, 3) for amctl echo to watch: the request
 * waits 0.2 s in the server's queue, is held 0.2 s while the handler runs, and the
 * reply (5) waits 0.2 s in the client's queue before the client closes.
 *
 *   fixture NAME
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "calc.am.h"

/* The handler of Add, slow on purpose: amctl echo sees the request held meanwhile. */
static int slow_add(void *ctx, const Am__Calc__Pair *req, Am__Calc__Number *reply)
{
    (void)ctx;
    usleep(200000);
    reply->value = req->a + req->b;
    return 0;
}

/* One call of Add(2, 3) that stays in sight: a client sends it without waiting (its
 * call times out at once, the request stays queued), the server takes it later and
 * replies; the reply stays queued until the client closes. */
static void slow_call(am_arena *a, am_server *sv)
{
    am_client *c;
    if (am__calc__calc__am_client_open(a, "calc", NULL, &c)) return;
    Am__Calc__Pair p = AM__CALC__PAIR__INIT;
    p.a = 2;
    p.b = 3;
    Am__Calc__Number *n;
    if (am__calc__calc__am_add(c, &p, &n, NULL, 0) == 0) am__calc__number__free_unpacked(n, NULL);
    usleep(200000);
    const Am__Calc__Calc_AmHandlers h = { .add = slow_add };
    (void)am__calc__calc__am_serve(sv, &h, NULL, 0);
    usleep(200000);
    am_client_close(c);
}

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
    /* FileDescriptorSet { file { package "evil" service { name "Svc" method { name
     * "\e[2J" input_type ".x" } } } }, by hand */
    static const char evil[] = "\x0a\x19\x12\x04" "evil" "\x32\x11\x0a\x03" "Svc" "\x12\x0a\x0a\x04\x1b[2J\x12\x02.x";
    am_server *garbled, *odd;
    if (am_server_open(a, "garbled", &(am_server_opts){ .type = { "evil.Garbled", 1 } }, &garbled) ||
        am_server_set_schema(garbled, "\x0a\xff\xff\xff\xff\x0f", 6) ||
        am_server_open(a, "evil", &(am_server_opts){ .type = { "evil.Svc", 1 } }, &odd) ||
        am_server_set_schema(odd, evil, sizeof evil - 1)) {
        return 1;
    }
    am_pub *p;
    am_sub *s;
    am_server *sv;
    if (am__calc__reading__am_pub_open(a, "readings", NULL, &p) ||
        am__calc__reading__am_sub_open(a, "readings", &(am_sub_opts){ .depth = 8, .policy = AM_POLICY_DROP_OLDEST }, &s) ||
        am__calc__calc__am_server_open(a, "calc", NULL, &sv)) {
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
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    am_pub *later = NULL;
    printf("ready\n");
    fflush(stdout);
    for (;;) {                                    /* for echo: a Reading, a topic, a call */
        int sig;
        if (sigwait(&set, &sig)) return 1;
        if (sig == SIGHUP) {
            slow_call(a, sv);
            continue;
        }
        if (sig == SIGUSR2) {
            if (!later && am_pub_open(a, "later", NULL, &later)) return 1;
            continue;
        }
        reading(&r, &w, samples, ++seq);
        am__calc__reading__am_publish(p, &r);
        if (later) am_pub_publish(later, "later", 5);
    }
}
