/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_alloc — what does an allocation cost in the arena, and does it scale?
 *
 * Measures the median time of one allocation plus one free (a "pair") for three
 * allocators:
 *   - arena:        am_try_alloc (am_alloc that says why it failed) + am_ack (the ack of
 *                   the only reference frees the block); 64 MiB, default sectors (8);
 *   - glibc malloc: malloc + free, the process-private reference point;
 *   - mutex TLSF:   the arena's own TLSF code (am_tlsf_alloc / am_tlsf_free) on a
 *                   one-sector arena behind one process-shared pthread mutex. This is
 *                   the obvious design the arena's sectors, try-locks and never-waiting
 *                   frees are meant to beat; since the TLSF code is the same, the
 *                   comparison isolates the locking design.
 * on two workloads:
 *   - "64 B":  allocate 64 bytes, free it at once, repeat;
 *   - "mixed": a window of 256 live blocks of random sizes 1..4096 B (fixed-seed
 *              xorshift); each pair frees a random one and allocates its replacement;
 * in one process (pinned to CPU 0), then in two processes at once (CPUs 0 and 1, each
 * with its own handles opened after fork, started together by a barrier).
 *
 * Why this way (see /work/shared/notes/BENCHMARKING.md): on this 2-vCPU VM the cost of
 * moving a cache line between the CPUs jumps between two levels during a run, so
 * single absolute figures mean little. Everything is therefore measured in rounds that
 * alternate every configuration back to back (per round: for each workload, 1 process
 * then 2 processes, each time arena, malloc, mutex TLSF), and the figures are medians
 * over all rounds. A sample is the time of a batch of 1000 pairs (CLOCK_MONOTONIC);
 * pairs/s is the pairs all processes did in a round divided by the round's wall time;
 * the scaling is the median over rounds of (2-process pairs/s / 1-process pairs/s).
 *
 * Two worker processes, forked at start, do all the allocating (worker 0 alone for the
 * one-process rows, worker 1 then sleeps in read()); the parent only sends commands over
 * pipes and collects samples from a shared page, sleeping meanwhile. Both arena names
 * are unlinked as soon as the workers have attached, so no file outlives the run.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomicmatrix/arena.h"
#include "bench_util.h"
#include "arena_internal.h"

enum { W_SMALL, W_MIXED, NWORK };
enum { A_ARENA, A_MALLOC, A_MUTEX, NALLOC };
enum { NPROCS = 2 };                     /* worker processes (and the most at once)   */
enum { OP_RUN = 1, OP_QUIT = 2 };

#define PAIRS_PER_SAMPLE 1000
#define WARMUP_PAIRS     5000            /* untimed, before each measured stretch     */
#define SMALL_SIZE       64u
#define MIXED_MAX        4096u
#define WINDOW           256u            /* live blocks of the mixed workload         */
#define ARENA_BYTES      ((size_t)64 << 20)
#define SEED             0x2545F4914F6CDD1Dull
#define BARRIER_TIMEOUT_NS (30ull * 1000000000ull)
#define WORKER_TIMEOUT_S 120
#define TARGET_NS        60.0
#define TARGET_SCALING   1.5

static const char *const WORK_NAMES[NWORK] = { "64 B", "mixed" };

/* ------------------------------------------------------------------ allocators */

/* What one process allocates with: its own handles (opened after fork) and the mutex. */
typedef struct env {
    am_arena *arena;        /* default sectors                         */
    am_arena *tlsf;         /* one sector, used only under mu          */
    pthread_mutex_t *mu;    /* process-shared, in the shared page      */
} env;

typedef struct allocator {
    const char *name;
    int (*alloc)(env *e, size_t n, void **out);   /* 0 or an AM_E* code */
    int (*free)(env *e, void *p);
} allocator;

static int arena_alloc(env *e, size_t n, void **out) { return am_try_alloc(e->arena, n, out); }
static int arena_free(env *e, void *p) { return am_ack(e->arena, p); }

static int libc_alloc(env *e, size_t n, void **out)
{
    (void)e;
    *out = malloc(n);
    return *out ? 0 : AM_ENOMEM;
}

static int libc_free(env *e, void *p)
{
    (void)e;
    free(p);
    return 0;
}

static int mutex_alloc(env *e, size_t n, void **out)
{
    uint64_t need = am_block_bytes(n), off = 0;
    *out = NULL;
    if (need == 0) return AM_ETOOBIG;
    if (pthread_mutex_lock(e->mu) != 0) return AM_ESYS;
    int rc = am_tlsf_alloc(e->tlsf, 0, need, &off);
    if (pthread_mutex_unlock(e->mu) != 0) return AM_ESYS;
    if (rc == 0) *out = e->tlsf->base + off + AM_HDR;
    return rc;
}

/* am_tlsf_free wants a PENDING block; the mutex orders the store, so relaxed will do. */
static int mutex_free(env *e, void *p)
{
    uint64_t off = (uint64_t)((uint8_t *)p - e->tlsf->base) - AM_HDR;
    if (pthread_mutex_lock(e->mu) != 0) return AM_ESYS;
    atomic_store_explicit(&am_blk(e->tlsf, off)->st, AM_ST_MAKE(AM_BLK_PENDING, 0), memory_order_relaxed);
    int rc = am_tlsf_free(e->tlsf, 0, off);
    if (pthread_mutex_unlock(e->mu) != 0) return AM_ESYS;
    return rc;
}

static const allocator ALLOCS[NALLOC] = {
    [A_ARENA]  = { "arena",        arena_alloc, arena_free },
    [A_MALLOC] = { "glibc malloc", libc_alloc,  libc_free  },
    [A_MUTEX]  = { "mutex TLSF",   mutex_alloc, mutex_free },
};

/* ------------------------------------------------------------------ workloads */

typedef struct wstate {
    uint64_t rng;
    void *win[WINDOW];      /* the mixed workload's live blocks (NULL = none) */
    const char *op;         /* what failed, for the message                   */
    size_t size;
} wstate;

static inline uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Keep the compiler from pairing malloc with free and deleting both. */
static inline void escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static __attribute__((cold, noinline)) int fail(wstate *w, const char *op, size_t size, int rc)
{
    w->op = op;
    w->size = size;
    return rc;
}

static inline __attribute__((always_inline)) int small_pair(const allocator *al, env *e, wstate *w)
{
    void *p;
    int rc = al->alloc(e, SMALL_SIZE, &p);
    if (__builtin_expect(rc != 0, 0)) return fail(w, "alloc", SMALL_SIZE, rc);
    escape(p);
    rc = al->free(e, p);
    return __builtin_expect(rc != 0, 0) ? fail(w, "free", SMALL_SIZE, rc) : 0;
}

static inline __attribute__((always_inline)) int mixed_pair(const allocator *al, env *e, wstate *w)
{
    uint64_t r = xorshift64(&w->rng);
    unsigned i = (unsigned)(r % WINDOW);
    size_t n = 1 + (size_t)((r >> 8) % MIXED_MAX);
    int rc = al->free(e, w->win[i]);
    w->win[i] = NULL;
    if (__builtin_expect(rc != 0, 0)) return fail(w, "free", 0, rc);
    rc = al->alloc(e, n, &w->win[i]);
    return __builtin_expect(rc != 0, 0) ? fail(w, "alloc", n, rc) : 0;
}

/* The one driver loop: n pairs of workload `work` with allocator `al`. */
static inline __attribute__((always_inline)) int run_pairs(const allocator *al, env *e, wstate *w,
                                                           int work, long n)
{
    int rc = 0;
    for (long k = 0; k < n && rc == 0; k++) {
        rc = work == W_MIXED ? mixed_pair(al, e, w) : small_pair(al, e, w);
    }
    return rc;
}

/* Each case hands run_pairs a constant vtable, so the timed loop calls the allocator
 * directly instead of through a pointer (same for all three). */
static int run_batch(int ix, env *e, wstate *w, int work, long n)
{
    switch (ix) {
    case A_ARENA:  return run_pairs(&ALLOCS[A_ARENA], e, w, work, n);
    case A_MALLOC: return run_pairs(&ALLOCS[A_MALLOC], e, w, work, n);
    default:       return run_pairs(&ALLOCS[A_MUTEX], e, w, work, n);
    }
}

static int fill_window(const allocator *al, env *e, wstate *w)
{
    for (unsigned i = 0; i < WINDOW; i++) {
        size_t n = 1 + (size_t)(xorshift64(&w->rng) % MIXED_MAX);
        int rc = al->alloc(e, n, &w->win[i]);
        if (rc) return fail(w, "alloc", n, rc);
    }
    return 0;
}

static int drain_window(const allocator *al, env *e, wstate *w)
{
    int first = 0;
    for (unsigned i = 0; i < WINDOW; i++) {
        if (!w->win[i]) continue;
        int rc = al->free(e, w->win[i]);
        w->win[i] = NULL;
        if (rc && !first) first = fail(w, "free", 0, rc);
    }
    return first;
}

/* ------------------------------------------------------------------ shared page */

/* A worker's measured stretch, and how often it was preempted meanwhile. */
typedef struct span { uint64_t t0, t1; long preempted; } span;

typedef struct shared {
    alignas(64) pthread_mutex_t mu;          /* the mutex TLSF's lock              */
    alignas(64) _Atomic unsigned arrive;     /* start barrier of 2-process runs    */
    alignas(64) span spans[NPROCS];          /* each worker's measured stretch     */
    int pinned[NPROCS];                      /* sched_setaffinity worked           */
    double ns[];                             /* [NPROCS][samples] ns per pair      */
} shared;

typedef struct cmd { int op, work, alloc, nprocs, samples; } cmd;


/* Wait until all n workers of this run arrived. The counter only grows: the k-th
 * two-process run waits for n * k arrivals. */
static int barrier(shared *sh, unsigned n, unsigned *epoch)
{
    unsigned target = n * ++*epoch;
    atomic_fetch_add(&sh->arrive, 1);
    uint64_t start = now_ns();
    for (unsigned spins = 1; atomic_load_explicit(&sh->arrive, memory_order_acquire) < target; spins++) {
        cpu_relax();
        if (spins % 4096 == 0 && now_ns() - start > BARRIER_TIMEOUT_NS) return AM_ETIMEDOUT;
    }
    return 0;
}

/* ------------------------------------------------------------------ a worker */

static long involuntary_switches(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nivcsw : 0;
}

static int timed_samples(const cmd *c, env *e, wstate *w, double *ns, span *sp)
{
    long cs = involuntary_switches();
    uint64_t prev = now_ns();
    sp->t0 = prev;
    for (int s = 0; s < c->samples; s++) {
        int rc = run_batch(c->alloc, e, w, c->work, PAIRS_PER_SAMPLE);
        if (rc) return rc;
        uint64_t t = now_ns();
        ns[s] = (double)(t - prev) / PAIRS_PER_SAMPLE;
        prev = t;
    }
    sp->t1 = prev;
    sp->preempted = involuntary_switches() - cs;
    return 0;
}

static void report_error(unsigned id, const cmd *c, const wstate *w, int rc)
{
    fprintf(stderr, "bench_alloc: worker %u, %s, %s: %s", id, WORK_NAMES[c->work],
            ALLOCS[c->alloc].name, w->op ? w->op : "start barrier");
    if (w->size) fprintf(stderr, " of %zu bytes", w->size);
    fprintf(stderr, " failed: %s\n", am_strerror(rc));
    if (rc == AM_ECORRUPT && am_arena_check_report()[0]) {
        fprintf(stderr, "bench_alloc:   %s\n", am_arena_check_report());
    }
}

/* One measured stretch: fill, warm up, meet the other worker, time, free everything. */
static int run_segment(env *e, shared *sh, const cmd *c, unsigned id, unsigned *epoch)
{
    wstate w = { .rng = SEED + id };
    const allocator *al = &ALLOCS[c->alloc];
    int rc = c->work == W_MIXED ? fill_window(al, e, &w) : 0;
    if (rc == 0) rc = run_batch(c->alloc, e, &w, c->work, WARMUP_PAIRS);
    int brc = c->nprocs > 1 ? barrier(sh, (unsigned)c->nprocs, epoch) : 0;  /* even after a failure */
    if (rc == 0) rc = brc;
    if (rc == 0) rc = timed_samples(c, e, &w, sh->ns + (size_t)id * (size_t)c->samples, &sh->spans[id]);
    if (rc) report_error(id, c, &w, rc);
    int drc = drain_window(al, e, &w);
    if (drc) report_error(id, c, &w, drc);
    return rc ? rc : drc;
}

static int open_env(const char *const names[2], env *e, unsigned id)
{
    const am_arena_opts attach = { .flags = AM_ATTACH_ONLY };
    am_arena **h[2] = { &e->arena, &e->tlsf };
    for (int k = 0; k < 2; k++) {
        int rc = am_arena_open(names[k], &attach, h[k]);
        if (rc) {
            fprintf(stderr, "bench_alloc: worker %u: am_arena_open(%s): %s\n", id, names[k], am_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static int send_status(int fd, int rc)
{
    unsigned char st = rc != 0;
    return write(fd, &st, 1) == 1 ? 0 : -1;
}

static int pin_to(unsigned cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

static __attribute__((noreturn)) void worker(unsigned id, pid_t parent, const char *const names[2],
                                            shared *sh, int cmd_fd, int done_fd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
    sh->pinned[id] = pin_to(id);
    env e = { .mu = &sh->mu };
    int rc = open_env(names, &e, id);
    if (send_status(done_fd, rc) == 0 && rc == 0) {
        unsigned epoch = 0;
        cmd c;
        while (read(cmd_fd, &c, sizeof c) == (ssize_t)sizeof c && c.op == OP_RUN) {
            if (send_status(done_fd, run_segment(&e, sh, &c, id, &epoch)) != 0) break;
        }
    }
    am_arena_close(e.arena);   /* NULL is ignored */
    am_arena_close(e.tlsf);
    _exit(rc ? 1 : 0);
}

/* ------------------------------------------------------------------ the parent */

typedef struct series {
    double *ns;    size_t nns;     /* ns per pair, every sample of every worker */
    double *rate;  size_t nrate;   /* pairs/s of each round, all workers        */
    long preempted;                /* involuntary context switches, all workers */
} series;

typedef struct bench {
    int rounds, samples, json;
    char names[2][64];            /* default arena, one-sector arena          */
    const char *name_ptr[2];
    int created[2], unlinked;
    am_arena *handle[2];          /* the parent's: they create the arenas     */
    shared *sh;
    size_t sh_bytes;
    pid_t pid[NPROCS];
    int cmd_fd[NPROCS];           /* write ends                               */
    int done_fd;                  /* read end                                 */
    series res[NWORK][NALLOC][NPROCS];
    double seconds;
} bench;

static void unlink_arenas(bench *b)
{
    if (b->unlinked) return;
    b->unlinked = 1;
    for (int k = 0; k < 2; k++) {
        if (!b->created[k]) continue;
        int rc = am_arena_unlink(b->names[k]);
        if (rc) fprintf(stderr, "bench_alloc: am_arena_unlink(%s): %s\n", b->names[k], am_strerror(rc));
    }
}

static int create_arenas(bench *b)
{
    const am_arena_opts opts[2] = {
        { .size = ARENA_BYTES, .flags = AM_CREATE_ONLY },
        { .size = ARENA_BYTES, .sectors = 1, .flags = AM_CREATE_ONLY },
    };
    snprintf(b->names[0], sizeof b->names[0], "bench-alloc-%ld", (long)getpid());
    snprintf(b->names[1], sizeof b->names[1], "bench-alloc-%ld-mutex", (long)getpid());
    for (int k = 0; k < 2; k++) {
        b->name_ptr[k] = b->names[k];
        int rc = am_arena_open(b->names[k], &opts[k], &b->handle[k]);
        if (rc) {
            fprintf(stderr, "bench_alloc: am_arena_open(%s): %s\n", b->names[k], am_strerror(rc));
            return -1;
        }
        b->created[k] = 1;
    }
    return 0;
}

static int create_shared(bench *b)
{
    b->sh_bytes = sizeof(shared) + sizeof(double) * NPROCS * (size_t)b->samples;
    void *p = mmap(NULL, b->sh_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("bench_alloc: mmap"); return -1; }
    b->sh = p;
    pthread_mutexattr_t at;
    int rc = pthread_mutexattr_init(&at);
    if (rc == 0) rc = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    if (rc == 0) rc = pthread_mutex_init(&b->sh->mu, &at);
    pthread_mutexattr_destroy(&at);
    if (rc) { fprintf(stderr, "bench_alloc: process-shared mutex: %s\n", strerror(rc)); return -1; }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Fork worker id; it keeps only its command pipe's read end and the status pipe. */
static int spawn(bench *b, unsigned id, int cmd_pipe[NPROCS][2], int done_pipe[2])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { perror("bench_alloc: fork"); return -1; }
    if (pid == 0) {
        for (unsigned j = 0; j < NPROCS; j++) {
            close(cmd_pipe[j][1]);
            if (j != id) close(cmd_pipe[j][0]);
        }
        close(done_pipe[0]);
        worker(id, parent, b->name_ptr, b->sh, cmd_pipe[id][0], done_pipe[1]);
    }
    b->pid[id] = pid;
    return 0;
}

static int start_workers(bench *b)
{
    int cmd_pipe[NPROCS][2], done_pipe[2];
    for (unsigned i = 0; i < NPROCS; i++) {
        if (pipe(cmd_pipe[i]) != 0) { perror("bench_alloc: pipe"); return -1; }
        b->cmd_fd[i] = cmd_pipe[i][1];
    }
    if (pipe(done_pipe) != 0) { perror("bench_alloc: pipe"); return -1; }
    b->done_fd = done_pipe[0];
    int rc = 0;
    for (unsigned i = 0; i < NPROCS && rc == 0; i++) rc = spawn(b, i, cmd_pipe, done_pipe);
    for (unsigned i = 0; i < NPROCS; i++) close(cmd_pipe[i][0]);
    close(done_pipe[1]);
    return rc;
}

/* A worker that exited: say how, forget it, and return 1. */
static int reap_dead(bench *b)
{
    int dead = 0;
    for (unsigned i = 0; i < NPROCS; i++) {
        int st;
        if (b->pid[i] <= 0 || waitpid(b->pid[i], &st, WNOHANG) != b->pid[i]) continue;
        if (WIFSIGNALED(st)) {
            fprintf(stderr, "bench_alloc: worker %u died of signal %d (%s)\n", i, WTERMSIG(st), strsignal(WTERMSIG(st)));
        } else {
            fprintf(stderr, "bench_alloc: worker %u exited with status %d\n", i, WEXITSTATUS(st));
        }
        b->pid[i] = 0;
        dead = 1;
    }
    return dead;
}

/* Collect n status bytes; -1 if a worker failed, died or hung. */
static int wait_workers(bench *b, int n)
{
    int failed = 0;
    for (int got = 0, waited = 0; got < n;) {
        struct pollfd pfd = { .fd = b->done_fd, .events = POLLIN };
        int r = poll(&pfd, 1, 1000);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { perror("bench_alloc: poll"); return -1; }
        if (r == 0) {
            if (reap_dead(b)) return -1;
            if (++waited <= WORKER_TIMEOUT_S) continue;
            fprintf(stderr, "bench_alloc: workers stopped answering\n");
            return -1;
        }
        unsigned char st;
        if (read(b->done_fd, &st, 1) != 1) {
            reap_dead(b);
            fprintf(stderr, "bench_alloc: workers went away\n");
            return -1;
        }
        failed |= st != 0;
        got++;
    }
    return failed ? -1 : 0;
}

static int send_cmd(bench *b, const cmd *c, int n)
{
    for (int i = 0; i < n; i++) {
        if (write(b->cmd_fd[i], c, sizeof *c) != (ssize_t)sizeof *c) {
            perror("bench_alloc: write to a worker");
            return -1;
        }
    }
    return 0;
}

static void record(bench *b, const cmd *c)
{
    series *s = &b->res[c->work][c->alloc][c->nprocs - 1];
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (int i = 0; i < c->nprocs; i++) {
        memcpy(s->ns + s->nns, b->sh->ns + (size_t)i * (size_t)c->samples, sizeof(double) * (size_t)c->samples);
        s->nns += (size_t)c->samples;
        if (b->sh->spans[i].t0 < t0) t0 = b->sh->spans[i].t0;
        if (b->sh->spans[i].t1 > t1) t1 = b->sh->spans[i].t1;
        s->preempted += b->sh->spans[i].preempted;
    }
    double pairs = (double)c->nprocs * c->samples * PAIRS_PER_SAMPLE;
    s->rate[s->nrate++] = pairs * 1e9 / (double)(t1 > t0 ? t1 - t0 : 1);
}

static int alloc_series(bench *b)
{
    for (int w = 0; w < NWORK; w++) {
        for (int a = 0; a < NALLOC; a++) {
            for (int p = 0; p < NPROCS; p++) {
                series *s = &b->res[w][a][p];
                s->ns = malloc(sizeof(double) * (size_t)b->rounds * (size_t)b->samples * (size_t)(p + 1));
                s->rate = malloc(sizeof(double) * (size_t)b->rounds);
                if (!s->ns || !s->rate) { fprintf(stderr, "bench_alloc: out of memory\n"); return -1; }
            }
        }
    }
    return 0;
}

/* Round 0 warms everything up and is dropped. */
static int run_rounds(bench *b)
{
    uint64_t start = now_ns();
    for (int r = 0; r <= b->rounds; r++) {
        for (int w = 0; w < NWORK; w++) {
            for (int p = 1; p <= NPROCS; p++) {
                for (int a = 0; a < NALLOC; a++) {
                    cmd c = { .op = OP_RUN, .work = w, .alloc = a, .nprocs = p, .samples = b->samples };
                    if (send_cmd(b, &c, p) != 0 || wait_workers(b, p) != 0) return -1;
                    if (r > 0) record(b, &c);
                }
            }
        }
    }
    b->seconds = (double)(now_ns() - start) / 1e9;
    return 0;
}

static int stop_workers(bench *b)
{
    const cmd quit = { .op = OP_QUIT };
    int rc = 0;
    for (unsigned i = 0; i < NPROCS; i++) {
        if (b->pid[i] <= 0) continue;
        int st;
        if (write(b->cmd_fd[i], &quit, sizeof quit) != (ssize_t)sizeof quit ||
            waitpid(b->pid[i], &st, 0) != b->pid[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_alloc: worker %u did not stop cleanly\n", i);
            rc = -1;
        }
        b->pid[i] = 0;
    }
    return rc;
}

/* After the run every block must be back: the arenas must check clean and be empty. */
static int verify_arenas(bench *b)
{
    for (int k = 0; k < 2; k++) {
        am_stats st;
        int rc = am_arena_check(b->handle[k]);
        if (rc) {
            fprintf(stderr, "bench_alloc: am_arena_check(%s): %s: %s\n", b->names[k], am_strerror(rc),
                    am_arena_check_report());
            return -1;
        }
        rc = am_arena_stats(b->handle[k], &st);
        if (rc) { fprintf(stderr, "bench_alloc: am_arena_stats(%s): %s\n", b->names[k], am_strerror(rc)); return -1; }
        if (st.used_blocks != 0) {
            fprintf(stderr, "bench_alloc: %s still has %llu used blocks after the run\n", b->names[k],
                    (unsigned long long)st.used_blocks);
            return -1;
        }
    }
    return 0;
}

static void cleanup(bench *b)
{
    for (unsigned i = 0; i < NPROCS; i++) {
        if (b->pid[i] > 0) { kill(b->pid[i], SIGKILL); waitpid(b->pid[i], NULL, 0); }
        close_fd(&b->cmd_fd[i]);
    }
    close_fd(&b->done_fd);
    for (int k = 0; k < 2; k++) am_arena_close(b->handle[k]);
    unlink_arenas(b);
    if (b->sh) {
        pthread_mutex_destroy(&b->sh->mu);
        munmap(b->sh, b->sh_bytes);
    }
    for (int w = 0; w < NWORK; w++) {
        for (int a = 0; a < NALLOC; a++) {
            for (int p = 0; p < NPROCS; p++) { free(b->res[w][a][p].ns); free(b->res[w][a][p].rate); }
        }
    }
}

/* ------------------------------------------------------------------ report */

typedef struct summary { double ns, p99, mpairs, scaling; long preempted; } summary;

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

/* Sorts v in place; the q-quantile (nearest rank). */
static double quantile(double *v, size_t n, double q)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i];
}

/* Median over rounds of 2-process pairs/s / 1-process pairs/s of the same round: the two
 * were measured back to back, so a slow phase of the machine hits both. Before the
 * rates are sorted. */
static double round_scaling(const series *one, const series *two, double *tmp)
{
    size_t n = one->nrate < two->nrate ? one->nrate : two->nrate;
    for (size_t r = 0; r < n; r++) tmp[r] = two->rate[r] / one->rate[r];
    return quantile(tmp, n, 0.5);
}

static int summarise(bench *b, summary out[NWORK][NALLOC][NPROCS])
{
    double *tmp = malloc(sizeof(double) * (size_t)b->rounds);
    if (!tmp) { fprintf(stderr, "bench_alloc: out of memory\n"); return -1; }
    for (int w = 0; w < NWORK; w++) {
        for (int a = 0; a < NALLOC; a++) {
            out[w][a][1].scaling = round_scaling(&b->res[w][a][0], &b->res[w][a][1], tmp);
            for (int p = 0; p < NPROCS; p++) {
                series *s = &b->res[w][a][p];
                out[w][a][p].ns = quantile(s->ns, s->nns, 0.5);
                out[w][a][p].p99 = quantile(s->ns, s->nns, 0.99);
                out[w][a][p].mpairs = quantile(s->rate, s->nrate, 0.5) / 1e6;
                out[w][a][p].preempted = s->preempted;
            }
        }
    }
    free(tmp);
    return 0;
}

/* ns/pair of row (w, a, p) relative to allocator ref's row of the same workload and procs. */
static double vs(summary s[NWORK][NALLOC][NPROCS], int w, int a, int p, int ref)
{
    return s[w][a][p].ns / s[w][ref][p].ns;
}

static int scaling_met(summary s[NWORK][NALLOC][NPROCS])
{
    return s[W_SMALL][A_ARENA][1].scaling >= TARGET_SCALING && s[W_MIXED][A_ARENA][1].scaling >= TARGET_SCALING;
}

static void print_table(const bench *b, summary s[NWORK][NALLOC][NPROCS])
{
    printf("bench_alloc: alloc+free pairs; median of %d rounds x %d batches of %d pairs per process,\n"
           "configurations alternated each round; 1 process on CPU 0%s, 2 processes on CPUs 0+1%s; %.1f s\n\n",
           b->rounds, b->samples, PAIRS_PER_SAMPLE, b->sh->pinned[0] ? "" : " (pinning failed)",
           b->sh->pinned[0] && b->sh->pinned[1] ? "" : " (pinning failed)", b->seconds);
    printf("%-8s %-13s %5s %9s %10s %9s %10s %9s %8s %8s\n", "workload", "allocator", "procs", "ns/pair",
           "p99 batch", "Mpairs/s", "vs malloc", "vs mutex", "scaling", "preempt");
    for (int w = 0; w < NWORK; w++) {
        for (int p = 0; p < NPROCS; p++) {
            for (int a = 0; a < NALLOC; a++) {
                const summary *r = &s[w][a][p];
                char scale[16] = "-";
                if (p > 0) snprintf(scale, sizeof scale, "%.2fx", r->scaling);
                printf("%-8s %-13s %5d %9.1f %10.1f %9.2f %9.2fx %9.2fx %8s %8ld\n", WORK_NAMES[w], ALLOCS[a].name,
                       p + 1, r->ns, r->p99, r->mpairs, vs(s, w, a, p, A_MALLOC), vs(s, w, a, p, A_MUTEX), scale,
                       r->preempted);
            }
        }
    }
    printf("\nns/pair: median over all 1000-pair batches of all processes; p99 batch: 99th percentile\n"
           "of those; Mpairs/s: all processes' pairs / wall time of the round, median over rounds;\n"
           "vs: ns/pair ratio to the same workload and process count (< 1 = faster); scaling: Mpairs/s\n"
           "of 2 processes / 1 process in the same round, median over rounds (glibc malloc shares\n"
           "nothing: its scaling is what the machine allows during this run); preempt: involuntary\n"
           "context switches of the workers while timed (other load on the machine; should be ~0).\n\n");
    double ns = s[W_SMALL][A_ARENA][0].ns;
    printf("target: arena 64 B pair <= %.0f ns median in one process: %.1f ns -> %s\n", TARGET_NS, ns,
           ns <= TARGET_NS ? "MET" : "NOT MET");
    printf("target: two processes together >= %.1fx the pairs per second of one (arena): 64 B %.2fx, mixed %.2fx"
           " (glibc malloc: %.2fx, %.2fx) -> %s\n", TARGET_SCALING, s[W_SMALL][A_ARENA][1].scaling,
           s[W_MIXED][A_ARENA][1].scaling, s[W_SMALL][A_MALLOC][1].scaling, s[W_MIXED][A_MALLOC][1].scaling,
           scaling_met(s) ? "MET" : "NOT MET");
}

static void print_json(const bench *b, summary s[NWORK][NALLOC][NPROCS])
{
    printf("{\"benchmark\":\"bench_alloc\",\"unit\":\"ns per alloc+free pair\",\"rounds\":%d,"
           "\"batches_per_round\":%d,\"pairs_per_batch\":%d,\"pinned\":[%d,%d],\"seconds\":%.2f,\"rows\":[",
           b->rounds, b->samples, PAIRS_PER_SAMPLE, b->sh->pinned[0], b->sh->pinned[1], b->seconds);
    const char *sep = "";
    for (int w = 0; w < NWORK; w++) {
        for (int p = 0; p < NPROCS; p++) {
            for (int a = 0; a < NALLOC; a++) {
                const summary *r = &s[w][a][p];
                char scale[32] = "null";
                if (p > 0) snprintf(scale, sizeof scale, "%.3f", r->scaling);
                printf("%s\n {\"workload\":\"%s\",\"allocator\":\"%s\",\"processes\":%d,\"median_ns\":%.2f,"
                       "\"p99_batch_ns\":%.2f,\"mpairs_per_s\":%.3f,\"ns_vs_malloc\":%.3f,\"ns_vs_mutex_tlsf\":%.3f,"
                       "\"scaling_vs_1\":%s,\"preempted\":%ld}", sep, WORK_NAMES[w], ALLOCS[a].name, p + 1, r->ns,
                       r->p99, r->mpairs, vs(s, w, a, p, A_MALLOC), vs(s, w, a, p, A_MUTEX), scale, r->preempted);
                sep = ",";
            }
        }
    }
    double ns = s[W_SMALL][A_ARENA][0].ns;
    printf("],\n \"targets\":{\"arena_64B_1proc_median_ns\":{\"target\":%.1f,\"value\":%.2f,\"met\":%s},\n"
           "  \"arena_2proc_scaling\":{\"target\":%.2f,\"64 B\":%.3f,\"mixed\":%.3f,\"met\":%s}}}\n",
           TARGET_NS, ns, ns <= TARGET_NS ? "true" : "false", TARGET_SCALING, s[W_SMALL][A_ARENA][1].scaling,
           s[W_MIXED][A_ARENA][1].scaling, scaling_met(s) ? "true" : "false");
}

/* ------------------------------------------------------------------ main */

static int parse_args(bench *b, int argc, char **argv)
{
    b->rounds = 30;          /* 30 x 100 = 3000 batches per process and row, ~10 s */
    b->samples = 100;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            b->json = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            b->rounds = 8;   /* 400 batches per process and row, ~1-2 s */
            b->samples = 50;
        } else {
            fprintf(stderr, "usage: %s [--quick] [--json]\n", argv[0]);
            return -1;
        }
    }
    return 0;
}

static int run(bench *b)
{
    if (create_shared(b) || create_arenas(b) || alloc_series(b) || start_workers(b)) return -1;
    if (wait_workers(b, NPROCS) != 0) return -1;   /* both attached */
    unlink_arenas(b);                              /* nothing can leak a name now */
    if (run_rounds(b) || stop_workers(b) || verify_arenas(b)) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    static bench b = { .cmd_fd = { -1, -1 }, .done_fd = -1 };
    if (parse_args(&b, argc, argv)) return 2;
    signal(SIGPIPE, SIG_IGN);
    int rc = run(&b);
    static summary s[NWORK][NALLOC][NPROCS];
    if (rc == 0) rc = summarise(&b, s);
    if (rc == 0) {
        if (b.json) print_json(&b, s); else print_table(&b, s);
    }
    cleanup(&b);
    return rc ? 1 : 0;
}
