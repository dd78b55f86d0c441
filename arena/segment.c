/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.c — the arena's file: create, format, validate, attach, detach.
 *
 * Creation is atomic: the creator makes a private file am.<name>.tmp.<pid>.<n> with
 * O_EXCL | O_NOFOLLOW, reserves its pages (posix_fallocate: a full tmpfs is an error
 * now, not a SIGBUS later), formats it, marks it READY, and only then link()s it
 * to am.<name> (link never replaces an existing name). So a joiner never sees a
 * half-formatted arena and never waits on a creator that may have died; of several
 * racing creators exactly one link succeeds and the others attach to its file.
 * A creator that died leaves only its private file, which the next creator removes
 * (it holds a byte lock on it while formatting: a free lock means an orphan). No arena
 * name may contain ".tmp.", so no arena's file can be taken for such an orphan.
 *
 * The participants' liveness locks are on a lock file next to it (lock_file.c), made
 * by the creator before the arena turns READY and opened by each joiner.
 *
 * Attaching trusts nothing in the file: owner, type, size, magic, version, layout and
 * geometry are checked (with pread, before mapping) against what this build computes.
 * Every open of a path in the directory is O_NONBLOCK | O_NOFOLLOW and checked with
 * fstat before anything is read: a FIFO or a device with an arena's name must not
 * block the opener, a symlink must not redirect it.
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
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "arena_internal.h"

#define FORMAT_LOCK_BYTE 4000u   /* byte lock a creator holds on its private file */
#define MIN_SECTOR_BYTES 4096u

/* ------------------------------------------------------------ file modes */
/* The process's umask, without changing it: umask(2) can only be read by setting it,
 * which would race with other threads creating files; Linux shows it in
 * /proc/self/status (4.7 and later). Unknown: the strictest answer, 077. */
static mode_t process_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    unsigned m = 077;
    if (f) {
        char line[128];
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "Umask: %o", &m) == 1) break;
        }
        fclose(f);
    }
    return (mode_t)(m & 0777);
}

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
            /* The lock file's above all: its copy would keep our liveness lock. */
            if (a->lock_fd >= 0) close(a->lock_fd);
            a->lock_fd = -1;
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
    /* am.X.tmp.<pid>.<n> is a creator's private file: an arena called X.tmp.<pid>.<n>
     * would be unlinked as an orphan by whoever creates X after that pid died. */
    if (strstr(name, ".tmp.")) return AM_ENAME;
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

int am_arena_path(char *buf, size_t len, const char *name)
{
    char file[220];
    snprintf(file, sizeof file, "am.%s", name);        /* name: at most 200 characters */
    return am_shm_path(buf, len, file);
}

/* errno of a failed open of an arena's path -> AM_E* */
static int open_error(int err)
{
    switch (err) {
    case ENOENT: return AM_ENOENT;
    case ELOOP: case EACCES: case EPERM: return AM_EPERM;   /* a symlink, or not ours */
    case ENXIO: case ENODEV: case ETXTBSY: return AM_EFORMAT; /* a socket or device */
    default: return AM_ESYS;
    }
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Sector table entries an arena has: its first sectors, and room for AM_GROW_SLOTS
 * grown ones if it may grow (grown sectors get geometrically bigger: grow.c). */
#define AM_GROW_SLOTS 64u
static uint32_t table_sectors(uint32_t nsectors, uint64_t size, uint64_t max_size)
{
    uint32_t n = nsectors + (max_size > size ? AM_GROW_SLOTS : 0);
    return n > AM_MAX_SECTORS ? AM_MAX_SECTORS : n;
}

/* ceil(2^64 / d), d > 1 (sectors are at least 4096 bytes): am_sector_of's inverse. */
static uint64_t sector_inverse(uint64_t d)
{
    return (uint64_t)((((unsigned __int128)1 << 64) + d - 1) / d);
}

/* Where everything goes in a segment of `size` bytes, `nsectors` first sectors, that
 * may grow to max_size. Sectors are whole pages (a released one is punched out). */
static int compute_geometry(uint64_t size, uint32_t nsectors, uint64_t max_size, am_geom *g)
{
    if (size > AM_MAX_SIZE || max_size > AM_MAX_SIZE) return AM_ETOOBIG;
    if (nsectors == 0 || nsectors > AM_MAX_SECTORS || max_size < size || max_size % 4096 != 0) return AM_EINVAL;
    g->size = size;
    g->max_size = max_size;
    g->nsectors = nsectors;
    g->table = table_sectors(nsectors, size, max_size);
    g->parts_off = AM_HEADER_BYTES;
    g->sectors_off = align_up(g->parts_off + AM_MAX_PARTICIPANTS * sizeof(am_participant), 64);
    g->upper_off = align_up(g->sectors_off + (uint64_t)g->table * sizeof(am_sector), 64);
    g->heap_off = align_up(g->upper_off + AM_UPPER_BYTES, 4096);
    if (size < g->heap_off + (uint64_t)nsectors * MIN_SECTOR_BYTES) return AM_EINVAL;
    g->sector_size = (size - g->heap_off) / nsectors / 4096 * 4096;
    g->sector_inv = sector_inverse(g->sector_size);
    return 0;
}

/* The most an arena of `size` bytes may grow to: opts' max_size, else what the
 * directory's filesystem can hold (its whole size), capped at AM_MAX_SIZE. */
static uint64_t max_size_for(const am_arena_opts *o, uint64_t size)
{
    uint64_t max = (o->flags & AM_EXTENDED_OPTS) && o->max_size ? (uint64_t)o->max_size : 0;
    if (max == 0) {
        struct statvfs vfs;
        max = statvfs(am_shm_dir(), &vfs) == 0 && vfs.f_blocks ? (uint64_t)vfs.f_blocks * vfs.f_frsize : AM_MAX_SIZE;
        if (max > AM_MAX_SIZE) max = AM_MAX_SIZE;
    }
    max = max / 4096 * 4096;
    return max < size ? align_up(size, 4096) : max;
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
    a->lock_fd = -1;
    a->hdr = (am_seg_header *)base;
    a->parts = (am_participant *)(base + g->parts_off);
    a->sectors = (am_sector *)(base + g->sectors_off);
    for (unsigned k = 0; k < g->nsectors; k++) {          /* the first sectors: by arithmetic */
        a->sec_start[k] = g->heap_off + (uint64_t)k * g->sector_size;
        a->sec_end[k] = a->sec_start[k] + g->sector_size;
    }
    atomic_store_explicit(&a->heap_end, a->sec_end[g->nsectors - 1], memory_order_relaxed);
    atomic_store_explicit(&a->known, g->nsectors, memory_order_release);
}

/* ------------------------------------------------------------ create */
#if defined(AM_CRASH_POINTS) && AM_CRASH_POINTS
/* testing.h: am_test_sparse_arenas(). Only the test build can skip the reservation
 * (for the 64 GiB geometry tests on a machine with less memory). */
static _Atomic int sparse_for_tests;
void am_test_sparse_arenas(int on) { atomic_store(&sparse_for_tests, on); }
int am_reserve_disabled(void) { return atomic_load(&sparse_for_tests); }
#else
int am_reserve_disabled(void) { return 0; }
#endif

static void format(am_arena *a)
{
    am_seg_header *h = a->hdr;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (unsigned k = 0; k < a->g.nsectors; k++) {
        a->sectors[k].start = am_sector_start(a, k);
        a->sectors[k].bytes = am_sector_bytes(a, k);
        am_tlsf_format(a, k);
    }
    h->version = AM_VERSION;
    h->layout = am_layout_hash();
    h->size = a->g.size;
    h->max_size = a->g.max_size;
    h->first_sectors = a->g.nsectors;
    h->creator_pid = (uint32_t)getpid();
    atomic_store_explicit(&h->nsectors, a->g.nsectors, memory_order_relaxed);
    h->nparticipants = AM_MAX_PARTICIPANTS;
    h->parts_off = a->g.parts_off;
    h->sectors_off = a->g.sectors_off;
    h->heap_off = a->g.heap_off;
    h->sector_size = a->g.sector_size;
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    h->lock_id = a->lock_id;
    h->magic = AM_MAGIC;
    atomic_store_explicit(&h->state, AM_STATE_READY, memory_order_release);
}

/* Remove private files of creators that died while formatting. */
static void remove_orphans(const char *name)
{
    char prefix[256];
    int plen = snprintf(prefix, sizeof prefix, "am.%s.tmp.", name);
    DIR *d = opendir(am_shm_dir());
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0) continue;
        /* Only a dead creator's file: its pid (in the name) is gone, and nobody holds
         * its format lock. The pid test keeps us off a live creator's file in the
         * instant between its O_EXCL create and its lock. */
        int pid = atoi(e->d_name + plen);
        if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH) continue;
        int fd = openat(dirfd(d), e->d_name, O_RDWR | AM_OPEN_FLAGS);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            am_byte_trylock(fd, FORMAT_LOCK_BYTE) == 0) {
            unlinkat(dirfd(d), e->d_name, 0);
        }
        close(fd);
    }
    closedir(d);
}

int am_no_room(const char *what, uint64_t bytes)
{
    struct statvfs vfs;
    const char *dir = am_shm_dir();
    if (statvfs(dir, &vfs) != 0) {
        return am_open_reportf(AM_ENOMEM, "%s: no room for %llu bytes in %s", what, (unsigned long long)bytes, dir);
    }
    return am_open_reportf(AM_ENOMEM, "%s: %llu bytes do not fit: %s has %llu bytes free of %llu", what,
                           (unsigned long long)bytes, dir, (unsigned long long)vfs.f_bavail * vfs.f_frsize,
                           (unsigned long long)vfs.f_blocks * vfs.f_frsize);
}

/* Refuse up front an arena the directory's filesystem cannot hold now. (Racy, like any
 * free-space test: posix_fallocate below is what makes it sure.) */
static int check_room(const char *path, uint64_t size)
{
    struct statvfs vfs;
    if (statvfs(am_shm_dir(), &vfs) != 0) return 0;     /* fallocate will tell */
    if (vfs.f_blocks == 0) return 0;                     /* a tmpfs without a size limit */
    return size > (uint64_t)vfs.f_bavail * vfs.f_frsize ? am_no_room(path, size) : 0;
}

/* Make and format a new segment and link it in as `path`. 0 with *a bound, AM_EEXIST
 * if another creator won, or an error. */
static int create_segment(am_arena *a, const char *name, const char *path, const am_arena_opts *o)
{
    uint64_t size = o->size ? o->size : AM_DEFAULT_SIZE;
    am_geom g;
    int rc = compute_geometry(size, o->sectors ? o->sectors : default_sectors(size), max_size_for(o, size), &g);
    if (rc) return rc;
    remove_orphans(name);
    (void)am_lock_files_sweep(name);
    if (!am_reserve_disabled() && (rc = check_room(path, size)) != 0) {
        /* a racing creator may have made it meanwhile: then attach to theirs */
        return access(path, F_OK) == 0 ? AM_EEXIST : rc;
    }

    static _Atomic unsigned counter;
    char tmp[560];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%u", path, (int)getpid(), atomic_fetch_add(&counter, 1));
    mode_t mode = o->mode ? (mode_t)(o->mode & 0777) : 0600;
    if (!(o->flags & AM_EXACT_MODE)) mode &= ~process_umask();   /* as open(2) would */
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | AM_OPEN_FLAGS, mode);
    if (fd < 0) return errno == EACCES ? AM_EPERM : AM_ESYS;
    if (am_byte_trylock(fd, FORMAT_LOCK_BYTE) != 0 || fchmod(fd, mode) != 0 || ftruncate(fd, (off_t)size) != 0) {
        rc = errno == EFBIG ? AM_ETOOBIG : errno == ENOSPC ? am_no_room(path, size) : AM_ESYS;
        goto fail;
    }
    /* Reserve every page now: on a tmpfs a page is only allocated when first touched,
     * and a touch that finds the filesystem full is a SIGBUS in whichever process made
     * it — possibly long after the arena was opened, in a peer. */
    if (!am_reserve_disabled()) {
        int err = posix_fallocate(fd, 0, (off_t)size);
        if (err) {
            rc = err == ENOSPC ? (access(path, F_OK) == 0 ? AM_EEXIST : am_no_room(path, size))
               : err == EFBIG ? AM_ETOOBIG : (errno = err, AM_ESYS);
            goto fail;
        }
    }
    /* The lock file, before the arena can be seen: its mode and owner follow the
     * arena file's as it is now (umask applied, or AM_EXACT_MODE's mode). */
    struct stat st;
    uint64_t lock_id;
    int lock_fd;
    if (fstat(fd, &st) != 0) { rc = AM_ESYS; goto fail; }
    if ((rc = am_lock_file_create(name, &st, &lock_id, &lock_fd)) != 0) goto fail;
    void *base = mmap(NULL, g.max_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        am_lock_file_discard(name, lock_id, lock_fd);
        rc = AM_ENOMEM;
        goto fail;
    }
    bind_handle(a, base, &g, fd);
    a->lock_id = lock_id;
    format(a);
    if (link(tmp, path) != 0) {
        /* EEXIST: another creator won. ENOENT: a racing creator took our private file
         * for an orphan (in the instant before we locked it): just try again. */
        rc = errno == EEXIST ? AM_EEXIST : errno == ENOENT ? AM_EAGAIN : AM_ESYS;
        munmap(base, g.max_size);
        am_lock_file_discard(name, lock_id, lock_fd);
        goto fail;
    }
    unlink(tmp);
    am_byte_unlock(fd, FORMAT_LOCK_BYTE);
    a->lock_fd = lock_fd;
    am_lock_file_published(lock_fd);      /* its arena is there: no orphan any more */
    return 0;
fail:
    unlink(tmp);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------ attach */
/* want_size: 0, or the size the caller asked for (AM_EEXIST if the arena has another). */
static int validate_and_map(am_arena *a, int fd, const char *path, unsigned flags, uint64_t want_size, int prot)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return AM_ESYS;
    if (!S_ISREG(st.st_mode)) return am_open_reportf(AM_EFORMAT, "%s is not a regular file", path);
    /* Another user's arena, or one anybody may write (any process could scribble on
     * it), is attached only on request. */
    if ((st.st_uid != geteuid() || (st.st_mode & S_IWOTH)) && !(flags & AM_TRUST_OTHER_OWNER)) {
        return am_open_reportf(AM_EPERM, "%s is owned by uid %u with mode %04o (AM_TRUST_OTHER_OWNER attaches it)",
                               path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    }
    am_seg_header h;
    memset(&h, 0, sizeof h);
    ssize_t got = pread(fd, &h, sizeof h, 0);
    if (got < 0) return AM_ESYS;
    if ((size_t)got < sizeof h.magic || h.magic != AM_MAGIC) return AM_EFORMAT;
    if ((size_t)got < sizeof h) return AM_ECORRUPT;                  /* ours, but truncated */
    if (h.version != AM_VERSION || h.layout != am_layout_hash()) return AM_EVERSION;
    if (h.lock_id == 0) return am_open_reportf(AM_ECORRUPT, "%s: its header names no lock file", path);
    /* Touching a page past the file's end is a SIGBUS: the first sectors must be in the
     * file (grown ones are checked as they are met: grow.c). */
    if (h.size > (uint64_t)st.st_size) {
        return am_open_reportf(AM_ECORRUPT, "%s is %lld bytes but its header says %llu: truncated", path,
                               (long long)st.st_size, (unsigned long long)h.size);
    }
    if (atomic_load_explicit(&h.state, memory_order_relaxed) != AM_STATE_READY) return AM_ECORRUPT;
    am_geom g;
    if (compute_geometry(h.size, h.first_sectors, h.max_size, &g) != 0 || h.nparticipants != AM_MAX_PARTICIPANTS ||
        h.parts_off != g.parts_off || h.sectors_off != g.sectors_off || h.heap_off != g.heap_off ||
        h.sector_size != g.sector_size) {
        return AM_ECORRUPT;
    }
    if (want_size && want_size != h.size && !(flags & AM_ANY_SIZE)) {
        return am_open_reportf(AM_EEXIST, "%s exists with %llu bytes, not the %llu asked for (AM_ANY_SIZE, or "
                               "size 0, attaches whatever its size)", path, (unsigned long long)h.size,
                               (unsigned long long)want_size);
    }
    uint32_t published = atomic_load_explicit(&h.nsectors, memory_order_relaxed);
    if (published < g.nsectors || published > g.table) {
        return am_open_reportf(AM_ECORRUPT, "%s: its header says %u sectors, of %u first and %u possible", path,
                               published, g.nsectors, g.table);
    }
    void *base = mmap(NULL, g.max_size, prot, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return AM_ENOMEM;
    bind_handle(a, base, &g, fd);
    a->lock_id = h.lock_id;
    /* Every sector published must check out (a grower publishes only whole ones); one
     * more may be published while we look. */
    for (int look = 0; look < 2; look++) {
        if (am_sectors_refresh(a) >= atomic_load_explicit(&a->hdr->nsectors, memory_order_acquire)) return 0;
    }
    munmap(base, g.max_size);
    return am_open_reportf(AM_ECORRUPT, "%s: grown sector %u does not check out (place, size or file length)", path,
                           atomic_load_explicit(&a->known, memory_order_relaxed));
}

/* Take a participant slot, by a byte lock on the lock file (the creator has it open
 * already). A lock file unlinked while we opened it (lock_file.c) must not be where our
 * lock is: checked once we are LIVE, which a joiner that would make it again sees. */
static int join(am_arena *a, const char *name, const char *node)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        int rc = a->lock_fd >= 0 ? 0 : am_lock_file_attach(a, name);
        if (rc == 0) rc = am_participant_join(a, node);
        if (rc) return rc;
        if (am_lock_file_linked(a->lock_fd)) return 0;
        am_participant_leave(a);
        close(a->lock_fd);
        a->lock_fd = -1;
    }
    return am_open_reportf(AM_EAGAIN, "the lock file of arena %s keeps vanishing", name);
}

int am_arena_open(const char *name, const am_arena_opts *opts, am_arena **out)
{
    static const am_arena_opts defaults;
    const am_arena_opts *o = opts ? opts : &defaults;
    if (!out) return AM_EINVAL;
    *out = NULL;
    am_open_report_clear();
    int rc = check_name(name);
    if (rc) return rc;
    if ((o->flags & AM_ATTACH_ONLY) && (o->flags & AM_CREATE_ONLY)) return AM_EINVAL;
    if (o->size > AM_MAX_SIZE) return AM_ETOOBIG;
    const char *node = (o->flags & AM_EXTENDED_OPTS) ? o->node : NULL;
    if (node) {
        size_t n = strnlen(node, AM_NODE_MAX);
        if (n == AM_NODE_MAX) return AM_EINVAL;
        for (size_t i = 0; i < n; i++) {
            if (node[i] < 0x20 || node[i] >= 0x7f) return AM_EINVAL;
        }
    }
    char path[512];
    if ((rc = am_arena_path(path, sizeof path, name)) != 0) return rc;
    am_arena *a = calloc(1, sizeof *a);
    if (!a) return AM_ENOMEM;

    rc = AM_ENOENT;
    for (int attempt = 0; attempt < 100; attempt++) {
        if (!(o->flags & AM_CREATE_ONLY)) {
            int fd = open(path, O_RDWR | AM_OPEN_FLAGS);
            if (fd >= 0) {
                rc = validate_and_map(a, fd, path, o->flags, o->size, PROT_READ | PROT_WRITE);
                if (rc) close(fd);
                break;
            }
            if (errno != ENOENT) { rc = open_error(errno); break; }
            if (o->flags & AM_ATTACH_ONLY) { rc = AM_ENOENT; break; }
        }
        rc = create_segment(a, name, path, o);
        if (rc == AM_EAGAIN) continue;
        if (rc != AM_EEXIST || (o->flags & AM_CREATE_ONLY)) break;
        /* Another creator won the race (or the name came back): attach to it. */
    }
    if (rc) { free(a); return rc; }

    rc = join(a, name, node);
    if (rc) {
        munmap(a->base, a->g.max_size);
        close(a->fd);
        if (a->lock_fd >= 0) close(a->lock_fd);
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
    am_open_report_clear();
    int rc = check_name(name);
    if (rc) return rc;
    char path[512];
    if ((rc = am_arena_path(path, sizeof path, name)) != 0) return rc;
    int fd = open(path, O_RDONLY | AM_OPEN_FLAGS);
    if (fd < 0) return open_error(errno);
    am_arena *a = calloc(1, sizeof *a);
    if (!a) { close(fd); return AM_ENOMEM; }
    rc = validate_and_map(a, fd, path, flags, 0, PROT_READ);
    if (rc) { close(fd); free(a); return rc; }
    a->slot = AM_MAX_PARTICIPANTS;          /* not a participant: no slot, no stamp */
    am_lock_file_peek(a, name);             /* without it: the pid fallback */
    *out = a;
    return 0;
}

void am_arena_unpeek(am_arena *a)
{
    if (!a) return;
    munmap(a->base, a->g.max_size);
    close(a->fd);
    if (a->lock_fd >= 0) close(a->lock_fd);
    free(a);
}

void am_arena_close(am_arena *a)
{
    if (!a) return;
    registry_remove(a);
    if (!atomic_load_explicit(&a->forked, memory_order_relaxed)) {
        am_participant_leave(a);
        close(a->fd);
        close(a->lock_fd);
    }
    munmap(a->base, a->g.max_size);
    free(a);
}

int am_arena_unlink(const char *name)
{
    int rc = check_name(name);
    if (rc) return rc;
    char path[512];
    if ((rc = am_arena_path(path, sizeof path, name)) != 0) return rc;
    rc = unlink(path) == 0 ? 0 : errno == ENOENT ? AM_ENOENT : errno == EACCES || errno == EPERM ? AM_EPERM : AM_ESYS;
    /* Its lock file is an orphan now (and so is any left by an earlier arena). */
    (void)am_lock_files_sweep(name);
    return rc;
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
