/* SPDX-License-Identifier: Apache-2.0 */
/*
 * service.c — request/response over the channel core.
 *
 * A service is a channel whose receiving ports are servers (request queues, lossless:
 * a call waits for room) and clients (reply queues, DROP_NEWEST: a server never waits
 * on a client). A call sends its request to one server (round robin among those with
 * room), stamped with a correlation id and the client port's incarnation; the reply is
 * sent only to that incarnation of that port, so a client that left and a new one in
 * its port never get each other's replies; a reply whose call has ended is dropped by
 * the client when it finds it (and counted as late).
 *
 * While waiting, a client looks every few milliseconds at the server that has its
 * request: dead or gone means AM_EPEERDEAD at once, and the dead server's queue and
 * held requests are released there and then.
 */
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include "channel_internal.h"

#define SERVER_DEPTH   64u
#define SERVER_HELD    16u
#define CLIENT_DEPTH   8u
#define CLIENT_HELD    4u
#define CHECK_EVERY_NS 2000000ll     /* how often a waiting client looks at its server */

struct am_server {
    amc_conn *c;
};

struct am_client {
    amc_conn *c;
    uint64_t  corr;
    uint64_t  calls, timeouts;
    int32_t   status;      /* of the last reply */
};
/* amc_open_handle stores the port in the first member. */
_Static_assert(offsetof(struct am_server, c) == 0 && offsetof(struct am_client, c) == 0, "handles start with their port");

int am_server_open(am_arena *a, const char *service, const am_server_opts *opts, am_server **out)
{
    if (!out) return AM_EINVAL;
    *out = NULL;
    am_server_opts o = opts ? *opts : (am_server_opts){ 0 };
    if (!a || o.depth > AM_MAX_DEPTH || o.max_held > AM_MAX_DEPTH) return AM_EINVAL;
    amc_want w = { AMC_KIND_SERVICE, AMC_ROLE_SERVER, &o.type, 0, o.depth ? o.depth : SERVER_DEPTH,
                   o.max_held ? o.max_held : SERVER_HELD, AM_POLICY_BLOCK };
    return amc_open_handle(a, service, &w, sizeof(am_server), (void **)out);
}

int am_server_take(am_server *s, am_request *req, int64_t timeout_ns)
{
    if (!s || !req) return AM_EINVAL;
    amc_got g;
    int rc = amc_take_wait(s->c, &g, timeout_ns);
    if (rc == 0) *req = (am_request){ g.data, g.len, g.msg->method, g.held, g.slot.off };
    return rc;
}

/* The header of a request this server holds. */
static amc_msg *held_request(am_server *s, const am_request *req)
{
    amc_conn *c = s->c;
    if (req->_held >= c->max_held || req->_id == 0 || c->held[req->_held].off != req->_id) return NULL;
    return am_block_probe(c->a, c->held[req->_held].off, c->held[req->_held].gen, NULL, NULL);
}

int am_server_loan(am_server *s, size_t size, void **payload)
{
    if (!payload) return AM_EINVAL;
    *payload = NULL;
    return s ? amc_loan(s->c, size, payload) : AM_EINVAL;
}

/* Send the loan at payload as the reply to req (whose header is q), with status. */
static int reply(am_server *s, am_request *req, const amc_msg *q, void *payload, size_t len, int32_t status)
{
    if (!amc_is_loan(s->c, payload)) return AM_EINVAL;  /* its header is not ours to write */
    amc_msg *m = amc_msg_of(payload);
    m->len = (uint32_t)len;
    m->status = status;
    m->corr = q->corr;
    m->method = q->method;
    m->seq = s->c->seq + 1;
    uint32_t to_port = q->from;
    amc_target to = { to_port < AM_MAX_PORTS ? 1ull << to_port : 0, AMC_ROLE_CLIENT, q->from_gen ? q->from_gen : 1,
                      false, false };
    int rc = amc_send(s->c, payload, &to, 0, NULL);
    if (rc == AM_EINVAL) return rc;                    /* not a loan of ours: still the caller's */
    s->c->seq++;
    if (rc) (void)amc_discard(s->c, payload);          /* the client's queue is full: dropped */
    (void)amc_ack(s->c, req->_held, req->_id);
    req->_id = 0;
    return rc == AM_ETIMEDOUT ? 0 : rc;
}

int am_server_reply_loan(am_server *s, am_request *req, void *payload, size_t len)
{
    if (!s || !req || !payload || len > UINT32_MAX) return AM_EINVAL;
    const amc_msg *q = held_request(s, req);
    return q ? reply(s, req, q, payload, len, 0) : AM_EINVAL;
}

int am_server_fail(am_server *s, am_request *req, int32_t status)
{
    const amc_msg *q = s && req ? held_request(s, req) : NULL;
    if (!q || status == 0) return AM_EINVAL;
    void *buf;
    int rc = amc_loan(s->c, 0, &buf);
    if (rc) return rc;
    rc = reply(s, req, q, buf, 0, status);
    if (rc == AM_EINVAL) (void)amc_discard(s->c, buf);
    return rc;
}

int am_server_reply(am_server *s, am_request *req, const void *data, size_t len)
{
    const amc_msg *q = s && req && (data || !len) && len <= UINT32_MAX ? held_request(s, req) : NULL;
    if (!q) return AM_EINVAL;
    void *buf;
    int rc = amc_loan(s->c, len, &buf);
    if (rc) return rc;
    if (len) memcpy(buf, data, len);
    rc = reply(s, req, q, buf, len, 0);
    if (rc == AM_EINVAL) (void)amc_discard(s->c, buf);
    return rc;
}

int am_server_drop(am_server *s, am_request *req)
{
    if (!s || !req) return AM_EINVAL;
    int rc = amc_ack(s->c, req->_held, req->_id);
    if (rc == 0) req->_id = 0;
    return rc;
}

void am_server_close(am_server *s)
{
    if (!s) return;
    amc_close(s->c);
    free(s);
}

int am_client_open(am_arena *a, const char *service, const am_client_opts *opts, am_client **out)
{
    if (!out) return AM_EINVAL;
    *out = NULL;
    am_client_opts o = opts ? *opts : (am_client_opts){ 0 };
    if (!a || o.depth > AM_MAX_DEPTH) return AM_EINVAL;
    amc_want w = { AMC_KIND_SERVICE, AMC_ROLE_CLIENT, &o.type, 0, o.depth ? o.depth : CLIENT_DEPTH, CLIENT_HELD,
                   AM_POLICY_DROP_NEWEST };
    return amc_open_handle(a, service, &w, sizeof(am_client), (void **)out);
}

/* Is the server port that took our request still the same, live server? */
static bool server_there(amc_conn *c, unsigned port, uint32_t gen, uint64_t stamp)
{
    amc_port *p = &c->ch->ports[port];
    return atomic_load_explicit(&p->gen, memory_order_acquire) == gen &&
           atomic_load_explicit(&p->state, memory_order_acquire) == AMC_PORT_ACTIVE &&
           am_arena_stamp_alive(c->a, stamp);
}

int am_client_loan(am_client *c, size_t size, void **payload)
{
    if (!payload) return AM_EINVAL;
    *payload = NULL;
    return c ? amc_loan(c->c, size, payload) : AM_EINVAL;
}

int am_client_call_method(am_client *cl, uint32_t method, const void *req, size_t len, am_sample *reply,
                          int64_t timeout_ns)
{
    if (!cl || !reply || (!req && len) || len > UINT32_MAX) return AM_EINVAL;
    void *buf;
    int rc = amc_loan(cl->c, len, &buf);
    if (rc) return rc;
    if (len) memcpy(buf, req, len);
    rc = am_client_call_loan(cl, method, buf, len, reply, timeout_ns);
    if (rc == AM_EINVAL) (void)amc_discard(cl->c, buf);
    return rc;
}

int am_client_call_loan(am_client *cl, uint32_t method, void *payload, size_t len, am_sample *reply,
                        int64_t timeout_ns)
{
    if (!cl || !reply || !amc_is_loan(cl->c, payload) || len > UINT32_MAX) return AM_EINVAL;
    amc_conn *c = cl->c;
    uint64_t deadline = amc_deadline(timeout_ns), corr = ++cl->corr, delivered = 0;
    amc_msg *m = amc_msg_of(payload);
    m->len = (uint32_t)len;
    m->method = method;
    m->corr = corr;
    m->seq = corr;
    amc_target to = { AMC_OWE_PORTS, AMC_ROLE_SERVER, 0, true, false };
    int rc = amc_send(c, payload, &to, timeout_ns, &delivered);
    if (rc == AM_EINVAL) return rc;                    /* not a loan of ours: still the caller's */
    if (rc) {
        (void)amc_discard(c, payload);
        if (rc == AM_ETIMEDOUT) cl->timeouts++;
        return rc;
    }
    if (delivered == 0) return AM_ENOENT;              /* no server attached */
    cl->calls++;
    unsigned srv = (unsigned)__builtin_ctzll(delivered);
    uint32_t srv_gen = atomic_load_explicit(&c->ch->ports[srv].gen, memory_order_acquire);
    uint64_t srv_stamp = atomic_load_explicit(&c->ch->ports[srv].stamp, memory_order_acquire);
    for (;;) {
        uint64_t now = am_now_ns();
        if (now >= deadline) break;
        int64_t slice = deadline - now < (uint64_t)CHECK_EVERY_NS ? (int64_t)(deadline - now) : CHECK_EVERY_NS;
        amc_got g;
        rc = amc_take_wait(c, &g, slice);
        if (rc == 0 && g.msg->corr == corr) {
            cl->status = g.msg->status;
            if (cl->status != 0) {                    /* the server failed the call */
                (void)amc_ack(c, g.held, g.slot.off);
                return AM_EREMOTE;
            }
            *reply = (am_sample){ g.data, g.len, g.msg->seq, g.msg->send_ns, g.msg->from, g.held, g.slot.off };
            return 0;
        }
        if (rc == 0) {                                 /* an earlier call's reply */
            amc_bump(&c->me->late);
            (void)amc_ack(c, g.held, g.slot.off);
            continue;
        }
        if (rc != AM_ETIMEDOUT && rc != AM_ECORRUPT) return rc;
        if (!server_there(c, srv, srv_gen, srv_stamp)) {
            (void)amc_chan_gc(c->a, c->ch);            /* release what it held now */
            return AM_EPEERDEAD;
        }
    }
    cl->timeouts++;
    amc_bump(&c->ch->ports[c->port].timeouts);
    return AM_ETIMEDOUT;
}

int am_client_call(am_client *c, const void *req, size_t len, am_sample *reply, int64_t timeout_ns)
{
    return am_client_call_method(c, 0, req, len, reply, timeout_ns);
}

int am_client_ack(am_client *c, am_sample *reply)
{
    if (!c || !reply) return AM_EINVAL;
    int rc = amc_ack(c->c, reply->_held, reply->_id);
    if (rc == 0) reply->_id = 0;
    return rc;
}

int am_client_stats(am_client *c, am_client_counts *st)
{
    if (!c || !st) return AM_EINVAL;
    st->calls = c->calls;
    st->timeouts = c->timeouts;
    st->late = atomic_load_explicit(&c->c->ch->ports[c->c->port].late, memory_order_relaxed);
    return 0;
}

int32_t am_client_status(const am_client *c)
{
    return c ? c->status : 0;
}

void am_client_close(am_client *c)
{
    if (!c) return;
    amc_close(c->c);
    free(c);
}
