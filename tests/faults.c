/* SPDX-License-Identifier: Apache-2.0 */
/* faults.c — see faults.h: the __wrap_ functions the linker puts in place of the
 * library's calls. Each one either fails (hit) or calls __real_, the original. */
#include "faults.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

/* Atomics: a client thread of the test makes calls while armed too. */
static _Atomic int armed;               /* kind + 1, or 0 */
static _Atomic unsigned long calls, target;
static _Atomic long heap;

const char *fault_name(fault_kind k)
{
    static const char *const names[] = {
#define FAULT_NAME(kind, what) what,
        FAULT_KINDS(FAULT_NAME)
#undef FAULT_NAME
    };
    return (unsigned)k < FAULT_NKINDS ? names[k] : "?";
}

void fault_arm(fault_kind k, unsigned long n)
{
    atomic_store(&calls, 0);
    atomic_store(&target, n);
    atomic_store(&heap, 0);
    atomic_store(&armed, (int)k + 1);
}

unsigned long fault_disarm(void)
{
    atomic_store(&armed, 0);
    return atomic_load(&calls);
}

long fault_heap_balance(void)
{
    return atomic_load(&heap);
}

/* Is this call of kind k the one to fail? */
static bool hit(fault_kind k)
{
    if (atomic_load_explicit(&armed, memory_order_relaxed) != (int)k + 1) return false;
    return atomic_fetch_add(&calls, 1) + 1 == atomic_load(&target);
}

#define FAIL_IF(kind, err, ret) do { if (hit(FAULT_##kind)) { errno = (err); return (ret); } } while (0)

/* open and openat take a mode only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(flags, mode) do {                                                  \
        if ((flags) & (O_CREAT | O_TMPFILE)) {                                       \
            va_list ap;                                                              \
            va_start(ap, flags);                                                     \
            mode = (mode_t)va_arg(ap, int);                                          \
            va_end(ap);                                                              \
        }                                                                            \
    } while (0)

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    FAIL_IF(OPEN, EMFILE, -1);
    return __real_open(path, flags, mode);
}

int __real_openat(int dir, const char *path, int flags, ...);
int __wrap_openat(int dir, const char *path, int flags, ...);
int __wrap_openat(int dir, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    FAIL_IF(OPENAT, EMFILE, -1);
    return __real_openat(dir, path, flags, mode);
}

int __real_fchmod(int fd, mode_t mode);
int __wrap_fchmod(int fd, mode_t mode);
int __wrap_fchmod(int fd, mode_t mode)
{
    FAIL_IF(FCHMOD, EIO, -1);
    return __real_fchmod(fd, mode);
}

int __real_ftruncate(int fd, off_t len);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_ftruncate(int fd, off_t len)
{
    FAIL_IF(FTRUNCATE, ENOSPC, -1);
    return __real_ftruncate(fd, len);
}

/* posix_fallocate returns its error instead of setting errno. */
int __real_posix_fallocate(int fd, off_t off, off_t len);
int __wrap_posix_fallocate(int fd, off_t off, off_t len);
int __wrap_posix_fallocate(int fd, off_t off, off_t len)
{
    if (hit(FAULT_FALLOCATE)) return ENOSPC;
    return __real_posix_fallocate(fd, off, len);
}

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    FAIL_IF(MMAP, ENOMEM, MAP_FAILED);
    return __real_mmap(addr, len, prot, flags, fd, off);
}

/* The library's fcntl calls are all byte locks: the third argument is a pointer.
 * ENOLCK (the kernel's lock table full) rather than EAGAIN, which would mean "held". */
int __real_fcntl(int fd, int cmd, ...);
int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    FAIL_IF(FCNTL, ENOLCK, -1);
    return __real_fcntl(fd, cmd, arg);
}

int __real_fstat(int fd, struct stat *st);
int __wrap_fstat(int fd, struct stat *st);
int __wrap_fstat(int fd, struct stat *st)
{
    FAIL_IF(FSTAT, EIO, -1);
    return __real_fstat(fd, st);
}

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    FAIL_IF(PREAD, EIO, -1);
    return __real_pread(fd, buf, n, off);
}

int __real_link(const char *from, const char *to);
int __wrap_link(const char *from, const char *to);
int __wrap_link(const char *from, const char *to)
{
    FAIL_IF(LINK, ENOSPC, -1);
    return __real_link(from, to);
}

int __real_statvfs(const char *path, struct statvfs *st);
int __wrap_statvfs(const char *path, struct statvfs *st);
int __wrap_statvfs(const char *path, struct statvfs *st)
{
    FAIL_IF(STATVFS, EIO, -1);
    return __real_statvfs(path, st);
}

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode)
{
    FAIL_IF(FOPEN, EMFILE, NULL);
    return __real_fopen(path, mode);
}

DIR *__real_opendir(const char *path);
DIR *__wrap_opendir(const char *path);
DIR *__wrap_opendir(const char *path)
{
    FAIL_IF(OPENDIR, EMFILE, NULL);
    return __real_opendir(path);
}

/* Allocations made while armed are counted, frees subtract: see fault_heap_balance. */
static void *counted(void *p)
{
    if (p && atomic_load_explicit(&armed, memory_order_relaxed)) atomic_fetch_add(&heap, 1);
    return p;
}

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    FAIL_IF(MALLOC, ENOMEM, NULL);
    return counted(__real_malloc(n));
}

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
    FAIL_IF(CALLOC, ENOMEM, NULL);
    return counted(__real_calloc(n, size));
}

void __real_free(void *p);
void __wrap_free(void *p);
void __wrap_free(void *p)
{
    if (p && atomic_load_explicit(&armed, memory_order_relaxed)) atomic_fetch_sub(&heap, 1);
    __real_free(p);
}

/* Only futex waits fail (EINTR: a signal woke the waiter). A wake cannot fail that
 * way, and one that silently did nothing would be a lost wake-up no caller could see.
 * Six words are passed on, as glibc's syscall() itself reads them. */
long __real_syscall(long nr, ...);
long __wrap_syscall(long nr, ...);
long __wrap_syscall(long nr, ...)
{
    long a[6];
    va_list ap;
    va_start(ap, nr);
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    bool wait = (nr == SYS_futex && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT) || nr == SYS_futex_waitv;
    if (wait) FAIL_IF(FUTEX_WAIT, EINTR, -1);
    return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
