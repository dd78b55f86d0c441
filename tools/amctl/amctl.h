/* SPDX-License-Identifier: Apache-2.0 */
/*
 * amctl — see inside a running bus, and clean it up. Shared declarations.
 *
 * Read commands map the arena read-only (am_arena_peek: no participant slot, no
 * locks) and treat every value in it as untrusted: a block header that does not check
 * out ends the walk of its sector, reported as corrupt, never a crash (a file truncated
 * under us: sigbus_guard.c). Only `gc` and `rm` write.
 */
#ifndef AMCTL_H
#define AMCTL_H

#include <stdbool.h>
#include <stdio.h>
#include "arena_internal.h"
#include "channel_internal.h"

typedef struct opts {
    bool json;
    bool force;         /* rm: even with live participants            */
    bool trust;         /* gc, rm: even another user's arena          */
    bool raw;
    const char *svg;
    unsigned width;        /* map: cells per sector */
    double seconds;        /* echo: how long (0 = until interrupted) */
    long count;            /* echo: how many samples (0 = no limit) */
} opts;

/* What a read-only walk of one sector found. */
typedef struct sector_view {
    uint64_t used, free, dead;   /* bytes: allocated or pending / free / owned by dead */
    uint64_t used_blocks, free_blocks, dead_blocks, largest_free;
    bool corrupt;                /* the chain stopped being walkable                   */
} sector_view;

/* Participant slot liveness, computed once per command. */
typedef struct liveness { bool used[AM_MAX_PARTICIPANTS], alive[AM_MAX_PARTICIPANTS]; unsigned live, dead; } liveness;

void live_scan(am_arena *a, liveness *l);
/* Walk sector k read-only; with cells/ncells, also colour each cell ('u','f','d','?'). */
void sector_walk(am_arena *a, unsigned k, const liveness *l, sector_view *v, char *cells, unsigned ncells);

int cmd_ls(const opts *o);
int cmd_stat(const char *name, const opts *o);
int cmd_map(const char *name, const opts *o);
int cmd_gc(const char *name, const opts *o);
int cmd_rm(const char *name, const opts *o);
int cmd_channels(const char *name, unsigned kind, const opts *o);
int cmd_echo(const char *name, const char *topic, const opts *o);

/* services.c: what a service's recorded schema says. Its methods after a service's
 * header: text lines, or `, "methods": [...], "schema_error": ...` inside its JSON
 * object. Echo on a service: its requests and replies, watched read-only. */
void service_methods(am_arena *a, amc_chan *ch, const char *type, bool json);
int cmd_echo_service(const char *name, const char *service, const opts *o);

/* sigbus_guard.c: run fn(arg); a SIGBUS meanwhile (a mapped arena file truncated under
 * us) makes it return AMCTL_TRUNCATED instead of killing amctl. Not reentrant. */
#define AMCTL_TRUNCATED (-1000)
int sigbus_guarded(int (*fn)(void *), void *arg);

/* Open for reading; prints why not and returns NULL. */
am_arena *peek(const char *name);
void json_str(FILE *f, const char *s);
void print_hex(const uint8_t *p, size_t n);
void die_usage(const char *cmd);

#endif
