/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export.c — local topics and services carried out to NATS.
 *
 * A channel is exported while it matches --export and has a source that is not a
 * bridge: a topic a publisher, a service a server, held by a process other than an
 * am-bridge. Ports of bridges (this one's mirrors, or another bridge's on the same
 * arena) never count, and samples they publish are never forwarded: what a bridge
 * imported is never exported again, so no set of bridges can make a loop.
 *
 * Topic: a local subscriber (raw, AM_POLICY_DROP_OLDEST, --queue deep: the bounded
 * queue toward NATS; its drops are counted) in the main thread's waitset; samples are
 * published on "<domain>.t.<name>" with their bytes untouched. One sample alone carries
 * headers Am-Type (absent for an untyped topic), Am-Fp, Am-Seq, Am-Sent (CLOCK_REALTIME
 * ns at the origin), Am-Origin; the samples that were waiting together go as one batch
 * (batch.c): Am-Type, Am-Fp, Am-Origin once, Am-Batch, and each sample framed with its
 * length, seq and send time.
 *
 * Service: a NATS queue subscription on "<domain>.s.<name>" whose queue group is the
 * subject itself, so the servers of every bridge that exports the service share its
 * calls. It is synchronous: BR_CALLERS worker threads, each with its own local client,
 * wait in natsSubscription_NextMsg, so libnats's reader thread hands a request straight
 * to a worker (an asynchronous subscription would put its delivery thread, one more
 * wake-up, between). One bridge runs that many calls at once and a call its server
 * drops holds one worker until its timeout, not the service; a request taken while
 * BR_CALLQ or more wait behind it is answered AM_EFULL at once. Each request is
 * one am_client_call_method (method from Am-Method, timeout from Am-Timeout-Ms, capped
 * by --call-timeout); the reply carries Am-Status (0 or the AM_E* code of the call)
 * and, for AM_EREMOTE, Am-Remote-Status (the server's am_server_fail status).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "bridge.h"

bool br_port_is_bridge(const am_port_info *p)
{
    return p->pid == (uint32_t)getpid() || strcmp(p->process, "am-bridge") == 0;
}

/* Publisher ports of a topic held by bridges, as a bit set (AM_MAX_PORTS <= 64), and
 * whether a publisher of any other process holds the topic. */
_Static_assert(AM_MAX_PORTS <= 64, "one bit per port");
static uint64_t bridge_ports(br *b, const char *name, am_role role, bool *foreign)
{
    am_port_info pi[AM_MAX_PORTS];
    int k = am_channel_ports(b->arena, name, pi, AM_MAX_PORTS);
    uint64_t bits = 0;
    *foreign = false;
    for (int j = 0; j < k && j < (int)AM_MAX_PORTS; j++) {
        if (pi[j].role != role) continue;
        if (br_port_is_bridge(&pi[j])) {
            if (pi[j].port < 64) bits |= 1ull << pi[j].port;
        } else {
            *foreign = true;
        }
    }
    return bits;
}

static void sent(br *b, natsStatus s, uint64_t msgs, uint64_t bytes)
{
    if (s == NATS_OK) {
        atomic_fetch_add_explicit(&b->n.out_msgs, msgs, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->n.out_bytes, bytes, memory_order_relaxed);
    } else {   /* disconnected and the reconnect buffer is full */
        atomic_fetch_add_explicit(&b->n.drops, msgs, memory_order_relaxed);
    }
}

/* One sample alone: its bytes as the payload, all five headers. */
static void send_one(br *b, br_export *e, const void *data, size_t len, uint64_t seq, int64_t sent_ns)
{
    natsMsg *m = NULL;
    if (len > (size_t)natsConnection_GetMaxPayload(b->nc) || natsMsg_Create(&m, e->c.subject, NULL, data, (int)len) != NATS_OK) {
        atomic_fetch_add_explicit(&b->n.drops, 1, memory_order_relaxed);
        return;
    }
    if (e->c.type[0]) natsMsgHeader_Set(m, "Am-Type", e->c.type);   /* absent: untyped */
    br_hdr_set_u64(m, "Am-Fp", e->c.fingerprint, 1);
    br_hdr_set_u64(m, "Am-Seq", seq, 0);
    br_hdr_set_i64(m, "Am-Sent", sent_ns);
    natsMsgHeader_Set(m, "Am-Origin", b->cfg.name);
    sent(b, natsConnection_PublishMsg(b->nc, m), 1, len);
    natsMsg_Destroy(m);
}

/* The samples gathered in bt (batch.c): one alone as above, several in one message
 * with the topic's headers once and Am-Batch. */
static void flush(br *b, br_export *e, br_batch *bt)
{
    br_frame f;
    if (bt->n == 1 && br_batch_frame(bt, 0, &f)) {
        send_one(b, e, f.data, f.len, f.seq, f.sent_ns);
    } else if (bt->n > 1) {
        natsMsg *m = NULL;
        if (bt->len > (size_t)natsConnection_GetMaxPayload(b->nc) ||
            natsMsg_Create(&m, e->c.subject, NULL, (const char *)bt->buf, (int)bt->len) != NATS_OK) {
            atomic_fetch_add_explicit(&b->n.drops, bt->n, memory_order_relaxed);
        } else {
            if (e->c.type[0]) natsMsgHeader_Set(m, "Am-Type", e->c.type);
            br_hdr_set_u64(m, "Am-Fp", e->c.fingerprint, 1);
            natsMsgHeader_Set(m, "Am-Origin", b->cfg.name);
            br_hdr_set_u64(m, "Am-Batch", bt->n, 0);
            sent(b, natsConnection_PublishMsg(b->nc, m), bt->n, bt->len - (size_t)bt->n * BR_FRAME_HDR);
            natsMsg_Destroy(m);
        }
    }
    bt->n = 0;
    bt->len = 0;
}

/* The export subscriber's listener (main thread, lock held by the loop): what waits
 * goes out in batches; a sample too large for one goes alone. */
static void on_samples(void *source, void *user)
{
    static br_batch bt;   /* main thread only; empty between calls */
    br *b = br_self;
    br_export *e = user;
    am_sample smp;
    bool refreshed = false;
    while (am_sub_take(e->sub, &smp, 0) == 0) {
        uint64_t bit = smp.publisher < 64 ? 1ull << smp.publisher : 0;
        if (!(e->bridge_pubs & bit) && !refreshed) {   /* a port we have not classified yet? */
            bool foreign;
            e->bridge_pubs = bridge_ports(b, e->c.name, AM_ROLE_PUBLISHER, &foreign);
            refreshed = true;
        }
        if (!(e->bridge_pubs & bit)) {
            if (!br_batch_fits(&bt, smp.len)) flush(b, e, &bt);
            if (br_batch_fits(&bt, smp.len)) br_batch_add(&bt, smp.data, smp.len, smp.seq, br_wall_ns());
            else send_one(b, e, smp.data, smp.len, smp.seq, br_wall_ns());
        }
        am_sub_ack(e->sub, &smp);
    }
    flush(b, e, &bt);
    am_sub_counts st;
    if (am_sub_stats(e->sub, &st) == 0 && st.dropped > e->sub_dropped) {
        atomic_fetch_add_explicit(&b->n.drops, st.dropped - e->sub_dropped, memory_order_relaxed);
        e->sub_dropped = st.dropped;
    }
}

static void reply_status(natsConnection *nc, const char *reply, const void *data, size_t len, int rc, int32_t remote)
{
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, reply, NULL, data, (int)len) != NATS_OK) return;
    br_hdr_set_i64(m, "Am-Status", rc);
    if (rc == AM_EREMOTE) br_hdr_set_i64(m, "Am-Remote-Status", remote);
    natsConnection_PublishMsg(nc, m);
    natsMsg_Destroy(m);
}

/* One request: checked, then the local servers called through this worker's client,
 * and the reply sent. */
static void serve_one(br *b, br_callers *q, am_client *client, natsMsg *m)
{
    const char *reply = natsMsg_GetReply(m);
    uint64_t method = 0;
    if (!reply || (br_hdr_str(m, "Am-Method") && !br_hdr_u64(m, "Am-Method", &method, 10)) || method > UINT32_MAX ||
        (size_t)natsMsg_GetDataLength(m) > b->cfg.max_size) {
        atomic_fetch_add_explicit(&b->n.malformed, 1, memory_order_relaxed);
        return;
    }
    int behind = 0;   /* requests waiting behind this one: BR_CALLQ or more, refuse it */
    if (natsSubscription_GetPending(q->nsub, &behind, NULL) == NATS_OK && behind >= (int)BR_CALLQ) {
        reply_status(b->rc, reply, NULL, 0, AM_EFULL, 0);
        return;
    }
    int64_t tmo = b->cfg.call_timeout_ms, asked;
    if (br_hdr_i64(m, "Am-Timeout-Ms", &asked) && asked >= 0 && asked < tmo) tmo = asked;
    am_sample rep;
    int rc = am_client_call_method(client, (uint32_t)method, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &rep,
                                   tmo * 1000000);
    atomic_fetch_add_explicit(&b->n.calls_in, 1, memory_order_relaxed);
    if (rc == 0) {
        reply_status(b->rc, reply, rep.data, rep.len, 0, 0);
        am_client_ack(client, &rep);
    } else {
        reply_status(b->rc, reply, NULL, 0, rc, rc == AM_EREMOTE ? am_client_status(client) : 0);
    }
}

typedef struct worker_arg { br_export *e; unsigned k; } worker_arg;
static worker_arg worker_args[BR_SLOTS][BR_CALLERS];

static bool stopping(br_callers *q)
{
    pthread_mutex_lock(&q->lock);
    bool s = q->stopping;
    pthread_mutex_unlock(&q->lock);
    return s;
}

/* A worker takes requests straight from the service's (synchronous) queue
 * subscription: libnats's reader thread wakes it, with no delivery thread between. */
static void *worker(void *arg)
{
    br *b = br_self;
    br_callers *q = &((worker_arg *)arg)->e->calls;
    am_client *client = q->client[((worker_arg *)arg)->k];
    while (!stopping(q)) {
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, q->nsub, 100);
        if (s == NATS_OK) {
            serve_one(b, q, client, m);
            natsMsg_Destroy(m);
        } else if (s != NATS_TIMEOUT && s != NATS_SLOW_CONSUMER) {
            if (stopping(q)) break;   /* unsubscribed */
            struct timespec ts = { 0, 10 * 1000000 };
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* Stop an exported service: no new requests (callers of other bridges meet "no
 * responders"), workers finish the calls they run, then the clients close. */
static void callers_close(br_export *e)
{
    br_callers *q = &e->calls;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    e->used = false;
    e->gen = (e->gen + 1) & BR_GEN_MASK;
    pthread_mutex_unlock(&q->lock);
    if (q->nsub) natsSubscription_Unsubscribe(q->nsub);   /* wakes the workers waiting in NextMsg */
    for (unsigned k = 0; k < q->started; k++) pthread_join(q->thread[k], NULL);
    natsSubscription_Destroy(q->nsub);
    q->nsub = NULL;
    for (unsigned k = 0; k < BR_CALLERS; k++) {
        am_client_close(q->client[k]);
        q->client[k] = NULL;
    }
    am_client_close(q->probe);
    q->probe = NULL;
    q->started = 0;
    q->stopping = false;
}

static int callers_open(br *b, br_export *e, unsigned slot)
{
    br_callers *q = &e->calls;
    if (am_client_open(b->arena, e->c.name, NULL, &q->probe)) return -1;
    for (unsigned k = 0; k < BR_CALLERS; k++)
        if (am_client_open(b->arena, e->c.name, NULL, &q->client[k])) return -1;
    if (natsConnection_QueueSubscribeSync(&q->nsub, b->rc, e->c.subject, e->c.subject) != NATS_OK) return -1;
    natsSubscription_SetPendingLimits(q->nsub, -1, -1);
    e->used = true;
    for (unsigned k = 0; k < BR_CALLERS; k++) {
        worker_args[slot][k] = (worker_arg){ e, k };
        if (pthread_create(&q->thread[k], NULL, worker, &worker_args[slot][k])) return -1;
        q->started++;
    }
    return 0;
}

static int export_open(br *b, br_export *e, unsigned slot, const am_channel_info *ci)
{
    e->sub_dropped = 0;
    if (br_chan_set(&e->c, b->cfg.domain, ci->kind, ci->name, ci->type, ci->fingerprint)) return -1;
    if (e->c.kind == AM_KIND_TOPIC) {
        am_sub_opts o = { .depth = b->cfg.queue, .policy = AM_POLICY_DROP_OLDEST };
        if (am_sub_open(b->arena, e->c.name, &o, &e->sub)) return -1;
        bool foreign;
        e->bridge_pubs = bridge_ports(b, e->c.name, AM_ROLE_PUBLISHER, &foreign);
        if (am_sub_listen(e->sub, on_samples, e) || am_waitset_add_sub(b->ws, e->sub, e)) {
            am_sub_close(e->sub);
            e->sub = NULL;
            return -1;
        }
        e->used = true;   /* a service's was set under its callers' lock */
    } else if (callers_open(b, e, slot)) {
        callers_close(e);
        return -1;
    }
    fprintf(stderr, "am-bridge %s: exporting %s %s (%s)\n", b->cfg.name, e->c.kind == AM_KIND_TOPIC ? "topic" : "service",
            e->c.name, e->c.type[0] ? e->c.type : "untyped");
    return 0;
}

static void export_close(br *b, br_export *e, bool withdraw)
{
    if (withdraw) br_withdraw(b, &e->c);
    am_sub_close(e->sub);   /* leaves the waitset too */
    e->sub = NULL;
    callers_close(e);       /* waits for calls in progress */
    fprintf(stderr, "am-bridge %s: no longer exporting %s\n", b->cfg.name, e->c.name);
}

/* Make the exports match the arena: open what should be carried, close (and
 * withdraw) what should not any more. Lock held. */
void br_export_sync(br *b)
{
    static am_channel_info ci[AM_MAX_CHANNELS];
    int n = am_channels_list(b->arena, ci, AM_MAX_CHANNELS);
    if (n < 0) return;
    if (n > (int)AM_MAX_CHANNELS) n = AM_MAX_CHANNELS;
    for (unsigned i = 0; i < BR_SLOTS; i++) b->exports[i].seen = false;
    for (int c = 0; c < n; c++) {
        if (!br_selected(&b->cfg.exports, ci[c].name)) continue;
        bool foreign;
        uint64_t bits = bridge_ports(b, ci[c].name, ci[c].kind == AM_KIND_TOPIC ? AM_ROLE_PUBLISHER : AM_ROLE_SERVER, &foreign);
        if (!foreign) continue;
        br_export *e = NULL, *slot = NULL;
        for (unsigned i = 0; i < BR_SLOTS; i++) {
            br_export *x = &b->exports[i];
            if (x->used && x->c.kind == ci[c].kind && strcmp(x->c.name, ci[c].name) == 0 && strcmp(x->c.type, ci[c].type) == 0 &&
                x->c.fingerprint == ci[c].fingerprint) {
                e = x;
            } else if (!x->used && !slot) {
                slot = x;
            }
        }
        if (e) {
            e->seen = true;
            if (e->c.kind == AM_KIND_TOPIC) e->bridge_pubs = bits;
        } else if (slot && export_open(b, slot, (unsigned)(slot - b->exports), &ci[c]) == 0) {
            slot->seen = true;
            br_announce_all(b);   /* tell the others now, not at the next period */
        }
    }
    for (unsigned i = 0; i < BR_SLOTS; i++) {
        br_export *e = &b->exports[i];
        if (e->used && !e->seen) export_close(b, e, true);
    }
}

void br_export_stop_all(br *b)
{
    for (unsigned i = 0; i < BR_SLOTS; i++)
        if (b->exports[i].used) export_close(b, &b->exports[i], true);
}
