/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pubsub_demo — one topic, one publisher, two subscribers, each its own process.
 *
 * The parent creates a fresh arena (default "demo") and forks:
 *   - a publisher, which loans blocks of 64 B - 64 KiB, fills them in place with
 *     checksummed data and sends them (nothing is copied between processes);
 *   - "fast", a lossless subscriber (the default policy) that checks every sample:
 *     sequence numbers one by one, lengths, checksums;
 *   - "slow", which naps 200 us per sample behind a queue of 8 with
 *     AM_POLICY_DROP_OLDEST: it loses samples instead of holding the publisher back;
 *   - halfway, a late joiner that asks for the topic's kept history and checks that it
 *     runs on into the live stream without a gap.
 * Each child opens the arena itself: handles do not survive fork.
 *
 * With --slow-policy block the slow subscriber is lossless too, and back-pressure goes
 * the other way: the publisher is held to the slow subscriber's pace.
 *
 * The children post their figures (from am_pub_stats / am_sub_stats) on a board in
 * plain shared memory outside the arena, so the arena's figures show only what the
 * library used; the parent prints them once a second and checks them at the end.
 *
 * usage: pubsub_demo [NAME] [--seconds S] [--count N] [--slow-policy oldest|block]
 * Exit status 0 only if every check passed.
 */
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

#define TOPIC       "demo/frames"
#define HISTORY     16u         /* samples the topic keeps for late joiners */
#define SLOW_DEPTH  8u
#define SLOW_NAP_NS 200000l
#define LATE_LIVE   2000u       /* live samples the late joiner checks before leaving */
#define MIN_LEN     64u
#define MAX_LEN     65536u
#define SEC         1000000000ull

enum { PUB, FAST, SLOW, LATE, NROLES };

typedef struct frame {          /* the head of every payload */
    uint64_t seq;               /* the publisher's count: must equal the sample's seq */
    uint64_t sum;               /* of the 64-bit words after the frame */
    uint32_t len;               /* payload bytes, frame included */
    uint32_t last;              /* 1 on the end-of-stream marker */
    uint64_t pad;
} frame;

typedef struct role {           /* one child's figures, on the board */
    _Atomic uint64_t msgs, bytes, dropped, timeouts, bad, gaps, history, old;
    _Atomic uint32_t queued, depth, subscribers;
    _Atomic int state;          /* 0 not started, 1 running, 2 finished */
    char problem[200];          /* the first check that failed */
} role;

typedef struct board {
    _Atomic int topic_ready;    /* the publisher has opened (so created) the topic */
    role r[NROLES];
} board;

static board *B;
static const char *NAME = "demo";
static const char *LABEL[NROLES] = { "publisher", "fast", "slow", "late" };

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Fill the body after the frame (fill != 0) or just read it; returns its checksum.
 * Word by word, so that checking keeps up with writing. */
static uint64_t body(frame *f, size_t len, int fill)
{
    uint64_t *w = (uint64_t *)(f + 1), x = f->seq * 0x9E3779B97F4A7C15ull | 1, h = 1469598103934665603ull;
    for (size_t i = 0; i < (len - sizeof *f) / 8; i++) {
        if (fill) w[i] = rnd(&x);
        h = (h ^ w[i]) * 1099511628211ull;
    }
    return h;
}

__attribute__((format(printf, 2, 3))) static int fail(int who, const char *fmt, ...)
{
    role *r = &B->r[who];
    if (atomic_fetch_add(&r->bad, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->problem, sizeof r->problem, fmt, ap);
        va_end(ap);
    }
    return 1;
}

static int publisher(double seconds, uint64_t count)
{
    role *r = &B->r[PUB];
    am_arena *a;
    am_pub *p;
    am_pub_opts po = { .history = HISTORY, .send_timeout_ns = 1000000000 };   /* waits 1 s for a full lossless one */
    int rc = am_arena_open(NAME, &(am_arena_opts){ .flags = AM_ATTACH_ONLY }, &a);
    if (rc) return fail(PUB, "am_arena_open: %s", am_strerror(rc));
    /* Open before the subscribers: the topic's first opener sets its history. */
    if ((rc = am_pub_open(a, TOPIC, &po, &p)) != 0) return fail(PUB, "am_pub_open: %s", am_strerror(rc));
    atomic_store(&B->topic_ready, 1);
    am_pub_counts st;
    uint64_t t0 = now_ns();        /* samples reach only those attached: wait for both */
    while (am_pub_stats(p, &st) == 0 && st.subscribers < 2 && now_ns() - t0 < 5 * SEC) usleep(1000);
    if (st.subscribers < 2) return fail(PUB, "only %u subscribers came", st.subscribers);
    atomic_store(&r->state, 1);
    uint64_t rng = 42, end = now_ns() + (uint64_t)(seconds * 1e9);
    for (uint64_t seq = 1;; seq++) {
        int last = seq > count || ((seq & 63) == 0 && now_ns() >= end);
        size_t len = last ? sizeof(frame) : MIN_LEN + 8 * (rnd(&rng) % ((MAX_LEN - MIN_LEN) / 8 + 1));
        frame *f;
        while ((rc = am_pub_loan(p, len, (void **)&f)) == AM_ENOMEM) usleep(100);   /* arena full for now */
        if (rc) return fail(PUB, "am_pub_loan: %s at seq %llu", am_strerror(rc), (unsigned long long)seq);
        *f = (frame){ .seq = seq, .len = (uint32_t)len, .last = (uint32_t)last };
        f->sum = body(f, len, 1);
        /* A timeout means a lossless subscriber stayed full for a whole second. The loan
         * is still ours: send again (am_pub_stats counts it), but not forever. */
        for (int tries = 0; (rc = am_pub_send(p, f, len)) == AM_ETIMEDOUT && tries < 5; tries++) {}
        if (rc) return fail(PUB, "am_pub_send: %s at seq %llu", am_strerror(rc), (unsigned long long)seq);
        atomic_fetch_add_explicit(&r->msgs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->bytes, len, memory_order_relaxed);
        if ((seq & 63) == 0 || last) {
            am_pub_stats(p, &st);
            atomic_store(&r->dropped, st.dropped);
            atomic_store(&r->timeouts, st.timeouts);
            atomic_store(&r->subscribers, st.subscribers);
        }
        if (last) break;
    }
    if (st.sent != atomic_load(&r->msgs)) {
        fail(PUB, "am_pub_stats says %llu sent, we sent %llu", (unsigned long long)st.sent,
             (unsigned long long)atomic_load(&r->msgs));
    }
    am_pub_close(p);
    am_arena_close(a);
    return atomic_load(&r->bad) != 0;
}

static int subscriber(int who, am_policy policy)
{
    role *r = &B->r[who];
    am_arena *a;
    am_sub *s;
    int rc = am_arena_open(NAME, &(am_arena_opts){ .flags = AM_ATTACH_ONLY }, &a);
    if (rc) return fail(who, "am_arena_open: %s", am_strerror(rc));
    am_sub_opts so = { .policy = AM_POLICY_BLOCK };         /* fast: lossless, opted in */
    if (who == SLOW) so = (am_sub_opts){ .depth = SLOW_DEPTH, .policy = policy };
    if (who == LATE) so.history = HISTORY;
    int lossless = so.policy == AM_POLICY_BLOCK;
    /* Samples sent before the open began can only come from the topic's history; those
     * sent while it ran, from either (history is replayed at its end, so the newest
     * kept ones then may have been sent during it). */
    uint64_t opening = now_ns();
    if ((rc = am_sub_open(a, TOPIC, &so, &s)) != 0) return fail(who, "am_sub_open: %s", am_strerror(rc));
    uint64_t joined = now_ns(), last_seq = 0, live = 0, idle = 0;
    int known = who != LATE;       /* fast and slow were there before seq 1 was sent */
    atomic_store(&r->depth, so.depth ? so.depth : 64);
    atomic_store(&r->state, 1);
    am_sub_counts st;
    for (int end = 0; !end;) {
        am_sample m;
        rc = am_sub_take(s, &m, 100000000);
        if (rc == AM_ETIMEDOUT) {
            /* Quiet is fine while the publisher runs; once it is gone the end marker
             * must have come (it is the newest sample, so even DROP_OLDEST keeps it). */
            if (atomic_load(&B->r[PUB].state) == 2 && ++idle > 20) {
                fail(who, "no end marker: stream stopped after seq %llu", (unsigned long long)last_seq);
                break;
            }
        } else if (rc) {
            fail(who, "am_sub_take: %s after seq %llu", am_strerror(rc), (unsigned long long)last_seq);
            break;
        } else {
            const frame *f = m.data;
            idle = 0;
            if (m.len < sizeof *f || f->len != m.len || f->seq != m.seq || body((frame *)f, m.len, 0) != f->sum) {
                fail(who, "sample seq %llu (%zu bytes) is corrupt", (unsigned long long)m.seq, m.len);
            } else if (known && (m.seq <= last_seq || (lossless && m.seq != last_seq + 1))) {
                fail(who, "seq %llu came after %llu", (unsigned long long)m.seq, (unsigned long long)last_seq);
            } else {
                if (known) atomic_fetch_add(&r->gaps, m.seq - last_seq - 1);
                known = 1;
                if (m.send_ns < opening) atomic_fetch_add(&r->old, 1);
                if (m.send_ns < joined) atomic_fetch_add(&r->history, 1);
                else live++;
                end = f->last || (who == LATE && live == LATE_LIVE);
            }
            last_seq = m.seq;
            atomic_fetch_add_explicit(&r->msgs, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&r->bytes, m.len, memory_order_relaxed);
            if ((rc = am_sub_ack(s, &m)) != 0) fail(who, "am_sub_ack: %s", am_strerror(rc));
            if (who == SLOW) nanosleep(&(struct timespec){ 0, SLOW_NAP_NS }, NULL);
        }
        am_sub_stats(s, &st);
        atomic_store(&r->dropped, st.dropped);
        atomic_store(&r->queued, st.queued);
    }
    am_sub_stats(s, &st);
    if (st.received != atomic_load(&r->msgs)) {
        fail(who, "am_sub_stats says %llu received, we took %llu", (unsigned long long)st.received,
             (unsigned long long)atomic_load(&r->msgs));
    }
    am_sub_close(s);
    am_arena_close(a);
    return atomic_load(&r->bad) != 0;
}

static pid_t spawn(int who, double seconds, uint64_t count, am_policy policy)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int rc = who == PUB ? publisher(seconds, count) : subscriber(who, policy);
        atomic_store(&B->r[who].state, 2);
        _exit(rc);
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

#define U(x) ((unsigned long long)atomic_load(&(x)))

int main(int argc, char **argv)
{
    double seconds = 3;
    uint64_t count = 200000;
    am_policy slow_policy = AM_POLICY_DROP_OLDEST;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--slow-policy") && i + 1 < argc) {
            slow_policy = !strcmp(argv[++i], "block") ? AM_POLICY_BLOCK : AM_POLICY_DROP_OLDEST;
        } else if (argv[i][0] != '-') NAME = argv[i];
        else {
            fprintf(stderr, "usage: %s [NAME] [--seconds S] [--count N] [--slow-policy oldest|block]\n", argv[0]);
            return 2;
        }
    }
    B = mmap(NULL, sizeof *B, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (B == MAP_FAILED) return 1;

    am_arena_unlink(NAME);                      /* a demo starts fresh */
    am_arena *a;
    int rc = am_arena_open(NAME, NULL, &a);
    if (rc) {
        fprintf(stderr, "pubsub_demo: am_arena_open: %s\n", am_strerror(rc));
        return 1;
    }
    am_stats before, after;
    am_arena_stats(a, &before);
    const char *pol = slow_policy == AM_POLICY_BLOCK ? "AM_POLICY_BLOCK" : "AM_POLICY_DROP_OLDEST";
    printf("arena \"%s\": %llu MiB, %llu bytes in %llu blocks used before any topic\n", NAME,
           (unsigned long long)(before.size >> 20), (unsigned long long)before.used,
           (unsigned long long)before.used_blocks);
    printf("topic %s: up to %llu samples of %u B - %u KiB or %.1f s, loaned and written in place\n", TOPIC,
           (unsigned long long)count, MIN_LEN, MAX_LEN >> 10, seconds);
    printf("  fast: lossless (AM_POLICY_BLOCK), depth 64, checks order and checksums\n");
    printf("  slow: %s, depth %u, naps %ld us per sample -> %s\n", pol, SLOW_DEPTH, SLOW_NAP_NS / 1000,
           slow_policy == AM_POLICY_BLOCK ? "the publisher must wait for it (back-pressure)"
                                          : "it loses the oldest queued samples; the publisher does not wait");
    printf("  late: joins halfway asking for %u kept samples, then checks %u live ones\n", HISTORY, LATE_LIVE);

    pid_t pid[NROLES] = { 0 };
    pid[PUB] = spawn(PUB, seconds, count, slow_policy);
    for (uint64_t t0 = now_ns(); !atomic_load(&B->topic_ready) && now_ns() - t0 < 5 * SEC;) usleep(1000);
    pid[FAST] = spawn(FAST, 0, 0, slow_policy);
    pid[SLOW] = spawn(SLOW, 0, 0, slow_policy);
    for (uint64_t t0 = now_ns(); !atomic_load(&B->r[PUB].state) && now_ns() - t0 < 6 * SEC;) usleep(1000);

    /* Print a line per role every second until every child has exited. */
    uint64_t start = now_ns(), tick = start, prev[NROLES][2] = { { 0 } };
    int alive = 3, status[NROLES] = { 0 }, killed = 0;
    while (alive > 0) {
        usleep(20000);
        uint64_t t = now_ns();
        if (!pid[LATE] && atomic_load(&B->r[PUB].state) == 1 &&
            (t - start >= (uint64_t)(seconds * 0.5e9) || atomic_load(&B->r[PUB].msgs) >= count / 2)) {
            pid[LATE] = spawn(LATE, 0, 0, slow_policy);
            alive++;
        }
        for (int w = 0; w < NROLES; w++) {
            if (pid[w] > 0 && waitpid(pid[w], &status[w], WNOHANG) == pid[w]) {
                pid[w] = -1;
                alive--;
            }
        }
        if (!killed && t - start > (uint64_t)(seconds * 1e9) + 20 * SEC) {   /* a watchdog, not a plan */
            printf("  watchdog: children still running 20 s after the end; killing them\n");
            for (int w = 0; w < NROLES; w++) if (pid[w] > 0) kill(pid[w], SIGKILL);
            killed = 1;
        }
        if (t - tick < SEC && alive > 0) continue;
        double dt = (double)(t - tick) / 1e9;
        tick = t;
        am_stats now;
        am_arena_stats(a, &now);
        printf("%5.2f s in flight: %.1f MB in %llu blocks of the arena\n", (double)(t - start) / 1e9,
               (double)now.used / 1e6, (unsigned long long)now.used_blocks);
        for (int w = 0; w < NROLES; w++) {
            role *r = &B->r[w];
            uint64_t m = atomic_load(&r->msgs), b = atomic_load(&r->bytes);
            if (m == prev[w][0] && atomic_load(&r->state) != 1) continue;
            printf("         %-9s %7.0f msg/s %7.1f MB/s  dropped %7llu", LABEL[w], (double)(m - prev[w][0]) / dt,
                   (double)(b - prev[w][1]) / dt / 1e6, U(r->dropped));
            if (w == PUB) printf("  send timeouts %llu, subscribers %llu\n", U(r->timeouts), U(r->subscribers));
            else printf("  queue %2llu/%llu\n", U(r->queued), U(r->depth));
            prev[w][0] = m;
            prev[w][1] = b;
        }
    }

    /* Everyone has closed: the topic, its history and every sample must be gone. */
    am_arena_stats(a, &after);
    rc = am_arena_check(a);
    role *P = &B->r[PUB], *F = &B->r[FAST], *S = &B->r[SLOW], *L = &B->r[LATE];
    uint64_t sent = atomic_load(&P->msgs);
    int bad = 0;
    printf("summary\n");
    for (int w = 0; w < NROLES; w++) {
        role *r = &B->r[w];
        if (w == LATE && !pid[LATE]) continue;
        int clean = WIFEXITED(status[w]) && WEXITSTATUS(status[w]) == 0 && !atomic_load(&r->bad);
        bad |= check(clean, "%-9s %s%s%s", LABEL[w], clean ? "exited cleanly" : "failed",
                     r->problem[0] ? ": " : "", r->problem);
    }
    bad |= check(1, "publisher sent %llu samples (the last an end marker), %.1f MB; %llu sends timed out", U(P->msgs),
                 (double)atomic_load(&P->bytes) / 1e6, U(P->timeouts));
    bad |= check(atomic_load(&F->msgs) == sent && atomic_load(&F->dropped) == 0 && atomic_load(&F->gaps) == 0,
                 "fast received %llu, dropped %llu, all in order, checksums verified", U(F->msgs), U(F->dropped));
    bad |= check(atomic_load(&S->msgs) + atomic_load(&S->dropped) == sent && atomic_load(&S->gaps) == atomic_load(&S->dropped),
                 "slow received %llu + dropped %llu = %llu sent; gaps in its seqs %llu = its drops", U(S->msgs),
                 U(S->dropped), (unsigned long long)sent, U(S->gaps));
    bad |= check(atomic_load(&P->dropped) == atomic_load(&S->dropped) + atomic_load(&L->dropped),
                 "publisher counted %llu drops, the subscribers %llu", U(P->dropped),
                 U(S->dropped) + U(L->dropped));
    if (pid[LATE]) {
        /* HISTORY kept samples, then live ones, no gap: at most HISTORY of them sent
         * before it began to join, at least HISTORY sent before its open returned. */
        bad |= check(atomic_load(&L->old) <= HISTORY && atomic_load(&L->history) >= HISTORY && atomic_load(&L->gaps) == 0,
                     "late joiner got %u kept samples from history (of the %llu it got that were sent before it "
                     "joined, %llu before it began to join), then live ones, no gap", HISTORY, U(L->history),
                     U(L->old));
    }
    bad |= check(after.used == before.used && after.used_blocks == before.used_blocks,
                 "arena used %llu bytes in %llu blocks after (before: %llu in %llu); %llu allocations, %llu frees",
                 (unsigned long long)after.used, (unsigned long long)after.used_blocks,
                 (unsigned long long)before.used, (unsigned long long)before.used_blocks,
                 (unsigned long long)after.allocs, (unsigned long long)after.frees);
    bad |= check(rc == 0, "am_arena_check: %s", rc == 0 ? "clean" : am_arena_check_report());
    am_arena_close(a);
    am_arena_unlink(NAME);
    printf("pubsub_demo: %s\n", bad ? "FAILED" : "all checks passed");
    return bad ? 1 : 0;
}
