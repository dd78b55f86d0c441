/* SPDX-License-Identifier: Apache-2.0 */
/* test_util.c — see test_util.h. */
#include "test_util.h"
#include "arena_internal.h"
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static char names[16][96];
static int nnames;

const char *tu_name(const char *tag)
{
    if (nnames == 16) nnames = 0;
    char *n = names[nnames++];
    snprintf(n, sizeof names[0], "test-%s-%d", tag, (int)getpid());
    am_arena_unlink(n);
    return n;
}

void tu_cleanup(void)
{
    for (int i = 0; i < 16; i++) {
        if (names[i][0]) am_arena_unlink(names[i]);
    }
}

void tu_path(char *buf, size_t n, const char *name)
{
    const char *dir = am_shm_dir();
    snprintf(buf, n, "%s/am.%s", dir ? dir : "/dev/shm", name);
}

int tu_lock_path(char *buf, size_t n, const char *name)
{
    char path[512];
    tu_path(path, sizeof path, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    am_seg_header h;
    ssize_t got = pread(fd, &h, sizeof h, 0);
    close(fd);
    if (got != (ssize_t)sizeof h) return -1;
    return am_lock_path(buf, n, name, h.lock_id) == 0 ? 0 : -1;
}

am_arena *tu_open(const char *name, size_t size, unsigned sectors)
{
    am_arena_opts o = { .size = size, .sectors = sectors };
    am_arena *a = NULL;
    int rc = am_arena_open(name, &o, &a);
    ck_assert_msg(rc == 0, "am_arena_open(%s): %s", name, am_strerror(rc));
    return a;
}

am_arena *tu_open_fixed(const char *name, size_t size, unsigned sectors)
{
    am_arena_opts o = { .size = size, .sectors = sectors, .flags = AM_EXTENDED_OPTS, .max_size = size };
    am_arena *a = NULL;
    int rc = am_arena_open(name, &o, &a);
    ck_assert_msg(rc == 0, "am_arena_open(%s): %s", name, am_strerror(rc));
    return a;
}

pid_t tu_fork(int (*fn)(void *), void *arg)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(99);
        _exit(fn(arg));
    }
    return pid;
}

int tu_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void *tu_shared(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(p != MAP_FAILED);
    return p;
}

int tu_all_free(am_arena *a)
{
    am_stats st;
    if (am_arena_stats(a, &st) != 0) return 0;
    return st.free_blocks == st.sectors && st.used_blocks == 0 && st.free == st.heap;
}

void tu_finish(am_arena *a)
{
    ck_assert_msg(am_arena_check(a) == 0, "%s", am_arena_check_report());
    ck_assert_msg(tu_all_free(a), "blocks are still in use");
    am_arena_close(a);
    tu_cleanup();
}

uint64_t tu_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x2545F4914F6CDD1Dull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

void tu_fill(void *p, size_t n, uint64_t seed)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

int tu_verify(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != (uint8_t)(seed * 131 + i * 7 + (i >> 8))) return 0;
    }
    return 1;
}

void tu_shift_mappings(unsigned salt)
{
    size_t pages = 1 + (getpid() * 7919u + salt) % 97;
    (void)mmap(NULL, pages * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int tu_main(const char *name, double timeout, const TTest *const *tests)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    for (; *tests; tests++) tcase_add_test(tc, *tests);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

tu_map *tu_map_new(am_arena *a)
{
    am_growth gr;                                /* all it may grow to */
    ck_assert_int_eq(am_arena_growth(a, &gr), 0);
    uint64_t granules = gr.maximum / 16;
    tu_map *m = tu_shared(sizeof *m + granules * sizeof(uint32_t));
    m->granules = granules;
    return m;
}

uint32_t tu_map_claim(tu_map *m, uint64_t off, uint64_t len, uint32_t id, int (*is_dead)(uint32_t))
{
    uint64_t g0 = off / 16, g1 = (off + len + 15) / 16;
    if (g1 > m->granules) return UINT32_MAX;
    for (uint64_t g = g0; g < g1; g++) {
        uint32_t cur = 0;
        while (!atomic_compare_exchange_strong(&m->owner[g], &cur, id)) {
            if (!is_dead || !is_dead(cur)) return cur;   /* a live block overlaps */
        }
    }
    return 0;
}

uint32_t tu_map_release(tu_map *m, uint64_t off, uint64_t len, uint32_t id)
{
    uint64_t g0 = off / 16, g1 = (off + len + 15) / 16;
    if (g1 > m->granules) return UINT32_MAX;
    for (uint64_t g = g0; g < g1; g++) {
        uint32_t cur = id;
        if (!atomic_compare_exchange_strong(&m->owner[g], &cur, 0)) return cur ? cur : UINT32_MAX;
    }
    return 0;
}
