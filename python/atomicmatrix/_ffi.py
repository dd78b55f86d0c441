# SPDX-License-Identifier: Apache-2.0
"""The C API of libatomicmatrix.so as cffi sees it (ABI mode: dlopen, nothing compiled).

The declarations below are include/atomicmatrix/{error,arena,channel}.h with the macros
written out; the struct layouts must stay those of the headers (tests/python checks
sizes against the library's behaviour, and the ABI only grows at the end of structs
that callers allocate with an opt-in flag, see AM_EXTENDED_OPTS).

Where the library is found, first hit wins:
  1. $ATOMICMATRIX_LIBRARY (a path; the build tree's tests set it),
  2. _config.LIBRARY, written by `cmake --install` beside this file,
  3. the soname libatomicmatrix.so.0 on the loader's path (the Debian package).
"""
import os

import cffi

CDEF = r"""
const char *am_version(void);
const char *am_strerror(int err);
const char *am_err_name(int err);

typedef struct am_arena am_arena;
typedef struct am_arena_opts {
    size_t size; unsigned sectors; unsigned mode; unsigned flags; const char *node; uint64_t max_size;
} am_arena_opts;
typedef struct am_stats {
    uint64_t size, heap, used, free, largest_free, free_blocks, used_blocks;
    uint32_t sectors, participants;
    double fragmentation;
    uint64_t allocs, frees, repairs, reclaimed, sector_size;
} am_stats;
typedef struct am_participant_info {
    uint32_t slot; uint32_t pid; uint64_t stamp; uint64_t joined_ns;
    char name[16]; char node[24];
} am_participant_info;

int  am_arena_open(const char *name, const am_arena_opts *opts, am_arena **out);
const char *am_arena_open_report(void);
void am_arena_close(am_arena *a);
int  am_arena_unlink(const char *name);
uint64_t am_offset(am_arena *a, const void *p);
int  am_arena_check(am_arena *a);
const char *am_arena_check_report(void);
int  am_arena_stats(am_arena *a, am_stats *st);
int  am_arena_reclaim(am_arena *a);
unsigned am_arena_slot(const am_arena *a);
int  am_arena_participant_info(am_arena *a, unsigned slot, am_participant_info *out);

typedef struct am_pub am_pub;
typedef struct am_sub am_sub;
typedef struct am_server am_server;
typedef struct am_client am_client;
typedef struct am_waitset am_waitset;

typedef struct am_type { const char *name; uint64_t fingerprint; } am_type;
typedef struct am_pub_opts { am_type type; unsigned history; int64_t send_timeout_ns; } am_pub_opts;
typedef struct am_sub_opts {
    am_type type; unsigned depth; unsigned max_held; int policy; unsigned history;
} am_sub_opts;
typedef struct am_sample {
    const void *data; size_t len; uint64_t seq; uint64_t send_ns;
    uint32_t publisher; uint32_t _held; uint64_t _id;
} am_sample;
typedef struct am_pub_counts { uint64_t sent, dropped, timeouts; uint32_t subscribers; } am_pub_counts;
typedef struct am_sub_counts { uint64_t received, dropped; uint32_t queued, held; } am_sub_counts;

int  am_pub_open(am_arena *a, const char *topic, const am_pub_opts *opts, am_pub **out);
const char *am_channel_open_report(void);
int  am_pub_loan(am_pub *p, size_t size, void **payload);
int  am_pub_send(am_pub *p, void *payload, size_t len);
int  am_pub_discard(am_pub *p, void *payload);
int  am_pub_publish(am_pub *p, const void *data, size_t len);
int  am_pub_publish_packed(am_pub *p, const void *buf, const uint32_t *lens, unsigned n);
int  am_pub_stats(am_pub *p, am_pub_counts *st);
void am_pub_close(am_pub *p);
int  am_pub_set_schema(am_pub *p, const void *data, size_t len);

int  am_sub_open(am_arena *a, const char *topic, const am_sub_opts *opts, am_sub **out);
int  am_sub_take(am_sub *s, am_sample *out, int64_t timeout_ns);
int  am_sub_ack(am_sub *s, am_sample *sample);
int  am_sub_take_copies(am_sub *s, void *buf, size_t cap, uint32_t *lens, uint64_t *seqs, unsigned max,
                        int64_t timeout_ns);
int  am_sub_stats(am_sub *s, am_sub_counts *st);
int  am_sub_schema(am_sub *s, const void **data, size_t *len);
void am_sub_close(am_sub *s);

typedef struct am_server_opts { am_type type; unsigned depth; unsigned max_held; } am_server_opts;
typedef struct am_client_opts { am_type type; unsigned depth; } am_client_opts;
typedef struct am_request {
    const void *data; size_t len; uint32_t method; uint32_t _held; uint64_t _id;
} am_request;
typedef struct am_client_counts { uint64_t calls, timeouts, late; } am_client_counts;

int  am_server_open(am_arena *a, const char *service, const am_server_opts *opts, am_server **out);
int  am_server_take(am_server *s, am_request *req, int64_t timeout_ns);
int  am_server_reply(am_server *s, am_request *req, const void *data, size_t len);
int  am_server_fail(am_server *s, am_request *req, int32_t status);
int  am_server_drop(am_server *s, am_request *req);
void am_server_close(am_server *s);
int  am_client_open(am_arena *a, const char *service, const am_client_opts *opts, am_client **out);
int  am_client_call_method(am_client *c, uint32_t method, const void *req, size_t len,
                           am_sample *reply, int64_t timeout_ns);
int  am_client_ack(am_client *c, am_sample *reply);
int  am_client_stats(am_client *c, am_client_counts *st);
int32_t am_client_status(const am_client *c);
void am_client_close(am_client *c);

int  am_waitset_open(am_waitset **out);
int  am_waitset_add_sub(am_waitset *w, am_sub *s, void *user);
int  am_waitset_add_server(am_waitset *w, am_server *s, void *user);
int  am_waitset_remove(am_waitset *w, const void *port);
int  am_waitset_wait(am_waitset *w, void **ready, unsigned max, int64_t timeout_ns);
void am_waitset_close(am_waitset *w);
int  am_waitset_fd(am_waitset *w);

typedef struct am_channel_info {
    char name[64]; char type[128]; int kind;
    uint32_t publishers, subscribers, servers, clients, has_schema;
    uint64_t fingerprint;
} am_channel_info;
int  am_channels_list(am_arena *a, am_channel_info *out, unsigned max);
typedef struct am_port_info {
    int role; uint32_t pid; char process[16]; char node[24];
    uint64_t sent, received, dropped; uint32_t port, pad;
} am_port_info;
int  am_channel_ports(am_arena *a, const char *name, am_port_info *out, unsigned max);
int  am_channels_gc(am_arena *a);
"""

ffi = cffi.FFI()
ffi.cdef(CDEF)


def _library_path():
    path = os.environ.get("ATOMICMATRIX_LIBRARY")
    if path:
        return path
    try:
        from . import _config  # written by cmake --install
        if os.path.exists(_config.LIBRARY) or "/" not in _config.LIBRARY:
            return _config.LIBRARY
    except ImportError:
        pass
    return "libatomicmatrix.so.0"


LIBRARY = _library_path()
lib = ffi.dlopen(LIBRARY)

FOREVER = -1
MAX_PARTICIPANTS = 256
MAX_PORTS = 48
MAX_CHANNELS = 256
