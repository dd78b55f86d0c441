/* SPDX-License-Identifier: Apache-2.0 */
/*
 * service_demo — request/response between processes: two servers, a few clients.
 *
 * The parent creates a fresh arena (default "demo") and forks two server processes
 * on the service "demo/calc" (method 1 adds two integers, method 2 upper-cases a
 * string) and N client processes (default 3) that call it as fast as they can, with
 * a 500 ms timeout per call, checking every answer. Calls go round robin to servers
 * with room. Every second the parent prints each server's requests/s and each
 * client's calls/s with its round-trip latency (median and 99th percentile).
 *
 * Halfway, server A is killed with SIGKILL. A client whose request A held (or sent to
 * A before anyone noticed it was dead) gets AM_EPEERDEAD within milliseconds instead
 * of waiting out its timeout; it calls again and server B answers. At the end the
 * parent checks that no call failed or timed out and that the arena is back to what
 * it used before the service existed.
 *
 * usage: service_demo [NAME] [--seconds S] [--clients N]
 * Exit status 0 only if every check passed.
 */
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "atomicmatrix/atomicmatrix.h"

#define SERVICE     "demo/calc"
#define M_ADD       1u
#define M_UPPER     2u
#define CALL_NS     500000000ll    /* per-call timeout */
#define MAX_SECS    30
#define MAX_CLIENTS 8
#define SEC         1000000000ull

typedef struct interval {          /* one client's figures for one second */
    _Atomic int posted;
    uint64_t calls;
    uint32_t p50, p99;             /* ns */
} interval;

typedef struct client_board {
    interval sec[MAX_SECS + 1];
    _Atomic int state;             /* 1 attached */
    uint64_t calls, timeouts, peerdead, late, p50, p99, max;
    uint64_t dead_after_kill_ns;   /* when the first AM_EPEERDEAD came, after the kill */
    uint64_t dead_call_ns;         /* how long that call had waited */
    _Atomic uint64_t bad;
    char problem[200];
} client_board;

typedef struct server_board {
    _Atomic uint64_t handled;
    _Atomic int state;             /* 1 attached */
    _Atomic uint64_t bad;
    char problem[200];
} server_board;

typedef struct board {             /* plain shared memory, outside the arena */
    _Atomic uint64_t go_ns, kill_ns;
    _Atomic int stop_clients, stop_servers;
    server_board srv[2];
    client_board cl[MAX_CLIENTS];
} board;

static board *B;
static const char *NAME = "demo";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    for (uint64_t n; (n = now_ns()) < t;) usleep((useconds_t)((t - n) / 1000 + 1));
}

__attribute__((format(printf, 3, 4))) static int fail(_Atomic uint64_t *bad, char *problem, const char *fmt, ...)
{
    if (atomic_fetch_add(bad, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(problem, 200, fmt, ap);
        va_end(ap);
    }
    return 1;
}

static int server(int me)
{
    server_board *sb = &B->srv[me];
    am_arena *a;
    am_server *s;
    int rc = am_arena_open(NAME, &(am_arena_opts){ .flags = AM_ATTACH_ONLY }, &a);
    if (rc) return fail(&sb->bad, sb->problem, "am_arena_open: %s", am_strerror(rc));
    if ((rc = am_server_open(a, SERVICE, NULL, &s)) != 0) {
        return fail(&sb->bad, sb->problem, "am_server_open: %s", am_strerror(rc));
    }
    atomic_store(&sb->state, 1);
    while (!atomic_load(&B->stop_servers)) {
        am_request req;
        rc = am_server_take(s, &req, 50000000);
        if (rc == AM_ETIMEDOUT) continue;
        if (rc) {
            fail(&sb->bad, sb->problem, "am_server_take: %s", am_strerror(rc));
            break;
        }
        char out[256];
        size_t n = 0;
        if (req.method == M_ADD && req.len == 2 * sizeof(int64_t)) {
            int64_t x[2];
            memcpy(x, req.data, sizeof x);
            x[0] += x[1];
            memcpy(out, x, n = sizeof x[0]);
        } else if (req.method == M_UPPER && req.len <= sizeof out) {
            for (n = 0; n < req.len; n++) out[n] = (char)toupper(((const unsigned char *)req.data)[n]);
        } else {                   /* not ours: let the caller time out */
            am_server_drop(s, &req);
            fail(&sb->bad, sb->problem, "request with method %u and %zu bytes", req.method, req.len);
            continue;
        }
        if ((rc = am_server_reply(s, &req, out, n)) != 0) fail(&sb->bad, sb->problem, "am_server_reply: %s", am_strerror(rc));
        atomic_fetch_add_explicit(&sb->handled, 1, memory_order_relaxed);
    }
    am_server_close(s);
    am_arena_close(a);
    return atomic_load(&sb->bad) != 0;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* Sort rtt[0..n) and post its median and 99th percentile. */
static void percentiles(uint32_t *rtt, size_t n, uint32_t *p50, uint32_t *p99)
{
    qsort(rtt, n, sizeof *rtt, cmp_u32);
    *p50 = n ? rtt[n / 2] : 0;
    *p99 = n ? rtt[n * 99 / 100] : 0;
}

/* One call with a check of its answer. Returns 0, or the call's error code. */
static int call_once(am_client *c, client_board *cb, uint64_t *rng)
{
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t r = *rng >> 16;
    char req[128], want[128];
    size_t len, wlen;
    uint32_t method = r & 1 ? M_ADD : M_UPPER;
    if (method == M_ADD) {
        int64_t x[2] = { (int64_t)(r % 2000001) - 1000000, (int64_t)(r >> 24) }, sum = x[0] + x[1];
        memcpy(req, x, len = sizeof x);
        memcpy(want, &sum, wlen = sizeof sum);
    } else {
        len = wlen = 1 + r % 100;
        for (size_t i = 0; i < len; i++) {
            req[i] = (char)('a' + (r >> (i % 40)) % 26);
            want[i] = (char)toupper((unsigned char)req[i]);
        }
    }
    am_sample rep;
    int rc = am_client_call_method(c, method, req, len, &rep, CALL_NS);
    if (rc) return rc;
    if (rep.len != wlen || memcmp(rep.data, want, wlen) != 0) {
        fail(&cb->bad, cb->problem, "method %u: a wrong answer (%zu bytes)", method, rep.len);
    }
    if ((rc = am_client_ack(c, &rep)) != 0) fail(&cb->bad, cb->problem, "am_client_ack: %s", am_strerror(rc));
    return 0;
}

static int client(int me)
{
    client_board *cb = &B->cl[me];
    am_arena *a;
    am_client *c;
    int rc = am_arena_open(NAME, &(am_arena_opts){ .flags = AM_ATTACH_ONLY }, &a);
    if (rc) return fail(&cb->bad, cb->problem, "am_arena_open: %s", am_strerror(rc));
    if ((rc = am_client_open(a, SERVICE, NULL, &c)) != 0) {
        return fail(&cb->bad, cb->problem, "am_client_open: %s", am_strerror(rc));
    }
    size_t cap = 1 << 20, n = 0, mark = 0;   /* every round trip, in ns */
    uint32_t *rtt = malloc(cap * sizeof *rtt);
    atomic_store(&cb->state, 1);
    while (!atomic_load(&B->go_ns)) usleep(1000);
    uint64_t go = atomic_load(&B->go_ns), rng = (uint64_t)me + 1;
    sleep_until(go);
    unsigned k = 1;
    while (!atomic_load(&B->stop_clients) && rtt) {
        uint64_t t0 = now_ns();
        rc = call_once(c, cb, &rng);
        uint64_t t1 = now_ns();
        if (rc == AM_EPEERDEAD) {
            /* The server that held our request is dead: say how fast we knew, call again. */
            uint64_t kill = atomic_load(&B->kill_ns);
            if (cb->peerdead++ == 0) {
                cb->dead_after_kill_ns = kill && t1 > kill ? t1 - kill : 0;
                cb->dead_call_ns = t1 - t0;
            }
            continue;
        }
        if (rc == AM_ETIMEDOUT) cb->timeouts++;
        if (rc) {
            fail(&cb->bad, cb->problem, "am_client_call_method: %s", am_strerror(rc));
            continue;
        }
        for (; t1 >= go + k * SEC && k <= MAX_SECS; k++) {   /* a second is over: post it */
            interval *iv = &cb->sec[k];
            iv->calls = n - mark;
            percentiles(rtt + mark, n - mark, &iv->p50, &iv->p99);
            atomic_store(&iv->posted, 1);
            mark = n;
        }
        if (n == cap) rtt = realloc(rtt, (cap *= 2) * sizeof *rtt);
        if (rtt) rtt[n++] = (uint32_t)(t1 - t0 < UINT32_MAX ? t1 - t0 : UINT32_MAX);
    }
    if (!rtt) fail(&cb->bad, cb->problem, "out of memory for latencies");
    uint32_t p50 = 0, p99 = 0;
    percentiles(rtt, n, &p50, &p99);
    am_client_counts st;
    am_client_stats(c, &st);
    cb->calls = n;
    cb->p50 = p50;
    cb->p99 = p99;
    cb->max = n ? rtt[n - 1] : 0;
    cb->late = st.late;
    free(rtt);
    am_client_close(c);
    am_arena_close(a);
    return atomic_load(&cb->bad) != 0;
}

static pid_t spawn(int (*fn)(int), int me)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(fn(me));
    }
    return pid;
}

static int check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  [%s] ", ok ? " ok " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    return !ok;
}

static int exited_ok(int status)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void wait_for(_Atomic int *flag, const char *what)
{
    for (uint64_t t0 = now_ns(); !atomic_load(flag); usleep(1000)) {
        if (now_ns() - t0 > 5 * SEC) {
            fprintf(stderr, "service_demo: %s did not attach in 5 s\n", what);
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    int seconds = 3, clients = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clients") && i + 1 < argc) clients = atoi(argv[++i]);
        else if (argv[i][0] != '-') NAME = argv[i];
        else {
            fprintf(stderr, "usage: %s [NAME] [--seconds S] [--clients N]\n", argv[0]);
            return 2;
        }
    }
    if (seconds < 2 || seconds > MAX_SECS) seconds = 3;
    if (clients < 1 || clients > MAX_CLIENTS) clients = 3;
    B = mmap(NULL, sizeof *B, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (B == MAP_FAILED) return 1;

    am_arena_unlink(NAME);                      /* a demo starts fresh */
    am_arena *a;
    int rc = am_arena_open(NAME, NULL, &a);
    if (rc) {
        fprintf(stderr, "service_demo: am_arena_open: %s\n", am_strerror(rc));
        return 1;
    }
    am_stats before, after;
    am_arena_stats(a, &before);
    double kill_at = seconds / 2.0;
    printf("arena \"%s\": %llu bytes in %llu blocks used before the service exists\n", NAME,
           (unsigned long long)before.used, (unsigned long long)before.used_blocks);
    printf("service %s: servers A and B; %d clients call add(a, b) and upper(text) with a %lld ms timeout;\n"
           "server A gets SIGKILL at %.1f s\n", SERVICE, clients, CALL_NS / 1000000, kill_at);
    /* Waiting ports spin for a while before they sleep: with more busy processes than
     * CPUs they compete for them, and who gets a CPU shows in the figures. */
    printf("%ld CPUs for %d busy processes: with fewer CPUs than processes, expect uneven figures\n",
           sysconf(_SC_NPROCESSORS_ONLN), clients + 2);

    pid_t srv[2], cl[MAX_CLIENTS];
    int srv_status[2] = { 0 }, cl_status[MAX_CLIENTS] = { 0 };
    for (int s = 0; s < 2; s++) {
        srv[s] = spawn(server, s);
        wait_for(&B->srv[s].state, "a server");
    }
    for (int c = 0; c < clients; c++) {
        cl[c] = spawn(client, c);
        wait_for(&B->cl[c].state, "a client");
    }
    uint64_t go = now_ns() + 10000000, handled[2] = { 0 };
    atomic_store(&B->go_ns, go);
    int killed = 0;
    for (int k = 1; k <= seconds; k++) {
        uint64_t tick = go + (uint64_t)k * SEC;    /* clients post at their first call after it */
        if (!killed && go + (uint64_t)(kill_at * 1e9) < tick) {
            sleep_until(go + (uint64_t)(kill_at * 1e9));
            atomic_store(&B->kill_ns, now_ns());
            kill(srv[0], SIGKILL);
            waitpid(srv[0], &srv_status[0], 0);
            killed = 1;
            printf("  %.1f s  server A killed with SIGKILL\n", kill_at);
        }
        sleep_until(tick);
        for (int c = 0, tries = 0; c < clients && tries < 100; tries++) {   /* wait up to 0.5 s */
            if (atomic_load(&B->cl[c].sec[k].posted)) c++;
            else usleep(5000);
        }
        printf("%5d s ", k);
        for (int s = 0; s < 2; s++) {
            uint64_t h = atomic_load(&B->srv[s].handled);
            printf(" server %c %7llu req/s%s", 'A' + s, (unsigned long long)(h - handled[s]),
                   s == 0 && killed ? " (killed)" : "  ");
            handled[s] = h;
        }
        printf("\n");
        for (int c = 0; c < clients; c++) {
            interval *iv = &B->cl[c].sec[k];
            if (!atomic_load(&iv->posted)) printf("         client %d  no figures for this second\n", c);
            else {
                printf("         client %d %7llu calls/s   rtt p50 %6.1f us  p99 %7.1f us\n", c,
                       (unsigned long long)iv->calls, iv->p50 / 1e3, iv->p99 / 1e3);
            }
        }
    }
    atomic_store(&B->stop_clients, 1);
    for (int c = 0; c < clients; c++) waitpid(cl[c], &cl_status[c], 0);
    atomic_store(&B->stop_servers, 1);
    waitpid(srv[1], &srv_status[1], 0);

    /* Every port has closed or died: the service and all its messages must be gone. */
    am_arena_stats(a, &after);
    int bad = 0;
    printf("summary\n");
    uint64_t dead_seen = 0, max_dead_ns = 0;
    for (int c = 0; c < clients; c++) {
        client_board *cb = &B->cl[c];
        int ok = exited_ok(cl_status[c]) && !atomic_load(&cb->bad) && cb->timeouts == 0;
        bad |= check(ok, "client %d: %llu calls, p50 %.1f us, p99 %.1f us, max %.1f ms; %llu timeouts, %llu late replies%s%s",
                     c, (unsigned long long)cb->calls, cb->p50 / 1e3, cb->p99 / 1e3, cb->max / 1e6,
                     (unsigned long long)cb->timeouts, (unsigned long long)cb->late, cb->problem[0] ? "; " : "",
                     cb->problem);
        if (cb->peerdead) {
            printf("         AM_EPEERDEAD %llu time(s): the first %.1f ms after the kill (that call waited %.1f ms); "
                   "called again and was answered\n", (unsigned long long)cb->peerdead,
                   cb->dead_after_kill_ns / 1e6, cb->dead_call_ns / 1e6);
        }
        dead_seen += cb->peerdead;
        if (cb->peerdead && cb->dead_call_ns > max_dead_ns) max_dead_ns = cb->dead_call_ns;
    }
    bad |= check(max_dead_ns < 100000000ull, "%llu call(s) were with server A when it died (or went to it before "
                 "anyone noticed): AM_EPEERDEAD within %.1f ms, not the %lld ms timeout", (unsigned long long)dead_seen,
                 max_dead_ns / 1e6, CALL_NS / 1000000);
    bad |= check(WIFSIGNALED(srv_status[0]) && WTERMSIG(srv_status[0]) == SIGKILL,
                 "server A: %llu requests, then SIGKILL", (unsigned long long)atomic_load(&B->srv[0].handled));
    bad |= check(exited_ok(srv_status[1]) && !atomic_load(&B->srv[1].bad), "server B: %llu requests, closed cleanly%s%s",
                 (unsigned long long)atomic_load(&B->srv[1].handled), B->srv[1].problem[0] ? "; " : "",
                 B->srv[1].problem);
    printf("  arena: %u live participant(s); blocks reclaimed from dead participants: %llu\n", after.participants,
           (unsigned long long)after.reclaimed);
    bad |= check(after.used == before.used && after.used_blocks == before.used_blocks,
                 "arena used %llu bytes in %llu blocks after (before: %llu in %llu); %llu allocations, %llu frees",
                 (unsigned long long)after.used, (unsigned long long)after.used_blocks,
                 (unsigned long long)before.used, (unsigned long long)before.used_blocks,
                 (unsigned long long)after.allocs, (unsigned long long)after.frees);
    rc = am_arena_check(a);
    bad |= check(rc == 0, "am_arena_check: %s", rc == 0 ? "clean" : am_arena_check_report());
    am_arena_close(a);
    am_arena_unlink(NAME);
    printf("service_demo: %s\n", bad ? "FAILED" : "all checks passed");
    return bad ? 1 : 0;
}
