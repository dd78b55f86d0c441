/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomicmatrix — error codes.
 *
 * Every public call returns 0 (or a count, where its comment says so) on success and
 * one of these negative codes on failure. am_strerror() turns a code into a sentence,
 * am_err_name() into its name ("AM_ETIMEDOUT"). The library never aborts or exits the
 * calling process.
 *
 * AM_ERRORS is the one table the enum, am_strerror and am_err_name are made from:
 * X(NAME, value, "message"). Codes never change value once released.
 */
#ifndef ATOMICMATRIX_ERROR_H
#define ATOMICMATRIX_ERROR_H

#include <stdint.h>
#include "atomicmatrix/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AM_ERRORS(X)                                                                          \
    X(OK,        0,   "success")                                                              \
    X(ENOMEM,    -1,  "out of memory: no free block is large enough now")                     \
    X(EAGAIN,    -2,  "resource temporarily unavailable; try again")                          \
    X(ETIMEDOUT, -3,  "the timeout expired")                                                  \
    X(ENOENT,    -4,  "no such arena, topic or service")                                      \
    X(EEXIST,    -5,  "it already exists")                                                    \
    X(EINVAL,    -6,  "invalid argument (not a live block of this arena, a bad option, or a " \
                      "handle inherited across fork)")                                        \
    X(ECORRUPT,  -7,  "shared memory is corrupt: a value read from it cannot be right")       \
    X(ETYPE,     -8,  "the topic or service carries another payload type")                    \
    X(EPEERDEAD, -9,  "the peer this call depends on has died")                               \
    X(EPERM,     -10, "permission denied (another user's arena, a symlink, or not the "       \
                      "block's owner)")                                                       \
    X(ETOOBIG,   -11, "too big: larger than the arena can hold in one block, or above a "     \
                      "fixed limit (AM_MAX_SIZE for an arena, 1 MiB for a schema, 4 GiB "     \
                      "for a sample)")                                                        \
    X(EFORMAT,   -12, "the file is not an atomicmatrix arena")                                \
    X(EVERSION,  -13, "the arena was made by an incompatible version of atomicmatrix")        \
    X(EFULL,     -14, "a fixed-size table is full (participants, channels, ports on a "       \
                      "channel, waitset entries)")                                            \
    X(ESYS,      -15, "a system call failed (see errno)")                                     \
    X(ENAME,     -16, "bad name: an arena, topic, service or type name that is empty, too "   \
                      "long or has characters it may not have")                               \
    X(EDECODE,   -17, "the payload does not decode as the expected message (malformed or "    \
                      "truncated)")                                                           \
    X(EREMOTE,   -18, "the server answered the call with an error status (am_client_status "  \
                      "says which)")

enum {
#define AM__ERROR_ENUM(name, value, text) AM_##name = value,
    AM_ERRORS(AM__ERROR_ENUM)
#undef AM__ERROR_ENUM
};

/* A sentence describing err (any int; unknown codes get a generic sentence). */
AM_API const char *am_strerror(int err);

/* The code's name, e.g. "AM_ETIMEDOUT" for AM_ETIMEDOUT ("AM_OK" for 0); "unknown" for
 * a value that is not an atomicmatrix code. */
AM_API const char *am_err_name(int err);

/* Timeouts (nanoseconds, int64_t) wherever one is taken: AM_FOREVER waits without a
 * deadline (any negative value does), 0 does not wait at all. */
#define AM_FOREVER INT64_C(-1)

#ifdef __cplusplus
}
#endif
#endif
