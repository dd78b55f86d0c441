/* SPDX-License-Identifier: Apache-2.0 */
/*
 * directory.c — names without a daemon.
 *
 * The directory lives in the arena's upper area (outside the heap, zero in a fresh
 * arena): a stamp lock and AM_MAX_CHANNELS entries, each naming a channel block by
 * {offset, generation} with its kind and payload type.
 *
 * Finding a channel and attaching to it take no lock (entries are READY before anyone
 * uses them, and a channel being destroyed is refused by attach.c's DYING handshake).
 * Creating and destroying a channel take the directory lock, with a deadline: a paused
 * holder costs another open at most AMC_DIR_WAIT_NS in all (AM_ETIMEDOUT), and never anyone
 * who sends, takes or attaches to an existing channel. A close that cannot have the
 * lock at once leaves an empty channel for the next open, close or gc to remove.
 *
 * Creation: the channel block is allocated (owned by the creator), recorded in its
 * entry as CREATING, disowned, then marked READY. Removal: DYING, the ports and pins
 * counted, schema freed, block freed, then the entry cleared. A thief of the directory
 * lock (its holder died) settles every entry from what it finds.
 *
 * Pins: an opener finds a channel without the lock, and until its port is claimed
 * nothing of its own keeps the channel: a destroyer could free the block under it, and
 * the opener's writes (a port claim, a gc of dead ports) would land in whatever reuses
 * the bytes. So the opener first puts its stamp in one of its entry's pin words (which
 * live in the directory and are never freed), then checks that the entry still names
 * the channel and that the channel is not DYING; the destroyer stores DYING, then looks
 * at the pins, both seq_cst: either it sees the pin and keeps the channel, or the
 * opener sees DYING and lets go. A pin held by a dead process is cleared by whoever
 * needs the word.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "channel_internal.h"

#define AMC_DIR_WAIT_NS   1000000000ll  /* an open waits at most 1 s in all for the lock */

amc_chan *amc_chan_at(am_arena *a, uint64_t off, uint32_t gen)
{
    size_t sz;
    amc_chan *ch = am_block_probe(a, off, gen, NULL, &sz);
    if (!ch || sz < sizeof(amc_chan) || ch->magic != AMC_CHAN_MAGIC) return NULL;
    return ch->kind == AMC_KIND_TOPIC || ch->kind == AMC_KIND_SERVICE ? ch : NULL;
}

int amc_validate_name(const char *name)
{
    if (!name) return AM_EINVAL;
    size_t n = strnlen(name, AM_NAME_MAX + 1);
    if (n == 0 || n > AM_NAME_MAX || name[0] == '/' || name[0] == '.') return AM_ENAME;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '.' || ch == '-' || ch == '/';
        if (!ok) return AM_ENAME;
    }
    return 0;
}

static int validate_type(const am_type *t)
{
    if (!t || !t->name) return 0;
    size_t n = strnlen(t->name, AM_TYPE_MAX + 1);
    if (n == 0 || n > AM_TYPE_MAX) return AM_ENAME;
    for (size_t i = 0; i < n; i++) {
        if (t->name[i] < 0x21 || t->name[i] > 0x7e) return AM_ENAME;
    }
    return 0;
}

/* Does an opener (alive) have entry e's channel pinned? Dead pins are cleared. */
static bool pinned(am_arena *a, amc_entry *e)
{
    bool any = false;
    for (unsigned i = 0; e && i < AMC_PINS; i++) {
        uint64_t p = atomic_load_explicit(&e->pin[i], memory_order_seq_cst);
        if (p == 0) continue;
        if (!am_stamp_dead(a, p)) any = true;
        else atomic_compare_exchange_strong_explicit(&e->pin[i], &p, 0, memory_order_acq_rel, memory_order_relaxed);
    }
    return any;
}

/* Free a channel nobody uses (directory lock held) and clear its entry, if it still
 * has one. Returns false (and leaves it) if a port was claimed or a pin taken
 * meanwhile. */
static bool destroy(am_arena *a, amc_entry *e, amc_chan *ch)
{
    atomic_store_explicit(&ch->state, AMC_CHAN_DYING, memory_order_seq_cst);
    if (amc_chan_ports(ch) != 0 || pinned(a, e)) {       /* an attacher came first */
        atomic_store_explicit(&ch->state, AMC_CHAN_ALIVE, memory_order_seq_cst);
        return false;
    }
    /* The block keeps its magic until the arena frees it: a thief of the lock that finds
     * it DYING must still recognise it to finish this. */
    AM_CRASH_POINT(CH_DESTROY_DYING);
    amc_schema_drop(a, ch);
    (void)am_ack(a, ch);
    AM_CRASH_POINT(CH_DESTROY_CLEARED);
    if (e) atomic_store_explicit(&e->state, AMC_ENT_FREE, memory_order_release);
    amc_dir_changed(a);
    return true;
}

static void entry_settle(am_arena *a, amc_entry *e)
{
    uint32_t st = atomic_load_explicit(&e->state, memory_order_acquire);
    if (st == AMC_ENT_FREE) return;
    uint32_t owner = 0;
    amc_chan *ch = am_block_probe(a, e->chan_off, e->chan_gen, &owner, NULL);
    if (st == AMC_ENT_CREATING && ch && owner == 0) {
        atomic_store_explicit(&e->state, AMC_ENT_READY, memory_order_release);
    } else if (st != AMC_ENT_READY || !(ch = amc_chan_at(a, e->chan_off, e->chan_gen))) {
        atomic_store_explicit(&e->state, AMC_ENT_FREE, memory_order_release);
        return;
    }
    /* A destroyer that died after DYING: finish it, or take it back (a state that is
     * neither, scribbled, is treated the same). */
    if (atomic_load_explicit(&ch->state, memory_order_acquire) != AMC_CHAN_ALIVE) (void)destroy(a, e, ch);
}

amc_dir *amc_dir_of(am_arena *a, int *rc)
{
    amc_dir *d = am_upper(a);
    uint64_t magic = atomic_load_explicit((_Atomic uint64_t *)&d->magic, memory_order_acquire);
    if (magic == 0) {
        *rc = 0;
        return d;                       /* formatted by the first lock holder */
    }
    *rc = magic == AMC_DIR_MAGIC && d->nentries == AM_MAX_CHANNELS ? 0 : AM_ECORRUPT;
    return *rc ? NULL : d;
}

/* Take the directory lock by the deadline, formatting the directory on first use. */
static amc_dir *dir_lock(am_arena *a, uint64_t deadline, int *rc)
{
    amc_dir *d = amc_dir_of(a, rc);
    if (!d) return NULL;
    int got = amc_lock(a, &d->lock, deadline);
    if (got < 0) {
        *rc = got;
        return NULL;
    }
    if (d->magic == 0) {
        d->nentries = AM_MAX_CHANNELS;
        atomic_store_explicit((_Atomic uint64_t *)&d->magic, AMC_DIR_MAGIC, memory_order_release);
    }
    if (d->magic != AMC_DIR_MAGIC || d->nentries != AM_MAX_CHANNELS) {
        amc_unlock(&d->lock);
        *rc = AM_ECORRUPT;
        return NULL;
    }
    if (got == 1) {
        for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) entry_settle(a, &d->e[i]);
    }
    *rc = 0;
    return d;
}

static bool type_matches(const amc_entry *e, const am_type *t)
{
    if (!t || !t->name || !atomic_load_explicit(&e->typed, memory_order_acquire)) return true;
    return strncmp(e->type, t->name, sizeof e->type) == 0 && e->fingerprint == t->fingerprint;
}

/* name's READY entry whose channel is live (no lock: entries are filled before READY
 * is stored), or NULL; with free_ix, the first free entry too. */
static amc_entry *find(am_arena *a, amc_dir *d, const char *name, int *free_ix)
{
    if (free_ix) *free_ix = -1;
    if (atomic_load_explicit((_Atomic uint64_t *)&d->magic, memory_order_acquire) != AMC_DIR_MAGIC) return NULL;
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        amc_entry *e = &d->e[i];
        uint32_t st = atomic_load_explicit(&e->state, memory_order_acquire);
        if (st == AMC_ENT_READY && strncmp(e->name, name, sizeof e->name) == 0 &&
            amc_chan_at(a, e->chan_off, e->chan_gen)) {
            return e;
        }
        if (free_ix && *free_ix < 0 && st == AMC_ENT_FREE) *free_ix = (int)i;
    }
    return NULL;
}

/* The channel's entry, if the directory still names it. */
static amc_entry *entry_of(amc_dir *d, uint64_t off, uint32_t gen)
{
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        if (d->e[i].chan_off == off && d->e[i].chan_gen == gen &&
            atomic_load_explicit(&d->e[i].state, memory_order_acquire) == AMC_ENT_READY) {
            return &d->e[i];
        }
    }
    return NULL;
}

static int create(am_arena *a, amc_entry *e, const char *name, unsigned kind, const am_type *type)
{
    void *blk;
    int rc = am_try_alloc(a, sizeof(amc_chan), &blk);
    if (rc) return rc;
    amc_chan *ch = blk;
    memset(ch, 0, sizeof *ch);
    ch->magic = AMC_CHAN_MAGIC;
    ch->kind = kind;
    atomic_store_explicit(&ch->state, AMC_CHAN_ALIVE, memory_order_relaxed);
    atomic_store_explicit(&ch->version, 1, memory_order_relaxed);
    (void)am_block_identify(a, ch, &e->chan_off, &e->chan_gen, NULL);
    e->kind = kind;
    atomic_store_explicit(&e->typed, 0, memory_order_relaxed);
    e->fingerprint = 0;
    memset(e->type, 0, sizeof e->type);
    if (type && type->name) {
        memcpy(e->type, type->name, strnlen(type->name, AM_TYPE_MAX));
        e->fingerprint = type->fingerprint;
        atomic_store_explicit(&e->typed, 1, memory_order_relaxed);
    }
    memset(e->name, 0, sizeof e->name);
    memcpy(e->name, name, strlen(name));
    atomic_store_explicit(&e->state, AMC_ENT_CREATING, memory_order_release);
    AM_CRASH_POINT(CH_CREATE_CHAN);
    (void)am_disown(a, ch);
    atomic_store_explicit(&e->state, AMC_ENT_READY, memory_order_release);
    amc_dir_changed(a);
    return 0;
}

/* Find name's channel, or create it under the directory lock (unless !may_create: then
 * AM_ENOENT, and the directory is not written, not even formatted). */
static int lookup(am_arena *a, const char *name, const amc_want *w, bool may_create, uint64_t deadline, amc_entry **out)
{
    int rc;
    amc_dir *d = amc_dir_of(a, &rc);
    if (!d) return rc;
    amc_entry *e = find(a, d, name, NULL);
    if (!e && !may_create) return AM_ENOENT;
    if (!e) {
        d = dir_lock(a, deadline, &rc);
        if (!d) return rc;
        int free_ix;
        e = find(a, d, name, &free_ix);
        if (!e) {
            rc = free_ix < 0 ? AM_EFULL : create(a, &d->e[free_ix], name, w->kind, w->type);
            if (rc == 0) e = &d->e[free_ix];
        }
        amc_unlock(&d->lock);
        if (rc) return rc;
    }
    if (e->kind != w->kind || !type_matches(e, w->type)) return AM_ETYPE;
    if (w->type && w->type->name && !atomic_load_explicit(&e->typed, memory_order_acquire)) {
        /* The first typed opener of an untyped channel sets its type (under the lock,
         * so two of them cannot both). */
        d = dir_lock(a, deadline, &rc);
        if (!d) return rc;
        if (!atomic_load_explicit(&e->typed, memory_order_acquire)) {
            memset(e->type, 0, sizeof e->type);
            memcpy(e->type, w->type->name, strnlen(w->type->name, AM_TYPE_MAX));
            e->fingerprint = w->type->fingerprint;
            atomic_store_explicit(&e->typed, 1, memory_order_release);
        }
        amc_unlock(&d->lock);
        if (!type_matches(e, w->type)) return AM_ETYPE;
    }
    *out = e;
    return 0;
}

/* Pin entry e's channel {off, gen} (see "Pins" above): its live block, or NULL with *rc
 * AM_EAGAIN (it is going: look again) or AM_ETIMEDOUT (every pin word is held by a
 * live opener past the deadline). *k: the pin word to unpin. */
static amc_chan *pin(am_arena *a, amc_entry *e, uint64_t off, uint32_t gen, uint64_t deadline, unsigned *k, int *rc)
{
    uint64_t me = am_arena_stamp(a);
    for (unsigned spins = 1;; spins++) {
        bool look = spins % 64 == 0;        /* whether a holder died: a system call */
        for (*k = 0; *k < AMC_PINS; (*k)++) {
            uint64_t cur = atomic_load_explicit(&e->pin[*k], memory_order_relaxed);
            if (cur != 0 && (!look || cur == me || !am_stamp_dead(a, cur))) continue;
            if (atomic_compare_exchange_strong_explicit(&e->pin[*k], &cur, me, memory_order_seq_cst,
                                                        memory_order_relaxed)) {
                amc_chan *ch = NULL;
                if (atomic_load_explicit(&e->state, memory_order_seq_cst) == AMC_ENT_READY && e->chan_off == off &&
                    e->chan_gen == gen && (ch = amc_chan_at(a, off, gen)) &&
                    atomic_load_explicit(&ch->state, memory_order_seq_cst) == AMC_CHAN_ALIVE) {
                    return ch;
                }
                atomic_store_explicit(&e->pin[*k], 0, memory_order_release);
                *rc = AM_EAGAIN;
                return NULL;
            }
        }
        if (look) {
            if (am_now_ns() >= deadline) {
                *rc = AM_ETIMEDOUT;
                return NULL;
            }
            amc_relax(spins / 64);
        }
    }
}

/* ------------------------------------------------------------ type clashes */

static _Thread_local char open_report[768];     /* the longest report fits: no truncation */

const char *am_channel_open_report(void)
{
    return open_report;
}

/* A clash with channel `name`'s type or kind: release its dead ports (a restarted
 * program must not be refused because of its own dead predecessor) and remove it if
 * that left nobody. true: it went, look it up again. */
static bool clear_dead_holders(am_arena *a, const char *name, uint64_t deadline)
{
    int rc;
    amc_dir *d = amc_dir_of(a, &rc);
    amc_entry *e = d ? find(a, d, name, NULL) : NULL;
    if (!e) return d != NULL;                           /* gone already */
    uint64_t off = e->chan_off;
    uint32_t gen = e->chan_gen;
    unsigned k;
    amc_chan *ch = pin(a, e, off, gen, deadline, &k, &rc);
    if (!ch) return rc == AM_EAGAIN;
    (void)amc_chan_gc(a, ch);
    bool empty = amc_chan_ports(ch) == 0;
    atomic_store_explicit(&e->pin[k], 0, memory_order_release);
    if (!empty || !(d = dir_lock(a, deadline, &rc))) return false;
    ch = amc_chan_at(a, off, gen);
    bool gone = !ch || (amc_chan_ports(ch) == 0 && destroy(a, entry_of(d, off, gen), ch));
    amc_unlock(&d->lock);
    return gone;
}

/* Say who holds channel `name` with which type (read only: a port may come or go). */
static int report_clash(am_arena *a, const char *name, const amc_want *w)
{
    int rc;
    amc_dir *d = amc_dir_of(a, &rc);
    amc_entry *e = d ? find(a, d, name, NULL) : NULL;
    amc_chan *ch = e ? amc_chan_at(a, e->chan_off, e->chan_gen) : NULL;
    if (!ch) return AM_ETYPE;
    char pids[160] = "";
    size_t n = 0;
    for (unsigned i = 0; i < AM_MAX_PORTS && n + 12 < sizeof pids; i++) {
        uint32_t pid = am_stamp_pid(a, atomic_load_explicit(&ch->ports[i].stamp, memory_order_acquire));
        if (pid) n += (size_t)snprintf(pids + n, sizeof pids - n, " %u", pid);
    }
    char type[AM_TYPE_MAX + 1];
    snprintf(type, sizeof type, "%s", atomic_load_explicit(&e->typed, memory_order_acquire) ? e->type : "(untyped)");
    snprintf(open_report, sizeof open_report, "%s \"%s\" is a %s of type %s (fingerprint %016llx), held by live pid(s)%s; "
             "asked for a %s of type %s (%016llx)", e->kind == AMC_KIND_TOPIC ? "topic" : "service", name,
             e->kind == AMC_KIND_TOPIC ? "topic" : "service", type, (unsigned long long)e->fingerprint, n ? pids : " (none)",
             w->kind == AMC_KIND_TOPIC ? "topic" : "service", w->type && w->type->name ? w->type->name : "(untyped)",
             (unsigned long long)(w->type ? w->type->fingerprint : 0));
    return AM_ETYPE;
}

static int open_conn(am_arena *a, const char *name, const amc_want *w, bool may_create, amc_conn **out)
{
    *out = NULL;
    int rc = amc_validate_name(name);
    if (rc == 0) rc = validate_type(w->type);
    if (rc) return rc;
    amc_conn *c = calloc(1, sizeof *c);
    if (!c) return AM_ENOMEM;
    c->a = a;
    c->kind = w->kind;
    /* One deadline for the whole open, however often a destroyer makes it look again. */
    uint64_t deadline = amc_deadline(AMC_DIR_WAIT_NS);
    open_report[0] = 0;
    for (bool cleared = false;;) {
        amc_entry *e = NULL;
        rc = lookup(a, name, w, may_create, deadline, &e);
        if (rc == AM_ETYPE && !cleared) {
            cleared = true;
            if (clear_dead_holders(a, name, deadline)) continue;
        }
        if (rc == AM_ETYPE) rc = report_clash(a, name, w);
        if (rc) break;
        c->ch_off = e->chan_off;
        c->ch_gen = e->chan_gen;
        AM_CRASH_POINT(CH_OPEN_FOUND);
        unsigned k;
        c->ch = pin(a, e, c->ch_off, c->ch_gen, deadline, &k, &rc);   /* NULL: destroyed meanwhile */
        if (c->ch) {
            (void)amc_chan_gc(a, c->ch);                 /* dead predecessors first */
            rc = amc_port_attach(c, w);                  /* our port holds it from now on */
            atomic_store_explicit(&e->pin[k], 0, memory_order_release);
        }
        if (rc != AM_EAGAIN) break;
        /* Being destroyed: wait (by the deadline) for the destroyer to let the lock go,
         * or take it over from a dead one (settling the channel), then look again. A
         * channel still not ALIVE once we hold the lock has no destroyer at work (a
         * scribbled state): settle its entry ourselves. */
        amc_dir *d = dir_lock(a, deadline, &rc);
        if (!d) break;
        entry_settle(a, e);
        amc_unlock(&d->lock);
        if (am_now_ns() >= deadline) {
            rc = AM_ETIMEDOUT;
            break;
        }
    }
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int amc_open(am_arena *a, const char *name, const amc_want *w, amc_conn **out)
{
    return open_conn(a, name, w, true, out);
}

static int open_handle(am_arena *a, const char *name, const amc_want *w, bool may_create, size_t size, void **out)
{
    void *h = calloc(1, size);
    if (!h) return AM_ENOMEM;
    int rc = open_conn(a, name, w, may_create, (amc_conn **)h);
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int amc_open_handle(am_arena *a, const char *name, const amc_want *w, size_t size, void **out)
{
    return open_handle(a, name, w, true, size, out);
}

int amc_attach_handle(am_arena *a, const char *name, const amc_want *w, size_t size, void **out)
{
    return open_handle(a, name, w, false, size, out);
}


void amc_close(amc_conn *c)
{
    if (!c) return;
    if (!amc_usable(c)) {                  /* a fork child: the port is its parent's */
        free(c);
        return;
    }
    amc_waitset_forget(c);
    amc_drop_views(c);
    /* Dead ports must not keep the channel: released while ours still holds it (after
     * ours goes, another process may destroy the channel and its bytes be reused). */
    (void)amc_chan_gc(c->a, c->ch);
    (void)amc_port_release(c->a, c->ch, c->port);
    /* Counted after our release, so that of two ports closing at once the second sees
     * none left. Only a hint, and only read (the block may be gone already): the
     * channel is looked up and counted again under the lock. */
    if (amc_chan_ports(c->ch) == 0) {
        /* The last one out removes the channel, if the lock can be had at once (it is
         * looked up again under the lock: it may be gone already). */
        int rc;
        amc_dir *d = dir_lock(c->a, amc_deadline(0), &rc);
        if (d) {
            amc_chan *ch = amc_chan_at(c->a, c->ch_off, c->ch_gen);
            if (ch && amc_chan_ports(ch) == 0) (void)destroy(c->a, entry_of(d, c->ch_off, c->ch_gen), ch);
            amc_unlock(&d->lock);
        }
    }
    free(c);
}

int am_channels_gc(am_arena *a)
{
    if (!a) return AM_EINVAL;
    int rc;
    amc_dir *d = dir_lock(a, amc_deadline(AMC_DIR_WAIT_NS), &rc);
    if (!d) return rc;
    int n = 0;
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        amc_entry *e = &d->e[i];
        entry_settle(a, e);
        if (atomic_load_explicit(&e->state, memory_order_acquire) != AMC_ENT_READY) continue;
        amc_chan *ch = amc_chan_at(a, e->chan_off, e->chan_gen);
        if (!ch) continue;
        n += amc_chan_gc(a, ch);
        if (amc_chan_ports(ch) == 0) (void)destroy(a, e, ch);
    }
    amc_unlock(&d->lock);
    return n;
}
