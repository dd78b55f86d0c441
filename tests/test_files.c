/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_files.c — the arena's file against full filesystems and hostile files: a tmpfs
 * too small (AM_ENOMEM, never SIGBUS, nothing left behind), a file truncated under a
 * live arena, a FIFO with an arena's name, names shaped like the library's private
 * files, and attaching with another size than the arena has.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "arena_internal.h"
#include "test_util.h"

#define MIB ((size_t)1 << 20)

/* Entries of dir other than . and .. (names into list, up to n). */
static int dir_entries(const char *dir, char list[][256], int n)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (k < n) snprintf(list[k], 256, "%s", e->d_name);
        k++;
    }
    closedir(d);
    return k;
}

#define CHILD_FAIL(code, ...) do { fprintf(stderr, "full_tmpfs: " __VA_ARGS__); fputc('\n', stderr); return code; } while (0)

/* In a child (so that AM_SHM_DIR is read fresh, and the parent unmounts whatever
 * happens): arenas on a 32 MiB tmpfs. */
static int on_small_tmpfs(void *arg)
{
    const char *dir = arg;
    setenv("AM_SHM_DIR", dir, 1);
    if (!am_shm_dir() || strcmp(am_shm_dir(), dir) != 0) CHILD_FAIL(2, "AM_SHM_DIR not used: %s", am_shm_dir());
    char list[8][256];
    am_arena *a = NULL, *b = NULL;
    /* 256 MiB on 32 MiB: refused at open, with the directory and its free space named
     * (it used to open, and the first touch past 31 MiB was a SIGBUS) */
    int rc = am_arena_open("big", &(am_arena_opts){ .size = 256 * MIB }, &a);
    if (rc != AM_ENOMEM) CHILD_FAIL(3, "256 MiB on 32 MiB: %s", am_err_name(rc));
    const char *why = am_arena_open_report();
    if (!strstr(why, dir) || !strstr(why, "free")) CHILD_FAIL(4, "report does not name %s and its free space: %s", dir, why);
    if (dir_entries(dir, list, 8) != 0) CHILD_FAIL(5, "left behind after a refusal: %s", list[0]);
    /* 16 MiB fits, and every byte of its heap can be used (no SIGBUS) */
    rc = am_arena_open("small", &(am_arena_opts){ .size = 16 * MIB }, &a);
    if (rc) CHILD_FAIL(6, "16 MiB: %s: %s", am_err_name(rc), am_arena_open_report());
    void *blocks[64];
    int n = 0;
    for (void *p; n < 64 && (p = am_alloc(a, 256 << 10)) != NULL; n++) {
        memset(p, 0xa5, 256 << 10);
        blocks[n] = p;
    }
    if (n < 32) CHILD_FAIL(7, "only %d blocks of 256 KiB in a 16 MiB arena", n);
    for (int i = 0; i < n; i++) am_ack(a, blocks[i]);
    /* a second one that does not fit in what is left */
    rc = am_arena_open("second", &(am_arena_opts){ .size = 20 * MIB }, &b);
    if (rc != AM_ENOMEM) CHILD_FAIL(8, "20 MiB more on 32 MiB with 16 used: %s", am_err_name(rc));
    /* the arena and its lock file, nothing of the refused one */
    int k = dir_entries(dir, list, 8);
    if (k != 2 || !((strcmp(list[0], "am.small") == 0 && strncmp(list[1], "amlock.small.", 13) == 0) ||
                    (strcmp(list[1], "am.small") == 0 && strncmp(list[0], "amlock.small.", 13) == 0))) {
        CHILD_FAIL(9, "%d entries after a refusal: %s, %s", k, list[0], k > 1 ? list[1] : "");
    }
    if (am_arena_check(a) != 0) CHILD_FAIL(10, "check: %s", am_arena_check_report());
    am_arena_close(a);
    if (am_arena_unlink("small") != 0) CHILD_FAIL(11, "unlink small");
    if (dir_entries(dir, list, 8) != 0) CHILD_FAIL(12, "left behind: %s", list[0]);
    return 0;
}

START_TEST(full_tmpfs_gives_enomem)
{
    if (geteuid() != 0) {
        fprintf(stderr, "full_tmpfs_gives_enomem: SKIPPED: mounting a 32 MiB tmpfs needs root\n");
        return;
    }
    char dir[] = "/tmp/am-tmpfs-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (mount("tmpfs", dir, "tmpfs", 0, "size=32m,mode=0700") != 0) {
        int err = errno;
        rmdir(dir);
        ck_assert_msg(err == EPERM, "mount tmpfs on %s: %s", dir, strerror(err));
        fprintf(stderr, "full_tmpfs_gives_enomem: SKIPPED: root without CAP_SYS_ADMIN cannot mount a tmpfs\n");
        return;
    }
    int status = tu_wait(tu_fork(on_small_tmpfs, dir));
    int um = umount2(dir, MNT_DETACH);
    rmdir(dir);
    ck_assert_msg(status == 0, "child failed with %d (its message is above; 128+ is a signal: %d = SIGBUS)", status,
                  128 + SIGBUS);
    ck_assert_int_eq(um, 0);
}
END_TEST

/* The 64 GiB arena that used to be accepted on a machine with 24 GiB of /dev/shm. */
START_TEST(larger_than_dev_shm_refused)
{
    struct statvfs vfs;
    ck_assert_int_eq(statvfs("/dev/shm", &vfs), 0);
    if ((uint64_t)vfs.f_bavail * vfs.f_frsize >= AM_MAX_SIZE || vfs.f_blocks == 0) {
        fprintf(stderr, "larger_than_dev_shm_refused: SKIPPED: /dev/shm has room for 64 GiB here\n");
        return;
    }
    const char *name = tu_name("toolarge");
    am_arena *a = NULL;
    am_arena_opts o = { .size = (size_t)AM_MAX_SIZE };
    int rc = am_arena_open(name, &o, &a);
    ck_assert_msg(rc == AM_ENOMEM, "%s", am_err_name(rc));
    ck_assert_msg(strstr(am_arena_open_report(), "/dev/shm") && strstr(am_arena_open_report(), "free"), "%s",
                  am_arena_open_report());
    char path[128];
    tu_path(path, sizeof path, name);
    ck_assert_int_eq(access(path, F_OK), -1);
    tu_cleanup();
}
END_TEST

START_TEST(truncated_file_is_corrupt)
{
    const char *name = tu_name("trunc");
    char path[128];
    tu_path(path, sizeof path, name);
    am_arena *a = tu_open(name, 4 * MIB, 1);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 2 * MIB), 0);        /* a hostile peer halves it */
    close(fd);
    am_arena *b = NULL;
    ck_assert_int_eq(am_arena_open(name, NULL, &b), AM_ECORRUPT);
    ck_assert_ptr_null(b);
    const char *why = am_arena_open_report();
    ck_assert_msg(strstr(why, "truncated") && strstr(why, "2097152") && strstr(why, "4194304"), "%s", why);
    ck_assert_int_eq(am_arena_peek(name, 0, &b), AM_ECORRUPT);
    /* the first handle only touches the participant table (the first pages) to leave */
    am_arena_close(a);
    tu_cleanup();
}
END_TEST

static void on_alarm(int sig) { (void)sig; }

START_TEST(fifo_with_an_arena_name)
{
    const char *name = tu_name("fifo");
    char path[128];
    tu_path(path, sizeof path, name);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    /* a regression would block in open(): the alarm interrupts it and the test fails */
    signal(SIGALRM, on_alarm);
    alarm(5);
    am_arena *a = NULL;
    ck_assert_int_eq(am_arena_open(name, NULL, &a), AM_EFORMAT);
    ck_assert_msg(strstr(am_arena_open_report(), "not a regular file"), "%s", am_arena_open_report());
    ck_assert_int_eq(am_arena_open(name, &(am_arena_opts){ .flags = AM_ATTACH_ONLY }, &a), AM_EFORMAT);
    ck_assert_int_eq(am_arena_open(name, &(am_arena_opts){ .flags = AM_TRUST_OTHER_OWNER }, &a), AM_EFORMAT);
    ck_assert_int_eq(am_arena_peek(name, AM_TRUST_OTHER_OWNER, &a), AM_EFORMAT);
    alarm(0);
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));                 /* left alone */
    ck_assert_int_eq(am_arena_unlink(name), 0);
    tu_cleanup();
}
END_TEST

START_TEST(private_file_names_refused)
{
    am_arena *a = NULL;
    /* am.X.tmp.<pid>.<n> is X's creator's private file: an arena of that name would be
     * unlinked as an orphan by the next creator of X once that pid is gone */
    char bad[96];
    snprintf(bad, sizeof bad, "test-priv-%d.tmp.999999.0", (int)getpid());
    ck_assert_int_eq(am_arena_open(bad, NULL, &a), AM_ENAME);
    ck_assert_int_eq(am_arena_unlink(bad), AM_ENAME);
    ck_assert_int_eq(am_arena_open("x.tmp.", NULL, &a), AM_ENAME);
    /* ".tmp" elsewhere is fine */
    const char *ok[] = { "tmp.x", "x.tmp", "x.tmpx.1", "x-tmp.1" };
    for (unsigned i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char n[96];
        snprintf(n, sizeof n, "test-priv-%d-%s", (int)getpid(), ok[i]);
        ck_assert_int_eq(am_arena_open(n, &(am_arena_opts){ .size = MIB, .sectors = 1 }, &a), 0);
        am_arena_close(a);
        ck_assert_int_eq(am_arena_unlink(n), 0);
    }
}
END_TEST

START_TEST(attach_with_another_size)
{
    const char *name = tu_name("size");
    am_arena *a = tu_open(name, 2 * MIB, 1), *b = NULL;
    am_arena_opts other = { .size = 4 * MIB };
    ck_assert_int_eq(am_arena_open(name, &other, &b), AM_EEXIST);
    ck_assert_ptr_null(b);
    const char *why = am_arena_open_report();
    ck_assert_msg(strstr(why, "2097152") && strstr(why, "4194304"), "report names both sizes: %s", why);
    other.flags = AM_ATTACH_ONLY;
    ck_assert_int_eq(am_arena_open(name, &other, &b), AM_EEXIST);
    /* AM_ANY_SIZE: whatever it is; am_arena_stats says what it is */
    other.flags = AM_ANY_SIZE;
    ck_assert_int_eq(am_arena_open(name, &other, &b), 0);
    am_stats st;
    ck_assert_int_eq(am_arena_stats(b, &st), 0);
    ck_assert_uint_eq(st.size, 2 * MIB);
    am_arena_close(b);
    /* size 0 attaches whatever it is, the same size is fine */
    ck_assert_int_eq(am_arena_open(name, NULL, &b), 0);
    am_arena_close(b);
    ck_assert_int_eq(am_arena_open(name, &(am_arena_opts){ .size = 2 * MIB }, &b), 0);
    ck_assert_str_eq(am_arena_open_report(), "");
    am_arena_close(b);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("files", 60, (const TTest *[]){
        full_tmpfs_gives_enomem,
        larger_than_dev_shm_refused,
        truncated_file_is_corrupt,
        fifo_with_an_arena_name,
        private_file_names_refused,
        attach_with_another_size,
        NULL });
}
