/*
 * directory.c — names without a daemon.
 *
 * The directory lives in the arena's upper area (outside the heap, zero in a fresh
 * arena): a stamp lock and AM_MAX_CHANNELS entries, each naming a channel block by
 * {offset, generation} with its kind and payload type. Opening, closing and gc take the
 * directory lock, then the channel's; senders take only the channel's.
 *
 * Creation: the channel block is allocated (owned by the creator), recorded in its
 * entry as CREATING, disowned, then marked READY. Removal: history released, block
 * freed, then the entry cleared. A thief of the directory lock (its holder died)
 * settles every entry from what it finds: a CREATING entry whose block was disowned
 * becomes READY (and goes at the next gc if it has no port), one whose block was not
 * is cleared (the arena frees the block with its dead owner); an entry whose block is
 * gone is cleared.
 */
#include <stdlib.h>
#include <string.h>
#include "channel_internal.h"

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

static void entry_settle(am_arena *a, amc_entry *e)
{
    uint32_t st = atomic_load_explicit(&e->state, memory_order_acquire);
    if (st == AMC_ENT_FREE) return;
    uint32_t owner = 0;
    amc_chan *ch = am_block_probe(a, e->chan_off, e->chan_gen, &owner, NULL);
    if (st == AMC_ENT_CREATING && ch && owner == 0) {
        atomic_store_explicit(&e->state, AMC_ENT_READY, memory_order_release);
    } else if (st != AMC_ENT_READY || !amc_chan_at(a, e->chan_off, e->chan_gen)) {
        atomic_store_explicit(&e->state, AMC_ENT_FREE, memory_order_release);
    }
}

/* Take the directory lock, formatting the directory on first use. */
static amc_dir *dir_lock(am_arena *a, int *rc)
{
    amc_dir *d = am_upper(a);
    bool stolen = amc_lock(a, &d->lock);
    if (d->magic == 0) {
        d->nentries = AM_MAX_CHANNELS;
        d->magic = AMC_DIR_MAGIC;
    }
    if (d->magic != AMC_DIR_MAGIC || d->nentries != AM_MAX_CHANNELS) {
        amc_unlock(&d->lock);
        *rc = AM_ECORRUPT;
        return NULL;
    }
    if (stolen) {
        for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) entry_settle(a, &d->e[i]);
    }
    *rc = 0;
    return d;
}

/* Free a channel nobody uses (directory and channel locks held; the latter goes with
 * the block) and clear its entry, if it still has one. */
static void destroy(am_arena *a, amc_entry *e, amc_chan *ch)
{
    amc_hist_drop(a, ch);
    amc_schema_drop(a, ch);
    ch->magic = 0;
    (void)am_ack(a, ch);
    AM_CRASH_POINT(CH_DESTROY_CLEARED);
    if (e) atomic_store_explicit(&e->state, AMC_ENT_FREE, memory_order_release);
}

static bool type_matches(const amc_entry *e, const am_type *t)
{
    if (!t || !t->name || !e->typed) return true;
    return strncmp(e->type, t->name, sizeof e->type) == 0 && e->fingerprint == t->fingerprint;
}

static void set_type(amc_entry *e, const am_type *t)
{
    if (!t || !t->name || e->typed) return;
    memset(e->type, 0, sizeof e->type);
    memcpy(e->type, t->name, strnlen(t->name, AM_TYPE_MAX));
    e->fingerprint = t->fingerprint;
    e->typed = 1;
}

/* Find name's entry (settling bad ones on the way), or a free one in *free_ix. */
static amc_entry *find(am_arena *a, amc_dir *d, const char *name, int *free_ix)
{
    *free_ix = -1;
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        amc_entry *e = &d->e[i];
        if (atomic_load_explicit(&e->state, memory_order_acquire) == AMC_ENT_READY &&
            strncmp(e->name, name, sizeof e->name) == 0) {
            if (amc_chan_at(a, e->chan_off, e->chan_gen)) return e;
            entry_settle(a, e);
        }
        if (*free_ix < 0 && atomic_load_explicit(&e->state, memory_order_acquire) == AMC_ENT_FREE) *free_ix = (int)i;
    }
    return NULL;
}

static int create(am_arena *a, amc_entry *e, const char *name, unsigned kind)
{
    void *blk;
    size_t bytes = sizeof(amc_chan);
    int rc = am_try_alloc(a, bytes, &blk);
    if (rc) return rc;
    amc_chan *ch = blk;
    memset(ch, 0, bytes);
    ch->magic = AMC_CHAN_MAGIC;
    ch->kind = kind;
    atomic_store_explicit(&ch->version, 1, memory_order_relaxed);
    (void)am_block_identify(a, ch, &e->chan_off, &e->chan_gen, NULL);
    e->kind = kind;
    e->typed = 0;
    e->fingerprint = 0;
    memset(e->type, 0, sizeof e->type);
    memset(e->name, 0, sizeof e->name);
    memcpy(e->name, name, strlen(name));
    atomic_store_explicit(&e->state, AMC_ENT_CREATING, memory_order_release);
    AM_CRASH_POINT(CH_CREATE_CHAN);
    (void)am_disown(a, ch);
    atomic_store_explicit(&e->state, AMC_ENT_READY, memory_order_release);
    return 0;
}

int amc_open(am_arena *a, const char *name, const amc_want *w, amc_conn **out)
{
    *out = NULL;
    unsigned kind = w->kind, role = w->role, history = w->history;
    const am_type *type = w->type;
    int rc = amc_validate_name(name);
    if (rc == 0) rc = validate_type(type);
    if (rc) return rc;
    amc_conn *c = calloc(1, sizeof *c);
    if (!c) return AM_ENOMEM;
    amc_dir *d = dir_lock(a, &rc);
    if (!d) {
        free(c);
        return rc;
    }
    int free_ix;
    amc_entry *e = find(a, d, name, &free_ix);
    if (!e) {
        rc = free_ix < 0 ? AM_EFULL : create(a, &d->e[free_ix], name, kind);
        if (rc == 0) e = &d->e[free_ix];
    } else if (e->kind != kind || !type_matches(e, type)) {
        rc = AM_ETYPE;
    }
    if (rc == 0) {
        set_type(e, type);
        c->a = a;
        c->ch = amc_chan_at(a, e->chan_off, e->chan_gen);
        c->ch_off = e->chan_off;
        c->ch_gen = e->chan_gen;
        c->kind = kind;
    }
    if (rc == 0 && !c->ch) rc = AM_ECORRUPT;         /* changed under us: hostile */
    if (rc == 0) {
        amc_chan_lock(c);
        (void)amc_chan_gc(a, c->ch);
        rc = amc_port_attach(c, role, w->depth, w->max_held, w->policy);
        if (rc == 0 && role == AMC_ROLE_PUB && history > 0 && (rc = amc_hist_reserve(a, c->ch, history)) != 0) {
            amc_port_release(a, c->ch, c->port);
        }
        if (rc == 0 && role == AMC_ROLE_SUB && history > 0) amc_hist_replay(c, history);
        if (rc != 0 && amc_chan_ports(c->ch) == 0) destroy(a, e, c->ch);
        else amc_chan_unlock(c);
    }
    amc_unlock(&d->lock);
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int amc_open_handle(am_arena *a, const char *name, const amc_want *w, size_t size, void **out)
{
    void *h = calloc(1, size);
    if (!h) return AM_ENOMEM;
    int rc = amc_open(a, name, w, (amc_conn **)h);
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void amc_close(amc_conn *c)
{
    if (!c) return;
    if (!amc_usable(c)) {                  /* a fork child: the port is its parent's */
        free(c);
        return;
    }
    int rc;
    amc_dir *d = dir_lock(c->a, &rc);
    amc_chan_lock(c);
    amc_port_release(c->a, c->ch, c->port);
    (void)amc_chan_gc(c->a, c->ch);        /* dead ports must not keep the channel */
    amc_entry *e = NULL;
    for (unsigned i = 0; d && i < AM_MAX_CHANNELS; i++) {
        if (d->e[i].chan_off == c->ch_off && d->e[i].chan_gen == c->ch_gen &&
            atomic_load_explicit(&d->e[i].state, memory_order_acquire) == AMC_ENT_READY) {
            e = &d->e[i];
        }
    }
    /* (no entry: a scribbled directory lost it; nobody else can reach it either) */
    if (amc_chan_ports(c->ch) == 0) destroy(c->a, e, c->ch);
    else amc_chan_unlock(c);
    if (d) amc_unlock(&d->lock);
    free(c);
}

int am_channels_gc(am_arena *a)
{
    if (!a) return AM_EINVAL;
    int rc;
    amc_dir *d = dir_lock(a, &rc);
    if (!d) return rc;
    int n = 0;
    for (unsigned i = 0; i < AM_MAX_CHANNELS; i++) {
        amc_entry *e = &d->e[i];
        entry_settle(a, e);
        if (atomic_load_explicit(&e->state, memory_order_acquire) != AMC_ENT_READY) continue;
        amc_conn tmp = { .a = a, .ch = amc_chan_at(a, e->chan_off, e->chan_gen) };
        if (!tmp.ch) continue;
        amc_chan_lock(&tmp);
        n += amc_chan_gc(a, tmp.ch);
        if (amc_chan_ports(tmp.ch) == 0) destroy(a, e, tmp.ch);
        else amc_chan_unlock(&tmp);
    }
    amc_unlock(&d->lock);
    return n;
}
