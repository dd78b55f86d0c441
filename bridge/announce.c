/* SPDX-License-Identifier: Apache-2.0 */
/*
 * announce.c — discovery across hosts.
 *
 * Every bridge tells the others what it exports, on "<domain>.ann": one message per
 * channel, repeated every BR_ANNOUNCE_NS, each valid for BR_TTL_NS. A withdrawal (the
 * last local port went, or the bridge is shutting down) is sent at once; a bridge that
 * dies without one (kill -9, a cut cable) is forgotten when its announcements expire.
 * A bridge that starts asks on "<domain>.hello" and every bridge announces at once,
 * so a newcomer does not wait a period.
 *
 * An announcement: headers Am-Op ("add" | "del"), Am-Kind ("topic" | "service"),
 * Am-Name, Am-Type (absent: untyped), Am-Fp (16 hex digits), Am-Origin, Am-Ttl-Ms; the
 * payload is the channel's schema (possibly empty). Announcements are untrusted: a bad
 * name, kind or fingerprint makes the message malformed (counted, dropped).
 *
 * What is remembered lives in b->remotes, one entry per (origin, kind, name), written
 * by the NATS callback under b->lock; import.c turns the entries into mirrors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "bridge.h"

/* Ring the main thread (from a NATS callback): re-sync mirrors, and announce at once
 * when announce is set. */
void br_wake(br *b, bool announce)
{
    if (announce) atomic_store(&b->announce_now, true);
    atomic_store(&b->dirty, true);
    uint64_t one = 1;
    if (write(b->wake_fd, &one, sizeof one) < 0) { /* a full counter is already a wake */ }
}

static void announce_one(br *b, const char *op, const br_chan *c, const void *schema, size_t len)
{
    char subj[128];
    natsMsg *m = NULL;
    br_subject(subj, sizeof subj, b->cfg.domain, "ann", NULL);
    if (natsMsg_Create(&m, subj, NULL, schema, (int)len) != NATS_OK) return;
    natsMsgHeader_Set(m, "Am-Op", op);
    natsMsgHeader_Set(m, "Am-Kind", c->kind == AM_KIND_TOPIC ? "topic" : "service");
    natsMsgHeader_Set(m, "Am-Name", c->name);
    if (c->type[0]) natsMsgHeader_Set(m, "Am-Type", c->type);   /* absent: untyped (NATS drops empty values) */
    br_hdr_set_u64(m, "Am-Fp", c->fingerprint, 1);
    natsMsgHeader_Set(m, "Am-Origin", b->cfg.name);
    br_hdr_set_i64(m, "Am-Ttl-Ms", BR_TTL_NS / 1000000);
    natsConnection_PublishMsg(b->nc, m);   /* while disconnected: buffered or lost; the next period repeats it */
    natsMsg_Destroy(m);
}

/* Announce every export now (lock held). The schema is read through the export's own
 * port: a topic's subscriber, or a service's probe client. */
void br_announce_all(br *b)
{
    for (unsigned i = 0; i < BR_SLOTS; i++) {
        br_export *e = &b->exports[i];
        if (!e->used) continue;
        const void *schema = NULL;
        size_t len = 0;
        if (e->c.kind == AM_KIND_TOPIC) {
            if (am_sub_schema(e->sub, &schema, &len)) len = 0;
            announce_one(b, "add", &e->c, schema, len);
        } else {
            if (!e->calls.probe || am_client_schema(e->calls.probe, &schema, &len)) len = 0;
            announce_one(b, "add", &e->c, schema, len);
        }
    }
}

void br_withdraw(br *b, const br_chan *c)
{
    announce_one(b, "del", c, NULL, 0);
}

static void remote_free(br_remote *r)
{
    free(r->schema);
    memset(r, 0, sizeof *r);
}

void br_remotes_expire(br *b, int64_t now)
{
    for (unsigned i = 0; i < BR_REMOTES; i++) {
        br_remote *r = &b->remotes[i];
        if (r->used && r->expires_ns <= now) {
            remote_free(r);
            atomic_store(&b->dirty, true);
        }
    }
}

/* A call through this service met "no responders": its announcements are not trusted
 * until they are renewed (the mirror goes meanwhile; import.c). */
void br_remote_suspect(br *b, am_kind kind, const char *name)
{
    for (unsigned i = 0; i < BR_REMOTES; i++) {
        br_remote *r = &b->remotes[i];
        if (r->used && r->kind == kind && strcmp(r->name, name) == 0) r->suspect = true;
    }
    atomic_store(&b->dirty, true);
}

static bool name_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p > '~') return false;
    return true;
}

static void on_announce(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    br *b = closure;
    const char *op = br_hdr_str(m, "Am-Op"), *kind = br_hdr_str(m, "Am-Kind"), *name = br_hdr_str(m, "Am-Name");
    const char *type = br_hdr_str(m, "Am-Type"), *origin = br_hdr_str(m, "Am-Origin");
    if (!type) type = "";
    uint64_t fp = 0;
    int64_t ttl = 0;
    bool add = op && strcmp(op, "add") == 0, del = op && strcmp(op, "del") == 0;
    am_kind k = kind && strcmp(kind, "topic") == 0 ? AM_KIND_TOPIC : kind && strcmp(kind, "service") == 0 ? AM_KIND_SERVICE : 0;
    if (!(add || del) || !k || !name_ok(name, AM_NAME_MAX) || !name_ok(origin, BR_ORIGIN_MAX - 1) ||
        (add && ((type[0] && !name_ok(type, AM_TYPE_MAX)) || !br_hdr_u64(m, "Am-Fp", &fp, 16) ||
                 !br_hdr_i64(m, "Am-Ttl-Ms", &ttl) || ttl <= 0 || ttl > 3600 * 1000 ||
                 (size_t)natsMsg_GetDataLength(m) > b->cfg.max_size))) {
        atomic_fetch_add_explicit(&b->n.malformed, 1, memory_order_relaxed);
        natsMsg_Destroy(m);
        return;
    }
    if (strcmp(origin, b->cfg.name) == 0) {    /* our own (a second bridge of the same name would be a misconfiguration) */
        natsMsg_Destroy(m);
        return;
    }
    pthread_mutex_lock(&b->lock);
    br_remote *r = NULL, *free_slot = NULL;
    for (unsigned i = 0; i < BR_REMOTES && !r; i++) {
        br_remote *x = &b->remotes[i];
        if (!x->used) {
            if (!free_slot) free_slot = x;
        } else if (x->kind == k && strcmp(x->name, name) == 0 && strcmp(x->origin, origin) == 0) {
            r = x;
        }
    }
    if (del) {
        if (r) remote_free(r);
    } else {
        if (!r && (r = free_slot) != NULL) {
            r->used = true;
            r->kind = k;
            br_copy(r->name, sizeof r->name, name);
            br_copy(r->origin, sizeof r->origin, origin);
        }
        if (r) {
            size_t len = (size_t)natsMsg_GetDataLength(m);
            bool changed = strcmp(r->type, type) != 0 || r->fingerprint != fp || r->suspect;
            if (changed) r->refused = false;
            br_copy(r->type, sizeof r->type, type);
            r->fingerprint = fp;
            r->suspect = false;
            r->expires_ns = br_now_ns() + ttl * 1000000;
            if (len > 0 && (len != r->schema_len || memcmp(r->schema, natsMsg_GetData(m), len) != 0)) {
                void *copy = malloc(len);
                if (copy) {
                    memcpy(copy, natsMsg_GetData(m), len);
                    free(r->schema);
                    r->schema = copy;
                    r->schema_len = len;
                    changed = true;
                }
            }
            if (!changed) r = NULL;    /* a renewal: nothing for the main thread to do */
        }
    }
    pthread_mutex_unlock(&b->lock);
    if (del || r) br_wake(b, false);
    natsMsg_Destroy(m);
}

static void on_hello(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    br *b = closure;
    natsMsg_Destroy(m);
    br_wake(b, true);   /* the main thread announces when it finds the flag (main.c) */
}

/* Subscribe to announcements and greetings, then greet. */
int br_announce_start(br *b)
{
    char subj[128];
    natsStatus s;
    br_subject(subj, sizeof subj, b->cfg.domain, "ann", NULL);
    s = natsConnection_Subscribe(&b->ann_sub, b->nc, subj, on_announce, b);
    if (s == NATS_OK) natsSubscription_SetPendingLimits(b->ann_sub, -1, -1);
    br_subject(subj, sizeof subj, b->cfg.domain, "hello", NULL);
    if (s == NATS_OK) s = natsConnection_Subscribe(&b->hello_sub, b->nc, subj, on_hello, b);
    if (s == NATS_OK) s = natsConnection_Publish(b->nc, subj, b->cfg.name, (int)strlen(b->cfg.name));
    return s == NATS_OK ? 0 : -1;
}
