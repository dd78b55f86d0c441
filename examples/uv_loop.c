/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uv_loop — atomicmatrix inside a libuv event loop.
 *
 * A uv_poll_t watches a waitset's descriptor (am_waitset_fd); when it is readable the
 * poll callback runs am_waitset_dispatch, which calls the subscriber's listener. A
 * uv_timer_t publishes one reading every millisecond on the same loop, so one thread
 * both sends and receives without ever blocking. After COUNT readings the loop stops
 * its handles and uv_run returns.
 *
 * usage: uv_loop [ARENA] [--count N]   (exit status 0 only if all arrived in order)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "atomicmatrix/atomicmatrix.h"

typedef struct app {
    am_pub     *pub;
    am_sub     *sub;
    am_waitset *ws;
    uv_poll_t   poll;
    uv_timer_t  timer;
    uint64_t    sent, got;
    long        count;
    int         bad;
} app;

static void on_reading(void *source, void *user)
{
    app *ap = user;
    am_sample s;
    while (am_sub_take(source, &s, 0) == 0) {
        uint64_t v;
        memcpy(&v, s.data, sizeof v);
        if (v != ap->got + 1) ap->bad++;
        ap->got = v;
        am_sub_ack(source, &s);
    }
    if (ap->got >= (uint64_t)ap->count) {                   /* done: let uv_run return */
        uv_poll_stop(&ap->poll);
        uv_timer_stop(&ap->timer);
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    app *ap = h->data;
    if (status < 0 || !(events & UV_READABLE)) return;
    am_waitset_dispatch(ap->ws, 0);
}

static void on_tick(uv_timer_t *t)
{
    app *ap = t->data;
    for (int i = 0; i < 10 && ap->sent < (uint64_t)ap->count; i++) {
        uint64_t v = ++ap->sent;
        if (am_pub_publish(ap->pub, &v, sizeof v) != 0) ap->bad++;
    }
}

int main(int argc, char **argv)
{
    const char *name = "uv_demo";
    app ap = { .count = 5000 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) ap.count = atol(argv[++i]);
        else name = argv[i];
    }
    am_arena_unlink(name);
    am_arena *a;
    am_sub_opts so = { .depth = 256 };
    int rc;
    if ((rc = am_arena_open(name, NULL, &a)) || (rc = am_sub_open(a, "readings", &so, &ap.sub)) ||
        (rc = am_pub_open(a, "readings", NULL, &ap.pub)) || (rc = am_waitset_open(&ap.ws)) ||
        (rc = am_waitset_add_sub(ap.ws, ap.sub, NULL)) || (rc = am_sub_listen(ap.sub, on_reading, &ap))) {
        fprintf(stderr, "uv_loop: %s\n", am_strerror(rc));
        return 1;
    }
    int fd = am_waitset_fd(ap.ws);
    if (fd < 0) {
        fprintf(stderr, "uv_loop: am_waitset_fd: %s\n", am_strerror(fd));
        return 1;
    }
    uv_loop_t *loop = uv_default_loop();
    uv_poll_init(loop, &ap.poll, fd);
    ap.poll.data = &ap;
    uv_poll_start(&ap.poll, UV_READABLE, on_readable);
    uv_timer_init(loop, &ap.timer);
    ap.timer.data = &ap;
    uv_timer_start(&ap.timer, on_tick, 1, 1);
    uv_run(loop, UV_RUN_DEFAULT);

    printf("uv_loop: sent %llu, received %llu in order%s\n", (unsigned long long)ap.sent,
           (unsigned long long)ap.got, ap.bad ? " (with errors)" : "");
    int ok = ap.got == (uint64_t)ap.count && ap.bad == 0;
    uv_close((uv_handle_t *)&ap.poll, NULL);
    uv_close((uv_handle_t *)&ap.timer, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    am_waitset_close(ap.ws);
    am_sub_close(ap.sub);
    am_pub_close(ap.pub);
    am_arena_close(a);
    am_arena_unlink(name);
    printf("uv_loop: %s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
