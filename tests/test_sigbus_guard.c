/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sigbus_guard.c — amctl's guard (tools/amctl/sigbus_guard.c): a read of a mapped
 * file that another process truncated meanwhile is a SIGBUS no check before mapping
 * can prevent; under the guard it becomes AMCTL_TRUNCATED, the handler that was there
 * before is back afterwards, and a SIGBUS outside the guard still kills.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "amctl.h"
#include "test_util.h"

static volatile unsigned char *mapped;
static long page;

static int read_page(void *arg)
{
    size_t k = *(size_t *)arg;
    return mapped[k * (size_t)page];
}

static void previous(int sig) { (void)sig; }

/* A file of two pages mapped, then cut to one (what a hostile peer does). */
static void map_and_truncate(void)
{
    page = sysconf(_SC_PAGESIZE);
    char path[] = "/dev/shm/am-guard-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(ftruncate(fd, 2 * page), 0);
    mapped = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert(mapped != MAP_FAILED);
    ((unsigned char *)mapped)[0] = 7;
    ((unsigned char *)mapped)[page] = 9;
    ck_assert_int_eq(ftruncate(fd, page), 0);
    close(fd);
}

START_TEST(truncated_read_is_reported)
{
    map_and_truncate();
    signal(SIGBUS, previous);
    size_t first = 0, second = 1;
    ck_assert_int_eq(sigbus_guarded(read_page, &first), 7);
    ck_assert_int_eq(sigbus_guarded(read_page, &second), AMCTL_TRUNCATED);
    /* again: the signal is not left blocked after the jump */
    ck_assert_int_eq(sigbus_guarded(read_page, &second), AMCTL_TRUNCATED);
    struct sigaction now;
    ck_assert_int_eq(sigaction(SIGBUS, NULL, &now), 0);
    ck_assert_ptr_eq((void *)now.sa_handler, (void *)previous);
}
END_TEST

static int unguarded(void *arg)
{
    (void)arg;
    map_and_truncate();
    signal(SIGBUS, SIG_DFL);
    size_t first = 0, second = 1;
    if (sigbus_guarded(read_page, &first) != 7) return 1;
    return read_page(&second) + 2;          /* outside the guard: dies of SIGBUS */
}

START_TEST(outside_the_guard_it_still_kills)
{
    ck_assert_int_eq(tu_wait(tu_fork(unguarded, NULL)), 128 + SIGBUS);
}
END_TEST

int main(void)
{
    return tu_main("sigbus_guard", 30, (const TTest *[]){
        truncated_read_is_reported,
        outside_the_guard_it_still_kills,
        NULL });
}
