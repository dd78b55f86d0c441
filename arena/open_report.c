/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open_report.c — why the last am_arena_open failed, in words.
 *
 * A code alone cannot say which file, how big, or how much room was left; the
 * sentence is kept per thread (like am_arena_check_report) so concurrent opens in
 * other threads do not overwrite it.
 */
#include <stdarg.h>
#include <stdio.h>
#include "arena_internal.h"

static _Thread_local char report[512];

int am_open_reportf(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report, sizeof report, fmt, ap);
    va_end(ap);
    return rc;
}

void am_open_report_clear(void)
{
    report[0] = 0;
}

const char *am_arena_open_report(void)
{
    return report;
}
