/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomicmatrix — channels: publish/subscribe topics and request/response services.
 *
 * Everything lives inside one arena: a directory of names, one control block per
 * topic or service, a queue (a Concurrency Kit ring of offsets) per receiving port,
 * and the payloads themselves, which are arena blocks written once and never copied
 * between processes. No daemon: every port cleans up after peers it finds dead.
 *
 * Topics. A publisher loans a block (am_pub_loan), writes the payload in place and
 * sends it (am_pub_send), or copies bytes in (am_pub_publish). Every subscriber that
 * was attached when the send started gets the sample, in the publisher's order, with
 * the publisher's sequence number. A subscriber takes samples (am_sub_take: a pointer
 * into the arena, valid until it acks) and acks them (am_sub_ack); the last ack of the
 * last subscriber frees the block.
 *
 * Queue-full policy, per subscriber: AM_POLICY_DROP_OLDEST (the default: the oldest
 * queued sample makes room, so one stuck subscriber costs nobody else anything),
 * AM_POLICY_DROP_NEWEST (the new sample is not queued for that subscriber), or
 * AM_POLICY_BLOCK (lossless, opt-in: the publisher waits up to its send timeout, then
 * fails having sent to nobody: AM_EAGAIN with timeout 0, AM_ETIMEDOUT after a wait).
 * Drops are counted on both ends (am_sub_stats, am_pub_stats); a send that gave up on
 * a blocking subscriber is counted on that subscriber too (amctl topics: "stalled").
 *
 * Services. Servers take requests and reply; clients call and wait. Each call carries a
 * correlation id: a reply that arrives after its call timed out is dropped (and
 * counted), never handed to a later call. A call whose server dies returns
 * AM_EPEERDEAD within a few milliseconds.
 *
 * Timeouts (every timeout_ns argument) are in nanoseconds: 0 = do not wait, AM_FOREVER
 * (or any negative value) = wait without a deadline. Waiting spins
 * for AM_SPIN_NS nanoseconds (an environment variable; default 20000, 0 = sleep at
 * once), then sleeps on a futex in the arena; senders make the wake system call only
 * when a receiver sleeps.
 *
 * Names: 1-63 characters of [A-Za-z0-9_.-/], not starting with '/' or '.'; type names:
 * 1-127 printable ASCII characters without spaces; anything else gives AM_ENAME. A
 * topic or service is created by its first opener and freed when its last port closes
 * or is found dead.
 *
 * Handles are not thread-safe: use one port per thread, or guard it yourself. Ports
 * are tied to the arena handle they were opened on; close them before the arena.
 */
#ifndef ATOMICMATRIX_CHANNEL_H
#define ATOMICMATRIX_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include "atomicmatrix/arena.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_pub     am_pub;
typedef struct am_sub     am_sub;
typedef struct am_server  am_server;
typedef struct am_client  am_client;
typedef struct am_waitset am_waitset;

#define AM_NAME_MAX      63u   /* characters in a topic or service name           */
#define AM_TYPE_MAX      127u  /* characters in a payload type name               */
#define AM_MAX_PORTS     48u   /* ports (of all roles) on one topic or service    */
#define AM_MAX_CHANNELS  256u  /* topics and services in one arena                */
#define AM_MAX_HISTORY   1024u /* samples a topic may keep for late joiners       */
#define AM_MAX_DEPTH     65535u /* samples in one receiving queue                  */

typedef enum am_policy {
    AM_POLICY_DEFAULT     = 0, /* AM_POLICY_DROP_OLDEST                             */
    AM_POLICY_DROP_NEWEST = 1, /* a full queue refuses the new sample               */
    AM_POLICY_DROP_OLDEST = 2, /* a full queue drops its oldest sample              */
    AM_POLICY_BLOCK       = 3  /* lossless: the publisher waits (up to its timeout);
                                  was 0, the default, before 0.3 (CHANGELOG)       */
} am_policy;

/* The payload type of a topic or service. NULL name: accept whatever the channel
 * carries (raw access). Otherwise the first typed opener sets it and any later opener
 * with another name or fingerprint gets AM_ETYPE. */
typedef struct am_type {
    const char *name;         /* e.g. "robot.Pose"; NULL = untyped              */
    uint64_t    fingerprint;  /* of the schema; 0 = none                         */
} am_type;

typedef struct am_pub_opts {
    am_type  type;
    unsigned history;         /* keep this publisher's last N samples for late
                                 joiners (0 = none, max AM_MAX_HISTORY); they go
                                 when the publisher closes                        */
    int64_t  send_timeout_ns; /* how long a send waits for a full AM_POLICY_BLOCK
                                 subscriber: 0 = not at all (AM_EAGAIN),
                                 AM_FOREVER (< 0) = without a deadline            */
} am_pub_opts;                /* zeroed or NULL: the defaults                      */

typedef struct am_sub_opts {
    am_type   type;
    unsigned  depth;          /* queued samples; 0 = 64, max AM_MAX_DEPTH          */
    unsigned  max_held;       /* samples taken and not yet acked; 0 = 16           */
    am_policy policy;         /* what a full queue does; 0 = AM_POLICY_DROP_OLDEST */
    unsigned  history;        /* how many kept samples to receive on open (0 none) */
} am_sub_opts;

/* A received sample. data points into the arena and stays valid until acked. */
typedef struct am_sample {
    const void *data;
    size_t      len;
    uint64_t    seq;          /* the publisher's sequence number, from 1           */
    uint64_t    send_ns;      /* CLOCK_MONOTONIC when it was sent                  */
    uint32_t    publisher;    /* the sender's port number on this topic            */
    uint32_t    _held;        /* private                                           */
    uint64_t    _id;          /* private                                           */
} am_sample;

typedef struct am_pub_stats {
    uint64_t sent;            /* samples sent                                      */
    uint64_t dropped;         /* deliveries skipped by a dropping subscriber       */
    uint64_t timeouts;        /* sends that timed out on a full blocking queue     */
    uint32_t subscribers;     /* subscribers attached now                          */
} am_pub_counts;

typedef struct am_sub_stats {
    uint64_t received;        /* samples taken                                     */
    uint64_t dropped;         /* samples lost to this subscriber's policy          */
    uint32_t queued;          /* samples waiting in the queue now                  */
    uint32_t held;            /* samples taken and not acked                       */
} am_sub_counts;

/* ---- publish */

/* Attach a publisher to topic (creating the topic if it does not exist).
 * AM_ENAME (bad topic or type name), AM_EINVAL (bad options), AM_ETYPE (another type,
 * or a service of that name), AM_EFULL (AM_MAX_PORTS or AM_MAX_CHANNELS reached),
 * AM_ENOMEM, AM_ECORRUPT. */
AM_API int  am_pub_open(am_arena *a, const char *topic, const am_pub_opts *opts, am_pub **out);
/* Why the last open of a topic or service in this thread failed, in words (for
 * AM_ETYPE: the type the channel has and the pids of the live ports holding it; ports
 * of dead processes never cause it, they are released first). "" if it said nothing. */
AM_API const char *am_channel_open_report(void);
/* Loan a block of size bytes (16-byte aligned) to write a sample in place. It stays
 * the caller's (and is freed if the process dies) until am_pub_send hands it over.
 * AM_ENOMEM, AM_ETIMEDOUT (see am_try_alloc), AM_ETOOBIG, AM_EINVAL. */
AM_API int  am_pub_loan(am_pub *p, size_t size, void **payload);
/* Send the loaned payload's first len bytes to every attached subscriber. On success
 * the loan is gone. On AM_EAGAIN (send timeout 0) or AM_ETIMEDOUT (after waiting) a
 * blocking subscriber was full: nothing was sent and the loan is still the caller's:
 * send again or am_pub_discard it. */
AM_API int  am_pub_send(am_pub *p, void *payload, size_t len);
/* Give back a loan without sending it. */
AM_API int  am_pub_discard(am_pub *p, void *payload);
/* Copy len bytes into a new block and send it (loan + memcpy + send). */
AM_API int  am_pub_publish(am_pub *p, const void *data, size_t len);
/* Publish n messages packed back to back in buf, lens[i] bytes each, in order, each as
 * am_pub_publish: one call for many, for callers that pay per call across a language
 * boundary (Python). Returns how many were sent (n, or fewer if one failed), or the
 * first one's error. */
AM_API int  am_pub_publish_packed(am_pub *p, const void *buf, const uint32_t *lens, unsigned n);
/* Fill *st. 0 or AM_EINVAL. */
AM_API int  am_pub_stats(am_pub *p, am_pub_counts *st);
/* Loans served from the publisher's block cache since it opened: blocks its
 * subscribers gave back and it reused, with no allocation (docs/channels.md). A
 * function rather than a field of am_pub_counts, which callers allocate: growing it
 * would break programs built against 0.2. 0 for NULL. */
AM_API uint64_t am_pub_reused(am_pub *p);
/* Detach. Loans not sent are freed. NULL is ignored. */
AM_API void am_pub_close(am_pub *p);
/* Record a schema with the topic (bytes any tool can read back, e.g. a serialized
 * protobuf FileDescriptorSet: typed publishers generated by protoc-gen-am do this), so
 * samples can be decoded without the publisher's headers. The first schema recorded
 * stays; later calls return 0 and change nothing. AM_ETOOBIG above 1 MiB. */
AM_API int  am_pub_set_schema(am_pub *p, const void *data, size_t len);
/* The same for a service, recorded by a server: typed servers generated by
 * protoc-gen-am record their file's FileDescriptorSet, in which the service's type
 * name (am_server_opts.type.name) names the service descriptor and method id k (as in
 * am_request.method) is its k-th rpc, counted from 1; tools (amctl services, amctl
 * echo) list the methods and decode requests and replies by method with it. The first
 * schema recorded stays; later calls return 0 and change nothing. AM_ETOOBIG above
 * 1 MiB. */
AM_API int  am_server_set_schema(am_server *s, const void *data, size_t len);
/* The schema recorded with the service: *data points into the arena (valid while c is
 * open), *len its bytes. AM_ENOENT if no server recorded one. Untrusted bytes: any
 * process attached to the arena could have written them. */
AM_API int  am_client_schema(am_client *c, const void **data, size_t *len);

/* ---- subscribe */

/* Attach a subscriber to topic (creating the topic if it does not exist). Samples
 * sent after this returns reach it (and up to opts->history kept ones first). Errors
 * as am_pub_open. */
AM_API int  am_sub_open(am_arena *a, const char *topic, const am_sub_opts *opts, am_sub **out);
/* Take the next sample, waiting up to timeout_ns (0: do not wait, AM_FOREVER: no
 * deadline). 0, AM_ETIMEDOUT (nothing came), AM_EAGAIN (max_held samples are held:
 * ack some), AM_ECORRUPT (a slot in shared memory was bad; it was skipped), AM_EINVAL. */
AM_API int  am_sub_take(am_sub *s, am_sample *out, int64_t timeout_ns);
/* Release a taken sample; the last holder frees its block. AM_EINVAL if it is not a
 * sample this subscriber holds. */
AM_API int  am_sub_ack(am_sub *s, am_sample *sample);
/* Take many samples as copies, in one call (the other side of am_pub_publish_packed):
 * wait up to timeout_ns for the first, then take what is already queued, copying each
 * into buf back to back (lens[i] its length; seqs[i] its sequence number unless seqs is
 * NULL) and acking it, up to max samples or until buf is full. A sample that does not
 * fit what is left of buf stays taken and is the next one any take returns. Returns
 * how many were copied (>= 1); AM_ETOOBIG if the next sample alone is larger than cap
 * (am_sub_take gives it); otherwise what am_sub_take returns. */
AM_API int  am_sub_take_copies(am_sub *s, void *buf, size_t cap, uint32_t *lens, uint64_t *seqs, unsigned max,
                               int64_t timeout_ns);
/* Fill *st. 0 or AM_EINVAL. */
AM_API int  am_sub_stats(am_sub *s, am_sub_counts *st);
/* The schema recorded with the topic: *data points into the arena (valid while s is
 * open), *len its bytes. AM_ENOENT if no publisher recorded one. */
AM_API int  am_sub_schema(am_sub *s, const void **data, size_t *len);
/* Detach: samples held or queued are released. NULL is ignored. */
AM_API void am_sub_close(am_sub *s);

/* ---- request / response */

typedef struct am_server_opts {
    am_type  type;
    unsigned depth;           /* queued requests; 0 = 64                           */
    unsigned max_held;        /* requests taken and not yet answered; 0 = 16       */
} am_server_opts;

typedef struct am_client_opts {
    am_type  type;
    unsigned depth;           /* queued replies; 0 = 8                             */
} am_client_opts;

/* A request taken by a server: answer it with am_server_reply or am_server_drop. */
typedef struct am_request {
    const void *data;
    size_t      len;
    uint32_t    method;       /* what am_client_call_method said (0 for am_client_call) */
    uint32_t    _held;        /* private                                           */
    uint64_t    _id;          /* private                                           */
} am_request;

typedef struct am_client_stats {
    uint64_t calls;           /* calls sent                                        */
    uint64_t timeouts;        /* calls that timed out                              */
    uint64_t late;            /* replies dropped because their call had ended      */
} am_client_counts;

/* Attach a server to service (creating it if it does not exist). Errors as
 * am_pub_open (AM_ETYPE also for a topic of that name). */
AM_API int  am_server_open(am_arena *a, const char *service, const am_server_opts *opts, am_server **out);
/* Take the next request, waiting up to timeout_ns (0: do not wait, AM_FOREVER: no
 * deadline): 0, AM_ETIMEDOUT, AM_EAGAIN. */
AM_API int  am_server_take(am_server *s, am_request *req, int64_t timeout_ns);
/* Reply to a taken request (copying len bytes) and release it. A reply to a client
 * that has gone or timed out is dropped; that still returns 0. */
AM_API int  am_server_reply(am_server *s, am_request *req, const void *data, size_t len);
/* Zero-copy replies: loan a block (written in place), then hand it over as the reply
 * to req. am_server_reply_loan consumes the loan whatever happens (sent, or freed when
 * the client has gone), except on AM_EINVAL (not a request this server holds, or not a
 * loan). A loan never handed over is freed when the arena handle closes. */
AM_API int  am_server_loan(am_server *s, size_t size, void **payload);
AM_API int  am_server_reply_loan(am_server *s, am_request *req, void *payload, size_t len);
/* Answer a taken request with a failure: its caller's call returns AM_EREMOTE at once
 * and am_client_status() gives status (non-zero, the server's own code). */
AM_API int  am_server_fail(am_server *s, am_request *req, int32_t status);
/* Release a taken request without replying (its caller will time out). */
AM_API int  am_server_drop(am_server *s, am_request *req);
/* Detach; requests taken and not answered are released (their callers see
 * AM_EPEERDEAD). NULL is ignored. */
AM_API void am_server_close(am_server *s);

/* Attach a client to service (creating it if it does not exist: calls then give
 * AM_ENOENT until a server attaches). Errors as am_server_open. */
AM_API int  am_client_open(am_arena *a, const char *service, const am_client_opts *opts, am_client **out);
/* Send a request and wait up to timeout_ns (AM_FOREVER: no deadline) for its reply:
 * 0 and *reply (ack it with am_client_ack),
 * AM_ETIMEDOUT, AM_ENOENT (no server attached), AM_EPEERDEAD (the server that had
 * the request died), AM_EREMOTE (the server failed it: am_client_status), AM_ENOMEM,
 * AM_EINVAL. */
AM_API int  am_client_call(am_client *c, const void *req, size_t len, am_sample *reply, int64_t timeout_ns);
/* The same with a method number the server sees in am_request.method. */
AM_API int  am_client_call_method(am_client *c, uint32_t method, const void *req, size_t len,
                           am_sample *reply, int64_t timeout_ns);
/* Release a reply returned by a call. AM_EINVAL if it is not one this client holds. */
/* Zero-copy calls: loan a block, write the request in place, call with it. The loan is
 * consumed (sent, or freed on failure) except on AM_EINVAL. */
AM_API int  am_client_loan(am_client *c, size_t size, void **payload);
AM_API int  am_client_call_loan(am_client *c, uint32_t method, void *payload, size_t len,
                         am_sample *reply, int64_t timeout_ns);
AM_API int  am_client_ack(am_client *c, am_sample *reply);
/* Fill *st. 0 or AM_EINVAL. */
AM_API int  am_client_stats(am_client *c, am_client_counts *st);
/* The status of the last reply this client received (0, or what am_server_fail sent). */
AM_API int32_t am_client_status(const am_client *c);
/* Detach; replies held are released. NULL is ignored. */
AM_API void am_client_close(am_client *c);

/* ---- waiting on several ports at once */

/* A waitset holds subscribers, servers and discovery watches (up to AM_WAITSET_MAX
 * entries); am_waitset_wait returns when any of them has something to take. Entries
 * carry a caller pointer to tell them apart. */
#define AM_WAITSET_MAX 1024u
AM_API int  am_waitset_open(am_waitset **out);
/* Add a port with a caller pointer that am_waitset_wait reports when it is ready.
 * AM_EEXIST if it is in already (or in another waitset: a port belongs to one waiter),
 * AM_EFULL past AM_WAITSET_MAX. Closing the port removes it. */
AM_API int  am_waitset_add_sub(am_waitset *w, am_sub *s, void *user);
AM_API int  am_waitset_add_server(am_waitset *w, am_server *s, void *user);
/* Remove the entry whose port is port (an am_sub*, am_server* or, for a discovery
 * watch, the am_arena*). AM_ENOENT if absent. */
AM_API int  am_waitset_remove(am_waitset *w, const void *port);
/* Wait up to timeout_ns (0: poll, AM_FOREVER: no deadline) until an entry is ready;
 * store up to max ready entries' user pointers in ready[]. Returns how many (>= 1),
 * AM_ETIMEDOUT or AM_EINVAL. A discovery watch is reported once per change (or burst
 * of changes). */
AM_API int  am_waitset_wait(am_waitset *w, void **ready, unsigned max, int64_t timeout_ns);
/* Free the waitset (its ports stay open; its descriptor is closed). NULL is ignored. */
AM_API void am_waitset_close(am_waitset *w);

/* A file descriptor for event loops (epoll, poll, libuv, asyncio...): readable
 * (POLLIN, level-triggered) while any entry of the waitset is ready, until it is
 * drained: by am_waitset_wait / am_waitset_dispatch, or by takes until one finds
 * nothing. Only poll it; never read, write or close it (am_waitset_close does).
 * Senders pay a wake-up (one datagram to it) only when the waitset is idle. It works
 * between unrelated processes and needs no daemon. The descriptor (>= 0), or AM_EFULL
 * (discovery watches: too many watchers in the arena), AM_ENOMEM, AM_ESYS, AM_EINVAL. */
AM_API int  am_waitset_fd(am_waitset *w);

/* Listeners: a callback per port, called by am_waitset_dispatch when the port is
 * ready (it should take what there is; what it leaves keeps the port ready). source
 * is the port (am_sub* or am_server*) or, for a discovery watch, the am_arena*. */
typedef void (*am_listener)(void *source, void *user);
/* Register (fn NULL: remove) the port's listener. 0 or AM_EINVAL. */
AM_API int  am_sub_listen(am_sub *s, am_listener fn, void *user);
AM_API int  am_server_listen(am_server *s, am_listener fn, void *user);
/* Wait like am_waitset_wait, then call the listener of every ready entry once.
 * Returns the number of calls (>= 1), AM_ETIMEDOUT, or AM_EINVAL (also when an entry
 * has no listener). Listeners may take, ack, add, remove and close ports. */
AM_API int  am_waitset_dispatch(am_waitset *w, int64_t timeout_ns);

/* ---- discovery */

typedef enum am_kind { AM_KIND_TOPIC = 1, AM_KIND_SERVICE = 2 } am_kind;

/* A topic or service as am_channels_list sees it (a snapshot: read without locks). */
typedef struct am_channel_info {
    char     name[AM_NAME_MAX + 1];
    char     type[AM_TYPE_MAX + 1];  /* "" if untyped                              */
    am_kind  kind;
    uint32_t publishers;      /* live ports of each role                           */
    uint32_t subscribers;
    uint32_t servers;
    uint32_t clients;
    uint32_t has_schema;      /* 1 if a schema is recorded                         */
    uint64_t fingerprint;     /* of the type's schema; 0 = none                    */
} am_channel_info;

/* The topics and services of the arena: fills at most max entries of out (out may be
 * NULL when max is 0) and returns how many exist, or AM_EINVAL / AM_ECORRUPT. */
AM_API int  am_channels_list(am_arena *a, am_channel_info *out, unsigned max);

typedef enum am_role { AM_ROLE_PUBLISHER = 1, AM_ROLE_SUBSCRIBER = 2, AM_ROLE_SERVER = 3,
                       AM_ROLE_CLIENT = 4 } am_role;

/* A live port of a channel, and the process that holds it. */
typedef struct am_port_info {
    am_role  role;
    uint32_t pid;
    char     process[AM_PROC_NAME_MAX];  /* the holder's program name               */
    char     node[AM_NODE_MAX];          /* its node name (am_arena_opts.node)      */
    uint64_t sent;
    uint64_t received;
    uint64_t dropped;
    uint32_t port;            /* its number on the channel                         */
    uint32_t pad;
} am_port_info;

/* The live ports of the channel called name: fills at most max of out and returns how
 * many there are; AM_ENOENT if no such channel, AM_EINVAL. */
AM_API int  am_channel_ports(am_arena *a, const char *name, am_port_info *out, unsigned max);

/* Be woken when channels or ports appear or vanish (a port of a dead process counts
 * when it is cleaned up): am_waitset_wait reports user, am_waitset_dispatch calls fn
 * (source = a). One watch per arena in a waitset; AM_EEXIST for a second. Remove the
 * watch (or close the waitset) before closing the arena. */
AM_API int  am_waitset_add_discovery(am_waitset *w, am_arena *a, am_listener fn, void *user);

/* ---- housekeeping */

/* Release what dead ports held on every topic and service of the arena, and free the
 * channels nobody uses any more. Ports do this by themselves when they meet a dead
 * peer; this does it now. Returns the number of dead ports cleaned (>= 0) or AM_E*. */
AM_API int  am_channels_gc(am_arena *a);

#ifdef __cplusplus
}
#endif
#endif
