/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arena_cmds.c — amctl ls, stat, map, gc, rm: the arena's files, figures and picture.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "amctl.h"

void live_scan(am_arena *a, liveness *l)
{
    memset(l, 0, sizeof *l);
    for (unsigned i = 0; i < AM_MAX_PARTICIPANTS; i++) {
        uint32_t st = atomic_load_explicit(&a->parts[i].state, memory_order_acquire);
        if (st == AM_PART_FREE) continue;
        l->used[i] = true;
        l->alive[i] = st == AM_PART_LIVE && am_slot_alive(a, i);
        if (l->alive[i]) l->live++;
        else l->dead++;
    }
}

void sector_walk(am_arena *a, unsigned k, const liveness *l, sector_view *v, char *cells, unsigned ncells)
{
    memset(v, 0, sizeof *v);
    uint64_t start = am_sector_start(a, k), end = am_sector_end(a, k), span = end - start;
    if (atomic_load_explicit(&a->sectors[k].released, memory_order_acquire)) {
        v->released = true;                  /* its pages are given back: not read */
        if (cells) memset(cells, 'r', ncells);
        return;
    }
    if (cells) memset(cells, '?', ncells);
    for (uint64_t off = start; off < end;) {
        am_block *b = am_blk_checked(a, k, off);
        uint64_t size = b ? am_blk_size(a, k, off, b) : 0;
        if (!size) { v->corrupt = true; return; }
        uint32_t st = atomic_load_explicit(&b->st, memory_order_relaxed);
        uint32_t owner = atomic_load_explicit(&b->owner, memory_order_relaxed);
        char c;
        if (AM_ST_STATE(st) == AM_BLK_FREE) {
            c = 'f';
            v->free += size;
            v->free_blocks++;
            if (size - AM_HDR > v->largest_free) v->largest_free = size - AM_HDR;
        } else if (owner != 0 && owner <= AM_MAX_PARTICIPANTS && !l->alive[owner - 1]) {
            c = 'd';
            v->dead += size;
            v->dead_blocks++;
        } else {
            c = 'u';
            v->used += size;
            v->used_blocks++;
        }
        if (cells) {
            /* A cell shows what covers most of it; used and dead win over free. */
            uint64_t c0 = (off - start) * ncells / span, c1 = (off + size - start - 1) * ncells / span;
            for (uint64_t i = c0; i <= c1 && i < ncells; i++) {
                if (cells[i] == '?' || cells[i] == 'f' || c == 'd') cells[i] = c;
            }
        }
        off += size;
    }
}

/* Why a peek of `name` failed (rc), on stderr. */
static void peek_failed(const char *name, int rc)
{
    const char *why = am_arena_open_report();
    fprintf(stderr, "amctl: %s: %s%s%s\n", name, am_strerror(rc), why[0] ? ": " : "", why);
}

am_arena *peek(const char *name)
{
    am_arena *a;
    int rc = am_arena_peek(name, AM_TRUST_OTHER_OWNER, &a);
    if (rc) {
        peek_failed(name, rc);
        return NULL;
    }
    return a;
}

/* ------------------------------------------------------------------ who */

bool who_in_slot(am_arena *a, unsigned slot, uint32_t gen, who *w)
{
    memset(w, 0, sizeof *w);
    if (slot >= AM_MAX_PARTICIPANTS) return false;
    const am_participant *p = &a->parts[slot];
    if (atomic_load_explicit(&p->state, memory_order_acquire) == AM_PART_FREE ||
        atomic_load_explicit(&p->gen, memory_order_acquire) != gen) {
        return false;
    }
    am_name_copy(w->name, p->name, sizeof w->name);
    am_name_copy(w->node, p->node, sizeof w->node);
    /* A joiner rewriting the names meanwhile bumped gen first: what we copied may be
     * its, so it is not shown as the old incarnation's. */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&p->gen, memory_order_relaxed) != gen) {
        memset(w, 0, sizeof *w);
        return false;
    }
    return true;
}

bool who_of_stamp(am_arena *a, uint64_t stamp, who *w)
{
    uint32_t slot1 = (uint32_t)stamp;
    if (slot1 == 0 || slot1 > AM_MAX_PARTICIPANTS) {
        memset(w, 0, sizeof *w);
        return false;
    }
    return who_in_slot(a, slot1 - 1, (uint32_t)(stamp >> 32), w);
}

const char *who_label(const who *w, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s", w->name[0] ? w->name : "?", w->node[0] ? "@" : "", w->node);
    return buf;
}

void who_json(FILE *f, const who *w, bool known)
{
    fprintf(f, "\"process\": ");
    if (known) json_str(f, w->name);
    else fprintf(f, "null");
    fprintf(f, ", \"node\": ");
    if (known) json_str(f, w->node);
    else fprintf(f, "null");
}

/* ------------------------------------------------------------------ ls */

/* One arena's figures for ls, read under the SIGBUS guard (ls_read). */
typedef struct ls_entry {
    am_arena *a;
    uint64_t used, heap;
    liveness l;
    bool corrupt;
    uint32_t pid[AM_MAX_PARTICIPANTS];
    who w[AM_MAX_PARTICIPANTS];
} ls_entry;

static int ls_read(void *arg)
{
    ls_entry *e = arg;
    live_scan(e->a, &e->l);
    for (unsigned i = 0; i < AM_MAX_PARTICIPANTS; i++) {
        if (!e->l.used[i]) continue;
        const am_participant *p = &e->a->parts[i];
        e->pid[i] = atomic_load_explicit(&p->pid, memory_order_relaxed);
        (void)who_in_slot(e->a, i, atomic_load_explicit(&p->gen, memory_order_acquire), &e->w[i]);
    }
    for (unsigned k = 0, n = am_sectors(e->a); k < n; k++) {
        sector_view v;
        sector_walk(e->a, k, &e->l, &v, NULL, 0);
        e->used += v.used + v.dead;
        e->corrupt |= v.corrupt;
        if (!v.released) e->heap += am_sector_bytes(e->a, k);
    }
    return 0;
}

int cmd_ls(const opts *o)
{
    const char *dir = am_shm_dir();
    if (!dir) { fprintf(stderr, "amctl: AM_SHM_DIR must be an absolute path\n"); return 1; }
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "amctl: %s: %s\n", dir, strerror(errno)); return 1; }
    if (o->json) printf("[");
    else printf("%-24s %10s %7s %5s %5s %-10s %-5s %s\n", "NAME", "SIZE", "USED", "LIVE", "DEAD", "OWNER", "MODE",
                "PROCESSES");
    static ls_entry e;                       /* 10 KiB: not on the stack */
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "am.", 3) != 0) continue;
        const char *name = de->d_name + 3;
        /* Never open what is not a regular file (a FIFO would block the open, a device
         * could do anything): lstat-like, no open, no symlink followed. */
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        memset(&e, 0, sizeof e);
        int rc = am_arena_peek(name, AM_TRUST_OTHER_OWNER, &e.a);
        if (rc == AM_EFORMAT || rc == AM_EINVAL || rc == AM_ENAME) continue;   /* not ours: left alone */
        if (rc == AM_ENOENT) continue;                                         /* gone meanwhile */
        const char *state = rc ? am_strerror(rc) : "ok";
        if (rc == 0) {
            /* The figures of the file mapped, not of the name's file at the lstat. */
            if (fstat(e.a->fd, &st) != 0) { am_arena_unpeek(e.a); continue; }
            if (sigbus_guarded(ls_read, &e) == AMCTL_TRUNCATED) {
                state = "truncated";
                e.corrupt = true;
            } else if (e.corrupt) {
                state = "corrupt";
            }
            am_arena_unpeek(e.a);
        }
        double pct = e.heap ? 100.0 * (double)e.used / (double)e.heap : 0;
        if (o->json) {
            printf("%s{\"name\": ", n ? ", " : "");
            json_str(stdout, name);
            printf(", \"size\": %lld, \"used\": %llu, \"used_pct\": %.2f, \"live\": %u, \"dead\": %u, \"uid\": %u, "
                   "\"mode\": \"%04o\", \"state\": ",
                   (long long)st.st_size, (unsigned long long)e.used, pct, e.l.live, e.l.dead, (unsigned)st.st_uid,
                   (unsigned)(st.st_mode & 07777));
            json_str(stdout, state);
            printf(", \"participants\": [");
            for (unsigned i = 0, k = 0; i < AM_MAX_PARTICIPANTS; i++) {
                if (!e.l.used[i]) continue;
                printf("%s{\"slot\": %u, \"pid\": %u, ", k++ ? ", " : "", i, e.pid[i]);
                who_json(stdout, &e.w[i], true);
                printf(", \"alive\": %s}", e.l.alive[i] ? "true" : "false");
            }
            printf("]}");
        } else if (rc) {
            printf("%-24s %10lld %7s %5s %5s %-10u %04o  (%s)\n", name, (long long)st.st_size, "-", "-", "-",
                   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), state);
        } else {
            printf("%-24s %10lld %6.1f%% %5u %5u %-10u %04o ", name, (long long)st.st_size, pct, e.l.live, e.l.dead,
                   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
            for (unsigned i = 0, k = 0; i < AM_MAX_PARTICIPANTS; i++) {
                char label[64];
                if (e.l.used[i]) printf("%s%s(%u%s)", k++ ? ", " : "", who_label(&e.w[i], label, sizeof label), e.pid[i],
                                        e.l.alive[i] ? "" : " dead");
            }
            printf("%s%s%s\n", e.corrupt ? "  (" : "", e.corrupt ? state : "", e.corrupt ? ")" : "");
        }
        n++;
    }
    closedir(d);
    if (o->json) printf("]\n");
    return 0;
}

/* ------------------------------------------------------------------ stat */

int cmd_stat(const char *name, const opts *o)
{
    am_arena *a = peek(name);
    if (!a) return 1;
    liveness l;
    live_scan(a, &l);
    uint32_t published = atomic_load(&a->hdr->nsectors);      /* before: it only grows */
    am_growth gr;
    (void)am_arena_growth(a, &gr);
    unsigned n = gr.sectors;
    sector_view t = { 0 };
    sector_view *sv = calloc(n, sizeof *sv);
    uint64_t allocs = 0, frees = 0, repairs = 0, reclaimed = 0, frag_free = 0, heap = 0;
    bool corrupt = n < published;                          /* a published sector did not check out */
    for (unsigned k = 0; sv && k < n; k++) {
        sector_walk(a, k, &l, &sv[k], NULL, 0);
        if (!sv[k].released) heap += am_sector_bytes(a, k);
        t.used += sv[k].used; t.free += sv[k].free; t.dead += sv[k].dead;
        t.used_blocks += sv[k].used_blocks; t.free_blocks += sv[k].free_blocks; t.dead_blocks += sv[k].dead_blocks;
        if (sv[k].largest_free > t.largest_free) t.largest_free = sv[k].largest_free;
        frag_free += sv[k].free - (sv[k].free_blocks ? sv[k].largest_free + AM_HDR : 0);
        corrupt |= sv[k].corrupt;
        am_sector *s = &a->sectors[k];
        allocs += atomic_load(&s->allocs);
        frees += atomic_load(&s->frees);
        repairs += atomic_load(&s->repairs);
        reclaimed += atomic_load(&s->reclaimed);
    }
    double frag = t.free ? (double)frag_free / (double)t.free : 0;
    if (o->json) {
        printf("{\"name\": ");
        json_str(stdout, name);
        printf(", \"size\": %llu, \"initial_size\": %llu, \"reserved_size\": %llu, \"max_size\": %llu, "
               "\"heap\": %llu, \"heap_offset\": %llu, \"sectors\": %u, \"sector_size\": %llu, "
               "\"sectors_added\": %llu, \"sector_releases\": %llu, \"sectors_released_now\": %u, \"used\": %llu, "
               "\"free\": %llu, \"held_by_dead\": %llu, \"used_blocks\": %llu, \"free_blocks\": %llu, "
               "\"dead_blocks\": %llu, \"largest_free\": %llu, \"fragmentation\": %.4f, \"allocs\": %llu, "
               "\"frees\": %llu, \"repairs\": %llu, \"reclaimed\": %llu, \"live\": %u, \"dead\": %u, \"corrupt\": %s, "
               "\"per_sector\": [",
               (unsigned long long)gr.current, (unsigned long long)gr.initial, (unsigned long long)gr.reserved,
               (unsigned long long)gr.maximum, (unsigned long long)heap, (unsigned long long)a->g.heap_off, n,
               (unsigned long long)a->g.sector_size, (unsigned long long)gr.added, (unsigned long long)gr.releases,
               gr.released_now, (unsigned long long)t.used, (unsigned long long)t.free,
               (unsigned long long)t.dead, (unsigned long long)t.used_blocks, (unsigned long long)t.free_blocks,
               (unsigned long long)t.dead_blocks, (unsigned long long)t.largest_free, frag, (unsigned long long)allocs,
               (unsigned long long)frees, (unsigned long long)repairs, (unsigned long long)reclaimed, l.live, l.dead,
               corrupt ? "true" : "false");
        for (unsigned k = 0; sv && k < n; k++) {
            printf("%s{\"start\": %llu, \"bytes\": %llu, \"grown\": %s, \"released\": %s, \"used\": %llu, "
                   "\"free\": %llu, \"held_by_dead\": %llu, \"largest_free\": %llu, \"corrupt\": %s}",
                   k ? ", " : "", (unsigned long long)am_sector_start(a, k), (unsigned long long)am_sector_bytes(a, k),
                   k >= a->g.nsectors ? "true" : "false", sv[k].released ? "true" : "false",
                   (unsigned long long)sv[k].used, (unsigned long long)sv[k].free,
                   (unsigned long long)sv[k].dead, (unsigned long long)sv[k].largest_free,
                   sv[k].corrupt ? "true" : "false");
        }
        printf("]}\n");
    } else {
        printf("arena %s: %llu bytes (initial %llu, pages reserved %llu, maximum %llu); %u sectors (%u first of %llu "
               "bytes, %llu added, %u given back now, %llu releases); participants %u live, %u dead\n",
               name, (unsigned long long)gr.current, (unsigned long long)gr.initial, (unsigned long long)gr.reserved,
               (unsigned long long)gr.maximum, n, a->g.nsectors, (unsigned long long)a->g.sector_size,
               (unsigned long long)gr.added, gr.released_now, (unsigned long long)gr.releases, l.live, l.dead);
        printf("  used %llu bytes in %llu blocks; free %llu in %llu blocks; held by dead %llu in %llu blocks\n",
               (unsigned long long)t.used, (unsigned long long)t.used_blocks, (unsigned long long)t.free,
               (unsigned long long)t.free_blocks, (unsigned long long)t.dead, (unsigned long long)t.dead_blocks);
        printf("  largest free block %llu bytes; fragmentation %.3f\n", (unsigned long long)t.largest_free, frag);
        printf("  allocations %llu, frees %llu, sector repairs %llu, blocks reclaimed %llu%s\n",
               (unsigned long long)allocs, (unsigned long long)frees, (unsigned long long)repairs,
               (unsigned long long)reclaimed, corrupt ? "; CORRUPT sectors below" : "");
        printf("  %-6s %12s %12s %12s %12s %12s\n", "sector", "bytes", "used", "free", "dead", "largest");
        for (unsigned k = 0; sv && k < n; k++) {
            printf("  %-6u %12llu %12llu %12llu %12llu %12llu%s%s\n", k, (unsigned long long)am_sector_bytes(a, k),
                   (unsigned long long)sv[k].used, (unsigned long long)sv[k].free, (unsigned long long)sv[k].dead,
                   (unsigned long long)sv[k].largest_free, sv[k].released ? "  given back" : k >= a->g.nsectors ? "  grown" : "",
                   sv[k].corrupt ? "  corrupt" : "");
        }
    }
    free(sv);
    am_arena_unpeek(a);
    return corrupt ? 2 : 0;
}

/* ------------------------------------------------------------------ map */

static const char *svg_colour(char c)
{
    return c == 'u' ? "#3b82f6" : c == 'f' ? "#e5e7eb" : c == 'd' ? "#dc2626" : c == 'r' ? "#ffffff" : "#111827";
}

int cmd_map(const char *name, const opts *o)
{
    am_arena *a = peek(name);
    if (!a) return 1;
    liveness l;
    live_scan(a, &l);
    unsigned w = o->width ? o->width : 64, n = am_sectors(a);
    char *cells = malloc((size_t)w * n);
    if (!cells) { am_arena_unpeek(a); return 1; }
    for (unsigned k = 0; k < n; k++) {
        sector_view v;
        sector_walk(a, k, &l, &v, cells + (size_t)k * w, w);
    }
    /* Every sector gets a row of w cells; grown sectors may be larger than the first
     * ones, so each row says its size (a cell covers bytes / w of it). */
    if (o->svg) {
        FILE *f = fopen(o->svg, "w");
        if (!f) { perror(o->svg); free(cells); am_arena_unpeek(a); return 1; }
        unsigned cw = 10, ch = 18, left = 150;
        fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\">\n"
                   "<title>arena %s</title>\n", left + w * cw + 10, (n + 2) * ch + 10, name);
        for (unsigned k = 0; k < n; k++) {
            fprintf(f, "<text x=\"4\" y=\"%u\" font-family=\"monospace\" font-size=\"12\">sector %u %llu KiB</text>\n",
                    k * ch + 14, k, (unsigned long long)(am_sector_bytes(a, k) >> 10));
            for (unsigned i = 0; i < w; i++) {
                fprintf(f, "<rect class=\"cell\" x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"%s\"/>\n",
                        left + i * cw, k * ch + 2, cw - 1, ch - 4, svg_colour(cells[(size_t)k * w + i]));
            }
        }
        fprintf(f, "<text x=\"4\" y=\"%u\" font-family=\"monospace\" font-size=\"12\">blue used, grey free, red held "
                   "by dead participants, white given back, black unreadable</text>\n</svg>\n", n * ch + 24);
        fclose(f);
    }
    if (o->json) {
        printf("{\"name\": ");
        json_str(stdout, name);
        printf(", \"cells_per_sector\": %u, \"sectors\": [", w);
        for (unsigned k = 0; k < n; k++) printf("%s\"%.*s\"", k ? ", " : "", (int)w, cells + (size_t)k * w);
        printf("], \"sector_bytes\": [");
        for (unsigned k = 0; k < n; k++) printf("%s%llu", k ? ", " : "", (unsigned long long)am_sector_bytes(a, k));
        printf("]}\n");
    } else if (!o->svg) {
        bool tty = isatty(STDOUT_FILENO);
        printf("arena %s: %u sectors, %u cells each\n", name, n, w);
        for (unsigned k = 0; k < n; k++) {
            printf("%4u %9llu KiB ", k, (unsigned long long)(am_sector_bytes(a, k) >> 10));
            for (unsigned i = 0; i < w; i++) {
                char c = cells[(size_t)k * w + i];
                if (tty) printf("%s", c == 'u' ? "\033[44m \033[0m" : c == 'f' ? "\033[47m \033[0m" :
                                      c == 'd' ? "\033[41m \033[0m" : c == 'r' ? " " : "\033[40m?\033[0m");
                else putchar(c == 'u' ? '#' : c == 'f' ? '.' : c == 'd' ? 'X' : c == 'r' ? ' ' : '?');
            }
            putchar('\n');
        }
        printf(tty ? "     \033[44m \033[0m used  \033[47m \033[0m free  \033[41m \033[0m held by dead  (blank) given back  ? unreadable\n"
                   : "     # used  . free  X held by dead  (blank) given back  ? unreadable\n");
    }
    free(cells);
    am_arena_unpeek(a);
    return 0;
}

/* ------------------------------------------------------------------ gc, rm */

static void held_by_dead(am_arena *a, uint64_t *bytes, uint64_t *blocks)
{
    liveness l;
    live_scan(a, &l);
    *bytes = *blocks = 0;
    for (unsigned k = 0, n = am_sectors(a); k < n; k++) {
        sector_view v;
        sector_walk(a, k, &l, &v, NULL, 0);
        *bytes += v.dead;
        *blocks += v.dead_blocks;
    }
}

/* gc and rm act on another user's arena only with --trust: the file named is checked
 * (through the descriptor peek validated, not the name again) before anything is
 * written or removed. 0, or the exit status of the refusal. */
static int owner_check(am_arena *a, const char *name, const char *cmd, const opts *o)
{
    struct stat st;
    if (fstat(a->fd, &st) != 0) { perror("amctl: fstat"); return 1; }
    if (st.st_uid == geteuid() || o->trust) return 0;
    fprintf(stderr, "amctl: %s: owned by uid %u, not by you (uid %u); --trust to %s it anyway\n", name,
            (unsigned)st.st_uid, (unsigned)geteuid(), cmd);
    return 3;
}

int cmd_gc(const char *name, const opts *o)
{
    /* Lock files of this name whose arena is gone (an earlier arena's, or one removed
     * without the library): removed whether or not an arena of the name is there. */
    int orphans = am_lock_files_sweep(name);
    am_arena *p;
    int prc = am_arena_peek(name, AM_TRUST_OTHER_OWNER, &p);
    if (prc == AM_ENOENT && orphans > 0) {
        if (o->json) {
            printf("{\"name\": ");
            json_str(stdout, name);
            printf(", \"arena\": false, \"orphan_lock_files\": %d}\n", orphans);
        } else {
            printf("gc %s: no such arena; %d orphaned lock file(s) removed\n", name, orphans);
        }
        return 0;
    }
    if (prc) {
        peek_failed(name, prc);
        return 1;
    }
    int refused = owner_check(p, name, "gc", o);
    if (refused) { am_arena_unpeek(p); return refused; }
    am_stats before;
    uint64_t dead_bytes, dead_blocks;
    held_by_dead(p, &dead_bytes, &dead_blocks);
    am_arena *a;
    int rc = am_arena_open(name, &(am_arena_opts){ .flags = AM_ATTACH_ONLY | AM_TRUST_OTHER_OWNER }, &a);
    if (rc) {
        const char *why = am_arena_open_report();
        fprintf(stderr, "amctl: %s: %s%s%s\n", name, am_strerror(rc), why[0] ? ": " : "", why);
        am_arena_unpeek(p);
        return 1;
    }
    /* Joining already reclaimed what dead participants owned; say what it was. */
    am_arena_stats(a, &before);
    int blocks = am_arena_reclaim(a);
    int ports = am_channels_gc(a);
    am_stats after;
    am_arena_stats(a, &after);
    uint64_t freed = before.used > after.used ? before.used - after.used : 0;
    if (o->json) {
        printf("{\"name\": ");
        json_str(stdout, name);
        printf(", \"arena\": true, \"held_by_dead\": %llu, \"dead_blocks\": %llu, \"dead_ports\": %d, "
               "\"freed_port_bytes\": %llu, \"used\": %llu, \"orphan_lock_files\": %d}\n",
               (unsigned long long)dead_bytes, (unsigned long long)dead_blocks, ports, (unsigned long long)freed,
               (unsigned long long)after.used, orphans);
    } else {
        printf("gc %s: %llu bytes in %llu blocks owned by dead participants reclaimed%s; %d dead port(s) released, "
               "%llu bytes they held freed; %llu bytes in use now", name, (unsigned long long)dead_bytes,
               (unsigned long long)dead_blocks, blocks > 0 ? " (and more found just now)" : "", ports < 0 ? 0 : ports,
               (unsigned long long)freed, (unsigned long long)after.used);
        if (orphans > 0) printf("; %d orphaned lock file(s) removed", orphans);
        printf("\n");
    }
    am_arena_close(a);
    am_arena_unpeek(p);
    return ports < 0 ? 1 : 0;
}

/* rm: am_arena_unlink removes the arena's lock file with it (and any orphaned one). */
int cmd_rm(const char *name, const opts *o)
{
    am_arena *a = peek(name);
    if (!a) return 1;
    int refused = owner_check(a, name, "rm", o);
    if (refused) { am_arena_unpeek(a); return refused; }
    liveness l;
    live_scan(a, &l);
    am_arena_unpeek(a);
    if (l.live && !o->force) {
        fprintf(stderr, "amctl: %s: %u live participant(s) attached; --force removes it anyway\n", name, l.live);
        return 3;
    }
    int rc = am_arena_unlink(name);
    if (rc) { fprintf(stderr, "amctl: %s: %s\n", name, am_strerror(rc)); return 1; }
    if (o->json) {
        printf("{\"removed\": ");
        json_str(stdout, name);
        printf(", \"live\": %u}\n", l.live);
    } else {
        printf("removed %s%s\n", name, l.live ? " (live participants keep using it until they close)" : "");
    }
    return 0;
}
