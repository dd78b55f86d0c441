/* SPDX-License-Identifier: Apache-2.0 */
/*
 * am-bridge — the private header of the bridge layer (docs/bridge.md).
 *
 * The bridge is a program above channel/: it uses only the public API of
 * libatomicmatrix and libnats. One concept per file:
 *   subject.c   names <-> NATS subjects (escaping), allow/deny globs, header helpers
 *   announce.c  discovery across hosts: what this bridge exports, what others do
 *   batch.c     several samples of one topic in one NATS message (frames)
 *   export.c    local topics and services carried out to NATS
 *   import.c    remote topics and services mirrored into the arena
 *   main.c      options, the event loop, statistics
 *
 * Threads. The main thread owns the arena handle, the waitset and every port it
 * opens; it holds br->lock whenever it touches them, except while it sleeps in
 * poll(). libnats delivers messages on its own threads; those callbacks take
 * br->lock before they touch a port or a table. An exported service's workers take
 * their requests from libnats themselves and touch only their own clients. Subscriptions
 * are identified in callbacks by (slot, generation) packed into the closure pointer,
 * so a callback that runs after its slot was reused finds a stale generation and does
 * nothing; no closure is ever freed under a running callback.
 */
#ifndef AM_BRIDGE_H
#define AM_BRIDGE_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "atomicmatrix/atomicmatrix.h"

#define BR_MAX_GLOBS  32u
#define BR_SLOTS      AM_MAX_CHANNELS      /* exports, mirrors: one per channel at most */
#define BR_REMOTES    1024u                /* (origin, channel) pairs announced to us   */
#define BR_PENDING    1024u                /* calls in flight through mirror servers    */
#define BR_ORIGIN_MAX 64u
#define BR_ANNOUNCE_NS (1000ll * 1000 * 1000) /* announce period                      */
#define BR_TTL_NS      (3500ll * 1000 * 1000) /* an announcement not renewed expires  */

typedef struct br_globs {
    const char *glob[BR_MAX_GLOBS];   /* "!glob" denies; deny wins over allow     */
    unsigned    n;
} br_globs;

typedef struct br_config {
    const char *arena;
    const char *url;
    const char *domain;               /* [A-Za-z0-9_-]+, default "am"             */
    char        name[BR_ORIGIN_MAX];  /* this bridge's origin name                */
    br_globs    exports, imports;
    double      stats_s;              /* 0 = no statistics line                   */
    unsigned    queue;                /* export subscriber depth (drop-oldest)    */
    int64_t     call_timeout_ms;      /* longest a mirror holds a request         */
    size_t      max_size;             /* larger NATS payloads are malformed       */
} br_config;

/* Counters, written by any thread (relaxed atomics), read by the stats line. */
typedef struct br_counters {
    _Atomic uint64_t out_msgs, out_bytes;    /* samples sent to NATS               */
    _Atomic uint64_t in_msgs, in_bytes;      /* samples published into mirrors     */
    _Atomic uint64_t drops;                  /* lost on the way (queue, NATS, arena) */
    _Atomic uint64_t malformed;              /* NATS messages refused              */
    _Atomic uint64_t reconnects;
    _Atomic uint64_t calls_out, calls_in;    /* calls through mirrors / exports     */
    _Atomic uint64_t no_responders;
} br_counters;

/* What a bridge carries, either way: the channel and its NATS subject. */
typedef struct br_chan {
    am_kind  kind;
    char     name[AM_NAME_MAX + 1];
    char     type[AM_TYPE_MAX + 1];   /* "" untyped                                 */
    uint64_t fingerprint;
    char     subject[256];            /* "<domain>.t.<name>" or "<domain>.s.<name>" */
} br_chan;

/* An exported service's calls: BR_CALLERS worker threads, each with its own local
 * client, take requests straight from a synchronous NATS queue subscription (no
 * libnats delivery thread between: one wake-up less a call), call and reply, so a call
 * its server drops holds one worker until its timeout, not the service. A request
 * taken while BR_CALLQ or more wait behind it is refused (AM_EFULL). */
#define BR_CALLERS 4u
#define BR_CALLQ   256u
typedef struct br_callers {
    pthread_mutex_t   lock;           /* guards stopping                            */
    bool              stopping;
    pthread_t         thread[BR_CALLERS];
    am_client        *client[BR_CALLERS]; /* each used by its worker only            */
    unsigned          started;
    am_client        *probe;          /* the main thread's, to read the schema     */
    natsSubscription *nsub;           /* the queue subscription (synchronous)      */
} br_callers;

/* A topic or service this bridge carries out to NATS (export.c). */
typedef struct br_export {
    bool            used;
    uint32_t        gen;
    br_chan           c;
    am_sub         *sub;              /* topic: the local drop-oldest subscriber   */
    uint64_t        bridge_pubs;      /* topic: publisher ports held by bridges (bits) */
    uint64_t        sub_dropped;      /* topic: drops already counted               */
    br_callers      calls;            /* service                                    */
    bool            seen;             /* scratch for br_export_sync                */
} br_export;

/* A remote channel mirrored into the arena (import.c). */
typedef struct br_mirror {
    bool              used;
    uint32_t          gen;
    br_chan           c;
    am_pub           *pub;            /* topic: publishes what NATS brings          */
    am_server        *server;         /* service: takes local calls                */
    natsSubscription *nsub;           /* topic: the data subscription               */
    bool              seen;
} br_mirror;

/* One channel announced by one remote bridge (announce.c). */
typedef struct br_remote {
    bool     used;
    bool     suspect;                 /* no responders met: ignored until renewed  */
    bool     refused;                 /* the arena refused its mirror (said once)   */
    am_kind  kind;
    char     name[AM_NAME_MAX + 1];
    char     type[AM_TYPE_MAX + 1];
    uint64_t fingerprint;
    char     origin[BR_ORIGIN_MAX];
    void    *schema;
    size_t   schema_len;
    int64_t  expires_ns;
} br_remote;

/* A local call forwarded to NATS, waiting for its reply (import.c). */
typedef struct br_pending {
    uint64_t   id;                    /* 0 = free                                  */
    unsigned   mirror;
    uint32_t   gen;
    am_request req;
    int64_t    deadline_ns;
} br_pending;

typedef struct br {
    br_config         cfg;
    am_arena         *arena;
    am_waitset       *ws;
    natsConnection   *nc;            /* topics and announcements: buffered (throughput) */
    natsConnection   *rc;            /* calls and replies: sent at once (latency)      */
    natsSubscription *ann_sub, *hello_sub, *reply_sub;
    char              inbox[128];
    pthread_mutex_t   lock;
    int               wake_fd;        /* eventfd: a callback asks the main thread to sync */
    atomic_bool       dirty;          /* remote table changed: re-sync mirrors      */
    atomic_bool       announce_now;   /* a bridge said hello: announce at once      */
    br_counters       n;
    br_export         exports[BR_SLOTS];
    br_mirror         mirrors[BR_SLOTS];
    br_remote         remotes[BR_REMOTES];
    br_pending        pending[BR_PENDING];
    uint64_t          next_call;
} br;

extern br *br_self;   /* the one bridge of this process (main.c) */

/* ---- subject.c */
int  br_subject(char *out, size_t cap, const char *domain, const char *what, const char *name);
bool br_domain_ok(const char *domain);
bool br_selected(const br_globs *g, const char *name);
void br_copy(char *dst, size_t cap, const char *src);
int  br_chan_set(br_chan *c, const char *domain, am_kind kind, const char *name, const char *type, uint64_t fp);
int64_t br_now_ns(void);              /* CLOCK_MONOTONIC */
int64_t br_wall_ns(void);             /* CLOCK_REALTIME */
/* Header helpers: an absent or unparsable header gives false. */
bool br_hdr_u64(natsMsg *m, const char *key, uint64_t *out, int base);
bool br_hdr_i64(natsMsg *m, const char *key, int64_t *out);
const char *br_hdr_str(natsMsg *m, const char *key);
void br_hdr_set_u64(natsMsg *m, const char *key, uint64_t v, int hex);
void br_hdr_set_i64(natsMsg *m, const char *key, int64_t v);
/* Closures for (slot, generation). */
static inline void *br_tag(unsigned slot, uint32_t gen) { return (void *)(uintptr_t)(((uint64_t)(gen & 0xffffu) << 16) | slot | (1ull << 40)); }
static inline unsigned br_tag_slot(void *t) { return (unsigned)((uintptr_t)t & 0xffff); }
static inline uint32_t br_tag_gen(void *t) { return (uint32_t)(((uintptr_t)t >> 16) & 0xffff); }
#define BR_GEN_MASK 0xffffu

/* ---- batch.c: u32 length | u64 seq | i64 sent | bytes, per sample, little-endian */
#define BR_FRAME_HDR     20u
#define BR_BATCH_BYTES   (64u * 1024)    /* a batch's payload at most (a larger sample goes alone) */
#define BR_BATCH_FRAMES  1024u           /* samples in a batch at most                           */
typedef struct br_batch {
    size_t   len;                       /* bytes in buf                                         */
    unsigned n;                         /* frames in buf                                        */
    uint8_t  buf[BR_BATCH_BYTES];
} br_batch;
typedef struct br_frame {
    uint32_t       len;
    uint64_t       seq;
    int64_t        sent_ns;
    const uint8_t *data;
} br_frame;
bool br_batch_fits(const br_batch *bt, size_t len);
void br_batch_add(br_batch *bt, const void *data, size_t len, uint64_t seq, int64_t sent_ns);
bool br_batch_frame(const br_batch *bt, size_t at, br_frame *f);   /* the frame at byte at */
/* Check a batch's whole payload (count from Am-Batch); 0 and count frames in out, or -1. */
int  br_batch_parse(const void *payload, size_t len, uint64_t count, size_t max_size, br_frame *out);

/* ---- announce.c */
int  br_announce_start(br *b);
void br_wake(br *b, bool announce);               /* any thread */
void br_announce_all(br *b);                       /* lock held */
void br_withdraw(br *b, const br_chan *c);         /* lock held */
void br_remotes_expire(br *b, int64_t now);        /* lock held */
void br_remote_suspect(br *b, am_kind kind, const char *name); /* lock held */

/* ---- export.c */
bool br_port_is_bridge(const am_port_info *p);
void br_export_sync(br *b);                        /* lock held */
void br_export_stop_all(br *b);                    /* lock held */

/* ---- import.c */
int  br_import_start(br *b);
void br_import_sync(br *b);                        /* lock held */
void br_import_expire_calls(br *b, int64_t now);   /* lock held */
void br_import_stop_all(br *b);                    /* lock held */

#endif
