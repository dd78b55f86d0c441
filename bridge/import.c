/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import.c — remote topics and services mirrored into the arena.
 *
 * A channel another bridge announces (announce.c) and --import selects gets a mirror:
 * a port of this process that stands for the remote side, with the announced type,
 * fingerprint and schema, so local programs (and amctl) see it like any other.
 *
 * Topic mirror: a publisher, fed by a NATS subscription on "<domain>.t.<name>".
 * A message whose Am-Type or Am-Fp differs from the mirror's, that lacks Am-Origin,
 * a single sample without Am-Seq or larger than --max-size, a batch (Am-Batch) whose
 * frames do not check out (batch.c) is malformed: counted once and dropped whole. A
 * sample the arena refuses (no memory, a lossless subscriber full past 50 ms) is a
 * drop.
 *
 * Service mirror: a server in the main thread's waitset. Each local call becomes a
 * NATS request on "<domain>.s.<name>" with Am-Method and Am-Timeout-Ms, its reply
 * subject "<inbox>.<call id>" (one wildcard subscription for all calls). The reply's
 * Am-Status maps back (docs/bridge.md, "Errors"):
 *   0                      am_server_reply with the reply's bytes
 *   AM_EREMOTE             am_server_fail(Am-Remote-Status): the caller gets AM_EREMOTE
 *                          and the remote server's own status
 *   any other AM_E* code   am_server_fail(code): AM_EREMOTE, am_client_status() = code
 *   NATS "no responders"   the service has no server anywhere any more: the mirror
 *                          server closes, so every call it holds returns AM_EPEERDEAD
 *                          at once (as when a local server dies), and later calls get
 *                          AM_ENOENT; it comes back with the next announcement.
 *   no reply by --call-timeout   am_server_fail(AM_ETIMEDOUT) (the caller's own timeout
 *                          has normally ended the call before)
 * A service that has a local server (not a bridge's) is not mirrored: its local
 * callers stay local, and no request can travel between two bridges forever.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bridge.h"

static void mirror_close(br *b, br_mirror *m)
{
    if (m->nsub) {
        natsSubscription_Unsubscribe(m->nsub);
        natsSubscription_Destroy(m->nsub);
        m->nsub = NULL;
    }
    am_pub_close(m->pub);
    m->pub = NULL;
    if (m->server) {
        am_server_close(m->server);   /* callers of held requests: AM_EPEERDEAD */
        m->server = NULL;
        unsigned slot = (unsigned)(m - b->mirrors);
        for (unsigned i = 0; i < BR_PENDING; i++)
            if (b->pending[i].id && b->pending[i].mirror == slot) b->pending[i].id = 0;
    }
    m->used = false;
    m->gen = (m->gen + 1) & BR_GEN_MASK;
    fprintf(stderr, "am-bridge %s: mirror of %s removed\n", b->cfg.name, m->c.name);
}

static bool publish_in(br *b, br_mirror *m, const void *data, size_t len)
{
    if (am_pub_publish(m->pub, data, len) == 0) {
        atomic_fetch_add_explicit(&b->n.in_msgs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->n.in_bytes, len, memory_order_relaxed);
        return true;
    }
    atomic_fetch_add_explicit(&b->n.drops, 1, memory_order_relaxed);
    return false;
}

/* A sample, or a batch of them (batch.c), from a remote bridge (libnats's thread for
 * this subscription). A batch is checked whole before any of its samples is published:
 * malformed, none is. */
static void on_data(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    static br_frame frames[BR_BATCH_FRAMES];   /* under b->lock */
    br *b = br_self;
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    const char *type = br_hdr_str(msg, "Am-Type");
    uint64_t fp, seq, count = 0;
    if (!type) type = "";   /* untyped */
    bool batch = br_hdr_str(msg, "Am-Batch") != NULL;
    bool ok = br_hdr_u64(msg, "Am-Fp", &fp, 16) && br_hdr_str(msg, "Am-Origin") &&
              (batch ? br_hdr_u64(msg, "Am-Batch", &count, 10) : br_hdr_u64(msg, "Am-Seq", &seq, 10) && len <= b->cfg.max_size);
    pthread_mutex_lock(&b->lock);
    br_mirror *m = &b->mirrors[br_tag_slot(closure)];
    if (m->used && m->gen == br_tag_gen(closure) && m->pub) {
        if (ok && batch && br_batch_parse(natsMsg_GetData(msg), len, count, b->cfg.max_size, frames) != 0) ok = false;
        if (!ok || strcmp(type, m->c.type) != 0 || fp != m->c.fingerprint) {
            atomic_fetch_add_explicit(&b->n.malformed, 1, memory_order_relaxed);
        } else if (batch) {
            /* A send that failed (a full lossless subscriber: its wait is the send
             * timeout) fails the rest too: dropped and counted at once, so that one
             * batch holds the lock for one wait, not one per sample. */
            uint64_t i = 0;
            while (i < count && publish_in(b, m, frames[i].data, frames[i].len)) i++;
            if (i < count) atomic_fetch_add_explicit(&b->n.drops, count - i - 1, memory_order_relaxed);
        } else {
            publish_in(b, m, natsMsg_GetData(msg), len);
        }
    }
    pthread_mutex_unlock(&b->lock);
    natsMsg_Destroy(msg);
}

/* Local calls taken by a mirror server go out as NATS requests (main thread). */
static void on_calls(void *source, void *user)
{
    br *b = br_self;
    br_mirror *m = user;
    am_request req;
    while (m->server && am_server_take(m->server, &req, 0) == 0) {
        /* A call's slot is its id's (on_reply finds it there): skip ids whose slot is
         * still taken by a call in flight. */
        br_pending *p = NULL;
        uint64_t id = 0;
        for (unsigned k = 0; k < BR_PENDING && !p; k++) {
            id = ++b->next_call;
            if (!b->pending[(id - 1) % BR_PENDING].id) p = &b->pending[(id - 1) % BR_PENDING];
        }
        if (!p) {   /* BR_PENDING calls in flight: refuse at once rather than hold it */
            am_server_fail(m->server, &req, AM_EFULL);
            continue;
        }
        char reply[160];
        natsMsg *msg = NULL;
        snprintf(reply, sizeof reply, "%s.%" PRIu64, b->inbox, id);
        if (natsMsg_Create(&msg, m->c.subject, reply, req.data, (int)req.len) != NATS_OK) {
            am_server_fail(m->server, &req, AM_ENOMEM);
            continue;
        }
        br_hdr_set_u64(msg, "Am-Method", req.method, 0);
        br_hdr_set_i64(msg, "Am-Timeout-Ms", b->cfg.call_timeout_ms);
        natsMsgHeader_Set(msg, "Am-Origin", b->cfg.name);
        *p = (br_pending){ .id = id, .mirror = (unsigned)(m - b->mirrors), .gen = m->gen, .req = req,
                           .deadline_ns = br_now_ns() + b->cfg.call_timeout_ms * 1000000 };
        if (natsConnection_PublishMsg(b->rc, msg) != NATS_OK) {
            p->id = 0;
            am_server_fail(m->server, &req, AM_EAGAIN);   /* NATS unreachable and its buffer full */
        } else {
            atomic_fetch_add_explicit(&b->n.calls_out, 1, memory_order_relaxed);
        }
        natsMsg_Destroy(msg);
    }
}

/* A reply (or "no responders") on the inbox (libnats's thread). */
static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    br *b = closure;
    const char *subj = natsMsg_GetSubject(msg), *dot = strrchr(subj, '.');
    char *end = NULL;
    uint64_t id = dot ? strtoull(dot + 1, &end, 10) : 0;
    if (!end || *end != 0) id = 0;                        /* not one of our call ids */
    pthread_mutex_lock(&b->lock);
    br_pending *p = id ? &b->pending[(id - 1) % BR_PENDING] : NULL;
    if (p && p->id == id) {
        br_mirror *m = &b->mirrors[p->mirror];
        p->id = 0;
        int64_t rc, remote = 0;
        if (!m->used || m->gen != p->gen || !m->server) {
            /* the mirror went: its close released the request */
        } else if (natsMsg_IsNoResponders(msg)) {
            atomic_fetch_add_explicit(&b->n.no_responders, 1, memory_order_relaxed);
            br_remote_suspect(b, AM_KIND_SERVICE, m->c.name);
            mirror_close(b, m);
        } else if (!br_hdr_i64(msg, "Am-Status", &rc) || rc > 0 || rc < INT32_MIN) {
            atomic_fetch_add_explicit(&b->n.malformed, 1, memory_order_relaxed);
            am_server_fail(m->server, &p->req, AM_EDECODE);
        } else if (rc == 0) {
            am_server_reply(m->server, &p->req, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
        } else if (rc == AM_EREMOTE && br_hdr_i64(msg, "Am-Remote-Status", &remote) && remote != 0 &&
                   remote >= INT32_MIN && remote <= INT32_MAX) {
            am_server_fail(m->server, &p->req, (int32_t)remote);
        } else {
            am_server_fail(m->server, &p->req, (int32_t)rc);
        }
    }
    pthread_mutex_unlock(&b->lock);
    natsMsg_Destroy(msg);
}

void br_import_expire_calls(br *b, int64_t now)
{
    for (unsigned i = 0; i < BR_PENDING; i++) {
        br_pending *p = &b->pending[i];
        if (!p->id || p->deadline_ns > now) continue;
        br_mirror *m = &b->mirrors[p->mirror];
        if (m->used && m->gen == p->gen && m->server) am_server_fail(m->server, &p->req, AM_ETIMEDOUT);
        p->id = 0;
    }
}

static bool local_server(br *b, const char *name)
{
    am_port_info pi[AM_MAX_PORTS];
    int k = am_channel_ports(b->arena, name, pi, AM_MAX_PORTS);
    for (int j = 0; j < k && j < (int)AM_MAX_PORTS; j++)
        if (pi[j].role == AM_ROLE_SERVER && !br_port_is_bridge(&pi[j])) return true;
    return false;
}

static int mirror_open(br *b, br_mirror *m, const br_remote *r)
{
    unsigned slot = (unsigned)(m - b->mirrors);
    am_type t = { r->type[0] ? r->type : NULL, r->fingerprint };
    if (br_chan_set(&m->c, b->cfg.domain, r->kind, r->name, r->type, r->fingerprint)) return -1;
    int rc;
    if (m->c.kind == AM_KIND_TOPIC) {
        /* Subscribe first, and make sure the server has the subscription, so a local
         * subscriber that finds the mirror misses no sample sent after that. */
        am_pub_opts o = { .type = t, .send_timeout_ns = 50 * 1000000 };
        m->used = true;
        if (natsConnection_Subscribe(&m->nsub, b->nc, m->c.subject, on_data, br_tag(slot, m->gen)) != NATS_OK) {
            mirror_close(b, m);
            return -1;
        }
        natsSubscription_SetPendingLimits(m->nsub, 1 << 20, 256 << 20);
        if (natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED) natsConnection_FlushTimeout(b->nc, 1000);
        if ((rc = am_pub_open(b->arena, m->c.name, &o, &m->pub)) != 0) {
            mirror_close(b, m);
            goto refused;
        }
        if (r->schema_len) am_pub_set_schema(m->pub, r->schema, r->schema_len);
    } else {
        am_server_opts o = { .type = t, .depth = 256, .max_held = 256 };
        if ((rc = am_server_open(b->arena, m->c.name, &o, &m->server)) != 0) goto refused;
        if (r->schema_len) am_server_set_schema(m->server, r->schema, r->schema_len);
        m->used = true;
        if (am_server_listen(m->server, on_calls, m) || am_waitset_add_server(b->ws, m->server, m)) {
            mirror_close(b, m);
            return -1;
        }
    }
    fprintf(stderr, "am-bridge %s: mirroring %s %s (%s) from %s\n", b->cfg.name, m->c.kind == AM_KIND_TOPIC ? "topic" : "service",
            m->c.name, m->c.type[0] ? m->c.type : "untyped", r->origin);
    return 0;
refused:
    fprintf(stderr, "am-bridge %s: cannot mirror %s: %s %s\n", b->cfg.name, m->c.name, am_strerror(rc), am_channel_open_report());
    return -1;
}

/* Make the mirrors match what other bridges announce and --import selects. Lock held. */
void br_import_sync(br *b)
{
    for (unsigned i = 0; i < BR_SLOTS; i++) b->mirrors[i].seen = false;
    for (unsigned i = 0; i < BR_REMOTES; i++) {
        br_remote *r = &b->remotes[i];
        if (!r->used || r->suspect || !br_selected(&b->cfg.imports, r->name)) continue;
        br_mirror *m = NULL, *slot = NULL;
        for (unsigned k = 0; k < BR_SLOTS && !m; k++) {
            br_mirror *x = &b->mirrors[k];
            if (x->used && x->c.kind == r->kind && strcmp(x->c.name, r->name) == 0) m = x;
            else if (!x->used && !slot) slot = x;
        }
        if (m) {   /* several origins: the first one's type holds; others' samples are malformed */
            m->seen = true;
            if (m->pub && r->schema_len) am_pub_set_schema(m->pub, r->schema, r->schema_len);
            continue;
        }
        if (r->kind == AM_KIND_SERVICE && local_server(b, r->name)) continue;
        if (r->refused || !slot) continue;
        if (mirror_open(b, slot, r) == 0) slot->seen = true;
        else r->refused = true;   /* said once; tried again when the announcement changes */
    }
    for (unsigned i = 0; i < BR_SLOTS; i++) {
        br_mirror *m = &b->mirrors[i];
        if (m->used && !m->seen) mirror_close(b, m);
        else if (m->used && m->c.kind == AM_KIND_SERVICE && local_server(b, m->c.name)) mirror_close(b, m);
    }
}

void br_import_stop_all(br *b)
{
    for (unsigned i = 0; i < BR_SLOTS; i++)
        if (b->mirrors[i].used) mirror_close(b, &b->mirrors[i]);
}

/* Subscribe to this bridge's reply inbox. */
int br_import_start(br *b)
{
    natsInbox *inbox = NULL;
    char subj[160];
    if (natsInbox_Create(&inbox) != NATS_OK) return -1;
    snprintf(b->inbox, sizeof b->inbox, "%s", (const char *)inbox);
    natsInbox_Destroy(inbox);
    snprintf(subj, sizeof subj, "%s.*", b->inbox);
    if (natsConnection_Subscribe(&b->reply_sub, b->rc, subj, on_reply, b) != NATS_OK) return -1;
    natsSubscription_SetPendingLimits(b->reply_sub, -1, -1);
    return 0;
}
