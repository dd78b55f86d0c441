/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.c — the arena's file: create, format, validate, attach, detach.
 *
 * Creation is atomic: the creator makes a private file am.<name>.tmp.<pid>.<n> with
 * O_EXCL | O_NOFOLLOW, sizes and formats it, marks it READY, and only then link()s it
 * to am.<name> (link never replaces an existing name). So a joiner never sees a
 * half-formatted arena and never waits on a creator that may have died; of several
 * racing creators exactly one link succeeds and the others attach to its file.
 * A creator that died leaves only its private file, which the next creator removes
 * (it holds a byte lock on it while formatting: a free lock means an orphan).
 *
 * Attaching trusts nothing in the file: owner, type, size, magic, version, layout and
 * geometry are checked (with pread, before mapping) against what this build computes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "arena_internal.h"

#define SHM_DIR "/dev/shm/"
#define FORMAT_LOCK_BYTE 4000u   /* byte lock a creator holds on its private file */
#define MIN_SECTOR_BYTES 4096u

/* ------------------------------------------------------------ open handles (fork) */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static am_arena *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* In a fork child, inherited handles belong to the parent's participant. Closing the
 * child's copy of the descriptor keeps the parent's liveness lock tied to the parent
 * alone (the lock lives as long as any descriptor of its open file description). */
static void atfork_child(void)
{
    for (am_arena *a = registry; a; a = a->next) {
        if (!atomic_load_explicit(&a->forked, memory_order_relaxed)) {
            atomic_store_explicit(&a->forked, 1, memory_order_relaxed);
            close(a->fd);
            a->fd = -1;
        }
    }
    pthread_mutex_init(&registry_lock, NULL);
}
static void atfork_prepare(void) { pthread_mutex_lock(&registry_lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&registry_lock); }
static void install_atfork(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

static void registry_add(am_arena *a)
{
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&registry_lock);
    a->next = registry;
    registry = a;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(am_arena *a)
{
    pthread_mutex_lock(&registry_lock);
    for (am_arena **pp = &registry; *pp; pp = &(*pp)->next) {
        if (*pp == a) { *pp = a->next; break; }
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ------------------------------------------------------------ names and geometry */
static int check_name(const char *name)
{
    if (!name) return AM_EINVAL;
    if (!name[0] || name[0] == '.') return AM_ENAME;   /* AM_ENAME, as for topic names */
    size_t n = 0;
    for (const char *c = name; *c; c++, n++) {
        if (n >= 200) return AM_ENAME;
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.')) {
            return AM_ENAME;
        }
    }
    return 0;
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, SHM_DIR "am.%s", name);
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Where everything goes in a segment of `size` bytes and `nsectors` sectors. */
static int compute_geometry(uint64_t size, uint32_t nsectors, am_geom *g)
{
    if (size > AM_MAX_SIZE) return AM_ETOOBIG;
    if (nsectors == 0 || nsectors > AM_MAX_SECTORS) return AM_EINVAL;
    g->size = size;
    g->nsectors = nsectors;
    g->parts_off = AM_HEADER_BYTES;
    g->sectors_off = align_up(g->parts_off + AM_MAX_PARTICIPANTS * sizeof(am_participant), 64);
    g->upper_off = align_up(g->sectors_off + (uint64_t)nsectors * sizeof(am_sector), 64);
    g->heap_off = align_up(g->upper_off + AM_UPPER_BYTES, 4096);
    if (size < g->heap_off + (uint64_t)nsectors * MIN_SECTOR_BYTES) return AM_EINVAL;
    g->sector_size = (size - g->heap_off) / nsectors / AM_GRAN * AM_GRAN;
    return 0;
}

static uint32_t default_sectors(uint64_t size)
{
    uint64_t n = size / (8u << 20);           /* 8 MiB sectors: large blocks fit */
    return n < 1 ? 1 : n > 64 ? 64 : (uint32_t)n;
}

static void bind_handle(am_arena *a, uint8_t *base, const am_geom *g, int fd)
{
    a->base = base;
    a->g = *g;
    a->fd = fd;
    a->hdr = (am_seg_header *)base;
    a->parts = (am_participant *)(base + g->parts_off);
    a->sectors = (am_sector *)(base + g->sectors_off);
}

/* ------------------------------------------------------------ create */
static void format(am_arena *a)
{
    am_seg_header *h = a->hdr;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (unsigned k = 0; k < a->g.nsectors; k++) am_tlsf_format(a, k);
    h->version = AM_VERSION;
    h->layout = am_layout_hash();
    h->size = a->g.size;
    h->creator_pid = (uint32_t)getpid();
    h->nsectors = a->g.nsectors;
    h->nparticipants = AM_MAX_PARTICIPANTS;
    h->parts_off = a->g.parts_off;
    h->sectors_off = a->g.sectors_off;
    h->heap_off = a->g.heap_off;
    h->sector_size = a->g.sector_size;
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    h->magic = AM_MAGIC;
    atomic_store_explicit(&h->state, AM_STATE_READY, memory_order_release);
}

/* Remove private files of creators that died while formatting. */
static void remove_orphans(const char *name)
{
    char prefix[256];
    int plen = snprintf(prefix, sizeof prefix, "am.%s.tmp.", name);
    DIR *d = opendir(SHM_DIR);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0) continue;
        /* Only a dead creator's file: its pid (in the name) is gone, and nobody holds
         * its format lock. The pid test keeps us off a live creator's file in the
         * instant between its O_EXCL create and its lock. */
        int pid = atoi(e->d_name + plen);
        if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH) continue;
        int fd = openat(dirfd(d), e->d_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && am_byte_trylock(fd, FORMAT_LOCK_BYTE) == 0) {
            unlinkat(dirfd(d), e->d_name, 0);
        }
        close(fd);
    }
    closedir(d);
}

/* Make and format a new segment and link it in as `path`. 0 with *a bound, AM_EEXIST
 * if another creator won, or an error. */
static int create_segment(am_arena *a, const char *name, const char *path, const am_arena_opts *o)
{
    uint64_t size = o->size ? o->size : AM_DEFAULT_SIZE;
    am_geom g;
    int rc = compute_geometry(size, o->sectors ? o->sectors : default_sectors(size), &g);
    if (rc) return rc;
    remove_orphans(name);

    static _Atomic unsigned counter;
    char tmp[340];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%u", path, (int)getpid(), atomic_fetch_add(&counter, 1));
    mode_t mode = o->mode ? (mode_t)(o->mode & 0777) : 0600;
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return errno == EACCES ? AM_EPERM : AM_ESYS;
    if (am_byte_trylock(fd, FORMAT_LOCK_BYTE) != 0 || fchmod(fd, mode) != 0 || ftruncate(fd, (off_t)size) != 0) {
        rc = errno == EFBIG ? AM_ETOOBIG : AM_ESYS;
        goto fail;
    }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) { rc = AM_ENOMEM; goto fail; }
    bind_handle(a, base, &g, fd);
    format(a);
    if (link(tmp, path) != 0) {
        /* EEXIST: another creator won. ENOENT: a racing creator took our private file
         * for an orphan (in the instant before we locked it): just try again. */
        rc = errno == EEXIST ? AM_EEXIST : errno == ENOENT ? AM_EAGAIN : AM_ESYS;
        munmap(base, size);
        goto fail;
    }
    unlink(tmp);
    am_byte_unlock(fd, FORMAT_LOCK_BYTE);
    return 0;
fail:
    unlink(tmp);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------ attach */
static int validate_and_map(am_arena *a, int fd, unsigned flags, int prot)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return AM_ESYS;
    if (!S_ISREG(st.st_mode)) return AM_EFORMAT;
    /* Another user's arena, or one anybody may write (any process could scribble on
     * it), is attached only on request. */
    if ((st.st_uid != geteuid() || (st.st_mode & S_IWOTH)) && !(flags & AM_TRUST_OTHER_OWNER)) return AM_EPERM;
    am_seg_header h;
    memset(&h, 0, sizeof h);
    ssize_t got = pread(fd, &h, sizeof h, 0);
    if (got < 0) return AM_ESYS;
    if ((size_t)got < sizeof h.magic || h.magic != AM_MAGIC) return AM_EFORMAT;
    if ((size_t)got < sizeof h) return AM_ECORRUPT;                  /* ours, but truncated */
    if (h.version != AM_VERSION || h.layout != am_layout_hash()) return AM_EVERSION;
    if (h.size != (uint64_t)st.st_size) return AM_ECORRUPT;          /* truncated or grown */
    if (atomic_load_explicit(&h.state, memory_order_relaxed) != AM_STATE_READY) return AM_ECORRUPT;
    am_geom g;
    if (compute_geometry(h.size, h.nsectors, &g) != 0 || h.nparticipants != AM_MAX_PARTICIPANTS ||
        h.parts_off != g.parts_off || h.sectors_off != g.sectors_off || h.heap_off != g.heap_off ||
        h.sector_size != g.sector_size) {
        return AM_ECORRUPT;
    }
    void *base = mmap(NULL, h.size, prot, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return AM_ENOMEM;
    bind_handle(a, base, &g, fd);
    return 0;
}

int am_arena_open(const char *name, const am_arena_opts *opts, am_arena **out)
{
    static const am_arena_opts defaults;
    const am_arena_opts *o = opts ? opts : &defaults;
    if (!out) return AM_EINVAL;
    *out = NULL;
    int rc = check_name(name);
    if (rc) return rc;
    if ((o->flags & AM_ATTACH_ONLY) && (o->flags & AM_CREATE_ONLY)) return AM_EINVAL;
    if (o->size > AM_MAX_SIZE) return AM_ETOOBIG;
    char path[300];
    path_of(path, sizeof path, name);
    am_arena *a = calloc(1, sizeof *a);
    if (!a) return AM_ENOMEM;

    rc = AM_ENOENT;
    for (int attempt = 0; attempt < 100; attempt++) {
        if (!(o->flags & AM_CREATE_ONLY)) {
            int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                rc = validate_and_map(a, fd, o->flags, PROT_READ | PROT_WRITE);
                if (rc) close(fd);
                break;
            }
            if (errno == ELOOP) { rc = AM_EPERM; break; }
            if (errno == EACCES) { rc = AM_EPERM; break; }
            if (errno != ENOENT) { rc = AM_ESYS; break; }
            if (o->flags & AM_ATTACH_ONLY) { rc = AM_ENOENT; break; }
        }
        rc = create_segment(a, name, path, o);
        if (rc == AM_EAGAIN) continue;
        if (rc != AM_EEXIST || (o->flags & AM_CREATE_ONLY)) break;
        /* Another creator won the race (or the name came back): attach to it. */
    }
    if (rc) { free(a); return rc; }

    rc = am_participant_join(a);
    if (rc) {
        munmap(a->base, a->g.size);
        close(a->fd);
        free(a);
        return rc;
    }
    registry_add(a);
    (void)am_arena_reclaim(a);    /* whatever dead participants left */
    *out = a;
    return 0;
}

int am_arena_peek(const char *name, unsigned flags, am_arena **out)
{
    *out = NULL;
    int rc = check_name(name);
    if (rc) return rc;
    char path[300];
    path_of(path, sizeof path, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? AM_ENOENT : errno == ELOOP || errno == EACCES ? AM_EPERM : AM_ESYS;
    am_arena *a = calloc(1, sizeof *a);
    if (!a) { close(fd); return AM_ENOMEM; }
    rc = validate_and_map(a, fd, flags, PROT_READ);
    if (rc) { close(fd); free(a); return rc; }
    a->slot = AM_MAX_PARTICIPANTS;          /* not a participant: no slot, no stamp */
    *out = a;
    return 0;
}

void am_arena_unpeek(am_arena *a)
{
    if (!a) return;
    munmap(a->base, a->g.size);
    close(a->fd);
    free(a);
}

void am_arena_close(am_arena *a)
{
    if (!a) return;
    registry_remove(a);
    if (!atomic_load_explicit(&a->forked, memory_order_relaxed)) {
        am_participant_leave(a);
        close(a->fd);
    }
    munmap(a->base, a->g.size);
    free(a);
}

int am_arena_unlink(const char *name)
{
    int rc = check_name(name);
    if (rc) return rc;
    char path[300];
    path_of(path, sizeof path, name);
    if (unlink(path) == 0) return 0;
    return errno == ENOENT ? AM_ENOENT : errno == EACCES || errno == EPERM ? AM_EPERM : AM_ESYS;
}

uint64_t am_arena_root(am_arena *a)
{
    return a ? atomic_load_explicit(&a->hdr->root, memory_order_acquire) : 0;
}

int am_arena_root_cas(am_arena *a, uint64_t expected, uint64_t desired)
{
    if (!a) return AM_EINVAL;
    return atomic_compare_exchange_strong_explicit(&a->hdr->root, &expected, desired,
                                                   memory_order_acq_rel, memory_order_acquire)
               ? 0 : AM_EAGAIN;
}

unsigned am_arena_slot(const am_arena *a)
{
    return a ? a->slot : 0;
}
