/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_amctl.c — libFuzzer target: every amctl read command on an arena file whose
 * bytes are the fuzzer's input (tools/amctl, linked in; its main.c is not).
 *
 * amctl reads arenas that any process of the user may have scribbled on, through
 * am_arena_peek, and promises to check every value it reads (tools/amctl/amctl.h): a
 * mangled file must give an error or a "corrupt" report, never a crash, a hang or a
 * sanitizer report. Run: ls, stat, map (with --svg) and topics and services, each
 * plain and with --json, under the SIGBUS guard as amctl runs them. Not run: echo
 * (it waits for samples; its decoding is fuzz_schema's), gc and rm (they write).
 * Seeds: fuzz/seed_arena.c's arenas, one with topics, a service and held samples.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "amctl.h"
#include "arena_file.h"

/* What amctl prints does not matter here, and writing it would slow every run: stdout,
 * and amctl's stderr messages, go to /dev/null. Only the `stderr` FILE pointer is
 * replaced, not descriptor 2: libFuzzer kept its own copy of the pointer at start-up
 * and the sanitizers write to descriptor 2, so their reports still show. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    arena_file_init();
    if (!freopen("/dev/null", "w", stdout)) abort();
    FILE *null = fopen("/dev/null", "w");
    if (!null) abort();
    stderr = null;
    return 0;
}

typedef struct run { const char *cmd; const opts *o; } run;

static int run_cmd(void *arg)
{
    const run *r = arg;
    switch (r->cmd[0]) {
    case 'l': return cmd_ls(r->o);
    case 's': return r->cmd[1] == 't' ? cmd_stat(ARENA_FILE_NAME, r->o) : cmd_channels(ARENA_FILE_NAME, AMC_KIND_SERVICE, r->o);
    case 'm': return cmd_map(ARENA_FILE_NAME, r->o);
    default:  return cmd_channels(ARENA_FILE_NAME, AMC_KIND_TOPIC, r->o);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_file_write(data, size);
    static const char *const cmds[] = { "ls", "stat", "map", "topics", "services" };
    for (int json = 0; json < 2; json++) {
        /* map: a width that does not divide the sector, and the SVG writer. */
        opts o = { .json = json, .width = 61, .svg = json ? "/dev/null" : NULL };
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            run r = { cmds[i], &o };
            (void)sigbus_guarded(run_cmd, &r);
        }
    }
    return 0;
}
