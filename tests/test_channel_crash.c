/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_channel_crash.c — kill -9 of every channel role at random moments.
 *
 * Worker processes play publishers (zero-copy loans and copies, one topic with
 * history), subscribers (one per queue policy, holding a few samples before acking and
 * closing and reopening now and then), a server and clients, and a churner that creates
 * and removes topics. Crash points inside sends, evictions, takes, acks, cleanups,
 * attaches, creations and removals kill them at a small probability, and the parent
 * adds SIGKILLs from outside at random moments; dead workers are respawned.
 *
 * What must hold: every sample a subscriber takes is intact (its payload is the
 * pattern its header names: a block freed early and reused would not be), every worker
 * keeps making progress (no peer wedged by a dead one), and after the last worker stops
 * and the dead are cleaned up the arena checks clean with every sector one free block.
 *
 * CI asks for >= 3000 deaths, then each channel crash point weighted up in turn;
 * AM_CHANNEL_DEATHS=N asks for more.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "testing.h"
#include "arena_internal.h"
#include "channel_internal.h"
#include "test_util.h"

enum { R_PUB0, R_PUB1, R_SUB_BLOCK, R_SUB_NEWEST, R_SUB_OLDEST, R_SUB_HIST, R_SERVER, R_CLIENT0, R_CLIENT1,
       R_CHURN, ROLES };

typedef struct shared {
    const char *name;
    char focus[64];
    _Atomic int stop;
    _Atomic uint64_t progress[ROLES];   /* operations done, per role               */
    _Atomic int failed;                 /* a worker's exit code when it found an error */
    uint64_t deaths_at[64];
    _Atomic uint64_t taken, calls;
} shared;

static shared *sh;
static am_arena *worker_arena;          /* a worker's own handle, for the dump below */

/* The arena's blocks over [p, p + len): an overlap means a byte handed out twice. */
static void dump_blocks(const void *p, size_t len)
{
    am_arena *a = worker_arena;
    uint64_t lo = am_offset(a, p), hi = lo + len;
    int k = am_sector_of(a, lo);
    if (k < 0) return;
    for (uint64_t off = am_sector_start(a, (unsigned)k); off < am_sector_end(a, (unsigned)k);) {
        am_block *b = am_blk(a, off);
        uint64_t size = (uint64_t)b->size16 * AM_GRAN;
        if (size == 0) break;
        if (off + size > lo - 256 && off < hi) {
            uint32_t st = atomic_load(&b->st);
            fprintf(stderr, "  block %llu..%llu state %u refs %u owner %u gen %u%s\n", (unsigned long long)off,
                    (unsigned long long)(off + size), AM_ST_STATE(st), AM_ST_REFS(st), atomic_load(&b->owner),
                    atomic_load(&b->gen), off <= lo && lo < off + size ? " (the sample's)" : "");
        }
        off += size;
    }
    fprintf(stderr, "  sample data at %llu..%llu\n", (unsigned long long)lo, (unsigned long long)hi);
    const amc_msg *m = (const amc_msg *)p - 1;
    fprintf(stderr, "  its header: owe %016llx seq %llu from %u gen %u len %u\n", (unsigned long long)atomic_load(&m->owe),
            (unsigned long long)m->seq, m->from, m->from_gen, m->len);
    /* Who names it: held and replay entries of every receiving port. */
    amc_dir *d = am_upper(a);
    for (unsigned e = 0; e < AM_MAX_CHANNELS; e++) {
        if (d->e[e].state != AMC_ENT_READY) continue;
        amc_chan *ch = am_ptr(a, d->e[e].chan_off);
        for (unsigned i = 0; ch && i < AM_MAX_PORTS; i++) {
            uint64_t ref = atomic_load(&ch->ports[i].rx_ref);
            if (!ref) continue;
            amc_rx *r = am_ptr(a, amc_ref_unpack(ref).off);
            if (!r || r->magic != AMC_RX_MAGIC) continue;
            amc_slot *held = amc_rx_held(r);
            for (uint32_t h = 0; h < r->max_held + r->max_replay && h < 64; h++) {
                if (held[h].off != lo - AMC_MSG_HDR) continue;
                fprintf(stderr, "  %s port %u (state %u stamp %llx) %s %u: gen %u flags %u\n", d->e[e].name, i,
                        atomic_load(&ch->ports[i].state), (unsigned long long)atomic_load(&ch->ports[i].stamp),
                        h < r->max_held ? "held" : "replay", h, held[h].gen, held[h].flags);
            }
        }
    }
}

static uint64_t pattern_seed(uint64_t seq, uint64_t pid) { return seq * 0x9E3779B97F4A7C15ull ^ pid; }

static int check_sample(const am_sample *m)
{
    if (m->len < 16) return m->len == 0 ? 0 : 40;
    uint64_t hdr[2];
    memcpy(hdr, m->data, sizeof hdr);
    if (tu_verify((const uint8_t *)m->data + 16, m->len - 16, pattern_seed(hdr[0], hdr[1]))) return 0;
    /* Who wrote over it tells where the block went while it was held. */
    const uint8_t *b = (const uint8_t *)m->data + 16;
    size_t n = m->len - 16, bad = n, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] == (uint8_t)(pattern_seed(hdr[0], hdr[1]) * 131 + i * 7 + (i >> 8))) continue;
        if (bad == n) bad = i;
        last = i;
    }
    fprintf(stderr, "pid %d: sample seq %llu len %zu id %llx held %u (header: seq %llu pid %llu): first bad byte %zu, last bad %zu; from there:",
            (int)getpid(), (unsigned long long)m->seq, m->len, (unsigned long long)m->_id, m->_held, (unsigned long long)hdr[0],
            (unsigned long long)hdr[1], bad, last);
    for (size_t i = bad; i < bad + 48 && i < n; i++) fprintf(stderr, "%s%02x", i % 8 ? "" : " ", b[i]);
    fprintf(stderr, "\n  runs of wrong bytes (offset in the block's payload, zero or not):");
    for (size_t i = 0; i < n;) {
        uint8_t want = (uint8_t)(pattern_seed(hdr[0], hdr[1]) * 131 + i * 7 + (i >> 8));
        if (b[i] == want) { i++; continue; }
        size_t j = i;
        bool zero = true;
        while (j < n && b[j] != (uint8_t)(pattern_seed(hdr[0], hdr[1]) * 131 + j * 7 + (j >> 8))) zero &= b[j++] == 0;
        fprintf(stderr, " [%zu,%zu)%s", i + 16 + AMC_MSG_HDR, j + 16 + AMC_MSG_HDR, zero ? "z" : "");
        i = j;
    }
    fprintf(stderr, "\n");
    dump_blocks(m->data, m->len);
    return 41;
}

static void tick(int role) { atomic_fetch_add_explicit(&sh->progress[role], 1, memory_order_relaxed); }

static int publisher(am_arena *a, int role, uint64_t *rng)
{
    am_pub *p;
    const char *topic = role == R_PUB1 ? "crash/hist" : "crash/main";
    if (am_pub_open(a, topic, &(am_pub_opts){ .history = 4, .send_timeout_ns = 20000000 }, &p)) return 10;
    for (uint64_t seq = 1; !atomic_load(&sh->stop); seq++) {
        size_t n = 16 + (size_t)(tu_rand(rng) % (tu_rand(rng) % 8 == 0 ? 20000 : 300));
        void *buf;
        int rc = am_pub_loan(p, n, &buf);
        if (rc == AM_ENOMEM) { usleep(100); continue; }
        if (rc) return 11;
        uint64_t hdr[2] = { seq, (uint64_t)getpid() };
        memcpy(buf, hdr, sizeof hdr);
        tu_fill((uint8_t *)buf + 16, n - 16, pattern_seed(seq, hdr[1]));
        rc = am_pub_send(p, buf, n);
        if (rc == AM_ETIMEDOUT) rc = am_pub_discard(p, buf);
        if (rc) {
            fprintf(stderr, "publisher %d: send: %s\n", role, am_err_name(rc));
            return 12;
        }
        tick(role);
    }
    am_pub_close(p);
    return 0;
}

static int subscriber(am_arena *a, int role, uint64_t *rng)
{
    static const am_policy pol[] = { [R_SUB_BLOCK] = AM_POLICY_BLOCK, [R_SUB_NEWEST] = AM_POLICY_DROP_NEWEST,
                                     [R_SUB_OLDEST] = AM_POLICY_DROP_OLDEST, [R_SUB_HIST] = AM_POLICY_DROP_OLDEST };
    const char *topic = role == R_SUB_HIST ? "crash/hist" : "crash/main";
    while (!atomic_load(&sh->stop)) {
        am_sub *s;
        am_sub_opts o = { .depth = 8, .max_held = 8, .policy = pol[role], .history = role == R_SUB_HIST ? 4 : 0 };
        if (am_sub_open(a, topic, &o, &s)) return 20;
        am_sample held[8];
        int n = 0;
        for (int op = 0; op < 300 && !atomic_load(&sh->stop); op++) {
            if (n == 8 || (n > 0 && tu_rand(rng) % 2)) {
                int j = (int)(tu_rand(rng) % (uint64_t)n);
                int rc = check_sample(&held[j]);
                if (rc) return rc;
                if (am_sub_ack(s, &held[j])) return 21;
                held[j] = held[--n];
                continue;
            }
            int rc = am_sub_take(s, &held[n], 5000000);
            if (rc == AM_ETIMEDOUT) continue;
            if (rc) {
                fprintf(stderr, "subscriber %d: take: %s\n", role, am_err_name(rc));
                return 22;
            }
            if ((rc = check_sample(&held[n]))) return rc;
            n++;
            atomic_fetch_add_explicit(&sh->taken, 1, memory_order_relaxed);
            tick(role);
            if (role == R_SUB_OLDEST && tu_rand(rng) % 4 == 0) usleep(200);   /* slow: drops */
        }
        am_sub_close(s);               /* with samples still held: close releases them */
    }
    return 0;
}

static int server(am_arena *a, uint64_t *rng)
{
    am_server *s;
    if (am_server_open(a, "crash/svc", NULL, &s)) return 30;
    while (!atomic_load(&sh->stop)) {
        am_request r;
        int rc = am_server_take(s, &r, 5000000);
        if (rc == AM_ETIMEDOUT) continue;
        if (rc) return 31;
        uint64_t v = 0;
        if (r.len == sizeof v) memcpy(&v, r.data, sizeof v);
        v += 1;
        if (tu_rand(rng) % 50 == 0) rc = am_server_drop(s, &r);
        else rc = am_server_reply(s, &r, &v, sizeof v);
        if (rc) return 32;
        tick(R_SERVER);
    }
    am_server_close(s);
    return 0;
}

static int client(am_arena *a, int role, uint64_t *rng)
{
    am_client *c;
    if (am_client_open(a, "crash/svc", NULL, &c)) return 35;
    while (!atomic_load(&sh->stop)) {
        uint64_t v = tu_rand(rng), out;
        am_sample r;
        int rc = am_client_call(c, &v, sizeof v, &r, 20000000);
        tick(role);                                   /* a call that ended, one way or another */
        if (rc == AM_ETIMEDOUT || rc == AM_EPEERDEAD || rc == AM_ENOENT) { usleep(500); continue; }
        if (rc) return 36;
        if (r.len != sizeof out) return 37;
        memcpy(&out, r.data, sizeof out);
        if (out != v + 1) return 38;                  /* somebody else's reply */
        if (am_client_ack(c, &r)) return 39;
        atomic_fetch_add_explicit(&sh->calls, 1, memory_order_relaxed);
    }
    am_client_close(c);
    return 0;
}

/* Topics that come and go: creation, attach and removal under fire. */
static int churner(am_arena *a, uint64_t *rng)
{
    while (!atomic_load(&sh->stop)) {
        char name[32];
        snprintf(name, sizeof name, "crash/churn%u", (unsigned)(tu_rand(rng) % 4));
        am_pub *p;
        am_sub *s;
        if (am_sub_open(a, name, &(am_sub_opts){ .depth = 4, .policy = AM_POLICY_DROP_NEWEST }, &s)) return 50;
        /* two publishers with histories of their own */
        unsigned hist = 1 + (unsigned)(tu_rand(rng) % 3);
        am_pub *q;
        if (am_pub_open(a, name, &(am_pub_opts){ .history = hist }, &p)) return 51;
        if (am_pub_open(a, name, &(am_pub_opts){ .history = hist + 1 }, &q)) return 53;
        if (am_pub_set_schema(p, name, strlen(name)) != 0) return 54;  /* recorded once */
        uint64_t hdr[2] = { 1, (uint64_t)getpid() };
        uint8_t buf[64];
        memcpy(buf, hdr, sizeof hdr);
        tu_fill(buf + 16, sizeof buf - 16, pattern_seed(1, hdr[1]));
        if (am_pub_publish(p, buf, sizeof buf)) return 52;
        am_pub_close(q);
        am_pub_close(p);
        am_sub_close(s);
        tick(R_CHURN);
        if (tu_rand(rng) % 8 == 0) (void)am_channels_gc(a);
    }
    return 0;
}

static int worker(void *arg)
{
    int role = (int)(intptr_t)arg;
    uint64_t rng = (uint64_t)getpid() * 2654435761u + (uint64_t)role;
    tu_shift_mappings((unsigned)rng);
    am_test_set_crash_rate(sh->focus[0] ? 1.0 / 20000 : 1.0 / 4000, rng);
    if (sh->focus[0] && am_test_focus_crash_point(sh->focus, 1.0 / 30) != 0) return 2;
    am_test_count_crashes(sh->deaths_at);
    am_arena *a;
    if (am_arena_open(sh->name, NULL, &a)) return 1;
    worker_arena = a;
    int rc;
    switch (role) {
    case R_PUB0: case R_PUB1: rc = publisher(a, role, &rng); break;
    case R_SERVER: rc = server(a, &rng); break;
    case R_CLIENT0: case R_CLIENT1: rc = client(a, role, &rng); break;
    case R_CHURN: rc = churner(a, &rng); break;
    default: rc = subscriber(a, role, &rng); break;
    }
    if (rc) atomic_store(&sh->failed, rc);
    am_test_set_crash_rate(0, 0);
    am_arena_close(a);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Run every role, respawning the dead and killing at random from outside, until
 * `want` deaths (with a focused point: until it killed `want_focus` times, or `secs`). */
static void run(const char *focus, int want, int want_focus, double secs)
{
    sh = tu_shared(sizeof *sh);
    sh->name = tu_name("chcrash");
    snprintf(sh->focus, sizeof sh->focus, "%s", focus);
    am_arena *a = tu_open(sh->name, 32 << 20, 2);
    pid_t pid[ROLES];
    for (int r = 0; r < ROLES; r++) pid[r] = tu_fork(worker, (void *)(intptr_t)r);
    uint64_t rng = 99, seen[ROLES] = { 0 };
    /* What is left after the test is printed block by block: the owe word (holder
     * bits, freer) and sequence number name who lost track of it. */
    double start = now_s(), moved[ROLES];
    for (int r = 0; r < ROLES; r++) moved[r] = start;
    int deaths = 0, outside = 0;
    unsigned fp = am_test_crash_points();
    for (unsigned i = 0; i < am_test_crash_points(); i++) {
        if (focus[0] && strcmp(focus, am_test_crash_point_name(i)) == 0) fp = i;
    }
    while (fp == am_test_crash_points() ? deaths < want
                                        : (__atomic_load_n(&sh->deaths_at[fp], __ATOMIC_SEQ_CST) < (uint64_t)want_focus &&
                                           now_s() - start < secs)) {
        usleep(2000);
        if (tu_rand(&rng) % 8 == 0) {                    /* a kill from outside */
            int r = (int)(tu_rand(&rng) % ROLES);
            kill(pid[r], SIGKILL);
            outside++;
        }
        for (int r = 0; r < ROLES; r++) {
            int st;
            if (waitpid(pid[r], &st, WNOHANG) == pid[r]) {
                ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "role %d exited with %d (failed %d)", r,
                              WIFEXITED(st) ? WEXITSTATUS(st) : -1, atomic_load(&sh->failed));
                deaths++;
                pid[r] = tu_fork(worker, (void *)(intptr_t)r);
            }
            uint64_t p = atomic_load(&sh->progress[r]);
            if (p != seen[r]) { seen[r] = p; moved[r] = now_s(); }
            ck_assert_msg(now_s() - moved[r] < 20, "role %d made no progress for 20 s: wedged", r);
        }
    }
    atomic_store(&sh->stop, 1);
    for (int r = 0; r < ROLES; r++) {
        int st = tu_wait(pid[r]);
        ck_assert_msg(st == 0 || st == 128 + SIGKILL, "role %d ended with %d (failed %d)", r, st, atomic_load(&sh->failed));
    }
    ck_assert_int_eq(atomic_load(&sh->failed), 0);
    if (fp < am_test_crash_points()) {
        ck_assert_msg(sh->deaths_at[fp] > 0, "crash point %s never killed", focus);
    }
    printf("%-20s deaths %4d (%d from outside), %llu samples taken, %llu calls answered\n", focus[0] ? focus : "random",
           deaths, outside, (unsigned long long)sh->taken, (unsigned long long)sh->calls);
    for (unsigned i = 0; i < am_test_crash_points(); i++) {
        if (sh->deaths_at[i]) printf("  %s %llu", am_test_crash_point_name(i), (unsigned long long)sh->deaths_at[i]);
    }
    printf("\n");
    /* The dead's leftovers go with a gc (the living cleaned what they met already). */
    ck_assert_int_ge(am_channels_gc(a), 0);
    ck_assert_int_ge(am_arena_reclaim(a), 0);
    am_stats st;
    am_arena_stats(a, &st);
    if (st.used_blocks) printf("left: %llu blocks, %llu bytes\n", (unsigned long long)st.used_blocks, (unsigned long long)st.used);
    for (unsigned k = 0; st.used_blocks && k < a->g.nsectors; k++) {
        for (uint64_t off = a->g.heap_off + k * a->g.sector_size; off < a->g.heap_off + (k + 1) * a->g.sector_size;) {
            am_block *b = am_blk(a, off);
            uint32_t stt = atomic_load(&b->st);
            if (AM_ST_STATE(stt) != AM_BLK_FREE) {
                uint64_t *w = (uint64_t *)(b + 1);
                printf("  block %llu size %u st %u refs %u owner %u: %016llx %llu %llu %llu\n", (unsigned long long)off, b->size16 * 16,
                       AM_ST_STATE(stt), AM_ST_REFS(stt), atomic_load(&b->owner), (unsigned long long)w[0], (unsigned long long)w[1],
                       (unsigned long long)w[2], (unsigned long long)w[3]);
            }
            off += (uint64_t)b->size16 * 16;
        }
    }
    fflush(stdout);
    tu_finish(a);
}

START_TEST(kill_every_role)
{
    /* On demand: AM_CHANNEL_FOCUS=point runs that point weighted up for
     * AM_CHANNEL_DEATHS deaths there (or 10 minutes) instead. */
    const char *want = getenv("AM_CHANNEL_DEATHS"), *focus = getenv("AM_CHANNEL_FOCUS");
    if (focus) run(focus, 0, want ? atoi(want) : 1000, 600);
    else run("", want ? atoi(want) : 3000, 0, 0);
}
END_TEST

START_TEST(every_channel_crash_point)
{
    for (unsigned i = 0; i < am_test_crash_points(); i++) {
        const char *name = am_test_crash_point_name(i);
        if (strncmp(name, "CH_", 3) == 0) run(name, 0, 3, 30);
    }
}
END_TEST

int main(void)
{
    return tu_main("channel_crash", 900, (const TTest *[]){ kill_every_role, every_channel_crash_point, NULL });
}
