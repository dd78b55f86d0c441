/* SPDX-License-Identifier: Apache-2.0 */
/*
 * top.c — amctl top: what each topic, service and port is doing now.
 *
 * Ports count what they send and take (amc_port: sent, received, dropped, payload
 * bytes); a rate is the difference of two reads of those counters, `--interval` apart,
 * divided by the time between the reads. Like every read command, top maps the arena
 * read-only and takes no lock, so a snapshot is a set of racy reads of values anybody
 * may have scribbled on: a port is matched with its previous read by channel block,
 * port number, port incarnation and owner stamp, and a counter that went backwards
 * (or a port seen for the first time that was already open at the previous read) has
 * no rate, shown as "-" (null in JSON), never a made-up one.
 *
 * On a terminal each refresh redraws the screen (the alternate screen, given back on
 * exit); piped, tables are appended; --json prints one object a line per refresh.
 * SIGINT and SIGTERM end it cleanly (status 0), as do --count and --seconds.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "amctl.h"

/* One port as read at one time. */
typedef struct port_snap {
    uint64_t chan_off, stamp, opened_ns;
    uint32_t chan_gen, port, gen, role, pid;
    uint64_t sent, received, dropped, bytes;
    port_view v;
    who w;
    bool known, alive;
} port_snap;

/* One channel, and its ports ports[first .. first + n). */
typedef struct chan_snap {
    char name[AM_NAME_MAX + 1], type[AM_TYPE_MAX + 1];
    unsigned kind, first, n;
} chan_snap;

typedef struct snap {
    uint64_t t_ns;                               /* CLOCK_MONOTONIC, as port opened_ns */
    unsigned nch, nports;
    chan_snap ch[AM_MAX_CHANNELS];
    port_snap ports[AM_MAX_CHANNELS * AM_MAX_PORTS];
} snap;

/* Rates of one port or channel over the last interval; known false: no rate. */
typedef struct rates {
    bool known;
    double sent, received, msgs, bytes, drops;
} rates;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static bool alt_screen;
static void restore_terminal(void)
{
    if (alt_screen) fputs("\033[?25h\033[?1049l", stdout);     /* cursor back, main screen back */
    alt_screen = false;
    fflush(stdout);
}

static void take_snap(am_arena *a, const amc_dir *d, snap *s)
{
    s->nch = s->nports = 0;
    s->t_ns = am_now_ns();
    for (unsigned i = 0; d && i < AM_MAX_CHANNELS; i++) {
        const amc_entry *e = &d->e[i];
        if (atomic_load(&e->state) != AMC_ENT_READY) continue;
        uint64_t off = e->chan_off;
        uint32_t gen = e->chan_gen;
        amc_chan *ch = amc_chan_at(a, off, gen);
        if (!ch) continue;
        chan_snap *c = &s->ch[s->nch++];
        snprintf(c->name, sizeof c->name, "%.*s", (int)AM_NAME_MAX, e->name);
        snprintf(c->type, sizeof c->type, "%.*s", (int)AM_TYPE_MAX, e->typed ? e->type : "");
        c->kind = ch->kind;
        c->first = s->nports;
        for (unsigned k = 0; k < AM_MAX_PORTS; k++) {
            const amc_port *p = &ch->ports[k];
            if (atomic_load(&p->state) == AMC_PORT_FREE) continue;
            port_snap *ps = &s->ports[s->nports++];
            ps->chan_off = off;
            ps->chan_gen = gen;
            ps->port = k;
            ps->gen = atomic_load(&p->gen);
            ps->stamp = atomic_load(&p->stamp);
            ps->opened_ns = p->opened_ns;
            ps->role = p->role;
            ps->pid = p->pid;
            ps->sent = atomic_load(&p->sent);
            ps->received = atomic_load(&p->received);
            ps->dropped = atomic_load(&p->dropped);
            ps->bytes = atomic_load(&p->bytes);
            ps->alive = ps->stamp && !am_stamp_dead(a, ps->stamp);
            ps->known = who_of_stamp(a, ps->stamp, &ps->w);
            port_look(a, ch, k, &ps->v);
        }
        c->n = s->nports - c->first;
    }
}

static const port_snap *find_port(const snap *s, const port_snap *p)
{
    for (unsigned i = 0; i < s->nports; i++) {
        const port_snap *q = &s->ports[i];
        if (q->chan_off == p->chan_off && q->chan_gen == p->chan_gen && q->port == p->port && q->gen == p->gen &&
            q->stamp == p->stamp) {
            return q;
        }
    }
    return NULL;
}

static rates port_rates(const snap *prev, const port_snap *p, uint64_t t_ns)
{
    rates r = { 0 };
    const port_snap *q = find_port(prev, p);
    static const port_snap zero;
    if (!q && p->opened_ns >= prev->t_ns) q = &zero;           /* opened since: counted from 0 */
    if (!q || p->sent < q->sent || p->received < q->received || p->dropped < q->dropped || p->bytes < q->bytes ||
        t_ns <= prev->t_ns) {
        return r;
    }
    double dt = (double)(t_ns - prev->t_ns) / 1e9;
    r.known = true;
    r.sent = (double)(p->sent - q->sent) / dt;
    r.received = (double)(p->received - q->received) / dt;
    r.msgs = r.sent + r.received;
    r.bytes = (double)(p->bytes - q->bytes) / dt;
    r.drops = (double)(p->dropped - q->dropped) / dt;
    return r;
}

/* A channel's figures: messages sent into it (publications; requests and replies),
 * the payload bytes of its publishers (topics) or clients (services: requests sent and
 * replies taken), its drops (each drop is counted twice, by the sender that made it and
 * by the receiver that lost it: the sum over its ports, halved), its fullest queue, the
 * bytes of samples its ports keep. */
typedef struct chan_sum { rates r; double fill; uint64_t sample_bytes; } chan_sum;

static double fill_of(const port_view *v)
{
    return v->cap ? (double)v->queued / (double)v->cap : 0;
}

static chan_sum chan_figures(const snap *cur, const snap *prev, const chan_snap *c)
{
    chan_sum s = { .r.known = true };
    for (unsigned i = c->first; i < c->first + c->n; i++) {
        const port_snap *p = &cur->ports[i];
        rates r = port_rates(prev, p, cur->t_ns);
        if (!r.known) s.r.known = false;
        s.r.msgs += r.sent;
        s.r.drops += r.drops / 2;
        if (p->role == AMC_ROLE_PUB || p->role == AMC_ROLE_CLIENT) s.r.bytes += r.bytes;
        if (fill_of(&p->v) > s.fill) s.fill = fill_of(&p->v);
        s.sample_bytes += p->v.queued_bytes + p->v.held_bytes;
    }
    return s;
}

static const char *kind_name(unsigned kind)
{
    return kind == AMC_KIND_TOPIC ? "topic" : "service";
}

/* A rate, or null / "-" when there is none. */
static void json_rate(const char *key, bool known, double v)
{
    printf(", \"%s\": ", key);
    if (known) printf("%.3f", v);
    else printf("null");
}

static void print_json(const char *name, const snap *cur, const snap *prev)
{
    printf("{\"arena\": ");
    json_str(stdout, name);
    printf(", \"interval_s\": %.3f, \"channels\": [", (double)(cur->t_ns - prev->t_ns) / 1e9);
    for (unsigned c = 0; c < cur->nch; c++) {
        const chan_snap *ch = &cur->ch[c];
        chan_sum s = chan_figures(cur, prev, ch);
        printf("%s{\"kind\": \"%s\", \"name\": ", c ? ", " : "", kind_name(ch->kind));
        json_str(stdout, ch->name);
        printf(", \"type\": ");
        json_str(stdout, ch->type);
        json_rate("msgs_per_s", s.r.known, s.r.msgs);
        json_rate("bytes_per_s", s.r.known, s.r.bytes);
        json_rate("drops_per_s", s.r.known, s.r.drops);
        printf(", \"queue_fill\": %.4f, \"sample_bytes\": %llu, \"ports\": [", s.fill, (unsigned long long)s.sample_bytes);
        for (unsigned i = ch->first; i < ch->first + ch->n; i++) {
            const port_snap *p = &cur->ports[i];
            rates r = port_rates(prev, p, cur->t_ns);
            printf("%s{\"port\": %u, \"role\": \"%s\", \"pid\": %u, ", i > ch->first ? ", " : "", p->port,
                   role_name(p->role), p->pid);
            who_json(stdout, &p->w, p->known);
            printf(", \"alive\": %s", p->alive ? "true" : "false");
            json_rate("msgs_per_s", r.known, r.msgs);
            json_rate("sent_per_s", r.known, r.sent);
            json_rate("received_per_s", r.known, r.received);
            json_rate("bytes_per_s", r.known, r.bytes);
            json_rate("drops_per_s", r.known, r.drops);
            printf(", \"queued\": %u, \"queue_capacity\": %u, \"queue_fill\": %.4f, \"sample_bytes\": %llu, "
                   "\"sent\": %llu, \"received\": %llu, \"dropped\": %llu, \"payload_bytes\": %llu}",
                   p->v.queued, p->v.cap, fill_of(&p->v), (unsigned long long)(p->v.queued_bytes + p->v.held_bytes),
                   (unsigned long long)p->sent, (unsigned long long)p->received, (unsigned long long)p->dropped,
                   (unsigned long long)p->bytes);
        }
        printf("]}");
    }
    printf("]}\n");
}

static void text_rates(const rates *r)
{
    double mb = r->bytes / 1e6;                /* small rates keep their digits */
    if (r->known) printf(" %10.1f %9.*f %8.1f", r->msgs, mb < 10 ? 6 : mb < 10000 ? 3 : 0, mb, r->drops);
    else printf(" %10s %9s %8s", "-", "-", "-");
}

static void print_table(const char *name, const snap *cur, const snap *prev, bool tty)
{
    time_t now = time(NULL);
    struct tm tm;
    char clock[16];
    strftime(clock, sizeof clock, "%H:%M:%S", localtime_r(&now, &tm));
    if (tty) fputs("\033[H\033[2J", stdout);
    printf("amctl top %s  %s  every %.1f s%s\n", name, clock, (double)(cur->t_ns - prev->t_ns) / 1e9,
           tty ? "  (Ctrl-C quits)" : "");
    printf("%-34s %-20s %10s %9s %8s %9s %10s\n", "TOPIC/SERVICE, PORT", "PROCESS", "MSGS/S", "MB/S", "DROPS/S",
           "QUEUE", "HELD B");
    if (cur->nch == 0) printf("(no topics or services)\n");
    for (unsigned c = 0; c < cur->nch; c++) {
        const chan_snap *ch = &cur->ch[c];
        chan_sum s = chan_figures(cur, prev, ch);
        char label[AM_NAME_MAX + 16];
        snprintf(label, sizeof label, "%s %s", kind_name(ch->kind), ch->name);
        printf("%-34.34s %-20s", label, "");
        text_rates(&s.r);
        printf(" %8.0f%% %10llu\n", s.fill * 100, (unsigned long long)s.sample_bytes);
        for (unsigned i = ch->first; i < ch->first + ch->n; i++) {
            const port_snap *p = &cur->ports[i];
            rates r = port_rates(prev, p, cur->t_ns);
            char port[48], proc[64], queue[24];
            snprintf(port, sizeof port, "  %s #%u pid %u%s", role_name(p->role), p->port, p->pid, p->alive ? "" : " DEAD");
            if (p->v.cap) snprintf(queue, sizeof queue, "%u/%u", p->v.queued, p->v.cap);
            else snprintf(queue, sizeof queue, "-");
            printf("%-34.34s %-20.20s", port, p->known ? who_label(&p->w, proc, sizeof proc) : "?");
            text_rates(&r);
            printf(" %9s %10llu\n", queue, (unsigned long long)(p->v.queued_bytes + p->v.held_bytes));
        }
    }
    if (!tty) putchar('\n');
    fflush(stdout);
}

/* Sleep until `until` (CLOCK_MONOTONIC ns), or a signal. */
static void sleep_until(uint64_t until)
{
    while (!stop) {
        uint64_t now = am_now_ns();
        if (now >= until) return;
        uint64_t ns = until - now;
        struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
        nanosleep(&ts, NULL);                  /* a signal ends it early (EINTR) */
    }
}

int cmd_top(const char *name, const opts *o)
{
    am_arena *a = peek(name);
    if (!a) return 1;
    snap *cur = calloc(1, sizeof *cur), *prev = calloc(1, sizeof *prev);
    if (!cur || !prev) {
        fprintf(stderr, "amctl: out of memory\n");
        free(cur);
        free(prev);
        am_arena_unpeek(a);
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = !o->json && isatty(STDOUT_FILENO);
    if (tty) {
        alt_screen = true;
        atexit(restore_terminal);              /* also after a SIGBUS ends the command */
        fputs("\033[?1049h\033[?25l", stdout);  /* the alternate screen, no cursor */
    }
    double interval = o->interval > 0 ? o->interval : 1.0;
    uint64_t step = (uint64_t)(interval * 1e9);
    uint64_t deadline = o->seconds > 0 ? am_now_ns() + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
    int rc = 0;
    const amc_dir *d = dir_look(a, name, &rc);
    if (rc == 0) take_snap(a, d, prev);
    for (long shown = 0; rc == 0 && !stop && (o->count == 0 || shown < o->count);) {
        uint64_t next = prev->t_ns + step;
        sleep_until(next < deadline ? next : deadline);
        if (stop || am_now_ns() >= deadline) break;
        d = dir_look(a, name, &rc);            /* the directory appears with the first channel */
        if (rc) break;
        take_snap(a, d, cur);
        if (o->json) {
            print_json(name, cur, prev);
            fflush(stdout);
        } else {
            print_table(name, cur, prev, tty);
        }
        shown++;
        snap *t = prev;
        prev = cur;
        cur = t;
    }
    restore_terminal();
    free(cur);
    free(prev);
    am_arena_unpeek(a);
    return rc;
}
