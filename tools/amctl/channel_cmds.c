/* SPDX-License-Identifier: Apache-2.0 */
/*
 * channel_cmds.c — amctl topics / services: every channel with its type and ports.
 *
 * Read-only, without the channel locks: a port record can change while it is read, so
 * figures are a snapshot, and every offset is checked (a block that is not the live
 * allocation a record names is skipped) before anything behind it is read.
 */
#include <string.h>
#include "amctl.h"

const char *role_name(uint32_t r)
{
    return r == AMC_ROLE_PUB ? "publisher" : r == AMC_ROLE_SUB ? "subscriber" : r == AMC_ROLE_SERVER ? "server"
                                                                        : r == AMC_ROLE_CLIENT ? "client" : "?";
}

static const char *policy_name(uint32_t p)
{
    return p == AM_POLICY_BLOCK ? "block" : p == AM_POLICY_DROP_NEWEST ? "drop-newest"
                                          : p == AM_POLICY_DROP_OLDEST ? "drop-oldest" : "?";
}

/* The live block named by slot s (the same allocation, checked as the library checks
 * it): its payload, and in *bytes its size as the arena counts it (header included). */
static const void *block_at(am_arena *a, amc_slot s, uint64_t *bytes)
{
    size_t payload;
    const void *p = am_block_probe(a, s.off, s.gen, NULL, &payload);
    if (p) *bytes = payload + AM_HDR;
    return p;
}

typedef struct pid_bytes { uint32_t pid; uint64_t bytes; who w; bool known; } pid_bytes;

/* The slots queued on one of a link's rings (of `depth` slots, the depth its rx block
 * was checked with): how many, and the bytes of the live blocks they name added to
 * *bytes. */
static unsigned ring_look(am_arena *a, struct ck_ring *r, const amc_slot *slots, uint32_t depth, uint64_t *bytes)
{
    unsigned head = atomic_load((_Atomic unsigned *)&r->c_head), tail = atomic_load((_Atomic unsigned *)&r->p_tail);
    unsigned n = (tail - head) < depth ? tail - head : 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t sz;
        if (block_at(a, slots[(head + i) & (depth - 1)], &sz)) *bytes += sz;
    }
    return n;
}

/* Sender port k's block cache: blocks its receivers gave back on the return rings of
 * its links, not yet reused (docs/channel-design.md, "The block cache"). */
static void cache_look(am_arena *a, amc_chan *ch, unsigned k, unsigned *n, uint64_t *bytes)
{
    *n = 0;
    *bytes = 0;
    for (unsigned t = 0; t < AM_MAX_PORTS; t++) {
        amc_rx *r = amc_port_rx(a, ch, t, NULL);
        uint32_t depth = r ? r->depth : 0;
        amc_link *l = r ? amc_link_at(a, atomic_load(&r->links[k]), depth, NULL) : NULL;
        if (l) *n += ring_look(a, &l->ret, amc_link_ret_slots(l, depth), depth, bytes);
    }
}

void port_look(am_arena *a, amc_chan *ch, unsigned k, port_view *v)
{
    memset(v, 0, sizeof *v);
    amc_rx *r = amc_port_rx(a, ch, k, NULL);                /* checked as senders check it */
    if (!r) return;
    uint64_t rsz;
    if (block_at(a, amc_ref_unpack(atomic_load(&ch->ports[k].rx_ref)), &rsz)) v->queue_memory_bytes = rsz;
    v->cap = r->cap;
    uint32_t depth = r->depth;                              /* one copy, checked by amc_link_at */
    uint64_t linked = atomic_load(&r->linked);
    for (unsigned j = 0; j < AM_MAX_PORTS; j++) {
        uint64_t ref = (linked >> j) & 1 ? atomic_load(&r->links[j]) : 0;
        amc_link *l = amc_link_at(a, ref, depth, NULL);
        if (!l) continue;
        v->queued += ring_look(a, &l->ring, amc_link_slots(l), depth, &v->queued_bytes);
        if (block_at(a, amc_ref_unpack(ref), &rsz)) v->queue_memory_bytes += rsz;
    }
    uint64_t now = am_now_ns();
    const amc_slot *held = amc_rx_held(r);
    for (uint32_t i = 0; i < r->max_held + r->max_replay; i++) {
        uint64_t sz;
        const amc_msg *m = block_at(a, held[i], &sz);
        if (!m || sz < AM_HDR + AMC_MSG_HDR) continue;
        if (i >= r->max_held) {                              /* replayed, not yet taken */
            v->queued++;
            v->queued_bytes += sz;
            continue;
        }
        v->held++;
        v->held_bytes += sz;
        uint64_t age = now > m->send_ns ? now - m->send_ns : 0;
        if (age > v->oldest_ns) v->oldest_ns = age;
    }
}

const amc_dir *dir_look(am_arena *a, const char *name, int *rc)
{
    const amc_dir *d = am_upper(a);
    *rc = 0;
    if (d->magic == 0) return NULL;                      /* no channel was ever opened */
    if (d->magic != AMC_DIR_MAGIC || d->nentries != AM_MAX_CHANNELS) {
        fprintf(stderr, "amctl: %s: the channel directory is corrupt\n", name);
        *rc = 2;
        return NULL;
    }
    return d;
}

int cmd_channels(const char *name, unsigned kind, const opts *o)
{
    am_arena *a = peek(name);
    if (!a) return 1;
    int rc;
    const amc_dir *d = dir_look(a, name, &rc);
    if (!d) {
        if (rc == 0) printf(o->json ? "[]\n" : "no %s\n", kind == AMC_KIND_TOPIC ? "topics" : "services");
        am_arena_unpeek(a);
        return rc;
    }
    if (o->json) printf("[");
    int n = 0;
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        const amc_entry *e = &d->e[i];
        if (atomic_load(&e->state) != AMC_ENT_READY || e->kind != kind) continue;
        amc_chan *ch = amc_chan_at(a, e->chan_off, e->chan_gen);   /* read only here */
        if (!ch) continue;
        size_t schema_len = 0;
        (void)amc_schema_at(a, ch, &schema_len);
        char cname[AM_NAME_MAX + 1], ctype[AM_TYPE_MAX + 1];
        snprintf(cname, sizeof cname, "%.*s", (int)AM_NAME_MAX, e->name);
        snprintf(ctype, sizeof ctype, "%.*s", (int)AM_TYPE_MAX, e->typed ? e->type : "");
        if (o->json) {
            printf("%s{\"name\": ", n ? ", " : "");
            json_str(stdout, cname);
            printf(", \"type\": ");
            json_str(stdout, ctype);
            printf(", \"fingerprint\": \"%016llx\", \"schema_bytes\": %llu, \"ports\": [",
                   (unsigned long long)e->fingerprint, (unsigned long long)schema_len);
        } else {
            printf("%s %s  type %s%s%s\n", kind == AMC_KIND_TOPIC ? "topic" : "service", cname,
                   ctype[0] ? ctype : "(untyped)", schema_len ? "  (schema recorded)" : "", "");
            if (kind == AMC_KIND_SERVICE) service_methods(a, ch, ctype, false);
        }
        int np = 0;
        pid_bytes by_pid[AM_MAX_PORTS];
        unsigned npid = 0;
        for (unsigned k = 0; k < AM_MAX_PORTS; k++) {
            const amc_port *p = &ch->ports[k];
            if (atomic_load(&p->state) == AMC_PORT_FREE) continue;
            uint64_t stamp = atomic_load(&p->stamp);
            bool alive = stamp && !am_stamp_dead(a, stamp);
            who w;
            bool known = who_of_stamp(a, stamp, &w);
            char label[64];
            port_view v;
            port_look(a, ch, k, &v);
            uint64_t sample_bytes = v.queued_bytes + v.held_bytes;
            unsigned j = 0;
            while (j < npid && by_pid[j].pid != p->pid) j++;
            if (j == npid) by_pid[npid++] = (pid_bytes){ p->pid, 0, w, known };
            by_pid[j].bytes += sample_bytes;
            unsigned cached;
            uint64_t cached_bytes;
            cache_look(a, ch, k, &cached, &cached_bytes);
            if (o->json) {
                printf("%s{\"port\": %u, \"role\": \"%s\", \"pid\": %u, ", np ? ", " : "", k, role_name(p->role), p->pid);
                who_json(stdout, &w, known);
                printf(", \"alive\": %s, \"queued\": %u, \"queued_bytes\": %llu, \"held\": %u, \"held_bytes\": %llu, "
                       "\"sample_bytes\": %llu, \"queue_memory_bytes\": %llu, \"oldest_held_ns\": %llu, "
                       "\"queue_capacity\": %u, \"policy\": \"%s\", \"sent\": %llu, \"received\": %llu, "
                       "\"payload_bytes\": %llu, \"dropped\": %llu, \"stalled\": %llu, \"reused\": %llu, "
                       "\"cached\": %u, \"cached_bytes\": %llu}",
                       alive ? "true" : "false", v.queued, (unsigned long long)v.queued_bytes, v.held,
                       (unsigned long long)v.held_bytes, (unsigned long long)sample_bytes,
                       (unsigned long long)v.queue_memory_bytes, (unsigned long long)v.oldest_ns, v.cap,
                       policy_name(p->policy), (unsigned long long)atomic_load(&p->sent),
                       (unsigned long long)atomic_load(&p->received), (unsigned long long)atomic_load(&p->bytes),
                       (unsigned long long)atomic_load(&p->dropped), (unsigned long long)atomic_load(&p->stalled),
                       (unsigned long long)atomic_load(&p->reused), cached, (unsigned long long)cached_bytes);
            } else {
                printf("  %-10s pid %-7u %-16s %-5s", role_name(p->role), p->pid, known ? who_label(&w, label, sizeof label) : "?",
                       alive ? "alive" : "DEAD");
                if (p->role == AMC_ROLE_PUB) {
                    printf(" sent %llu, dropped %llu, reused %llu, cached %u blocks (%llu bytes)\n",
                           (unsigned long long)atomic_load(&p->sent), (unsigned long long)atomic_load(&p->dropped),
                           (unsigned long long)atomic_load(&p->reused), cached, (unsigned long long)cached_bytes);
                } else {
                    uint64_t stalled = atomic_load(&p->stalled);
                    printf(" queue %u/%u (%s), held %u, %llu bytes held, oldest held %.3f s, received %llu, dropped %llu%s\n",
                           v.queued, v.cap, policy_name(p->policy), v.held, (unsigned long long)sample_bytes,
                           (double)v.oldest_ns / 1e9, (unsigned long long)atomic_load(&p->received),
                           (unsigned long long)atomic_load(&p->dropped), stalled ? ", STALLED a sender" : "");
                    if (stalled) printf("    %llu sends gave up waiting for room in its queue\n", (unsigned long long)stalled);
                }
            }
            np++;
        }
        if (o->json) {
            printf("], \"sample_bytes_by_pid\": [");
            for (unsigned j = 0; j < npid; j++) {
                printf("%s{\"pid\": %u, ", j ? ", " : "", by_pid[j].pid);
                who_json(stdout, &by_pid[j].w, by_pid[j].known);
                printf(", \"sample_bytes\": %llu}", (unsigned long long)by_pid[j].bytes);
            }
            printf("]");
            if (kind == AMC_KIND_SERVICE) service_methods(a, ch, ctype, true);
            printf("}");
        } else {
            printf("  bytes held by process:");
            for (unsigned j = 0; j < npid; j++) {
                char label[64];
                printf(" pid %u (%s) %llu;", by_pid[j].pid, by_pid[j].known ? who_label(&by_pid[j].w, label, sizeof label) : "?",
                       (unsigned long long)by_pid[j].bytes);
            }
            printf("\n");
        }
        n++;
    }
    if (o->json) printf("]\n");
    else if (n == 0) printf("no %s\n", kind == AMC_KIND_TOPIC ? "topics" : "services");
    am_arena_unpeek(a);
    return 0;
}
