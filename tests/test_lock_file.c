/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lock_file.c — the participants' liveness locks on the arena's lock file
 * (arena/lock_file.c): its name and mode, a read-only user who can no longer keep
 * every join out (the regression: read locks on the whole participant table used to
 * make every join AM_EFULL), hostile files in its place, a lock file removed under a
 * live arena or a dead one, orphans, and a fork child that must not keep a dead
 * parent's lock alive.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "arena_internal.h"
#include "test_util.h"

#define MIB ((size_t)1 << 20)

static am_arena *open_mode(const char *name, unsigned mode)
{
    am_arena *a = NULL;
    am_arena_opts o = { .size = MIB, .sectors = 1, .mode = mode, .flags = AM_EXACT_MODE };
    int rc = am_arena_open(name, &o, &a);
    ck_assert_msg(rc == 0, "open %s: %s: %s", name, am_err_name(rc), am_arena_open_report());
    return a;
}

static int attach(const char *name, am_arena **out)
{
    *out = NULL;
    return am_arena_open(name, &(am_arena_opts){ .flags = AM_ATTACH_ONLY | AM_TRUST_OTHER_OWNER }, out);
}

/* Lock files of one arena name: prefix "amlock.<name>." and 16 more characters. */
static int count_prefix(const char *prefix)
{
    DIR *d = opendir(am_shm_dir());
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strlen(e->d_name) == strlen(prefix) + 16) n++;
    }
    closedir(d);
    return n;
}

static const char *lock_prefix(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "amlock.%s.", name);
    return p;
}

/* A participant that dies without leaving: its slot. */
static const char *dying_name;
static _Atomic unsigned *dying_slot;
static _Atomic uint64_t dying_stamp;
static int join_and_die(void *arg)
{
    (void)arg;
    am_arena *a = NULL;
    if (attach(dying_name, &a) != 0) return 1;
    *dying_slot = am_arena_slot(a);
    dying_slot[1] = (unsigned)am_arena_stamp(a);
    dying_slot[2] = (unsigned)(am_arena_stamp(a) >> 32);
    return 0;                                   /* _exit: no close */
}

static unsigned dead_participant(const char *name)
{
    dying_name = name;
    dying_slot = tu_shared(3 * sizeof *dying_slot);
    ck_assert_int_eq(tu_wait(tu_fork(join_and_die, NULL)), 0);
    dying_stamp = ((uint64_t)dying_slot[2] << 32) | dying_slot[1];
    return *dying_slot;
}

START_TEST(name_mode_and_unlink)
{
    static const unsigned modes[][2] = { { 0600, 0600 }, { 0644, 0600 }, { 0640, 0600 }, { 0664, 0660 },
                                         { 0620, 0660 }, { 0666, 0666 }, { 0602, 0606 } };
    const char *name = tu_name("lkmode");
    uint64_t first_id = 0;
    for (unsigned i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        am_arena *a = open_mode(name, modes[i][0]);
        char lock[512], path[512];
        ck_assert_int_eq(tu_lock_path(lock, sizeof lock, name), 0);
        tu_path(path, sizeof path, name);
        struct stat st, ast;
        ck_assert_msg(lstat(lock, &st) == 0, "%s: %s", lock, strerror(errno));
        ck_assert_int_eq(stat(path, &ast), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_msg((st.st_mode & 07777) == modes[i][1], "arena %04o: lock file %04o, not %04o", modes[i][0],
                      (unsigned)(st.st_mode & 07777), modes[i][1]);
        ck_assert_uint_eq(st.st_uid, ast.st_uid);
        ck_assert_uint_eq(st.st_gid, ast.st_gid);
        ck_assert_int_eq(st.st_size, 0);
        /* amlock.<name>.<16 hex digits>, a new id for each arena of the name */
        const char *base = strrchr(lock, '/') + 1;
        ck_assert_uint_eq(strlen(base), strlen(lock_prefix(name)) + 16);
        ck_assert_int_eq(count_prefix(lock_prefix(name)), 1);
        /* a peek by a user who may open it asks the locks themselves (read-only
         * descriptor: F_OFD_GETLK needs no write access) */
        am_arena *p = NULL;
        ck_assert_int_eq(am_arena_peek(name, AM_TRUST_OTHER_OWNER, &p), 0);
        ck_assert_int_ge(p->lock_fd, 0);
        ck_assert(am_byte_locked_elsewhere(p->lock_fd, am_arena_slot(a)));
        ck_assert(!am_byte_locked_elsewhere(p->lock_fd, am_arena_slot(a) + 1));
        am_arena_unpeek(p);
        uint64_t id = a->lock_id;
        ck_assert_uint_ne(id, 0);
        ck_assert_uint_ne(id, first_id);
        first_id = id;
        am_arena_close(a);
        ck_assert_int_eq(am_arena_unlink(name), 0);
        ck_assert_int_eq(access(lock, F_OK), -1);
        ck_assert_int_eq(count_prefix(lock_prefix(name)), 0);
    }
    /* the version is refused by older builds: it changed */
    ck_assert_uint_eq(AM_VERSION, 4);
}
END_TEST

/* ---- the regression: a user who may only read the arena */

typedef struct ro_report {
    _Atomic int stage;      /* 1: locks taken (or failed: see rc), 2: the parent is done */
    int rc;                 /* 0 fine, else what failed */
    int lock_open_errno;    /* the lock file's open, O_RDONLY and O_RDWR */
    int lock_rdwr_errno;
    unsigned locked;        /* bytes of the arena file read-locked */
    int peek_rc, alive_owner, alive_dead;
    int eperm_rc;           /* joining a world-writable arena whose lock file we may not open */
    char eperm_report[512];
} ro_report;

static ro_report *ro;
static const char *ro_name;
static unsigned ro_owner_slot, ro_dead_slot;
static const char *ro_other;

static int as_nobody(void *arg)
{
    struct passwd *pw = arg;
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) { ro->rc = 1; goto out; }
    char path[512], lock[512];
    tu_path(path, sizeof path, ro_name);
    if (tu_lock_path(lock, sizeof lock, ro_name) != 0) { ro->rc = 2; goto out; }
    int fd = open(path, O_RDONLY);
    if (fd < 0) { ro->rc = 3; goto out; }
    if (open(path, O_RDWR) >= 0) { ro->rc = 4; goto out; }
    /* the old attack: a read lock on every byte it can (each byte of the header and
     * the participant table, and the whole file at once) */
    for (unsigned b = 0; b < AM_HEADER_BYTES + AM_MAX_PARTICIPANTS * sizeof(am_participant); b++) {
        struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = b, .l_len = 1 };
        if (fcntl(fd, F_OFD_SETLK, &fl) == 0) ro->locked++;
    }
    struct flock all = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    (void)fcntl(fd, F_OFD_SETLK, &all);
    /* and the lock file cannot even be opened */
    int l1 = open(lock, O_RDONLY | O_NONBLOCK), e1 = errno;
    int l2 = open(lock, O_RDWR | O_NONBLOCK), e2 = errno;
    ro->lock_open_errno = l1 < 0 ? e1 : 0;
    ro->lock_rdwr_errno = l2 < 0 ? e2 : 0;
    /* a read-only view still tells the living from the dead, by pid and start time */
    am_arena *p = NULL;
    ro->peek_rc = am_arena_peek(ro_name, AM_TRUST_OTHER_OWNER, &p);
    if (p) {
        ro->alive_owner = am_arena_participant_alive(p, ro_owner_slot);
        ro->alive_dead = am_arena_participant_alive(p, ro_dead_slot);
        am_arena_unpeek(p);
    }
    /* an arena we may write whose lock file we may not open: AM_EPERM, naming it */
    am_arena *w = NULL;
    ro->eperm_rc = attach(ro_other, &w);
    snprintf(ro->eperm_report, sizeof ro->eperm_report, "%s", am_arena_open_report());
    if (w) am_arena_close(w);
out:
    atomic_store(&ro->stage, 1);
    while (atomic_load(&ro->stage) != 2) usleep(1000);   /* keep the locks while the parent joins */
    return ro->rc;
}

START_TEST(read_only_user_cannot_fill_the_table)
{
    if (geteuid() != 0) {
        fprintf(stderr, "read_only_user_cannot_fill_the_table: SKIPPED: needs root (to setuid to nobody)\n");
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        fprintf(stderr, "read_only_user_cannot_fill_the_table: SKIPPED: no user nobody\n");
        return;
    }
    ro_name = tu_name("lkro");
    ro_other = tu_name("lkro-w");
    am_arena *a = open_mode(ro_name, 0644);
    ro_owner_slot = am_arena_slot(a);
    ro_dead_slot = dead_participant(ro_name);
    /* world-writable, but its lock file root's alone */
    am_arena *w = open_mode(ro_other, 0666);
    char wlock[512];
    ck_assert_int_eq(tu_lock_path(wlock, sizeof wlock, ro_other), 0);
    ck_assert_int_eq(chmod(wlock, 0600), 0);

    ro = tu_shared(sizeof *ro);
    pid_t child = tu_fork(as_nobody, pw);
    while (atomic_load(&ro->stage) == 0) usleep(1000);
    ck_assert_msg(ro->rc == 0, "the read-only child failed at step %d", ro->rc);
    ck_assert_uint_eq(ro->locked, AM_HEADER_BYTES + AM_MAX_PARTICIPANTS * sizeof(am_participant));
    ck_assert_msg(ro->lock_open_errno == EACCES && ro->lock_rdwr_errno == EACCES,
                  "nobody opened the lock file: %s / %s", strerror(ro->lock_open_errno), strerror(ro->lock_rdwr_errno));
    ck_assert_int_eq(ro->peek_rc, 0);
    ck_assert_int_eq(ro->alive_owner, 1);
    ck_assert_int_eq(ro->alive_dead, 0);
    ck_assert_msg(ro->eperm_rc == AM_EPERM && strstr(ro->eperm_report, wlock), "%s: %s", am_err_name(ro->eperm_rc),
                  ro->eperm_report);

    /* with all those read locks held: the dead is dead, joins work (they were
     * AM_EFULL), the first of them in the dead one's slot */
    uint64_t dead_stamp = dying_stamp;
    ck_assert_int_eq(am_arena_participant_alive(a, ro_dead_slot), 0);
    ck_assert_int_eq(am_arena_stamp_alive(a, dead_stamp), 0);
    am_arena *b[4];
    for (int i = 0; i < 4; i++) {
        int rc = attach(ro_name, &b[i]);
        ck_assert_msg(rc == 0, "join %d under a reader's locks: %s", i, am_err_name(rc));
    }
    ck_assert_int_eq(am_arena_stamp_alive(a, dead_stamp), 0);
    ck_assert_int_eq(am_arena_participant_alive(b[0], am_arena_slot(b[3])), 1);
    ck_assert_int_ge(am_arena_reclaim(a), 0);
    for (int i = 0; i < 4; i++) am_arena_close(b[i]);
    atomic_store(&ro->stage, 2);
    ck_assert_int_eq(tu_wait(child), 0);
    am_arena_close(w);
    tu_finish(a);
}
END_TEST

/* ---- hostile files in the lock file's place */

enum { H_SYMLINK, H_FIFO, H_OTHER_OWNER, H_HARD_LINK, H_NOT_EMPTY, H_DIRECTORY };
static const char *const hostile_what[] = { "symlink", "FIFO", "other owner", "hard link", "not empty", "directory" };

static void on_alarm(int sig) { (void)sig; }

START_TEST(hostile_lock_files)
{
    signal(SIGALRM, on_alarm);
    for (int h = H_SYMLINK; h <= H_DIRECTORY; h++) {
        if (h == H_OTHER_OWNER && geteuid() != 0) {
            fprintf(stderr, "hostile_lock_files: other owner: SKIPPED: chown needs root\n");
            continue;
        }
        const char *name = tu_name("lkhostile");
        am_arena *a = tu_open(name, MIB, 1);
        char lock[512], other[600];
        ck_assert_int_eq(tu_lock_path(lock, sizeof lock, name), 0);
        snprintf(other, sizeof other, "%s.other", lock);
        if (h != H_OTHER_OWNER && h != H_HARD_LINK && h != H_NOT_EMPTY) ck_assert_int_eq(unlink(lock), 0);
        switch (h) {
        case H_SYMLINK:
            ck_assert_int_eq(close(open(other, O_RDWR | O_CREAT | O_EXCL, 0600)), 0);
            ck_assert_int_eq(symlink(other, lock), 0);
            break;
        case H_FIFO: ck_assert_int_eq(mkfifo(lock, 0600), 0); break;
        case H_OTHER_OWNER: ck_assert_int_eq(chown(lock, 65534, 65534), 0); break;
        case H_HARD_LINK: ck_assert_int_eq(link(lock, other), 0); break;
        case H_NOT_EMPTY: ck_assert_int_eq(truncate(lock, 100), 0); break;
        case H_DIRECTORY: ck_assert_int_eq(mkdir(lock, 0700), 0); break;
        }
        /* a regression could block in open() (a FIFO): the alarm ends it, the test fails */
        alarm(5);
        am_arena *b = NULL;
        int rc = attach(name, &b);
        alarm(0);
        ck_assert_msg(rc == AM_EFORMAT && b == NULL, "%s: %s", hostile_what[h], am_err_name(rc));
        ck_assert_msg(strstr(am_arena_open_report(), lock), "%s: the report does not name %s: %s", hostile_what[h],
                      lock, am_arena_open_report());
        /* a read-only view does without it */
        ck_assert_int_eq(am_arena_peek(name, AM_TRUST_OTHER_OWNER, &b), 0);
        ck_assert_int_eq(am_arena_participant_alive(b, am_arena_slot(a)), 1);
        am_arena_unpeek(b);
        am_arena_close(a);
        if (h == H_DIRECTORY) rmdir(lock);
        else unlink(lock);
        unlink(other);
        ck_assert_int_eq(am_arena_unlink(name), 0);
        ck_assert_int_eq(count_prefix(lock_prefix(name)), 0);
    }
}
END_TEST

/* ---- a lock file removed under the arena */

START_TEST(removed_lock_file)
{
    const char *name = tu_name("lkgone");
    am_arena *a = tu_open(name, MIB, 1);
    unsigned dead = dead_participant(name);
    char lock[512];
    ck_assert_int_eq(tu_lock_path(lock, sizeof lock, name), 0);
    ck_assert_int_eq(unlink(lock), 0);
    /* a live participant (this process) holds its lock on the removed file: no new one */
    am_arena *b = NULL;
    ck_assert_int_eq(attach(name, &b), AM_EAGAIN);
    ck_assert_msg(strstr(am_arena_open_report(), lock) && strstr(am_arena_open_report(), "missing"), "%s",
                  am_arena_open_report());
    ck_assert_int_eq(access(lock, F_OK), -1);
    am_arena_close(a);
    /* only the dead one is left: the next joiner makes it again, mode and all */
    ck_assert_int_eq(attach(name, &b), 0);
    struct stat st;
    ck_assert_int_eq(lstat(lock, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(am_arena_participant_alive(b, dead), 0);
    am_arena *c = NULL;
    ck_assert_int_eq(attach(name, &c), 0);
    unsigned cslot = am_arena_slot(c);
    ck_assert_int_eq(am_arena_participant_alive(b, cslot), 1);   /* on the new file */
    am_arena_close(c);
    ck_assert_int_eq(am_arena_participant_alive(b, cslot), 0);
    ck_assert_int_ge(am_arena_reclaim(b), 0);
    tu_finish(b);
    ck_assert_int_eq(count_prefix(lock_prefix(name)), 0);
}
END_TEST

/* ---- orphans */

START_TEST(orphans_removed)
{
    const char *name = tu_name("lkorphan");
    char dotted[128], path[512], orphan[512], creating[512], other[512];
    snprintf(dotted, sizeof dotted, "%s.x", name);
    am_arena *a = tu_open(name, MIB, 1);
    am_arena_close(a);
    /* removed without the library: its lock file is left */
    tu_path(path, sizeof path, name);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(count_prefix(lock_prefix(name)), 1);
    /* more orphans: a stale one; one whose creator is still at work (its creating byte
     * held) must stay; one of arena <name>.x is not <name>'s */
    ck_assert_int_eq(am_lock_path(orphan, sizeof orphan, name, 0x0123456789abcdefull), 0);
    ck_assert_int_eq(am_lock_path(creating, sizeof creating, name, 0xfedcba9876543210ull), 0);
    ck_assert_int_eq(am_lock_path(other, sizeof other, dotted, 0x0123456789abcdefull), 0);
    ck_assert_int_eq(close(open(orphan, O_RDWR | O_CREAT | O_EXCL, 0600)), 0);
    ck_assert_int_eq(close(open(other, O_RDWR | O_CREAT | O_EXCL, 0600)), 0);
    int cfd = open(creating, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(cfd, 0);
    ck_assert_int_eq(am_byte_trylock(cfd, AM_MAX_PARTICIPANTS), 0);
    ck_assert_int_eq(count_prefix(lock_prefix(name)), 3);
    /* the next creator of the name removes the orphans, not the creator's */
    a = tu_open(name, MIB, 1);
    ck_assert_int_eq(count_prefix(lock_prefix(name)), 2);          /* its own, and the creator's */
    ck_assert_int_eq(access(creating, F_OK), 0);
    ck_assert_int_eq(access(orphan, F_OK), -1);
    ck_assert_int_eq(access(other, F_OK), 0);
    /* the creator gone, the sweep (amctl gc's) removes its file too, never the arena's */
    close(cfd);
    ck_assert_int_eq(am_lock_files_sweep(name), 1);
    ck_assert_int_eq(access(creating, F_OK), -1);
    ck_assert_int_eq(count_prefix(lock_prefix(name)), 1);
    am_arena *b = NULL;
    ck_assert_int_eq(attach(name, &b), 0);
    am_arena_close(b);
    unlink(other);
    tu_finish(a);
    ck_assert_int_eq(count_prefix(lock_prefix(name)), 0);
}
END_TEST

/* ---- fork: a child must not keep its dead parent's liveness lock */

static const char *fork_name;
static _Atomic unsigned *fork_slot;
static _Atomic int *grandchild;
static int parent_then_die(void *arg)
{
    (void)arg;
    am_arena *a = NULL;
    if (attach(fork_name, &a) != 0) return 1;
    *fork_slot = am_arena_slot(a);
    pid_t g = fork();
    if (g == 0) {                       /* outlives its parent, holding what it inherited */
        atomic_store(&grandchild[1], 1);            /* fork has returned: atfork ran */
        for (int i = 0; i < 30000 && atomic_load(grandchild) >= 0; i++) usleep(1000);
        _exit(0);
    }
    atomic_store(grandchild, (int)g);
    /* Until the child's atfork handler has run it holds a copy of every descriptor:
     * wait for it, or the parent's lock may outlive the parent for that instant. */
    while (!atomic_load(&grandchild[1])) usleep(100);
    return 0;                           /* dies without closing */
}

START_TEST(fork_child_does_not_keep_parent_alive)
{
    fork_name = tu_name("lkfork");
    am_arena *a = tu_open(fork_name, MIB, 1);
    fork_slot = tu_shared(sizeof *fork_slot);
    grandchild = tu_shared(2 * sizeof *grandchild);
    ck_assert_int_eq(tu_wait(tu_fork(parent_then_die, NULL)), 0);
    pid_t g = atomic_load(grandchild);
    ck_assert_int_gt(g, 0);
    ck_assert_int_eq(kill(g, 0), 0);                           /* the child lives */
    ck_assert_int_eq(am_arena_participant_alive(a, *fork_slot), 0);
    atomic_store(grandchild, -1);
    ck_assert_int_ge(am_arena_reclaim(a), 0);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("lock_file", 60, (const TTest *[]){
        name_mode_and_unlink,
        read_only_user_cannot_fill_the_table,
        hostile_lock_files,
        removed_lock_file,
        orphans_removed,
        fork_child_does_not_keep_parent_alive,
        NULL });
}
