/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault injection of the system calls and allocations the library makes (SQLite's
 * habit): the test binary is linked with -Wl,--wrap=SYMBOL for each of them
 * (tests/CMakeLists.txt), so every call the library objects make to SYMBOL goes to
 * __wrap_SYMBOL in faults.c. While armed, the wrappers count the calls of one kind and
 * fail the n-th with a plausible errno; everything else goes to the real function.
 * Only objects linked statically into the test are affected (atomicmatrix_testing is),
 * and only while armed, so Check and the C library's own calls are left alone.
 */
#ifndef AM_TEST_FAULTS_H
#define AM_TEST_FAULTS_H

/* X(kind, what the wrapper fails): one entry per call that can be made to fail. */
#define FAULT_KINDS(X)                                                              \
    X(OPEN,        "open")                                                          \
    X(OPENAT,      "openat")                                                        \
    X(FCHMOD,      "fchmod")                                                        \
    X(FTRUNCATE,   "ftruncate")                                                     \
    X(FALLOCATE,   "posix_fallocate")                                               \
    X(MMAP,        "mmap")                                                          \
    X(FCNTL,       "fcntl")                                                         \
    X(FSTAT,       "fstat")                                                         \
    X(PREAD,       "pread")                                                         \
    X(LINK,        "link")                                                          \
    X(STATVFS,     "statvfs")                                                       \
    X(FOPEN,       "fopen")                                                         \
    X(OPENDIR,     "opendir")                                                       \
    X(MALLOC,      "malloc")                                                        \
    X(CALLOC,      "calloc")                                                        \
    X(FUTEX_WAIT,  "futex wait")

typedef enum fault_kind {
#define FAULT_ENUM(kind, what) FAULT_##kind,
    FAULT_KINDS(FAULT_ENUM)
#undef FAULT_ENUM
    FAULT_NKINDS
} fault_kind;

const char *fault_name(fault_kind k);

/* Count the calls of kind k from now on and fail the n-th (n >= 1). */
void fault_arm(fault_kind k, unsigned long n);
/* Stop counting; the number of calls of the armed kind seen (failed one included). */
unsigned long fault_disarm(void);
/* Blocks malloc/calloc returned while armed minus those given to free while armed:
 * not 0 after a run that freed everything it allocated means a leak. Reset by arm. */
long fault_heap_balance(void);

#endif
