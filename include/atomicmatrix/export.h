/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomicmatrix — AM_API marks the functions a shared library exports.
 *
 * The libraries are built with -fvisibility=hidden: only declarations marked AM_API
 * (the public headers' functions) are in their dynamic symbol tables, and
 * tests/abi/<library>.symbols lists them. Internal functions stay hidden.
 */
#ifndef ATOMICMATRIX_EXPORT_H
#define ATOMICMATRIX_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define AM_API __attribute__((visibility("default")))
#else
#define AM_API
#endif

#endif
