/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lock_file.c — the file that holds the participants' liveness locks.
 *
 * Each participant holds an OFD write lock on byte `slot` of this file for its life
 * (participants.c). The locks used to be on the arena file itself, where any user who
 * may only *read* the arena could take read locks on every byte of the participant
 * table: no write lock could then be taken, and every join failed with AM_EFULL. This
 * file is read+write for exactly the permission classes that may write the arena and
 * nothing for the rest, so who may only look cannot even open it.
 *
 * It lives next to the arena as amlock.<name>.<lock_id in 16 hex digits>; lock_id is
 * random and in the arena's header, so a stale lock file of an earlier arena of the
 * same name is never taken for a new one's. (Not "am." at the start: nothing that
 * lists arenas mistakes it for one.)
 *
 * Creation: the arena's creator makes it (O_TMPFILE, then linked in, so it never shows
 * with a wrong mode) before the arena turns READY, and holds a write lock on
 * CREATING_BYTE until the arena is linked in. A lock file whose arena is not there
 * (no arena of that name with that lock_id) is an orphan, removed by the next creator
 * of the name, am_arena_unlink and amctl gc — but only once its CREATING_BYTE can be
 * taken, so never while a creator is still on its way to linking its arena in.
 *
 * A lock file removed under a live arena is made again by a joiner only when no
 * participant may be alive (pid_alive.c): a live one's lock would be on the removed
 * inode, and a new file would make it look dead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "arena_internal.h"

#define CREATING_BYTE AM_MAX_PARTICIPANTS   /* past every slot's byte */
#define LOCK_PREFIX "amlock."               /* amlock.<name>.<16 hex>        */

mode_t am_lock_mode(mode_t arena_mode)
{
    mode_t m = 0;
    if (arena_mode & S_IWUSR) m |= S_IRUSR | S_IWUSR;
    if (arena_mode & S_IWGRP) m |= S_IRGRP | S_IWGRP;
    if (arena_mode & S_IWOTH) m |= S_IROTH | S_IWOTH;
    return m;
}

int am_lock_path(char *buf, size_t len, const char *name, uint64_t id)
{
    char file[240];
    snprintf(file, sizeof file, LOCK_PREFIX "%s.%016llx", name, (unsigned long long)id); /* name: <= 200 chars */
    return am_shm_path(buf, len, file);
}

/* errno of a failed open of a lock file -> AM_E*, with the report naming it. */
static int open_failed(int err, const char *path)
{
    switch (err) {
    case EACCES: case EPERM:
        return am_open_reportf(AM_EPERM, "%s: permission denied (the arena's lock file is only for users who may "
                               "write the arena)", path);
    case ELOOP:
        return am_open_reportf(AM_EFORMAT, "%s (the arena's lock file) is a symbolic link", path);
    case ENXIO: case ENODEV: case ETXTBSY: case EISDIR:
        return am_open_reportf(AM_EFORMAT, "%s (the arena's lock file) is not a regular file", path);
    default:
        errno = err;
        return am_open_reportf(AM_ESYS, "%s (the arena's lock file): %s", path, strerror(err));
    }
}

/* What an opener checks before locking anything in it: a regular file (a FIFO or a
 * device must not be used), the arena's owner's (else another user could hold or free
 * its bytes at will), one link (not a hard link to some other file) and empty. */
static int check_lock_file(int fd, const char *path, const struct stat *arena)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return am_open_reportf(AM_ESYS, "%s: fstat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) {
        return am_open_reportf(AM_EFORMAT, "%s (the arena's lock file) is not a regular file", path);
    }
    if (st.st_uid != arena->st_uid) {
        return am_open_reportf(AM_EFORMAT, "%s (the arena's lock file) is owned by uid %u, the arena by uid %u", path,
                               (unsigned)st.st_uid, (unsigned)arena->st_uid);
    }
    if (st.st_nlink != 1) {
        return am_open_reportf(AM_EFORMAT, "%s (the arena's lock file) has %lu links, not 1", path,
                               (unsigned long)st.st_nlink);
    }
    if (st.st_size != 0) {
        return am_open_reportf(AM_EFORMAT, "%s (the arena's lock file) is %lld bytes, not empty", path,
                               (long long)st.st_size);
    }
    return 0;
}

/* Give a new lock file its owner and mode (the arena's owner and group; open(2) and
 * O_TMPFILE apply the umask, fchmod does not), and take CREATING_BYTE. */
static int prepare(int fd, const char *path, const struct stat *arena)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return am_open_reportf(AM_ESYS, "%s: fstat: %s", path, strerror(errno));
    if ((st.st_uid != arena->st_uid || st.st_gid != arena->st_gid) && fchown(fd, arena->st_uid, arena->st_gid) != 0) {
        return am_open_reportf(AM_EPERM, "%s: cannot give the arena's lock file the arena's owner %u:%u: %s", path,
                               (unsigned)arena->st_uid, (unsigned)arena->st_gid, strerror(errno));
    }
    if (fchmod(fd, am_lock_mode(arena->st_mode)) != 0) {
        return am_open_reportf(AM_ESYS, "%s: fchmod: %s", path, strerror(errno));
    }
    /* Only a sweeper that opened the file in the instant since its O_EXCL create (the
     * fallback below) can hold it: start over. */
    if (am_byte_trylock(fd, CREATING_BYTE) != 0) return AM_EAGAIN;
    return 0;
}

/* Make the lock file `path` for the arena whose file has *arena: 0 and *out (its
 * CREATING_BYTE held), AM_EEXIST if the name is taken, or an error (reported). */
static int make_lock_file(const char *path, const struct stat *arena, int *out)
{
    mode_t mode = am_lock_mode(arena->st_mode);
    /* Unnamed first, linked in when ready: nobody sees it with a mode or owner not yet
     * set, and a sweeper cannot take it for an orphan before CREATING_BYTE is held. */
    int fd = open(am_shm_dir(), O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
    if (fd >= 0) {
        int rc = prepare(fd, path, arena);
        if (rc == 0) {
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
            if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) {
                *out = fd;
                return 0;
            }
            rc = errno == EEXIST ? AM_EEXIST : 0;     /* 0: no /proc? the named way below */
        }
        close(fd);
        if (rc) return rc;
    }
    /* A filesystem without O_TMPFILE: created under its name. */
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | AM_OPEN_FLAGS, mode);
    if (fd < 0) return errno == EEXIST ? AM_EEXIST : open_failed(errno, path);
    int rc = prepare(fd, path, arena);
    if (rc) {
        unlink(path);
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

int am_lock_file_create(const char *name, const struct stat *arena, uint64_t *id, int *fd)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
            return am_open_reportf(AM_ESYS, "getrandom for the arena's lock file: %s", strerror(errno));
        }
        if (r == 0) continue;                        /* 0 is "none" in a header */
        char path[512];
        int rc = am_lock_path(path, sizeof path, name, r);
        if (rc) return rc;
        rc = make_lock_file(path, arena, fd);
        if (rc == AM_EEXIST || rc == AM_EAGAIN) continue;   /* a stale file has that id: draw again */
        if (rc == 0) *id = r;
        return rc;
    }
    return am_open_reportf(AM_EAGAIN, "no free name for the lock file of arena %s", name);
}

void am_lock_file_published(int fd)
{
    am_byte_unlock(fd, CREATING_BYTE);
}

void am_lock_file_discard(const char *name, uint64_t id, int fd)
{
    char path[512];
    if (am_lock_path(path, sizeof path, name, id) == 0) unlink(path);
    close(fd);
}

bool am_lock_file_linked(int fd)
{
    struct stat st;
    return fstat(fd, &st) != 0 || st.st_nlink > 0;    /* cannot tell: as it was */
}

/* Some participant that may be alive, by the fallback: its slot, or -1. */
static int any_may_live(am_arena *a)
{
    for (unsigned slot = 0; slot < AM_MAX_PARTICIPANTS; slot++) {
        if (am_slot_may_live(a, slot)) return (int)slot;
    }
    return -1;
}

int am_lock_file_attach(am_arena *a, const char *name)
{
    char path[512];
    int rc = am_lock_path(path, sizeof path, name, a->lock_id);
    if (rc) return rc;
    struct stat arena;
    if (fstat(a->fd, &arena) != 0) return am_open_reportf(AM_ESYS, "%s: fstat of the arena: %s", path, strerror(errno));
    for (int attempt = 0; attempt < 8; attempt++) {
        int fd = open(path, O_RDWR | AM_OPEN_FLAGS);
        if (fd >= 0) {
            if ((rc = check_lock_file(fd, path, &arena)) != 0) {
                close(fd);
                return rc;
            }
            a->lock_fd = fd;
            return 0;
        }
        if (errno != ENOENT) return open_failed(errno, path);
        /* Removed under the arena. */
        int live = any_may_live(a);
        if (live >= 0) {
            return am_open_reportf(AM_EAGAIN, "%s, the arena's lock file, is missing and participant %d (pid %u) may "
                                   "still be alive: it is made again once no participant is", path, live,
                                   (unsigned)atomic_load_explicit(&a->parts[live].pid, memory_order_relaxed));
        }
        if (geteuid() != arena.st_uid && geteuid() != 0) {
            return am_open_reportf(AM_EPERM, "%s, the arena's lock file, is missing: only the arena's owner (uid %u) "
                                   "can make it again", path, (unsigned)arena.st_uid);
        }
        rc = make_lock_file(path, &arena, &fd);
        if (rc == AM_EEXIST || rc == AM_EAGAIN) continue;   /* another joiner made it: open theirs */
        if (rc) return rc;
        am_byte_unlock(fd, CREATING_BYTE);                  /* its arena is there: no orphan */
        a->lock_fd = fd;
        return 0;
    }
    return am_open_reportf(AM_EAGAIN, "%s, the arena's lock file, keeps vanishing", path);
}

void am_lock_file_peek(am_arena *a, const char *name)
{
    char path[512];
    struct stat arena;
    if (am_lock_path(path, sizeof path, name, a->lock_id) != 0 || fstat(a->fd, &arena) != 0) return;
    /* Read-only is enough to ask about locks (F_OFD_GETLK), and takes none. */
    int fd = open(path, O_RDONLY | AM_OPEN_FLAGS);
    if (fd < 0) return;
    if (check_lock_file(fd, path, &arena) != 0) {
        close(fd);
        am_open_report_clear();          /* not an error of the peek: it does without */
        return;
    }
    a->lock_fd = fd;
}

/* Does arena `name` exist with this lock_id? Unsure (a file we may not read, an error)
 * counts as yes: a lock file is removed only when surely an orphan. */
static bool arena_has(const char *name, uint64_t id)
{
    char path[512];
    if (am_arena_path(path, sizeof path, name) != 0) return true;
    int fd = open(path, O_RDONLY | AM_OPEN_FLAGS);
    if (fd < 0) return errno != ENOENT;
    struct stat st;
    am_seg_header h;
    bool has = true;
    if (fstat(fd, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            has = false;                                  /* not an arena at all */
        } else {
            ssize_t got = pread(fd, &h, sizeof h, 0);
            if (got >= 0) {
                has = (size_t)got == sizeof h && h.magic == AM_MAGIC && h.version == AM_VERSION && h.lock_id == id;
            }
        }
    }
    close(fd);
    return has;
}

/* 16 lower-case hex digits and the end of the string. */
static bool parse_id(const char *s, uint64_t *id)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v << 4 | (uint64_t)(c - 'a' + 10);
        else return false;
    }
    *id = v;
    return s[16] == 0;
}

int am_lock_files_sweep(const char *name)
{
    const char *dir = am_shm_dir();
    if (!dir) return 0;
    char prefix[240];
    int plen = snprintf(prefix, sizeof prefix, LOCK_PREFIX "%s.", name);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t id;
        /* Exactly amlock.<name>.<16 hex>: amlock.<name>.x.<16 hex> is arena <name>.x's. */
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0 || !parse_id(e->d_name + plen, &id)) continue;
        int fd = openat(dirfd(d), e->d_name, O_RDWR | AM_OPEN_FLAGS);
        if (fd < 0) continue;
        struct stat st;
        /* CREATING_BYTE first, the arena then: a creator holds it until its arena is
         * linked in, so once we hold it, an arena that is not there now never will be. */
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_uid == geteuid() || geteuid() == 0) &&
            am_byte_trylock(fd, CREATING_BYTE) == 0 && !arena_has(name, id) && unlinkat(dirfd(d), e->d_name, 0) == 0) {
            removed++;
        }
        close(fd);
    }
    closedir(d);
    return removed;
}
