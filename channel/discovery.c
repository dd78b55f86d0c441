/* SPDX-License-Identifier: Apache-2.0 */
/*
 * discovery.c — what exists in an arena, and telling those who watch when it changes.
 *
 * Listing reads the directory and the channel blocks without any lock, as amctl does:
 * every entry is checked (state READY, a live channel block of the right kind) and
 * every string copied with a bound, so a scribbled directory gives wrong answers at
 * worst, never a crash. A port counts when it is ACTIVE and its owner alive.
 *
 * Watching: `changes` in the directory header is bumped after every change that
 * discovery can see (a channel created or removed, a port attached or torn down) and
 * woken as a futex; watchers whose waitset has a descriptor also register its token
 * in a small table (AMC_WATCHERS), and every change sends them a datagram. The
 * watcher stores its token (seq_cst) before reading `changes`; the changer bumps
 * `changes` (seq_cst) before reading the table: one of them sees the other.
 */
#include <string.h>
#include "channel_internal.h"

void amc_dir_changed(am_arena *a)
{
    int rc;
    amc_dir *d = amc_dir_of(a, &rc);
    if (!d) return;
    atomic_fetch_add_explicit(&d->changes, 1, memory_order_seq_cst);
    amc_futex_wake(&d->changes);
    for (unsigned i = 0; i < AMC_WATCHERS; i++) {
        if (atomic_load_explicit(&d->watch[i].stamp, memory_order_seq_cst) == 0) continue;
        amc_notify(atomic_load_explicit(&d->watch[i].notify, memory_order_seq_cst));
    }
}

int amc_watch_claim(am_arena *a, uint64_t token)
{
    int rc;
    amc_dir *d = amc_dir_of(a, &rc);
    if (!d) return rc;
    uint64_t me = am_arena_stamp(a);
    for (unsigned i = 0; i < AMC_WATCHERS; i++) {
        amc_watcher *w = &d->watch[i];
        uint64_t cur = atomic_load_explicit(&w->stamp, memory_order_acquire);
        if (cur != 0 && !am_stamp_dead(a, cur)) continue;            /* a live watcher's */
        if (!atomic_compare_exchange_strong_explicit(&w->stamp, &cur, me, memory_order_seq_cst, memory_order_relaxed)) {
            continue;
        }
        atomic_store_explicit(&w->notify, token, memory_order_seq_cst);
        return (int)i;
    }
    return AM_EFULL;
}

void amc_watch_release(am_arena *a, int ix)
{
    int rc;
    amc_dir *d = amc_dir_of(a, &rc);
    if (!d || ix < 0 || ix >= AMC_WATCHERS) return;
    amc_watcher *w = &d->watch[ix];
    uint64_t me = am_arena_stamp(a);
    if (atomic_load_explicit(&w->stamp, memory_order_acquire) != me) return;   /* taken from us? */
    atomic_store_explicit(&w->notify, 0, memory_order_seq_cst);
    atomic_store_explicit(&w->stamp, 0, memory_order_release);
}

_Atomic uint32_t *amc_dir_changes(am_arena *a)
{
    /* Its place is fixed whatever the directory's state: a scribbled directory makes
     * its value meaningless (a spurious wake-up), never its address. */
    return &((amc_dir *)am_upper(a))->changes;
}

/* A READY entry's live channel of a known kind, or NULL. */
static amc_chan *entry_chan(am_arena *a, const amc_entry *e)
{
    if (atomic_load_explicit(&((amc_entry *)e)->state, memory_order_acquire) != AMC_ENT_READY) return NULL;
    amc_chan *ch = amc_chan_at(a, e->chan_off, e->chan_gen);
    return ch && ch->kind == e->kind ? ch : NULL;
}

/* Port k of ch if it is ACTIVE and its owner alive; its role in *role. */
static amc_port *live_port(am_arena *a, amc_chan *ch, unsigned k, uint32_t *role)
{
    amc_port *p = &ch->ports[k];
    if (atomic_load_explicit(&p->state, memory_order_acquire) != AMC_PORT_ACTIVE) return NULL;
    uint64_t stamp = atomic_load_explicit(&p->stamp, memory_order_acquire);
    if (stamp == 0 || am_stamp_dead(a, stamp)) return NULL;
    *role = p->role;
    return *role >= AMC_ROLE_PUB && *role <= AMC_ROLE_CLIENT ? p : NULL;
}

int am_channels_list(am_arena *a, am_channel_info *out, unsigned max)
{
    if (!a || (max && !out)) return AM_EINVAL;
    int rc;
    amc_dir *d = amc_dir_of(a, &rc);
    if (!d) return rc;
    if (atomic_load_explicit((_Atomic uint64_t *)&d->magic, memory_order_acquire) != AMC_DIR_MAGIC) return 0;
    unsigned n = 0;
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        const amc_entry *e = &d->e[i];
        amc_chan *ch = entry_chan(a, e);
        if (!ch) continue;
        if (n < max) {
            am_channel_info *ci = &out[n];
            memset(ci, 0, sizeof *ci);
            am_name_copy(ci->name, e->name, sizeof ci->name);
            if (atomic_load_explicit(&((amc_entry *)e)->typed, memory_order_acquire)) {
                am_name_copy(ci->type, e->type, sizeof ci->type);
                ci->fingerprint = e->fingerprint;
            }
            ci->kind = e->kind == AMC_KIND_TOPIC ? AM_KIND_TOPIC : AM_KIND_SERVICE;
            size_t len;
            ci->has_schema = amc_schema_at(a, ch, &len) != NULL;
            for (unsigned k = 0; k < AM_MAX_PORTS; k++) {
                uint32_t role;
                if (!live_port(a, ch, k, &role)) continue;
                uint32_t *count[] = { NULL, &ci->publishers, &ci->subscribers, &ci->servers, &ci->clients };
                (*count[role])++;
            }
        }
        n++;
    }
    return (int)n;
}

int am_channel_ports(am_arena *a, const char *name, am_port_info *out, unsigned max)
{
    if (!a || (max && !out)) return AM_EINVAL;
    int rc = amc_validate_name(name);
    if (rc) return rc;
    amc_dir *d = amc_dir_of(a, &rc);
    if (!d) return rc;
    if (atomic_load_explicit((_Atomic uint64_t *)&d->magic, memory_order_acquire) != AMC_DIR_MAGIC) return AM_ENOENT;
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        const amc_entry *e = &d->e[i];
        amc_chan *ch = entry_chan(a, e);
        if (!ch || strncmp(e->name, name, sizeof e->name) != 0) continue;
        unsigned n = 0;
        for (unsigned k = 0; k < AM_MAX_PORTS; k++) {
            uint32_t role;
            amc_port *p = live_port(a, ch, k, &role);
            if (!p) continue;
            if (n < max) {
                am_port_info *pi = &out[n];
                memset(pi, 0, sizeof *pi);
                pi->role = (am_role)role;
                pi->port = k;
                pi->pid = p->pid;
                pi->sent = atomic_load_explicit(&p->sent, memory_order_relaxed);
                pi->received = atomic_load_explicit(&p->received, memory_order_relaxed);
                pi->dropped = atomic_load_explicit(&p->dropped, memory_order_relaxed);
                uint64_t stamp = atomic_load_explicit(&p->stamp, memory_order_acquire);
                am_participant_info who;
                if (am_arena_participant_info(a, (unsigned)(stamp & 0xffffffffu) - 1, &who) == 1 && who.stamp == stamp) {
                    memcpy(pi->process, who.name, sizeof pi->process);
                    memcpy(pi->node, who.node, sizeof pi->node);
                }
            }
            n++;
        }
        return (int)n;
    }
    return AM_ENOENT;
}
