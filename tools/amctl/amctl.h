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
#include "json.h"

typedef struct opts {
    bool json;
    bool force;         /* rm: even with live participants            */
    bool trust;         /* gc, rm: even another user's arena          */
    bool raw;
    const char *svg;
    unsigned width;        /* map: cells per sector */
    bool wait;             /* echo: wait for the topic to appear     */
    double seconds;        /* echo, top: how long (0 = until interrupted) */
    long count;            /* echo: how many samples, top: how many refreshes (0 = no limit) */
    double interval;       /* top: seconds between refreshes (0 = 1) */
} opts;

/* What a read-only walk of one sector found. */
typedef struct sector_view {
    uint64_t used, free, dead;   /* bytes: allocated or pending / free / owned by dead */
    uint64_t used_blocks, free_blocks, dead_blocks, largest_free;
    bool corrupt;                /* the chain stopped being walkable                   */
    bool released;               /* a grown sector whose pages were given back          */
} sector_view;

/* Participant slot liveness, computed once per command. */
typedef struct liveness { bool used[AM_MAX_PARTICIPANTS], alive[AM_MAX_PARTICIPANTS]; unsigned live, dead; } liveness;

void live_scan(am_arena *a, liveness *l);

/* Who a participant slot or a port's owner is, for display: copied from shared memory
 * as untrusted bytes (always terminated, non-printable bytes as '?'). */
typedef struct who { char name[AM_PROC_NAME_MAX], node[AM_NODE_MAX]; } who;
/* Slot `slot`'s names, if its incarnation is still `gen`; else empty names, false. */
bool who_in_slot(am_arena *a, unsigned slot, uint32_t gen, who *w);
/* The owner of a port by its stamp ((participant gen << 32) | (slot + 1)): its names if
 * that participant's slot still holds that incarnation (alive or not yet reused). */
bool who_of_stamp(am_arena *a, uint64_t stamp, who *w);
/* "name" or "name@node" (or "?" when unknown), for the text outputs. */
const char *who_label(const who *w, char *buf, size_t n);
/* JSON members `"process": ..., "node": ...` (null when unknown). */
void who_json(FILE *f, const who *w, bool known);
/* Walk sector k read-only; with cells/ncells, also colour each cell ('u','f','d','?'). */
void sector_walk(am_arena *a, unsigned k, const liveness *l, sector_view *v, char *cells, unsigned ncells);

int cmd_ls(const opts *o);
int cmd_stat(const char *name, const opts *o);
int cmd_map(const char *name, const opts *o);
int cmd_gc(const char *name, const opts *o);
int cmd_rm(const char *name, const opts *o);
int cmd_channels(const char *name, unsigned kind, const opts *o);
int cmd_echo(const char *name, const char *topic, const opts *o);
int cmd_top(const char *name, const opts *o);

/* One port's figures, read without locks (channel_cmds.c). */
typedef struct port_view {
    unsigned queued, held, cap;
    uint64_t queued_bytes;             /* of the samples waiting in its queue              */
    uint64_t held_bytes;               /* of the samples it took and has not acked         */
    uint64_t oldest_ns;                /* age of the oldest held                           */
    uint64_t queue_memory_bytes;       /* its queues' own blocks (rx block and links)      */
} port_view;
void port_look(am_arena *a, amc_chan *ch, unsigned k, port_view *v);
/* The channel directory of a read-only view: NULL with *rc 0 when no channel was ever
 * opened, NULL with *rc 2 (and a message) when it is corrupt. */
const amc_dir *dir_look(am_arena *a, const char *name, int *rc);
const char *role_name(uint32_t r);

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
void print_hex(const uint8_t *p, size_t n);
void die_usage(const char *cmd);

#endif
