/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pubsub.c — the public publish/subscribe calls, over the channel core.
 */
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include "channel_internal.h"

#define DEFAULT_DEPTH    64u
#define DEFAULT_HELD     16u
#define MAX_LOANS        64u   /* loans a publisher may have out at once */

struct am_pub {
    amc_conn *c;
    int64_t   timeout_ns;
    unsigned  nloans;
    void     *loans[MAX_LOANS];
};

struct am_sub {
    amc_conn *c;
};
/* amc_open_handle stores the port in the first member. */
_Static_assert(offsetof(struct am_pub, c) == 0 && offsetof(struct am_sub, c) == 0, "handles start with their port");

int am_pub_open(am_arena *a, const char *topic, const am_pub_opts *opts, am_pub **out)
{
    if (!out) return AM_EINVAL;
    *out = NULL;
    am_pub_opts o = opts ? *opts : (am_pub_opts){ 0 };
    if (!a || o.history > AM_MAX_HISTORY) return AM_EINVAL;
    amc_want w = { AMC_KIND_TOPIC, AMC_ROLE_PUB, &o.type, o.history, 0, 0, AM_POLICY_BLOCK };
    int rc = amc_open_handle(a, topic, &w, sizeof(am_pub), (void **)out);
    if (rc == 0) (*out)->timeout_ns = o.send_timeout_ns;
    return rc;
}

static int find_loan(const am_pub *p, const void *payload)
{
    for (unsigned i = 0; i < p->nloans; i++) {
        if (p->loans[i] == payload) return (int)i;
    }
    return -1;
}

static void forget_loan(am_pub *p, int i)
{
    p->loans[i] = p->loans[--p->nloans];
}

int am_pub_loan(am_pub *p, size_t size, void **payload)
{
    if (!payload) return AM_EINVAL;
    *payload = NULL;
    if (!p) return AM_EINVAL;
    if (p->nloans == MAX_LOANS) return AM_EAGAIN;
    int rc = amc_loan(p->c, size, payload);
    if (rc == 0) p->loans[p->nloans++] = *payload;
    return rc;
}

int am_pub_send(am_pub *p, void *payload, size_t len)
{
    if (!p || !payload) return AM_EINVAL;
    int i = find_loan(p, payload);
    if (i < 0) return AM_EINVAL;
    if (len > UINT32_MAX) return AM_ETOOBIG;
    amc_msg *m = amc_msg_of(payload);
    m->len = (uint32_t)len;           /* amc_send checks it against the block */
    m->seq = p->c->seq + 1;
    amc_target to = { AMC_OWE_PORTS, AMC_ROLE_SUB, 0, false, true };
    int rc = amc_send(p->c, payload, &to, p->timeout_ns, NULL);
    if (rc == AM_ETIMEDOUT && p->timeout_ns == 0) rc = AM_EAGAIN;   /* did not wait: try again */
    if (rc == 0) {
        p->c->seq++;
        forget_loan(p, i);
    }
    return rc;
}

int am_pub_discard(am_pub *p, void *payload)
{
    if (!p || !payload) return AM_EINVAL;
    int i = find_loan(p, payload);
    if (i < 0) return AM_EINVAL;
    forget_loan(p, i);
    return amc_discard(p->c, payload);
}

int am_pub_publish(am_pub *p, const void *data, size_t len)
{
    if (!p || (!data && len)) return AM_EINVAL;
    void *buf;
    int rc = am_pub_loan(p, len, &buf);
    if (rc) return rc;
    if (len) memcpy(buf, data, len);
    rc = am_pub_send(p, buf, len);
    if (rc) (void)am_pub_discard(p, buf);
    return rc;
}

int am_pub_publish_packed(am_pub *p, const void *buf, const uint32_t *lens, unsigned n)
{
    if (!p || (n && (!buf || !lens))) return AM_EINVAL;
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        int rc = am_pub_publish(p, (const uint8_t *)buf + off, lens[i]);
        if (rc) return i ? (int)i : rc;
        off += lens[i];
    }
    return (int)n;
}

static uint32_t count_role(const amc_chan *ch, uint32_t role)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < AM_MAX_PORTS; i++) {
        n += atomic_load_explicit(&ch->ports[i].state, memory_order_acquire) == AMC_PORT_ACTIVE &&
             ch->ports[i].role == role;
    }
    return n;
}

int am_pub_stats(am_pub *p, am_pub_counts *st)
{
    if (!p || !st) return AM_EINVAL;
    amc_port *port = p->c->me;
    st->sent = atomic_load_explicit(&port->sent, memory_order_relaxed);
    st->dropped = atomic_load_explicit(&port->dropped, memory_order_relaxed);
    st->timeouts = atomic_load_explicit(&port->timeouts, memory_order_relaxed);
    st->subscribers = count_role(p->c->ch, AMC_ROLE_SUB);
    return 0;
}

uint64_t am_pub_reused(am_pub *p)
{
    return p ? atomic_load_explicit(&p->c->me->reused, memory_order_relaxed) : 0;
}

void am_pub_close(am_pub *p)
{
    if (!p) return;
    while (p->nloans) (void)am_pub_discard(p, p->loans[p->nloans - 1]);
    amc_close(p->c);
    free(p);
}

static int sub_open(am_arena *a, const char *topic, const am_sub_opts *opts, bool create, am_sub **out)
{
    if (!out) return AM_EINVAL;
    *out = NULL;
    am_sub_opts o = opts ? *opts : (am_sub_opts){ 0 };
    if (!a || o.depth > AM_MAX_DEPTH || o.max_held > AM_MAX_DEPTH || o.history > AM_MAX_HISTORY ||
        (unsigned)o.policy > AM_POLICY_BLOCK) {
        return AM_EINVAL;
    }
    if (o.policy == AM_POLICY_DEFAULT) o.policy = AM_POLICY_DROP_OLDEST;
    unsigned depth = o.depth ? o.depth : DEFAULT_DEPTH;
    if (o.history > depth) depth = o.history;
    amc_want w = { AMC_KIND_TOPIC, AMC_ROLE_SUB, &o.type, o.history, depth, o.max_held ? o.max_held : DEFAULT_HELD,
                   o.policy };
    return (create ? amc_open_handle : amc_attach_handle)(a, topic, &w, sizeof(am_sub), (void **)out);
}

int am_sub_open(am_arena *a, const char *topic, const am_sub_opts *opts, am_sub **out)
{
    return sub_open(a, topic, opts, true, out);
}

int amc_sub_attach(am_arena *a, const char *topic, const am_sub_opts *opts, am_sub **out)
{
    return sub_open(a, topic, opts, false, out);
}

int am_sub_take(am_sub *s, am_sample *out, int64_t timeout_ns)
{
    if (!s || !out) return AM_EINVAL;
    if (s->c->carried) {
        *out = s->c->carry;
        s->c->carried = false;
        return 0;
    }
    amc_got g;
    int rc = amc_take_wait(s->c, &g, timeout_ns);
    if (rc == 0) *out = (am_sample){ g.data, g.len, g.msg->seq, g.msg->send_ns, g.msg->from, g.held, g.slot.off };
    return rc;
}

int am_sub_ack(am_sub *s, am_sample *sample)
{
    if (!s || !sample) return AM_EINVAL;
    int rc = amc_ack(s->c, sample->_held, sample->_id);
    if (rc == 0) sample->_id = 0;
    return rc;
}

int am_sub_take_copies(am_sub *s, void *buf, size_t cap, uint32_t *lens, uint64_t *seqs, unsigned max,
                       int64_t timeout_ns)
{
    if (!s || !buf || !lens || max == 0) return AM_EINVAL;
    size_t used = 0;
    unsigned n = 0;
    while (n < max) {
        am_sample m;
        int rc = am_sub_take(s, &m, n == 0 ? timeout_ns : 0);
        if (rc) return n ? (int)n : rc;
        if (m.len > cap - used || m.len > UINT32_MAX) {
            s->c->carry = m;                    /* kept, taken: the next take's */
            s->c->carried = true;
            return n ? (int)n : AM_ETOOBIG;
        }
        memcpy((uint8_t *)buf + used, m.data, m.len);
        used += m.len;
        lens[n] = (uint32_t)m.len;
        if (seqs) seqs[n] = m.seq;
        n++;
        (void)am_sub_ack(s, &m);
    }
    return (int)n;
}

int am_sub_stats(am_sub *s, am_sub_counts *st)
{
    if (!s || !st) return AM_EINVAL;
    amc_port *port = s->c->me;
    st->received = s->c->received;
    st->dropped = atomic_load_explicit(&port->dropped, memory_order_relaxed);
    st->queued = amc_queued(s->c);
    st->held = s->c->nheld;
    return 0;
}

void am_sub_close(am_sub *s)
{
    if (!s) return;
    amc_close(s->c);
    free(s);
}
