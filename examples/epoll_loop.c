/* SPDX-License-Identifier: Apache-2.0 */
/*
 * epoll_loop — atomicmatrix inside a plain epoll event loop, callback-style.
 *
 * The loop waits on two descriptors at once: a waitset's descriptor
 * (am_waitset_fd: readable while a subscriber or server in it has something) and a
 * timerfd ticking every 100 ms. When the waitset's descriptor is
 * readable, am_waitset_dispatch calls each ready port's listener; a discovery watch in
 * the same waitset reports channels and ports coming and going.
 *
 * A child process (another program in real life) publishes COUNT readings on
 * "sensors/temp" and calls the service "calib" every tenth reading. The loop exits when
 * it has them all; exit status 0 only if every reading and call arrived in order.
 *
 * usage: epoll_loop [ARENA] [--count N]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>
#include "atomicmatrix/atomicmatrix.h"

#define SEC 1000000000ll

static const char *arena_name = "epoll_demo";
static long count = 2000;

typedef struct state {
    long readings, calls, ticks, changes;
    uint64_t last;
    int bad;
} state;

/* ------------------------------------------------------------------ listeners */

static void on_reading(void *source, void *user)
{
    state *st = user;
    am_sample s;
    while (am_sub_take(source, &s, 0) == 0) {
        uint64_t v;
        memcpy(&v, s.data, sizeof v);
        if (v != st->last + 1) st->bad++;
        st->last = v;
        st->readings++;
        am_sub_ack(source, &s);
    }
}

static void on_call(void *source, void *user)
{
    state *st = user;
    am_request rq;
    while (am_server_take(source, &rq, 0) == 0) {
        double x, y;
        memcpy(&x, rq.data, sizeof x);
        y = x * 1.5 + 2.0;                                  /* the "calibration" */
        st->calls++;
        am_server_reply(source, &rq, &y, sizeof y);
    }
}

static void on_discovery(void *source, void *user)
{
    state *st = user;
    am_channel_info ci[16];
    int n = am_channels_list(source, ci, 16);
    st->changes++;
    printf("discovery: %d channels:", n);
    for (int i = 0; i < n && i < 16; i++) {
        printf(" %s (%s, %u pub, %u sub, %u srv, %u cli)", ci[i].name,
               ci[i].kind == AM_KIND_TOPIC ? "topic" : "service", ci[i].publishers, ci[i].subscribers,
               ci[i].servers, ci[i].clients);
    }
    printf("\n");
}

/* ------------------------------------------------------------------ the other process */

static int sensor(void)
{
    am_arena *a;
    am_pub *p;
    am_client *c;
    am_arena_opts o = { .flags = AM_ATTACH_ONLY | AM_EXTENDED_OPTS, .node = "sensor-board" };
    if (am_arena_open(arena_name, &o, &a) || am_pub_open(a, "sensors/temp", NULL, &p) ||
        am_client_open(a, "calib", NULL, &c)) {
        return 1;
    }
    for (uint64_t i = 1; i <= (uint64_t)count; i++) {
        if (am_pub_publish(p, &i, sizeof i)) return 2;
        if (i % 10 == 0) {
            double x = (double)i, y;
            am_sample r;
            if (am_client_call(c, &x, sizeof x, &r, 5 * SEC)) return 3;
            memcpy(&y, r.data, sizeof y);
            am_client_ack(c, &r);
            if (y != x * 1.5 + 2.0) return 4;
        }
        usleep(200);
    }
    am_pub_close(p);
    am_client_close(c);
    am_arena_close(a);
    return 0;
}

/* ------------------------------------------------------------------ the loop */

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) count = atol(argv[++i]);
        else arena_name = argv[i];
    }
    am_arena_unlink(arena_name);
    am_arena *a;
    am_sub *sub;
    am_server *srv;
    am_sub_opts so = { .depth = 256, .policy = AM_POLICY_BLOCK };
    int rc;
    if ((rc = am_arena_open(arena_name, NULL, &a)) || (rc = am_sub_open(a, "sensors/temp", &so, &sub)) ||
        (rc = am_server_open(a, "calib", NULL, &srv))) {
        fprintf(stderr, "epoll_loop: %s\n", am_strerror(rc));
        return 1;
    }
    state st = { 0 };
    am_waitset *w;
    am_waitset_open(&w);
    am_sub_listen(sub, on_reading, &st);
    am_server_listen(srv, on_call, &st);
    am_waitset_add_sub(w, sub, NULL);
    am_waitset_add_server(w, srv, NULL);
    am_waitset_add_discovery(w, a, on_discovery, &st);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int wfd = am_waitset_fd(w);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec every = { { 0, 100000000 }, { 0, 100000000 } };
    timerfd_settime(tfd, 0, &every, NULL);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = wfd };
    epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev);
    ev.data.fd = tfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(sensor());
    }
    while ((st.readings < count || st.calls < count / 10) && st.ticks < 300) {   /* at most 30 s */
        struct epoll_event got[4];
        int n = epoll_wait(ep, got, 4, -1);
        if (n < 0 && errno == EINTR) continue;
        for (int i = 0; i < n; i++) {
            if (got[i].data.fd == wfd) {
                am_waitset_dispatch(w, 0);                  /* the listeners run here */
            } else if (got[i].data.fd == tfd) {
                uint64_t expired;
                if (read(tfd, &expired, sizeof expired) == sizeof expired) st.ticks += (long)expired;
            }
        }
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("epoll_loop: %ld readings (last %llu), %ld calls answered, %ld discovery changes, %ld timer ticks\n",
           st.readings, (unsigned long long)st.last, st.calls, st.changes, st.ticks);
    int ok = st.readings == count && st.calls == count / 10 && st.bad == 0 && st.changes > 0 &&
             WIFEXITED(status) && WEXITSTATUS(status) == 0;
    am_waitset_close(w);
    close(ep);
    close(tfd);
    am_sub_close(sub);
    am_server_close(srv);
    am_arena_close(a);
    am_arena_unlink(arena_name);
    printf("epoll_loop: %s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
