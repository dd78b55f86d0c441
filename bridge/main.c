/* SPDX-License-Identifier: Apache-2.0 */
/*
 * am-bridge — carries topics and services between arenas over NATS (docs/bridge.md).
 *
 *   am-bridge --arena NAME --url nats://HOST:PORT [--export GLOB]... [--import GLOB]...
 *             [--domain NAME] [--name NODE] [--stats SECONDS] [--queue N]
 *             [--call-timeout MS] [--max-size BYTES]
 *
 * The main thread is an event loop: poll() on the waitset's descriptor (export
 * subscribers, mirror servers, the arena's discovery watch) and on an eventfd the NATS
 * callbacks ring when other bridges' announcements change; a tick of at most 100 ms
 * renews announcements, expires stale ones and calls, and prints statistics. libnats
 * reconnects by itself (for ever, every 200 ms) and buffers up to 8 MiB meanwhile;
 * the arena side goes on working while NATS is away.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "atomicmatrix/version.h"
#include "bridge.h"

br *br_self;
static volatile sig_atomic_t stopping;
static bool arena_changed = true;

static void on_signal(int sig) { stopping = 1; }

static void on_discovery(void *source, void *user) { arena_changed = true; }

static void on_reconnected(natsConnection *nc, void *closure)
{
    br *b = closure;
    atomic_fetch_add_explicit(&b->n.reconnects, 1, memory_order_relaxed);
    br_wake(b, true);
    fprintf(stderr, "am-bridge %s: reconnected to NATS\n", b->cfg.name);
}

/* The first connection, when NATS was not reachable at start: announce, but it is no
 * reconnect. */
static void on_connected(natsConnection *nc, void *closure)
{
    br *b = closure;
    br_wake(b, true);
    fprintf(stderr, "am-bridge %s: connected to NATS\n", b->cfg.name);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    br *b = closure;
    fprintf(stderr, "am-bridge %s: disconnected from NATS (reconnecting; the arena side carries on)\n", b->cfg.name);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: am-bridge --arena NAME --url nats://HOST:PORT [--export GLOB]... [--import GLOB]...\n"
            "                 [--domain NAME] [--name NODE] [--stats SECONDS] [--queue N]\n"
            "                 [--call-timeout MS] [--max-size BYTES]\n"
            "       am-bridge --help | --version\n"
            "  GLOB: fnmatch pattern of topic and service names; \"!GLOB\" denies (deny wins)\n");
}

/* 0: run; 1: --help or --version answered (exit 0); -1: bad arguments (exit 2). */
static int parse(int argc, char **argv, br_config *c)
{
    static const struct option lo[] = {
        { "arena", 1, 0, 'a' },  { "url", 1, 0, 'u' },          { "export", 1, 0, 'e' }, { "import", 1, 0, 'i' },
        { "domain", 1, 0, 'd' }, { "name", 1, 0, 'n' },         { "stats", 1, 0, 's' },  { "queue", 1, 0, 'q' },
        { "call-timeout", 1, 0, 't' }, { "max-size", 1, 0, 'm' }, { "help", 0, 0, 'h' },
        { "version", 0, 0, 'V' }, { 0, 0, 0, 0 }
    };
    *c = (br_config){ .domain = "am", .queue = 1024, .call_timeout_ms = 30000, .max_size = 1 << 20 };
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        br_globs *g = o == 'e' ? &c->exports : &c->imports;
        switch (o) {
        case 'a': c->arena = optarg; break;
        case 'u': c->url = optarg; break;
        case 'e':
        case 'i':
            if (g->n == BR_MAX_GLOBS) { fprintf(stderr, "am-bridge: at most %u globs each\n", BR_MAX_GLOBS); return -1; }
            g->glob[g->n++] = optarg;
            break;
        case 'd': c->domain = optarg; break;
        case 'n': snprintf(c->name, sizeof c->name, "%s", optarg); break;
        case 's': c->stats_s = atof(optarg); break;
        case 'q': c->queue = (unsigned)strtoul(optarg, NULL, 10); break;
        case 't': c->call_timeout_ms = strtoll(optarg, NULL, 10); break;
        case 'm': c->max_size = (size_t)strtoull(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 1;
        case 'V': printf("am-bridge %s (atomicmatrix library %s)\n", AM_VERSION_STRING, am_version()); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (!c->arena || !c->url || optind != argc) { usage(stderr); return -1; }
    if (!br_domain_ok(c->domain)) { fprintf(stderr, "am-bridge: --domain: 1-64 of [A-Za-z0-9_-]\n"); return -1; }
    if (c->queue == 0 || c->queue > AM_MAX_DEPTH || c->call_timeout_ms <= 0 || c->max_size == 0) {
        fprintf(stderr, "am-bridge: --queue 1..%u, --call-timeout and --max-size above 0\n", AM_MAX_DEPTH);
        return -1;
    }
    if (!c->name[0]) {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        if (snprintf(c->name, sizeof c->name, "%s-%s", host, c->arena) >= (int)sizeof c->name) { /* cut: still unique enough */ }
    }
    for (char *p = c->name; *p; p++)
        if (*p <= ' ' || *p > '~') *p = '_';
    return 0;
}

/* Two connections with the same options: nc for samples and announcements, where
 * libnats's flusher batches writes (it yields a millisecond between flushes, which is
 * where its throughput comes from), and rc for calls, which writes each message at
 * once (natsOptions_SetSendAsap), so a round trip pays no flush delay. */
static int nats_connect(br *b, natsConnection **out, bool asap, const char *suffix)
{
    char name[BR_ORIGIN_MAX + 8];
    snprintf(name, sizeof name, "%s%s", b->cfg.name, suffix);
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, b->cfg.url);
    if (s == NATS_OK) s = natsOptions_SetName(o, name);
    if (s == NATS_OK) s = natsOptions_SetNoEcho(o, true);          /* never our own messages back */
    if (s == NATS_OK) s = natsOptions_SetSendAsap(o, asap);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 200);
    if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(o, 8 << 20);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(o, 2000);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(o, 2);
    /* The sample connection's events only: with both, an outage counted twice and
     * announced twice. */
    bool events = !asap;
    if (s == NATS_OK && events) s = natsOptions_SetReconnectedCB(o, on_reconnected, b);
    if (s == NATS_OK && events) s = natsOptions_SetDisconnectedCB(o, on_disconnected, b);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(o, true, events ? on_connected : NULL, b);
    if (s == NATS_OK) s = natsConnection_Connect(out, o);
    if (s == NATS_NOT_YET_CONNECTED) {
        fprintf(stderr, "am-bridge %s: NATS at %s not reachable yet; retrying\n", b->cfg.name, b->cfg.url);
        s = NATS_OK;
    }
    natsOptions_Destroy(o);
    if (s != NATS_OK) fprintf(stderr, "am-bridge: NATS %s: %s\n", b->cfg.url, natsStatus_GetText(s));
    return s == NATS_OK ? 0 : -1;
}

/* The statistics line (--stats): rates since the last line, totals otherwise. */
static void print_stats(br *b, double dt)
{
    static uint64_t last[4];
    uint64_t now[4] = { atomic_load(&b->n.out_msgs), atomic_load(&b->n.out_bytes), atomic_load(&b->n.in_msgs),
                        atomic_load(&b->n.in_bytes) };
    unsigned ex = 0, mi = 0;
    pthread_mutex_lock(&b->lock);   /* NATS callbacks close mirrors ("no responders") */
    for (unsigned i = 0; i < BR_SLOTS; i++) {
        ex += b->exports[i].used;
        mi += b->mirrors[i].used;
    }
    pthread_mutex_unlock(&b->lock);
    printf("am-bridge %s: out %.0f msg/s %.0f B/s, in %.0f msg/s %.0f B/s, drops %llu, malformed %llu, reconnects %llu, "
           "calls out %llu in %llu, no responders %llu, exports %u, mirrors %u\n",
           b->cfg.name, (double)(now[0] - last[0]) / dt, (double)(now[1] - last[1]) / dt, (double)(now[2] - last[2]) / dt,
           (double)(now[3] - last[3]) / dt, (unsigned long long)atomic_load(&b->n.drops),
           (unsigned long long)atomic_load(&b->n.malformed), (unsigned long long)atomic_load(&b->n.reconnects),
           (unsigned long long)atomic_load(&b->n.calls_out), (unsigned long long)atomic_load(&b->n.calls_in),
           (unsigned long long)atomic_load(&b->n.no_responders), ex, mi);
    fflush(stdout);
    memcpy(last, now, sizeof last);
}

/* One turn of the loop, lock held: serve the ports, then bring exports, announcements
 * and mirrors up to date. */
static void turn(br *b, int64_t now, int64_t *next_announce)
{
    int rc = am_waitset_dispatch(b->ws, 0);
    if (rc < 0 && rc != AM_ETIMEDOUT) fprintf(stderr, "am-bridge %s: dispatch: %s\n", b->cfg.name, am_strerror(rc));
    bool period = now >= *next_announce;
    if (period) am_channels_gc(b->arena);   /* dead processes' ports stop counting now */
    if (arena_changed || period) {
        arena_changed = false;
        br_export_sync(b);
        atomic_store(&b->dirty, true);      /* a local server may have come or gone */
    }
    if (period || atomic_exchange(&b->announce_now, false)) {
        br_announce_all(b);
        *next_announce = now + BR_ANNOUNCE_NS;
    }
    br_remotes_expire(b, now);
    if (atomic_exchange(&b->dirty, false)) br_import_sync(b);
    br_import_expire_calls(b, now);
}

int main(int argc, char **argv)
{
    static br b;   /* large tables: not on the stack */
    br_self = &b;
    int pr = parse(argc, argv, &b.cfg);
    if (pr) return pr > 0 ? 0 : 2;   /* --help, --version: 0 */
    prctl(PR_SET_NAME, "am-bridge");   /* how amctl and other bridges recognise bridged ports */
    /* libnats allocates every message it reads (tens of KiB for a batch) on its reader
     * thread and we free it on another: glibc would hand the freed top of the heap back
     * to the kernel each time and fault it in again for the next message (page
     * clearing was a tenth of the bridges' time on a 4 KiB stream). Keep up to 16 MiB.
     * Setting it stops glibc adjusting its mmap threshold, which would stay at 128 KiB:
     * fixed at 1 MiB (NATS's default payload limit), a large message comes from the
     * heap too instead of an mmap and munmap of its own. A refusal costs only speed. */
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_mutex_init(&b.lock, NULL);
    for (unsigned i = 0; i < BR_SLOTS; i++) pthread_mutex_init(&b.exports[i].calls.lock, NULL);

    char node[AM_NODE_MAX];
    memcpy(node, b.cfg.name, sizeof node - 1);   /* the name, cut to fit */
    node[sizeof node - 1] = 0;
    am_arena_opts ao = { .flags = AM_EXTENDED_OPTS, .node = node };
    int rc = am_arena_open(b.cfg.arena, &ao, &b.arena);
    if (rc) {
        fprintf(stderr, "am-bridge: arena %s: %s (%s)\n", b.cfg.arena, am_strerror(rc), am_arena_open_report());
        return 1;
    }
    int wfd = AM_ESYS;
    b.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b.wake_fd < 0 || (wfd = am_waitset_open(&b.ws)) != 0 ||
        (wfd = am_waitset_add_discovery(b.ws, b.arena, on_discovery, NULL)) != 0 || (wfd = am_waitset_fd(b.ws)) < 0) {
        fprintf(stderr, "am-bridge: waitset: %s\n", am_strerror(wfd < 0 ? wfd : AM_ESYS));
        return 1;
    }
    if (nats_connect(&b, &b.nc, false, "") || nats_connect(&b, &b.rc, true, ".rpc") || br_import_start(&b) || br_announce_start(&b)) return 1;
    fprintf(stderr, "am-bridge %s: arena %s, NATS %s, domain %s\n", b.cfg.name, b.cfg.arena, b.cfg.url, b.cfg.domain);

    int64_t next_announce = 0, next_stats = br_now_ns() + (int64_t)(b.cfg.stats_s * 1e9), last_stats = br_now_ns();
    while (!stopping) {
        struct pollfd pf[2] = { { .fd = wfd, .events = POLLIN }, { .fd = b.wake_fd, .events = POLLIN } };
        if (poll(pf, 2, 100) < 0 && errno != EINTR) break;
        uint64_t junk;
        if (pf[1].revents & POLLIN) {
            if (read(b.wake_fd, &junk, sizeof junk) < 0) { /* raced with another reader: nothing */ }
        }
        int64_t now = br_now_ns();
        pthread_mutex_lock(&b.lock);
        turn(&b, now, &next_announce);
        pthread_mutex_unlock(&b.lock);
        if (b.cfg.stats_s > 0 && now >= next_stats) {
            print_stats(&b, (double)(now - last_stats) / 1e9);
            last_stats = now;
            next_stats = now + (int64_t)(b.cfg.stats_s * 1e9);
        }
    }

    /* Leave cleanly: withdraw what we exported, close mirrors (their callers get
     * AM_EPEERDEAD), flush what NATS still has to send. */
    fprintf(stderr, "am-bridge %s: stopping\n", b.cfg.name);
    pthread_mutex_lock(&b.lock);
    br_export_stop_all(&b);
    br_import_stop_all(&b);
    pthread_mutex_unlock(&b.lock);
    natsConnection_FlushTimeout(b.nc, 1000);
    natsConnection_FlushTimeout(b.rc, 1000);
    natsSubscription_Destroy(b.ann_sub);
    natsSubscription_Destroy(b.hello_sub);
    natsSubscription_Destroy(b.reply_sub);
    natsConnection_Close(b.nc);
    natsConnection_Close(b.rc);
    natsConnection_Destroy(b.nc);
    natsConnection_Destroy(b.rc);
    am_waitset_close(b.ws);
    am_arena_close(b.arena);
    nats_CloseAndWait(1000);   /* libnats's delivery threads are done: none rings wake_fd now */
    close(b.wake_fd);
    return 0;
}
