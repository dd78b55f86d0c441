/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.c — am_version: the version of the library a program loaded.
 */
#include "atomicmatrix/version.h"

const char *am_version(void)
{
    return AM_VERSION_STRING;
}
