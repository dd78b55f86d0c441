/* SPDX-License-Identifier: Apache-2.0 */
/*
 * error.c — am_strerror and am_err_name, both from the AM_ERRORS table in error.h.
 */
#include "atomicmatrix/error.h"

const char *am_strerror(int err)
{
    switch (err) {
#define AM__ERROR_TEXT(name, value, text) case value: return text;
    AM_ERRORS(AM__ERROR_TEXT)
#undef AM__ERROR_TEXT
    default: return "unknown atomicmatrix error";
    }
}

const char *am_err_name(int err)
{
    switch (err) {
#define AM__ERROR_NAME(name, value, text) case value: return "AM_" #name;
    AM_ERRORS(AM__ERROR_NAME)
#undef AM__ERROR_NAME
    default: return "unknown";
    }
}
