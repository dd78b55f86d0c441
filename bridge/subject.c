/* SPDX-License-Identifier: Apache-2.0 */
/*
 * subject.c — how channel names become NATS subjects, which names a bridge carries,
 * and the small header helpers every part of the bridge reads its messages with.
 *
 * Subjects (docs/bridge.md): <domain>.<what>.<token>, where <what> is "t" (a topic's
 * samples), "s" (a service's requests), "ann" / "hello" (discovery, no token). A
 * channel name becomes a single token: every byte outside [A-Za-z0-9_-] — in a legal
 * name that is '.', '/' — is written as '~' and two upper-case hex digits, so a token
 * never holds '.', '*', '>' or white space and two names never share a subject
 * ("a/b" -> "a~2Fb", "a.b" -> "a~2Eb").
 */
#include <errno.h>
#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bridge.h"

static bool plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool br_domain_ok(const char *domain)
{
    if (!domain || !*domain || strlen(domain) > 64) return false;
    for (const char *p = domain; *p; p++)
        if (!plain((unsigned char)*p)) return false;
    return true;
}

/* "<domain>.<what>.<escaped name>" (name NULL: "<domain>.<what>"). 0, or -1 if it
 * does not fit. */
int br_subject(char *out, size_t cap, const char *domain, const char *what, const char *name)
{
    int n = snprintf(out, cap, "%s.%s%s", domain, what, name ? "." : "");
    if (n < 0 || (size_t)n >= cap) return -1;
    size_t k = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)name; p && *p; p++) {
        if (k + 4 > cap) return -1;
        if (plain(*p)) {
            out[k++] = (char)*p;
        } else {
            snprintf(out + k, 4, "~%02X", *p);
            k += 3;
        }
    }
    out[k] = 0;
    return 0;
}

/* A name is carried when some allow glob matches it and no deny glob ("!glob") does.
 * Globs are fnmatch(3) patterns without FNM_PATHNAME: '*' crosses '/'. */
bool br_selected(const br_globs *g, const char *name)
{
    bool allowed = false;
    for (unsigned i = 0; i < g->n; i++) {
        const char *p = g->glob[i];
        if (p[0] == '!') {
            if (fnmatch(p + 1, name, 0) == 0) return false;
        } else if (!allowed && fnmatch(p, name, 0) == 0) {
            allowed = true;
        }
    }
    return allowed;
}

/* Copy a NUL-terminated string into a field, cut to fit. */
void br_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Fill in a carried channel and its subject. 0, or -1 if the subject does not fit. */
int br_chan_set(br_chan *c, const char *domain, am_kind kind, const char *name, const char *type, uint64_t fp)
{
    c->kind = kind;
    br_copy(c->name, sizeof c->name, name);
    br_copy(c->type, sizeof c->type, type);
    c->fingerprint = fp;
    return br_subject(c->subject, sizeof c->subject, domain, kind == AM_KIND_TOPIC ? "t" : "s", c->name);
}

int64_t br_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t br_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *br_hdr_str(natsMsg *m, const char *key)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, key, &v) == NATS_OK ? v : NULL;
}

bool br_hdr_u64(natsMsg *m, const char *key, uint64_t *out, int base)
{
    const char *v = br_hdr_str(m, key);
    if (!v || !isxdigit((unsigned char)*v)) return false;     /* no sign, no blank */
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, base);
    if (*end || errno == ERANGE) return false;
    *out = x;
    return true;
}

bool br_hdr_i64(natsMsg *m, const char *key, int64_t *out)
{
    const char *v = br_hdr_str(m, key);
    if (!v || !(isdigit((unsigned char)*v) || (*v == '-' && isdigit((unsigned char)v[1])))) return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (*end || errno == ERANGE) return false;
    *out = x;
    return true;
}

void br_hdr_set_u64(natsMsg *m, const char *key, uint64_t v, int hex)
{
    char s[24];
    snprintf(s, sizeof s, hex ? "%016" PRIx64 : "%" PRIu64, v);
    natsMsgHeader_Set(m, key, s);
}

void br_hdr_set_i64(natsMsg *m, const char *key, int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    natsMsgHeader_Set(m, key, s);
}
