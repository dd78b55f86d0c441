/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_channel — what does a message cost through a topic, next to the usual IPC?
 *
 * Two processes, side 0 pinned to CPU 0 and side 1 to CPU 1 (each opens its own arena
 * handle and ports after fork), pass messages through each transport:
 *   - atomicmatrix: one arena (256 MiB, default sectors), two topics (side 0 -> 1 and
 *     side 1 -> 0), one publisher and one subscriber (depth 256) on each. A sender loans
 *     a block (am_pub_loan), writes into it and sends it (am_pub_send): zero-copy;
 *   - bare ring (the FLOOR): a single-producer single-consumer ring of 64-byte slots in
 *     a MAP_SHARED anonymous mapping made before fork, C11 atomics, head and tail on
 *     their own cache lines; it only ever carries 64 B, and has no arena, no ports and no
 *     checks. Waiting is the mode's (below): busy = spin on the tail; spin+sleep = spin
 *     20 us, then sleep; sleep = sleep on a futex at once (syscall SYS_futex with the
 *     shared FUTEX_WAIT / FUTEX_WAKE, not the _PRIVATE forms). A sleeper announces
 *     itself in a flag next to the word it sleeps on; the other side makes the wake
 *     system call only when that flag is set;
 *   - bare ring copy (throughput at 4 KiB only): the same ring with 4 KiB slots; the
 *     sender writes the message into its own buffer and memcpy's it into the slot, the
 *     receiver reads the first and last byte in the slot: what a copying transport
 *     costs at best, next to atomicmatrix writing 4 KiB in place;
 *   - inline probe, in-place probe (busy, 64 B only): not the library, the best case
 *     of small samples carried inside the ring slot: 128-byte cells holding a 32-byte
 *     header and the payload, either copied in from a private loan and copied out
 *     before a CAS claims the cell, or written and read in place (see below);
 *   - am fan-out 2 / 4 (throughput, busy, 64 B only): atomicmatrix with one publisher
 *     in side 0 and 2 or 4 subscribers of its topic, all in side 1, where one thread
 *     takes from each subscriber in turn (each gets every message: the sequence
 *     numbers are checked); the answer goes back through a topic of its own;
 *   - pipe (two pipes, default 64 KiB buffers);
 *   - Unix socket, SOCK_SEQPACKET (one datagram a message; SO_SNDBUF raised as far as
 *     net.core.wmem_max allows, and sizes that still do not fit print n/a);
 *   - Unix socket, SOCK_STREAM with fixed-size framing: both ends know the size, a
 *     message is one write of n bytes and the reader loops until it has n;
 *   - POSIX message queue (two queues; msgsize is /proc/sys/fs/mqueue/msgsize_max,
 *     usually 8192: larger messages print n/a);
 *   - ZeroMQ ipc:// (ZMQ_PAIR), when built with libzmq (AM_HAVE_ZMQ; scripts/deps.sh
 *     --bench installs it); each side makes its context after pinning, so the
 *     context's I/O thread shares the side's CPU.
 * Kernel transports (pipe, sockets, queue, ZeroMQ) block in the kernel: their mode is
 * "sleep".
 *
 * Modes, for atomicmatrix and the ring:
 *   - busy:       am_sub_take(timeout 0) in a loop (a pause between tries) / spin;
 *   - spin+sleep: am_sub_take with a 1 s timeout (the library spins ~20 us, then
 *                 sleeps on a futex) / the ring spins 20 us, then sleeps;
 *   - sleep:      sleep at once on every message: atomicmatrix with AM_SPIN_NS=0 in the
 *                 environment of a second pair of worker processes (group 1; the library
 *                 reads it once per process, channel/wait.c; it still tries the queue 31
 *                 times before it sleeps), the ring sleeping without spinning.
 *
 * Latency: ping-pong round trip (side 0 sends to 1, 1 answers), one CLOCK_MONOTONIC
 * sample per round trip, reported as p50 / p99 / p99.9 over all samples of all rounds.
 * Sizes 64 B, 4 KiB, 64 KiB, 1 MiB, 4 MiB; both directions carry that size. The pinger
 * writes the whole payload ("all": memset into the loaned block, or into the send
 * buffer that the kernel transports then copy) or, for atomicmatrix above 64 B, only its
 * first 64 bytes ("hdr": the zero-copy case). The responder always writes only the
 * first 64 bytes of its same-size answer (a loaned block of that size for atomicmatrix;
 * for the kernel transports the kernel still copies the whole size). Every receiver
 * reads the first and the last byte of what it got (the kernel transports have copied
 * it all into a receive buffer by then); atomicmatrix then acks the sample.
 *
 * Throughput: one-way stream of 64 B and 4 KiB messages (the sender writes them
 * whole); after every batch the receiver answers with one 64 B message, and the batch
 * counts from the first send to that answer, so the receiver has really got them all.
 * msgs/s = batch size / that time; median (and 1st percentile: the slow end) over the
 * batches of all rounds. Queues hold 256 messages (atomicmatrix depth, ring slots).
 * For the fan-out rows msgs/s counts messages sent (each is delivered 2 or 4 times);
 * their own table gives ns a message sent and ns a delivery (that / subscribers). For
 * every atomicmatrix throughput row the publisher's am_pub_stats and am_pub_reused are
 * read before and after the timed batches: sends a second whose block came from the
 * publisher's block cache and their share of the sends.
 *
 * Why this way (see /work/shared/notes/BENCHMARKING.md): on this 2-vCPU VM the cost of
 * moving a cache line between the CPUs jumps between two levels during a run. So every
 * row is measured in rounds that run all rows back to back (A B A B ...), the first
 * round is a warm-up and dropped, each row warms up before its samples, and the ratios
 * in the table are medians over rounds of the ratio between two rows' medians of the
 * SAME round. Timing each round trip costs two clock_gettime calls (~20-40 ns, inside
 * every sample of every row).
 *
 * The parent only sends commands over pipes and collects samples from a shared page,
 * sleeping meanwhile. The arena is unlinked as soon as the workers have attached, the
 * queues as soon as they are made, so no name outlives the run. The run ends with the
 * targets as PASS / FAIL lines (a FAIL does not change the exit status; a broken
 * transport does: exit 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef AM_HAVE_ZMQ
#include <zmq.h>
#endif

#include "atomicmatrix/arena.h"
#include "bench_util.h"
#include "atomicmatrix/channel.h"

enum { T_LAT, T_TPUT, NTEST };
enum { M_BUSY, M_SPIN, M_SLEEP, NMODE };
enum {
    X_RING, X_RINGCOPY, X_CELL, X_CELLIP, X_AM, X_AMFD, X_FAN2, X_FAN4, X_PIPE, X_USEQ, X_USTREAM, X_MQ,
#ifdef AM_HAVE_ZMQ
    X_ZMQ,
#endif
    NX
};
enum { NSIDES = 2, NGROUPS = 2 };          /* group 1: atomicmatrix with AM_SPIN_NS=0  */
enum { OP_RUN = 1, OP_QUIT = 2 };

#define SLEEP_ENV        "AM_SPIN_NS"      /* the library's spin before sleeping, ns   */
#define HEADER_BYTES     64u               /* what "hdr" writes, and every answer      */
#define ACK_BYTES        64u               /* the throughput batch's final answer      */
#define BUF_MAX          ((size_t)4 << 20) /* the largest message                      */
#define RING_SLOTS       256u
#define COPY_SLOT        4096u             /* the copying ring's slot                  */
#define CELL_BYTES       128u              /* the inline probe's cell                  */
#define MAX_SUBS         4u                /* subscribers in one side (fan-out)        */
#define RING_SPIN_NS     20000u
#define AM_DEPTH         256u
#define ARENA_BYTES      ((size_t)32 << 20)  /* 16 sectors of 2 MiB: 4 MiB messages make it grow */
#define ARENA_SECTORS    16u
#define TAKE_TIMEOUT_NS  1000000000ll
#define SEND_TIMEOUT_NS  10000000000ll
#define WORKER_TIMEOUT_S 60
#define MAX_ROWS         128
#define MAX_ROUNDS       64
#define MAX_SAMPLES      2500

/* Targets (from the issue). */
#define TGT_BUSY_VS_FLOOR   2.5    /* busy 64 B round trip <= 2.5x the bare ring's      */
#define TGT_4M_VS_64        1.5    /* busy 4 MiB header-only <= 1.5x busy 64 B          */
#define TGT_TPUT_VS_FLOOR   0.5    /* busy 64 B msgs/s >= 1/2 the bare ring's           */
#define TGT_TPUT_VS_ZMQ     2.0    /* busy 64 B msgs/s >= 2x ZeroMQ's                   */
#define TGT_4K_VS_COPY      1.0    /* busy 4 KiB msgs/s >= the ring copying 4 KiB       */
#define TGT_FAN4_VS_1       0.25   /* busy 64 B to 4 subscribers >= 1/4 of to one       */
#define TGT_SPIN_VS_UNIX    0.2    /* spin+sleep 64 B <= 1/5 of the Unix socket's       */
#define TGT_SLEEP_VS_FUTEX  1.2    /* sleep-at-once 64 B <= 1.2x the bare futex ring    */
#define TGT_GROWN_4M_VS_64  1.2    /* busy 4 MiB header-only on the grown arena <= 1.2x 64 B */
#define TGT_FD_VS_FUTEX     1.5    /* ... through epoll on a waitset's descriptor <= 1.5x
                                      atomicmatrix's own futex sleep                    */

static const char *const TEST_NAMES[NTEST] = { "latency", "throughput" };
static const char *const MODE_NAMES[NMODE] = { "busy", "spin+sleep", "sleep" };

static const size_t LAT_SIZES[] = { 64, 4096, 65536, (size_t)1 << 20, (size_t)4 << 20 };
static const int LAT_COUNT[] = { 2500, 2500, 1000, 100, 40 };   /* round trips a round */
static const size_t TPUT_SIZES[] = { 64, 4096 };
static const int TPUT_MSGS[] = { 20000, 10000 };                 /* messages a batch    */
enum { NLAT = sizeof LAT_SIZES / sizeof LAT_SIZES[0], NTPUT = sizeof TPUT_SIZES / sizeof TPUT_SIZES[0] };

/* ------------------------------------------------------------------ small things */


static int g_group = -1, g_side = -1;      /* who this worker is (-1: the parent)      */
static unsigned char g_tag;                /* what the next message is filled with     */
static volatile unsigned g_sink;           /* what receivers read goes here            */
static unsigned char *g_sbuf, *g_rbuf;     /* kernel transports' send / receive buffer */

static int err_sys(const char *what)
{
    int e = errno;
    fprintf(stderr, "bench_channel: worker %d.%d: %s: %s\n", g_group, g_side, what, strerror(e));
    return -1;
}

static int err_am(const char *what, int rc)
{
    fprintf(stderr, "bench_channel: worker %d.%d: %s: %s\n", g_group, g_side, what, am_strerror(rc));
    return -1;
}

static int err_len(const char *what, long got, size_t want)
{
    fprintf(stderr, "bench_channel: worker %d.%d: %s: %ld bytes, expected %zu\n", g_group, g_side, what, got, want);
    return -1;
}

static inline void touch(const unsigned char *p, size_t n) { g_sink += p[0] + p[n - 1]; }

/* ------------------------------------------------------------------ transports */

/* One message: size bytes, of which the sender writes the first `write`; mode = how the
 * receiver (and a sender facing a full queue) waits. */
typedef struct msg { size_t size, write; int mode; } msg;

typedef struct ring ring;

/* One side's end of a transport. The parent fills both sides' ends before fork; each
 * worker uses its own. */
typedef struct ep {
    int x;                              /* the transport (set before setup)            */
    int in, out;                        /* fds (pipe, sockets), mqd_t (queue)          */
    ring *rin, *rout;                   /* bare ring: what this side takes / fills     */
    unsigned char *in_slots, *out_slots;
    size_t slot_bytes;
    uint32_t in_head, in_tail;          /* consumer's copies of rin's indexes          */
    uint32_t out_tail, out_head;        /* producer's copies of rout's indexes         */
    am_arena *arena;
    am_pub *pub;
    am_sub *subs[MAX_SUBS];             /* taken from in turn, each gets every message */
    uint64_t seq[MAX_SUBS];             /* the last sequence number each one took      */
    int nsubs;
    am_waitset *ws;                     /* am epoll: the subscribers' waitset          */
    int epfd;                           /* am epoll: epoll on its descriptor           */
    void *zctx, *zsock;
} ep;

/* A transport either sends and receives whole messages itself (send, recv), or gives
 * the calls that move bytes (put, get: like write and read) and lets xsend / xrecv fill
 * the send buffer, retry on EINTR, loop over a stream and check a datagram's length. */
typedef struct transport {
    const char *name;
    unsigned modes;                     /* 1 << mode for each mode it runs in          */
    size_t min_size;                    /* smallest message it has rows for            */
    size_t max_size;                    /* largest message (prepare may lower it)      */
    int tput_only;                      /* no latency rows                             */
    int copy;                           /* bare ring: write a buffer, memcpy it in     */
    unsigned subs;                      /* atomicmatrix: subscribers in side 1         */
    int show_na;                        /* list sizes above max_size as n/a            */
    const char *na_why;
    int (*prepare)(ep pair[NSIDES]);    /* parent, before fork (NULL: nothing to do)   */
    int (*setup)(ep *e, int side);      /* worker, after fork (NULL: nothing to do)    */
    void (*teardown)(ep *e);            /* worker (NULL: nothing to do)                */
    int (*send)(ep *e, const msg *m);
    int (*recv)(ep *e, const msg *m);
    int stream;                         /* put / get may move part of a message        */
    ssize_t (*put)(ep *e, const void *buf, size_t n);
    ssize_t (*get)(ep *e, void *buf, size_t n);
} transport;

static ep PAIR[NX][NSIDES];
static transport XPORTS[NX];
static char g_arena_name[64], g_zmq_path[108];

/* ---- the bare ring: its indexes; the slots (64 B, or COPY_SLOT bytes) are apart */

struct ring {
    alignas(64) _Atomic uint32_t tail;  /* next slot to fill; the consumer sleeps on it */
    _Atomic uint32_t cwait;             /* the consumer is (about to be) asleep        */
    alignas(64) _Atomic uint32_t head;  /* next slot to take; a full producer sleeps on it */
    _Atomic uint32_t pwait;             /* the producer is (about to be) asleep        */
};

static void futex_wait(_Atomic uint32_t *word, uint32_t seen)
{
    syscall(SYS_futex, (void *)word, FUTEX_WAIT, seen, NULL, NULL, 0);
}

/* Wait until *word differs from seen; return its new value. A sleeper sets *flag, then
 * looks again (both seq_cst), so a writer that stores the word and then finds the flag
 * clear is sure the sleeper saw the new value. Only the sleeper clears the flag (once
 * awake): a writer that cleared it could consume the flag of a later sleep. */
static uint32_t ring_await(_Atomic uint32_t *word, uint32_t seen, _Atomic uint32_t *flag, int mode)
{
    uint32_t v;
    uint64_t start = mode == M_SPIN ? now_ns() : 0;
    for (unsigned i = 1; (v = atomic_load_explicit(word, memory_order_acquire)) == seen; i++) {
        if (mode == M_BUSY || (mode == M_SPIN && (i % 64 != 0 || now_ns() - start < RING_SPIN_NS))) {
            cpu_relax();
            continue;
        }
        atomic_store(flag, 1);
        if (atomic_load(word) == seen) futex_wait(word, seen);
        atomic_store_explicit(flag, 0, memory_order_relaxed);
    }
    return v;
}

/* Publish a new index; wake the other side if it sleeps (never in busy mode). */
static void ring_publish(_Atomic uint32_t *word, uint32_t v, _Atomic uint32_t *flag, int mode)
{
    if (mode == M_BUSY) {
        atomic_store_explicit(word, v, memory_order_release);
        return;
    }
    atomic_store(word, v);
    if (atomic_load(flag)) syscall(SYS_futex, (void *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static int ring_prepare(ep pair[NSIDES]);   /* the rings live in the shared page */
static int ringcopy_prepare(ep pair[NSIDES]);

/* The producer: wait until the slot at out_tail is free (re-reading the consumer's
 * index only when its copy says the ring is full); that slot. */
static unsigned char *ring_room(ep *e, int mode)
{
    ring *r = e->rout;
    uint32_t t = e->out_tail;
    if (t - e->out_head == RING_SLOTS) {
        e->out_head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (t - e->out_head == RING_SLOTS) e->out_head = ring_await(&r->head, e->out_head, &r->pwait, mode);
    }
    return e->out_slots + (size_t)(t % RING_SLOTS) * e->slot_bytes;
}

/* The consumer: wait until something was put at h (re-reading the producer's index
 * only when its copy says the ring is empty). */
static void ring_filled(ep *e, uint32_t h, int mode)
{
    ring *r = e->rin;
    if (e->in_tail == h) {
        e->in_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (e->in_tail == h) e->in_tail = ring_await(&r->tail, h, &r->cwait, mode);
    }
}

/* The plain ring writes its 64 B in the slot; the copying one writes the message in
 * the send buffer (as the kernel transports do) and copies it into the slot. */
static int ring_send(ep *e, const msg *m)
{
    ring *r = e->rout;
    uint32_t t = e->out_tail;
    unsigned char *slot = ring_room(e, m->mode);
    if (XPORTS[e->x].copy) {
        memset(g_sbuf, g_tag++, m->write);
        memcpy(slot, g_sbuf, m->size);
    } else {
        memset(slot, g_tag++, m->size);
    }
    ring_publish(&r->tail, t + 1, &r->cwait, m->mode);
    e->out_tail = t + 1;
    return 0;
}

static int ring_recv(ep *e, const msg *m)
{
    ring *r = e->rin;
    uint32_t h = e->in_head;
    ring_filled(e, h, m->mode);
    touch(e->in_slots + (size_t)(h % RING_SLOTS) * e->slot_bytes, m->size);
    ring_publish(&r->head, h + 1, &r->pwait, m->mode);
    e->in_head = h + 1;
    return 0;
}

/* ---- the inline probes: not the library, but what a topic could reach at best if a
 * small sample travelled inside its ring slot instead of in an arena block
 * (docs/bench_channel.md, "The inline probes"). Both have 128-byte cells: a header
 * (length, sequence number, send time, read from the clock at send) and the payload.
 *   inline probe (copy = 1): the sender writes the payload into a private buffer (its
 *     loan) and copies header and payload into the cell; the receiver copies the cell
 *     out, then claims it by CAS on the consumer index (the take a drop-oldest sender's
 *     eviction races with), checks the length and reads its copy.
 *   in-place probe (copy = 0): the sender writes the payload straight into the cell
 *     (a loan of the cell, Aeron's claim); the receiver checks the length and reads the
 *     cell where it is, then releases it by CAS (a take that holds the cell until its
 *     ack would need a second consumer index, which this does not model).
 * No ports, no views, no counters, no checks of shared words beyond the length: a
 * lower bound on either design's cost. */
typedef struct cell_hdr { uint32_t len, from; uint64_t seq, send_ns, pad; } cell_hdr;

static int cell_prepare(ep pair[NSIDES]);
static int cellip_prepare(ep pair[NSIDES]);

static int cell_send(ep *e, const msg *m)
{
    ring *r = e->rout;
    uint32_t t = e->out_tail;
    unsigned char *cell = ring_room(e, m->mode);
    cell_hdr h = { (uint32_t)m->size, 0, t + 1u, now_ns(), 0 };
    if (XPORTS[e->x].copy) {
        memset(g_sbuf, g_tag++, m->size);
        memcpy(cell + sizeof h, g_sbuf, m->size);
    } else {
        memset(cell + sizeof h, g_tag++, m->size);
    }
    memcpy(cell, &h, sizeof h);
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    e->out_tail = t + 1;
    return 0;
}

/* The consumer's claim of cell h: a CAS, as when a drop-oldest evictor may race it. */
static bool cell_claim(ring *r, uint32_t h)
{
    return atomic_compare_exchange_strong_explicit(&r->head, &h, h + 1, memory_order_seq_cst, memory_order_relaxed);
}

static int cell_recv(ep *e, const msg *m)
{
    ring *r = e->rin;
    bool copy = XPORTS[e->x].copy;
    for (;;) {
        uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
        ring_filled(e, h, m->mode);
        const unsigned char *at = e->in_slots + (size_t)(h % RING_SLOTS) * CELL_BYTES;
        if (copy) {                 /* copied out, then claimed: it may be reused after */
            memcpy(g_rbuf, at, sizeof(cell_hdr) + m->size);
            at = g_rbuf;
            if (!cell_claim(r, h)) continue;
        }
        cell_hdr c;
        memcpy(&c, at, sizeof c);
        if (c.len > CELL_BYTES - sizeof c) return -1;
        touch(at + sizeof c, c.len);
        if (!copy && !cell_claim(r, h)) continue;   /* read in place, then released */
        return 0;
    }
}

/* ---- atomicmatrix */

static int am_prepare(ep pair[NSIDES]);     /* the parent creates the arena */

/* A publisher on this side's topic, and subscribers of the other side's: one, or for
 * fan-out the transport's number in side 1 (side 0 takes only the answers). */
static int am_setup(ep *e, int side)
{
    const am_arena_opts attach = { .flags = AM_ATTACH_ONLY };
    const am_sub_opts so = { .depth = AM_DEPTH, .policy = AM_POLICY_BLOCK };   /* lossless streams */
    const am_pub_opts po = { .send_timeout_ns = SEND_TIMEOUT_NS };
    char to_me[32], from_me[32];
    snprintf(to_me, sizeof to_me, "bench.x%d.g%d.from%d", e->x, g_group, 1 - side);
    snprintf(from_me, sizeof from_me, "bench.x%d.g%d.from%d", e->x, g_group, side);
    int rc = am_arena_open(g_arena_name, &attach, &e->arena);
    if (rc) return err_am("am_arena_open", rc);
    for (e->nsubs = 0; e->nsubs < (side == 1 ? (int)XPORTS[e->x].subs : 1); e->nsubs++) {
        if ((rc = am_sub_open(e->arena, to_me, &so, &e->subs[e->nsubs])) != 0) return err_am("am_sub_open", rc);
    }
    if ((rc = am_pub_open(e->arena, from_me, &po, &e->pub)) != 0) return err_am("am_pub_open", rc);
    return 0;
}

static int am_send(ep *e, const msg *m)
{
    void *p;
    int rc = am_pub_loan(e->pub, m->size, &p);
    if (rc) return err_am("am_pub_loan", rc);
    memset(p, g_tag++, m->write);
    rc = am_pub_send(e->pub, p, m->size);
    if (rc) {
        am_pub_discard(e->pub, p);
        return err_am("am_pub_send", rc);
    }
    return 0;
}

/* One message from each subscriber in turn; each must be the next of the sequence.
 * am epoll waits in epoll_wait on the waitset's descriptor between takes that find
 * nothing (such a take is what drains the descriptor). */
static int am_recv(ep *e, const msg *m)
{
    int64_t timeout = m->mode == M_BUSY || e->ws ? 0 : TAKE_TIMEOUT_NS;
    for (int i = 0; i < e->nsubs; i++) {
        am_sample s;
        int rc;
        while ((rc = am_sub_take(e->subs[i], &s, timeout)) == AM_ETIMEDOUT) {
            struct epoll_event ev;
            if (m->mode == M_BUSY) cpu_relax();
            else if (e->ws && epoll_wait(e->epfd, &ev, 1, 1000) < 0 && errno != EINTR) return err_sys("epoll_wait");
        }
        if (rc) return err_am("am_sub_take", rc);
        if (s.len != m->size) return err_len("am_sub_take", (long)s.len, m->size);
        if (s.seq != ++e->seq[i]) {
            fprintf(stderr, "bench_channel: worker %d.%d: subscriber %d took sample %llu, expected %llu\n", g_group,
                    g_side, i, (unsigned long long)s.seq, (unsigned long long)e->seq[i]);
            return -1;
        }
        touch(s.data, s.len);
        if ((rc = am_sub_ack(e->subs[i], &s)) != 0) return err_am("am_sub_ack", rc);
    }
    return 0;
}

/* am epoll: atomicmatrix woken through epoll on a waitset's descriptor, as an event
 * loop would be, instead of its own futex sleep. */
static int amfd_setup(ep *e, int side)
{
    int rc = am_setup(e, side);
    if (rc) return rc;
    if ((rc = am_waitset_open(&e->ws)) != 0) return err_am("am_waitset_open", rc);
    for (int i = 0; i < e->nsubs; i++) {
        if ((rc = am_waitset_add_sub(e->ws, e->subs[i], NULL)) != 0) return err_am("am_waitset_add_sub", rc);
    }
    int fd = am_waitset_fd(e->ws);
    if (fd < 0) return err_am("am_waitset_fd", fd);
    struct epoll_event ev = { .events = EPOLLIN };
    if ((e->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return err_sys("epoll");
    }
    return 0;
}

static void am_teardown(ep *e)
{
    am_waitset_close(e->ws);
    if (e->epfd > 0) close(e->epfd);
    am_pub_close(e->pub);
    for (int i = 0; i < e->nsubs; i++) am_sub_close(e->subs[i]);
    am_arena_close(e->arena);
}

/* ---- kernel transports on file descriptors */

static int pipe_prepare(ep pair[NSIDES])
{
    int p01[2], p10[2];                       /* side 0 -> 1, side 1 -> 0 */
    if (pipe(p01) != 0 || pipe(p10) != 0) return err_sys("pipe");
    pair[0].out = p01[1]; pair[1].in = p01[0];
    pair[1].out = p10[1]; pair[0].in = p10[0];
    return 0;
}

static int socket_pair(ep pair[NSIDES], int type)
{
    int sv[2];
    if (socketpair(AF_UNIX, type, 0, sv) != 0) return err_sys("socketpair");
    for (int s = 0; s < NSIDES; s++) pair[s].in = pair[s].out = sv[s];
    return 0;
}

static int stream_prepare(ep pair[NSIDES]) { return socket_pair(pair, SOCK_STREAM); }

static ssize_t fd_put(ep *e, const void *buf, size_t n) { return write(e->out, buf, n); }
static ssize_t fd_get(ep *e, void *buf, size_t n) { return read(e->in, buf, n); }

/* SOCK_SEQPACKET takes a datagram up to the send buffer (less a little): ask for room
 * for the largest message; the kernel caps it at twice net.core.wmem_max. */
static int seqpacket_prepare(ep pair[NSIDES])
{
    if (socket_pair(pair, SOCK_SEQPACKET) != 0) return -1;
    int want = (int)(2 * BUF_MAX), got = 0;
    socklen_t len = sizeof got;
    for (int s = 0; s < NSIDES; s++) {
        if (setsockopt(pair[s].out, SOL_SOCKET, SO_SNDBUF, &want, sizeof want) != 0) return err_sys("SO_SNDBUF");
    }
    if (getsockopt(pair[0].out, SOL_SOCKET, SO_SNDBUF, &got, &len) != 0) return err_sys("SO_SNDBUF");
    size_t fits = got > 1024 ? (size_t)got - 1024 : 0;
    if (fits < XPORTS[X_USEQ].max_size) XPORTS[X_USEQ].max_size = fits;
    return 0;
}

static long read_limit(const char *path, long dflt)
{
    FILE *f = fopen(path, "r");
    long v = dflt;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = dflt;
        fclose(f);
    }
    return v;
}

/* Two queues, unlinked at once: the workers inherit the descriptors. */
static int mq_prepare(ep pair[NSIDES])
{
    long msgmax = read_limit("/proc/sys/fs/mqueue/msg_max", 10);
    long sizemax = read_limit("/proc/sys/fs/mqueue/msgsize_max", 8192);
    struct mq_attr at = { .mq_maxmsg = msgmax < 10 ? msgmax : 10,
                          .mq_msgsize = sizemax < (long)BUF_MAX ? sizemax : (long)BUF_MAX };
    mqd_t q[2];
    for (int d = 0; d < 2; d++) {
        char name[64];
        snprintf(name, sizeof name, "/bench-channel-%ld-%d", (long)getpid(), d);
        q[d] = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
        if (q[d] == (mqd_t)-1) return err_sys("mq_open");
        mq_unlink(name);
    }
    pair[0].out = pair[1].in = q[0];
    pair[1].out = pair[0].in = q[1];
    XPORTS[X_MQ].max_size = (size_t)at.mq_msgsize;
    return 0;
}

static ssize_t mq_put(ep *e, const void *buf, size_t n)
{
    return mq_send(e->out, buf, n, 0) == 0 ? (ssize_t)n : -1;
}

static ssize_t mq_get(ep *e, void *buf, size_t n) { return mq_receive(e->in, buf, n, NULL); }

#ifdef AM_HAVE_ZMQ
/* ---- ZeroMQ: a PAIR socket each side, made after fork (contexts do not survive it). */

static int err_zmq(const char *what)
{
    fprintf(stderr, "bench_channel: worker %d.%d: %s: %s\n", g_group, g_side, what, zmq_strerror(zmq_errno()));
    return -1;
}

static int zmq_setup(ep *e, int side)
{
    char endpoint[128];
    int linger = 0;
    snprintf(endpoint, sizeof endpoint, "ipc://%s", g_zmq_path);
    if (!(e->zctx = zmq_ctx_new())) return err_zmq("zmq_ctx_new");
    if (!(e->zsock = zmq_socket(e->zctx, ZMQ_PAIR))) return err_zmq("zmq_socket");
    if (zmq_setsockopt(e->zsock, ZMQ_LINGER, &linger, sizeof linger) != 0) return err_zmq("ZMQ_LINGER");
    int rc = side == 0 ? zmq_bind(e->zsock, endpoint) : zmq_connect(e->zsock, endpoint);
    return rc != 0 ? err_zmq(side == 0 ? "zmq_bind" : "zmq_connect") : 0;
}

/* zmq_errno() is errno on POSIX systems. */
static ssize_t zmq_put(ep *e, const void *buf, size_t n) { return zmq_send(e->zsock, buf, n, 0); }
static ssize_t zmq_get(ep *e, void *buf, size_t n) { return zmq_recv(e->zsock, buf, n, 0); }

static void zmq_teardown(ep *e)
{
    if (e->zsock) zmq_close(e->zsock);
    if (e->zctx) zmq_ctx_term(e->zctx);
}
#endif

#define KERNEL (1u << M_SLEEP)
#define ALL_MODES ((1u << M_BUSY) | (1u << M_SPIN) | (1u << M_SLEEP))

static transport XPORTS[NX] = {
    [X_RING]    = { .name = "bare ring", .modes = ALL_MODES, .max_size = 64, .prepare = ring_prepare,
                    .send = ring_send, .recv = ring_recv },
    [X_RINGCOPY] = { .name = "bare ring copy", .modes = ALL_MODES, .min_size = COPY_SLOT, .max_size = COPY_SLOT,
                    .tput_only = 1, .copy = 1, .prepare = ringcopy_prepare, .send = ring_send, .recv = ring_recv },
    [X_CELL]    = { .name = "inline probe", .modes = 1u << M_BUSY, .max_size = 64, .copy = 1,
                    .prepare = cell_prepare, .send = cell_send, .recv = cell_recv },
    [X_CELLIP]  = { .name = "in-place probe", .modes = 1u << M_BUSY, .max_size = 64, .prepare = cellip_prepare,
                    .send = cell_send, .recv = cell_recv },
    [X_AM]      = { .name = "atomicmatrix", .modes = ALL_MODES, .max_size = BUF_MAX, .subs = 1,
                    .prepare = am_prepare, .setup = am_setup, .teardown = am_teardown, .send = am_send,
                    .recv = am_recv },
    [X_AMFD]    = { .name = "am epoll", .modes = 1u << M_SLEEP, .max_size = 64, .subs = 1, .setup = amfd_setup,
                    .teardown = am_teardown, .send = am_send, .recv = am_recv },
    [X_FAN2]    = { .name = "am fan-out 2", .modes = 1u << M_BUSY, .max_size = 64, .tput_only = 1, .subs = 2,
                    .setup = am_setup, .teardown = am_teardown, .send = am_send, .recv = am_recv },
    [X_FAN4]    = { .name = "am fan-out 4", .modes = 1u << M_BUSY, .max_size = 64, .tput_only = 1, .subs = 4,
                    .setup = am_setup, .teardown = am_teardown, .send = am_send, .recv = am_recv },
    [X_PIPE]    = { .name = "pipe", .modes = KERNEL, .max_size = BUF_MAX, .prepare = pipe_prepare, .stream = 1,
                    .put = fd_put, .get = fd_get },
    [X_USEQ]    = { .name = "unix seqpacket", .modes = KERNEL, .max_size = BUF_MAX, .show_na = 1,
                    .na_why = "above the socket's send buffer", .prepare = seqpacket_prepare, .put = fd_put,
                    .get = fd_get },
    [X_USTREAM] = { .name = "unix stream", .modes = KERNEL, .max_size = BUF_MAX, .prepare = stream_prepare,
                    .stream = 1, .put = fd_put, .get = fd_get },
    [X_MQ]      = { .name = "posix mq", .modes = KERNEL, .max_size = BUF_MAX, .show_na = 1,
                    .na_why = "above mqueue msgsize_max", .prepare = mq_prepare, .put = mq_put, .get = mq_get },
#ifdef AM_HAVE_ZMQ
    [X_ZMQ]     = { .name = "zeromq ipc", .modes = KERNEL, .max_size = BUF_MAX, .setup = zmq_setup,
                    .teardown = zmq_teardown, .put = zmq_put, .get = zmq_get },
#endif
};

/* One message from a transport with put / get: the sender writes m->write bytes of its
 * buffer, the kernel copies m->size; the receiver reads the first and last byte. */
static int xsend(const transport *t, ep *e, const msg *m)
{
    if (t->send) return t->send(e, m);
    memset(g_sbuf, g_tag++, m->write);
    for (size_t done = 0; done < m->size;) {
        ssize_t n = t->put(e, g_sbuf + done, m->size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return err_sys("send");
        if (!t->stream && (size_t)n != m->size) return err_len("send", (long)n, m->size);
        done += (size_t)n;
    }
    return 0;
}

static int xrecv(const transport *t, ep *e, const msg *m)
{
    if (t->recv) return t->recv(e, m);
    for (size_t done = 0; done < m->size;) {
        ssize_t n = t->get(e, g_rbuf + done, t->stream ? m->size - done : BUF_MAX);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return err_sys("receive");
        if (n == 0 || (!t->stream && (size_t)n != m->size)) return err_len("receive", (long)(done + (size_t)n), m->size);
        done += (size_t)n;
    }
    touch(g_rbuf, m->size);
    return 0;
}

/* ------------------------------------------------------------------ rows */

/* One configuration: measured once per round. */
typedef struct row {
    int test, mode, xport, group, hdr, na;
    size_t size;
    int n, count, warm;       /* latency: warm + count round trips; throughput: a warm
                                 batch of warm messages, then count batches of n     */
    double *v;   size_t nv;   /* every sample: round-trip ns / batch msgs per second  */
    double *med; size_t nmed; /* each round's median                                  */
    uint64_t sent, reused;    /* atomicmatrix throughput: the publisher's counts and   */
    double ns;                /* the time of the timed batches, over all rounds        */
} row;

static row ROWS[MAX_ROWS];
static int NROWS;

static int add_row(const row *r)
{
    if (NROWS == MAX_ROWS) {
        fprintf(stderr, "bench_channel: more than %d rows\n", MAX_ROWS);
        return -1;
    }
    ROWS[NROWS++] = *r;
    return 0;
}

/* Rows in the order they run: by size, then mode, so the rows compared are neighbours. */
static int make_rows(int test, const size_t *sizes, const int *counts, int nsizes, int quick)
{
    for (int z = 0; z < nsizes; z++) {
        for (int mode = 0; mode < NMODE; mode++) {
            for (int x = 0; x < NX; x++) {
                const transport *t = &XPORTS[x];
                if (!(t->modes & (1u << mode)) || (sizes[z] > t->max_size && !t->show_na) ||
                    sizes[z] < t->min_size || (t->tput_only && test != T_TPUT)) continue;
                for (int hdr = 0; hdr <= (x == X_AM && test == T_LAT && sizes[z] > HEADER_BYTES); hdr++) {
                    int k = quick ? (counts[z] / 20 > 5 ? counts[z] / 20 : 5) : counts[z];
                    row r = { .test = test, .mode = mode, .xport = x, .hdr = hdr, .size = sizes[z],
                              .group = (x == X_AM || x == X_AMFD) && mode == M_SLEEP, .na = sizes[z] > t->max_size };
                    if (test == T_LAT) {
                        r.count = k < MAX_SAMPLES ? k : MAX_SAMPLES;
                        r.warm = k / 10 + 10;
                    } else {
                        r.n = k;
                        r.count = quick ? 1 : 3;
                        r.warm = k / 10;
                    }
                    if (add_row(&r) != 0) return -1;
                }
            }
        }
    }
    return 0;
}

/* The row with these fields, or NULL if it was not run. */
static row *find_row(int test, size_t size, int mode, int xport, int hdr)
{
    for (int i = 0; i < NROWS; i++) {
        row *r = &ROWS[i];
        if (r->test == test && r->size == size && r->mode == mode && r->xport == xport && r->hdr == hdr) {
            return r->na || r->nmed == 0 ? NULL : r;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ one row, both sides */

typedef struct cmd { int op, row; } cmd;

/* What side 0's publisher counted over one row's timed batches (zero but for
 * atomicmatrix throughput rows). */
typedef struct pubcache { uint64_t sent, reused; double ns; } pubcache;

/* The publisher's sends and cache hits so far (zero without a publisher). */
static pubcache pub_counts(const ep *e)
{
    am_pub_counts c;
    memset(&c, 0, sizeof c);
    if (e->pub) (void)am_pub_stats(e->pub, &c);
    return (pubcache){ .sent = c.sent, .reused = e->pub ? am_pub_reused(e->pub) : 0 };
}

static int lat_ping(const transport *t, ep *e, const msg *m, const row *r, double *out)
{
    for (int k = -r->warm; k < r->count; k++) {
        uint64_t t0 = now_ns();
        if (xsend(t, e, m) != 0 || xrecv(t, e, m) != 0) return -1;
        if (k >= 0) out[k] = (double)(now_ns() - t0);
    }
    return 0;
}

static int lat_pong(const transport *t, ep *e, const msg *m, const row *r)
{
    for (int k = -r->warm; k < r->count; k++) {
        if (xrecv(t, e, m) != 0 || xsend(t, e, m) != 0) return -1;
    }
    return 0;
}

/* Side 0 sends batches and waits for the answer; side 1 takes them and answers. */
static int tput_side(const transport *t, ep *e, const msg *m, const msg *ack, const row *r, int side, double *out,
                     pubcache *pc)
{
    pubcache c0 = { 0 };
    double ns = 0;
    for (int b = -1; b < r->count; b++) {
        int n = b < 0 ? r->warm : r->n;
        if (b == 0 && side == 0) c0 = pub_counts(e);
        uint64_t t0 = now_ns();
        for (int i = 0; i < n; i++) {
            if ((side == 0 ? xsend(t, e, m) : xrecv(t, e, m)) != 0) return -1;
        }
        if ((side == 0 ? xrecv(t, e, ack) : xsend(t, e, ack)) != 0) return -1;
        if (b >= 0 && side == 0) {
            double dt = (double)(now_ns() - t0);
            out[b] = (double)n * 1e9 / dt;
            ns += dt;
        }
    }
    if (side == 0) {
        pubcache c1 = pub_counts(e);
        *pc = (pubcache){ .sent = c1.sent - c0.sent, .reused = c1.reused - c0.reused, .ns = ns };
    }
    return 0;
}

static int run_row(const row *r, int side, double *out, pubcache *pc)
{
    const transport *t = &XPORTS[r->xport];
    ep *e = &PAIR[r->xport][side];
    msg m = { .size = r->size, .write = side == 0 && !r->hdr ? r->size : HEADER_BYTES, .mode = r->mode };
    if (side == 0) *pc = (pubcache){ 0 };
    if (r->test == T_TPUT) {
        const msg ack = { .size = ACK_BYTES, .write = ACK_BYTES, .mode = r->mode };
        return tput_side(t, e, &m, &ack, r, side, out, pc);
    }
    return side == 0 ? lat_ping(t, e, &m, r, out) : lat_pong(t, e, &m, r);
}

/* ------------------------------------------------------------------ workers */

typedef struct shared {
    ring rings[NSIDES];                    /* the bare ring, side 0 -> 1 and 1 -> 0 */
    ring copy_rings[NSIDES];               /* the copying ring, the same            */
    ring cell_rings[2][NSIDES];            /* the inline probes, the same           */
    int pinned[NGROUPS][NSIDES];
    double out[MAX_SAMPLES];               /* side 0's samples of the current row  */
    pubcache cache;                        /* side 0's counts for the current row  */
    alignas(64) unsigned char slots[NSIDES][RING_SLOTS][64];
    alignas(64) unsigned char copy_slots[NSIDES][RING_SLOTS][COPY_SLOT];
    alignas(64) unsigned char cells[2][NSIDES][RING_SLOTS][CELL_BYTES];
} shared;

static shared *g_sh;

static void ring_link(ep pair[NSIDES], ring rings[NSIDES], unsigned char *slots, size_t slot_bytes)
{
    for (int s = 0; s < NSIDES; s++) {
        pair[s].rout = &rings[s];
        pair[s].rin = &rings[1 - s];
        pair[s].out_slots = slots + (size_t)s * RING_SLOTS * slot_bytes;
        pair[s].in_slots = slots + (size_t)(1 - s) * RING_SLOTS * slot_bytes;
        pair[s].slot_bytes = slot_bytes;
    }
}

static int ring_prepare(ep pair[NSIDES])
{
    ring_link(pair, g_sh->rings, &g_sh->slots[0][0][0], sizeof g_sh->slots[0][0]);
    return 0;
}

static int ringcopy_prepare(ep pair[NSIDES])
{
    ring_link(pair, g_sh->copy_rings, &g_sh->copy_slots[0][0][0], sizeof g_sh->copy_slots[0][0]);
    return 0;
}

static int cell_prepare(ep pair[NSIDES])
{
    ring_link(pair, g_sh->cell_rings[0], &g_sh->cells[0][0][0][0], CELL_BYTES);
    return 0;
}

static int cellip_prepare(ep pair[NSIDES])
{
    ring_link(pair, g_sh->cell_rings[1], &g_sh->cells[1][0][0][0], CELL_BYTES);
    return 0;
}

static int status(int fd, int rc)
{
    unsigned char st = rc != 0;
    return write(fd, &st, 1) == 1 ? 0 : -1;
}

/* The transports a worker of this group uses: all in group 0, atomicmatrix (one
 * subscriber) in group 1. */
static int in_group(int x, int group) { return group == 0 || x == X_AM || x == X_AMFD; }

static int worker_setup(int side)
{
    g_sbuf = malloc(BUF_MAX);
    g_rbuf = malloc(BUF_MAX);
    if (!g_sbuf || !g_rbuf) return err_sys("malloc");
    memset(g_sbuf, 0, BUF_MAX);             /* fault the pages in now */
    memset(g_rbuf, 0, BUF_MAX);
    for (int x = 0; x < NX; x++) {
        PAIR[x][side].x = x;
        if (in_group(x, g_group) && XPORTS[x].setup && XPORTS[x].setup(&PAIR[x][side], side) != 0) return -1;
    }
    return 0;
}

static __attribute__((noreturn)) void worker(int group, int side, pid_t parent, int cmd_fd, int done_fd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
    g_group = group;
    g_side = side;
    cpu_set_t cpu;
    CPU_ZERO(&cpu);
    CPU_SET(side, &cpu);
    g_sh->pinned[group][side] = sched_setaffinity(0, sizeof cpu, &cpu) == 0;
    if (group == 1 && setenv(SLEEP_ENV, "0", 1) != 0) _exit(1);
    int rc = worker_setup(side);
    if (status(done_fd, rc) == 0 && rc == 0) {
        cmd c;
        while (read(cmd_fd, &c, sizeof c) == (ssize_t)sizeof c && c.op == OP_RUN) {
            if (status(done_fd, run_row(&ROWS[c.row], side, g_sh->out, &g_sh->cache)) != 0) break;
        }
    }
    for (int x = 0; x < NX; x++) {
        if (in_group(x, group) && XPORTS[x].teardown) XPORTS[x].teardown(&PAIR[x][side]);
    }
    _exit(rc ? 1 : 0);
}

/* ------------------------------------------------------------------ the parent */

typedef struct bench {
    int rounds, json, quick;
    am_arena *arena;                        /* the parent's: it creates the arena   */
    int arena_named;
    pid_t pid[NGROUPS][NSIDES];
    int cmd_fd[NGROUPS][NSIDES];
    int done_fd;
    double seconds;
    double grow_us, grown_us;               /* the first 4 MiB allocation (it grew the
                                               arena), and the next one (it did not)  */
} bench;

static bench B = { .cmd_fd = { { -1, -1 }, { -1, -1 } }, .done_fd = -1 };

static int am_prepare(ep pair[NSIDES])
{
    const am_arena_opts opts = { .size = ARENA_BYTES, .sectors = ARENA_SECTORS, .flags = AM_CREATE_ONLY };
    (void)pair;
    snprintf(g_arena_name, sizeof g_arena_name, "bench-channel-%ld", (long)getpid());
    int rc = am_arena_open(g_arena_name, &opts, &B.arena);
    if (rc) return err_am("am_arena_open", rc);
    B.arena_named = 1;
    /* The arena's sectors are smaller than the largest message: the first one grows it.
     * What that costs, next to the same allocation once the sector is there. */
    am_growth g0, g1;
    void *p;
    (void)am_arena_growth(B.arena, &g0);
    double t0 = now_ns();
    if ((rc = am_try_alloc(B.arena, BUF_MAX, &p)) != 0) return err_am("am_try_alloc (growing)", rc);
    B.grow_us = (now_ns() - t0) / 1e3;
    am_ack(B.arena, p);
    t0 = now_ns();
    if ((rc = am_try_alloc(B.arena, BUF_MAX, &p)) != 0) return err_am("am_try_alloc", rc);
    B.grown_us = (now_ns() - t0) / 1e3;
    am_ack(B.arena, p);
    (void)am_arena_growth(B.arena, &g1);
    if (g1.added != g0.added + 1) {
        fprintf(stderr, "bench_channel: a %zu-byte allocation did not grow the arena\n", BUF_MAX);
        return -1;
    }
    return 0;
}

static void unlink_arena(void)
{
    if (!B.arena_named) return;
    int rc = am_arena_unlink(g_arena_name);
    if (rc) fprintf(stderr, "bench_channel: am_arena_unlink(%s): %s\n", g_arena_name, am_strerror(rc));
    B.arena_named = 0;
}

static int start_workers(void)
{
    int done[2];
    if (pipe(done) != 0) return err_sys("pipe");
    B.done_fd = done[0];
    pid_t parent = getpid();
    for (int g = 0; g < NGROUPS; g++) {
        for (int s = 0; s < NSIDES; s++) {
            int p[2];
            if (pipe(p) != 0) return err_sys("pipe");
            pid_t pid = fork();
            if (pid < 0) return err_sys("fork");
            if (pid == 0) {
                close(p[1]);
                close(done[0]);
                worker(g, s, parent, p[0], done[1]);
            }
            close(p[0]);
            B.pid[g][s] = pid;
            B.cmd_fd[g][s] = p[1];
        }
    }
    close(done[1]);
    return 0;
}

/* Say how each worker that exited ended, and forget it; how many there were. */
static int reap(void)
{
    int dead = 0;
    for (int g = 0; g < NGROUPS; g++) {
        for (int s = 0; s < NSIDES; s++) {
            int st;
            if (B.pid[g][s] <= 0 || waitpid(B.pid[g][s], &st, WNOHANG) != B.pid[g][s]) continue;
            if (WIFSIGNALED(st)) {
                fprintf(stderr, "bench_channel: worker %d.%d died of signal %d (%s)\n", g, s, WTERMSIG(st),
                        strsignal(WTERMSIG(st)));
            } else {
                fprintf(stderr, "bench_channel: worker %d.%d exited with status %d\n", g, s, WEXITSTATUS(st));
            }
            B.pid[g][s] = 0;
            dead++;
        }
    }
    return dead;
}

/* Collect n status bytes; -1 at the first failure, a death (looked for every second) or
 * a silence of WORKER_TIMEOUT_S. */
static int await_workers(int n)
{
    uint64_t deadline = now_ns() + (uint64_t)WORKER_TIMEOUT_S * 1000000000ull;
    while (n > 0) {
        struct pollfd pfd = { .fd = B.done_fd, .events = POLLIN };
        int r = poll(&pfd, 1, 1000);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return err_sys("poll");
        unsigned char st = 1;
        if (r == 0 && reap() > 0) return -1;
        if (r == 0 && now_ns() < deadline) continue;
        if (r == 0) fprintf(stderr, "bench_channel: workers silent for %d s\n", WORKER_TIMEOUT_S);
        if (r == 0 || read(B.done_fd, &st, 1) != 1 || st != 0) {
            reap();
            return -1;
        }
        n--;
    }
    return 0;
}

static int command(int group, const cmd *c)
{
    for (int s = 0; s < NSIDES; s++) {
        if (write(B.cmd_fd[group][s], c, sizeof *c) != (ssize_t)sizeof *c) return err_sys("write to a worker");
    }
    return 0;
}

static int by_value(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The q-quantile (nearest rank) of n sorted values. */
static double at_rank(const double *sorted, size_t n, double q)
{
    return n ? sorted[(size_t)(q * (double)(n - 1) + 0.5)] : 0;
}

static double median(double *v, size_t n)   /* sorts v */
{
    qsort(v, n, sizeof *v, by_value);
    return at_rank(v, n, 0.5);
}

static void record(row *r)
{
    memcpy(r->v + r->nv, g_sh->out, sizeof(double) * (size_t)r->count);
    r->med[r->nmed++] = median(g_sh->out, (size_t)r->count);
    r->nv += (size_t)r->count;
    r->sent += g_sh->cache.sent;
    r->reused += g_sh->cache.reused;
    r->ns += g_sh->cache.ns;
}

static int run_rounds(void)
{
    for (int i = 0; i < NROWS; i++) {
        row *r = &ROWS[i];
        r->v = malloc(sizeof(double) * (size_t)B.rounds * (size_t)r->count);
        r->med = malloc(sizeof(double) * (size_t)B.rounds);
        if (!r->v || !r->med) return err_sys("malloc");
    }
    uint64_t start = now_ns();
    for (int round = 0; round <= B.rounds; round++) {   /* round 0 warms up: dropped */
        for (int i = 0; i < NROWS; i++) {
            cmd c = { .op = OP_RUN, .row = i };
            if (ROWS[i].na) continue;
            if (command(ROWS[i].group, &c) != 0 || await_workers(NSIDES) != 0) {
                fprintf(stderr, "bench_channel: %s %s %s %zu B failed\n", TEST_NAMES[ROWS[i].test],
                        MODE_NAMES[ROWS[i].mode], XPORTS[ROWS[i].xport].name, ROWS[i].size);
                return -1;
            }
            if (round > 0) record(&ROWS[i]);
        }
    }
    B.seconds = (double)(now_ns() - start) / 1e9;
    return 0;
}

static int stop_workers(void)
{
    const cmd quit = { .op = OP_QUIT };
    int rc = 0;
    for (int g = 0; g < NGROUPS; g++) {
        for (int s = 0; s < NSIDES; s++) {
            int st;
            if (B.pid[g][s] <= 0) continue;
            if (write(B.cmd_fd[g][s], &quit, sizeof quit) != (ssize_t)sizeof quit ||
                waitpid(B.pid[g][s], &st, 0) != B.pid[g][s] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "bench_channel: worker %d.%d did not stop cleanly\n", g, s);
                rc = -1;
            }
            B.pid[g][s] = 0;
        }
    }
    return rc;
}

static void cleanup(void)
{
    for (int g = 0; g < NGROUPS; g++) {
        for (int s = 0; s < NSIDES; s++) {
            if (B.pid[g][s] > 0) {
                kill(B.pid[g][s], SIGKILL);
                waitpid(B.pid[g][s], NULL, 0);
            }
            if (B.cmd_fd[g][s] >= 0) close(B.cmd_fd[g][s]);
        }
    }
    if (B.done_fd >= 0) close(B.done_fd);
    unlink_arena();
    if (g_zmq_path[0]) unlink(g_zmq_path);   /* ZeroMQ may connect late: only now */
    if (B.arena) {
        int rc = am_arena_check(B.arena);
        if (rc) fprintf(stderr, "bench_channel: am_arena_check: %s: %s\n", am_strerror(rc), am_arena_check_report());
        am_arena_close(B.arena);
    }
    for (int i = 0; i < NROWS; i++) {
        free(ROWS[i].v);
        free(ROWS[i].med);
    }
}

/* ------------------------------------------------------------------ report */

/* Median over rounds of (a's round median / b's round median): both were measured in
 * the same round, so a slow phase of the machine hits both. 0 when either is missing. */
static double ratio(const row *a, const row *b)
{
    double q[MAX_ROUNDS];
    if (!a || !b || a->nmed != b->nmed || a->nmed > MAX_ROUNDS) return 0;
    for (size_t i = 0; i < a->nmed; i++) q[i] = a->med[i] / b->med[i];
    return median(q, a->nmed);
}

typedef struct refs { const row *floor, *small, *pipe; } refs;

/* What a row is compared with: the bare ring of its mode (64 B), its own 64 B row (for
 * fan-out: atomicmatrix with one subscriber), and the pipe of its size. */
static refs refs_of(const row *r)
{
    refs f = {
        .floor = find_row(r->test, 64, r->mode, X_RING, 0),
        .small = find_row(r->test, 64, r->mode, XPORTS[r->xport].subs > 1 ? X_AM : r->xport, 0),
        .pipe = find_row(r->test, r->size, M_SLEEP, X_PIPE, 0),
    };
    return f;
}

typedef struct figures { double p50, p99, p999; } figures;

static figures figures_of(row *r)
{
    figures f = { 0, 0, 0 };
    if (r->na || r->nv == 0) return f;
    int lat = r->test == T_LAT;                  /* throughput: the slow end is the low one */
    qsort(r->v, r->nv, sizeof *r->v, by_value);
    f.p50 = at_rank(r->v, r->nv, 0.5);
    f.p99 = at_rank(r->v, r->nv, lat ? 0.99 : 0.01);
    f.p999 = at_rank(r->v, r->nv, lat ? 0.999 : 0.001);
    return f;
}

static void size_text(char *buf, size_t n, size_t size)
{
    if (size >= ((size_t)1 << 20)) snprintf(buf, n, "%zu MiB", size >> 20);
    else if (size >= 1024) snprintf(buf, n, "%zu KiB", size >> 10);
    else snprintf(buf, n, "%zu B", size);
}

static void ratio_text(char *buf, size_t n, double v)
{
    if (v > 0) snprintf(buf, n, v < 0.1 ? "%.3fx" : "%.2fx", v);
    else snprintf(buf, n, "-");
}

static void print_row(row *r)
{
    char sz[24], vf[24], vs[24], vp[24];
    refs f = refs_of(r);
    size_text(sz, sizeof sz, r->size);
    ratio_text(vf, sizeof vf, ratio(r, f.floor));
    ratio_text(vs, sizeof vs, ratio(r, f.small));
    ratio_text(vp, sizeof vp, ratio(r, f.pipe));
    printf("%-7s %-10s %-14s %-4s ", sz, MODE_NAMES[r->mode], XPORTS[r->xport].name, r->hdr ? "hdr" : "all");
    if (r->na) {
        printf("%8s %9s   (%s)\n", "n/a", "", XPORTS[r->xport].na_why);
        return;
    }
    figures g = figures_of(r);
    if (r->test == T_LAT) {
        printf("%8zu %9.2f %9.2f %9.2f %9s %8s %8s\n", r->nv, g.p50 / 1e3, g.p99 / 1e3, g.p999 / 1e3, vf, vs, vp);
    } else {
        printf("%8zu %9.3f %9.3f %9s %8s %8s\n", r->nv, g.p50 / 1e6, g.p99 / 1e6, vf, vs, vp);
    }
}

/* A target: value (a ratio of two rows of the same rounds) against limit; na says why
 * there is no value when a row is missing. */
typedef struct target { const char *text; double value, limit; int at_most, known; const char *na; } target;

enum { NTARGETS = 10 };

static void targets(target t[NTARGETS])
{
    const row *am64 = find_row(T_LAT, 64, M_BUSY, X_AM, 0);
    const row *tp64 = find_row(T_TPUT, 64, M_BUSY, X_AM, 0);
    t[0] = (target){ "busy 64 B round trip <= 2.5x the bare ring's",
                     ratio(am64, find_row(T_LAT, 64, M_BUSY, X_RING, 0)), TGT_BUSY_VS_FLOOR, 1, 0, NULL };
    t[1] = (target){ "busy 4 MiB round trip (header-only writes) <= 1.5x the 64 B round trip",
                     ratio(find_row(T_LAT, (size_t)4 << 20, M_BUSY, X_AM, 1), am64), TGT_4M_VS_64, 1, 0, NULL };
    t[2] = (target){ "busy 64 B one-way msgs/s (zero-copy) >= 1/2 of the bare ring's",
                     ratio(tp64, find_row(T_TPUT, 64, M_BUSY, X_RING, 0)), TGT_TPUT_VS_FLOOR, 0, 0, NULL };
    t[3] = (target){ "busy 64 B one-way msgs/s (zero-copy) >= 2x ZeroMQ's (ipc, blocking)",
#ifdef AM_HAVE_ZMQ
                     ratio(tp64, find_row(T_TPUT, 64, M_SLEEP, X_ZMQ, 0)),
#else
                     0,
#endif
                     TGT_TPUT_VS_ZMQ, 0, 0, "no ZeroMQ row (built without libzmq)" };
    t[4] = (target){ "busy 4 KiB one-way msgs/s (zero-copy) >= 1x the bare ring copying 4 KiB",
                     ratio(find_row(T_TPUT, 4096, M_BUSY, X_AM, 0), find_row(T_TPUT, 4096, M_BUSY, X_RINGCOPY, 0)),
                     TGT_4K_VS_COPY, 0, 0, NULL };
    t[5] = (target){ "busy 64 B one-way msgs/s to 4 subscribers >= 1/4 of to one (cost at most linear)",
                     ratio(find_row(T_TPUT, 64, M_BUSY, X_FAN4, 0), tp64), TGT_FAN4_VS_1, 0, 0, NULL };
    t[6] = (target){ "spin+sleep 64 B round trip <= 1/5 of the Unix socket's (seqpacket)",
                     ratio(find_row(T_LAT, 64, M_SPIN, X_AM, 0), find_row(T_LAT, 64, M_SLEEP, X_USEQ, 0)),
                     TGT_SPIN_VS_UNIX, 1, 0, NULL };
    t[7] = (target){ "sleep-at-once 64 B round trip <= 1.2x the bare futex ring's",
                     ratio(find_row(T_LAT, 64, M_SLEEP, X_AM, 0), find_row(T_LAT, 64, M_SLEEP, X_RING, 0)),
                     TGT_SLEEP_VS_FUTEX, 1, 0, NULL };
    t[9] = (target){ "busy 4 MiB round trip (header-only writes) on an arena grown for it <= 1.2x the 64 B round trip",
                     ratio(find_row(T_LAT, (size_t)4 << 20, M_BUSY, X_AM, 1), am64), TGT_GROWN_4M_VS_64, 1, 0, NULL };
    t[8] = (target){ "sleep-at-once 64 B round trip through epoll on a waitset's descriptor <= 1.5x the futex sleep",
                     ratio(find_row(T_LAT, 64, M_SLEEP, X_AMFD, 0), find_row(T_LAT, 64, M_SLEEP, X_AM, 0)),
                     TGT_FD_VS_FUTEX, 1, 0, NULL };
    for (int i = 0; i < NTARGETS; i++) t[i].known = t[i].value > 0;
}

/* The publisher's block cache, for the atomicmatrix throughput rows: sends whose block
 * came back from a receiver (am_pub_reused), over the timed batches of all rounds. */
static double cache_hits_per_s(const row *r) { return r->ns > 0 ? (double)r->reused * 1e9 / r->ns : 0; }
static double cache_hit_fraction(const row *r) { return r->sent ? (double)r->reused / (double)r->sent : 0; }

static int has_cache(const row *r) { return r->test == T_TPUT && !r->na && XPORTS[r->xport].subs > 0; }

static void print_cache(void)
{
    printf("\npublisher block cache: sends whose block was reused (am_pub_reused), timed batches of all rounds\n"
           "%-7s %-10s %-14s %10s %10s %8s\n", "size", "mode", "transport", "sends M/s", "hits M/s", "hit %");
    for (int i = 0; i < NROWS; i++) {
        const row *r = &ROWS[i];
        char sz[24];
        if (!has_cache(r)) continue;
        size_text(sz, sizeof sz, r->size);
        printf("%-7s %-10s %-14s %10.3f %10.3f %7.1f%%\n", sz, MODE_NAMES[r->mode], XPORTS[r->xport].name,
               r->ns > 0 ? (double)r->sent * 1e3 / r->ns : 0, cache_hits_per_s(r) / 1e6,
               100 * cache_hit_fraction(r));
    }
}

/* 1, 2 and 4 subscribers: msgs/s sent, what one message costs end to end (1 / msgs/s)
 * and what one delivery costs (that / subscribers). */
static void print_fanout(void)
{
    static const int xs[] = { X_AM, X_FAN2, X_FAN4 };
    const row *one = find_row(T_TPUT, 64, M_BUSY, X_AM, 0);
    printf("\nfan-out: busy 64 B one-way; one publisher in side 0, all subscribers in side 1 (one thread\n"
           "takes one message from each in turn); cost at most linear while vs 1 sub >= 1/subs\n"
           "%4s %10s %9s %9s %12s\n", "subs", "M msgs/s", "vs 1 sub", "ns/msg", "ns/delivery");
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        row *r = find_row(T_TPUT, 64, M_BUSY, xs[i], 0);
        char v[24];
        if (!r) continue;
        figures g = figures_of(r);
        ratio_text(v, sizeof v, ratio(r, one));
        printf("%4u %10.3f %9s %9.1f %12.1f\n", XPORTS[xs[i]].subs, g.p50 / 1e6, v, 1e9 / g.p50,
               1e9 / g.p50 / XPORTS[xs[i]].subs);
    }
}

static int target_met(const target *t) { return t->at_most ? t->value <= t->limit : t->value >= t->limit; }

static int pinned(int side) { return g_sh->pinned[0][side] && g_sh->pinned[1][side]; }

static void print_table(void)
{
    printf("bench_channel: %d rounds (+1 warm-up), every row once a round, back to back; side 0 on CPU 0%s,\n"
           "side 1 on CPU 1%s; %.1f s%s\n",
           B.rounds, pinned(0) ? "" : " (pinning failed)", pinned(1) ? "" : " (pinning failed)",
           B.seconds, B.quick ? " (--quick: too few samples to mean much)" : "");
    for (int test = 0; test < NTEST; test++) {
        if (test == T_LAT) {
            printf("\nlatency: round trip (us): side 0 sends, side 1 answers with the same size\n"
                   "%-7s %-10s %-14s %-4s %8s %9s %9s %9s %9s %8s %8s\n", "size", "mode", "transport", "wr",
                   "count", "p50", "p99", "p99.9", "vs floor", "vs 64 B", "vs pipe");
        } else {
            printf("\nthroughput: one-way, M msgs/s (batch, then a 64 B answer)\n"
                   "%-7s %-10s %-14s %-4s %8s %9s %9s %9s %8s %8s\n", "size", "mode", "transport", "wr",
                   "batches", "median", "p1", "vs floor", "vs 64 B", "vs pipe");
        }
        for (int i = 0; i < NROWS; i++) {
            if (ROWS[i].test == test) print_row(&ROWS[i]);
        }
    }
    printf("\nwr: what the sender writes: all = the whole payload, hdr = its first 64 bytes (the answer\n"
           "always writes 64 bytes). vs floor: to the bare ring of the same mode at 64 B; vs 64 B: to the\n"
           "same transport and mode at 64 B (am fan-out: to atomicmatrix, one subscriber); vs pipe: to\n"
           "the pipe at the same size. Every ratio is the median over rounds of the two rows' medians in\n"
           "the same round (< 1 = faster / fewer msgs/s). bare ring copy: 4 KiB slots, the sender copies\n"
           "its buffer in. am fan-out N: msgs/s counts messages sent, each delivered N times.\n");
    print_fanout();
    print_cache();
    printf("\ngrowth: the arena starts at %zu MiB in sectors of 2 MiB; the first %zu MiB allocation grew it: "
           "%.0f us (the next one, in the grown sector: %.1f us)\n\n", ARENA_BYTES >> 20, BUF_MAX >> 20, B.grow_us,
           B.grown_us);
    target t[NTARGETS];
    targets(t);
    for (int i = 0; i < NTARGETS; i++) {
        if (!t[i].known) {
            printf("target: %s: %s -> n/a\n", t[i].text, t[i].na ? t[i].na : "not measured");
            continue;
        }
        printf("target: %s: %.2fx -> %s\n", t[i].text, t[i].value, target_met(&t[i]) ? "PASS" : "FAIL");
    }
}

static void print_json(void)
{
    printf("{\"benchmark\":\"bench_channel\",\"rounds\":%d,\"quick\":%s,\"pinned\":[%d,%d],\"seconds\":%.2f,"
           "\"first_growth_us\":%.1f,\"grown_alloc_us\":%.2f,\"rows\":[", B.rounds, B.quick ? "true" : "false",
           pinned(0), pinned(1), B.seconds, B.grow_us, B.grown_us);
    for (int i = 0; i < NROWS; i++) {
        row *r = &ROWS[i];
        refs f = refs_of(r);
        figures g = figures_of(r);
        printf("%s\n {\"test\":\"%s\",\"size\":%zu,\"mode\":\"%s\",\"transport\":\"%s\",\"write\":\"%s\",",
               i ? "," : "", TEST_NAMES[r->test], r->size, MODE_NAMES[r->mode], XPORTS[r->xport].name,
               r->hdr ? "header" : "all");
        if (r->na) {
            printf("\"na\":\"%s\"}", XPORTS[r->xport].na_why);
        } else if (r->test == T_LAT) {
            printf("\"count\":%zu,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"p999_ns\":%.0f,", r->nv, g.p50, g.p99, g.p999);
        } else {
            printf("\"batches\":%zu,\"msgs_per_s\":%.0f,\"p1_msgs_per_s\":%.0f,", r->nv, g.p50, g.p99);
        }
        if (has_cache(r)) {
            printf("\"subscribers\":%u,\"pub_sends\":%llu,\"cache_hits_per_s\":%.0f,\"cache_hit_fraction\":%.4f,",
                   XPORTS[r->xport].subs, (unsigned long long)r->sent, cache_hits_per_s(r), cache_hit_fraction(r));
        }
        if (!r->na) {
            printf("\"vs_floor\":%.3f,\"vs_64B\":%.3f,\"vs_pipe\":%.3f}", ratio(r, f.floor), ratio(r, f.small),
                   ratio(r, f.pipe));
        }
    }
    target t[NTARGETS];
    targets(t);
    printf("],\n \"targets\":[");
    for (int i = 0; i < NTARGETS; i++) {
        printf("%s\n  {\"target\":\"%s\",\"ratio\":%.3f,\"limit\":%.2f,\"pass\":%s}", i ? "," : "", t[i].text,
               t[i].value, t[i].limit, !t[i].known ? "null" : target_met(&t[i]) ? "true" : "false");
    }
    printf("]}\n");
}

/* ------------------------------------------------------------------ main */

static int parse_args(int argc, char **argv)
{
    B.rounds = 30;                      /* ~2 minutes */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            B.json = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            B.quick = 1;
            B.rounds = 2;                   /* ~1-2 s */
        } else {
            fprintf(stderr, "usage: %s [--quick] [--json]\n", argv[0]);
            return -1;
        }
    }
    return 0;
}

static int prepare(void)
{
    g_sh = mmap(NULL, sizeof *g_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_sh == MAP_FAILED) {
        g_sh = NULL;
        return err_sys("mmap");
    }
#ifdef AM_HAVE_ZMQ
    snprintf(g_zmq_path, sizeof g_zmq_path, "/tmp/bench-channel-%ld.zmq", (long)getpid());
#endif
    for (int x = 0; x < NX; x++) {
        if (XPORTS[x].prepare && XPORTS[x].prepare(PAIR[x]) != 0) return -1;
    }
    if (make_rows(T_LAT, LAT_SIZES, LAT_COUNT, NLAT, B.quick) != 0) return -1;
    return make_rows(T_TPUT, TPUT_SIZES, TPUT_MSGS, NTPUT, B.quick);
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) return 2;
    signal(SIGPIPE, SIG_IGN);
    int rc = prepare();
    if (rc == 0) rc = start_workers();
    if (rc == 0) rc = await_workers(NGROUPS * NSIDES);   /* all attached */
    unlink_arena();                                      /* nothing can leak it now */
    if (rc == 0) rc = run_rounds();
    if (rc == 0) rc = stop_workers();
    if (rc == 0) {
        if (B.json) print_json(); else print_table();
    }
    cleanup();
    return rc ? 1 : 0;
}
