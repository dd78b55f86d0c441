/* SPDX-License-Identifier: Apache-2.0 */
/*
 * typed_demo — typed C generated from examples/proto/robot.proto by protoc-gen-am.
 *
 * Four processes on one arena: a robot publishes Telemetry (a nested Pose, repeated
 * joints, a camera blob) on "robot/telemetry"; a monitor subscribes and checks each
 * message; a planner serves the Planner service (Plan, Status); a client calls both
 * rpcs. Every payload is packed once, straight into an arena block.
 *
 *   build/typed_demo [ARENA_NAME]
 *
 * One role alone, for a peer written in another language (docs/python.md): it attaches
 * to ARENA_NAME (without unlinking it), prints "ready" once its port is open, and exits
 * 0 when its checks pass:
 *   build/typed_demo ARENA_NAME robot [FRAMES [HZ]]  wait for a subscriber, then publish
 *                                                    FRAMES (2000) at HZ (0: at once)
 *   build/typed_demo ARENA_NAME monitor [FRAMES]     take and check FRAMES messages
 *   build/typed_demo ARENA_NAME planner [CALLS]      serve 2 x CALLS (200) requests
 *   build/typed_demo ARENA_NAME client [CALLS]       call Plan and Status CALLS times
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "robot.am.h"

#define SEC 1000000000ll
static unsigned frames = 2000, calls = 200, hz = 0;   /* hz: frames a second, 0 = at once */

static const char *arena_name = "typed_demo";
static int ready_fd = -1;

/* Tell whoever started this process that its port is open: a byte on the pipe of the
 * four-process demo, or "ready" on stdout when it runs one role alone (fd < 0). */
static int say_ready(int fd)
{
    if (fd >= 0) return write(fd, "x", 1) == 1 ? 0 : -1;
    printf("ready\n");
    return fflush(stdout);
}

static am_arena *attach(void)
{
    am_arena *a;
    int rc = am_arena_open(arena_name, NULL, &a);
    if (rc) {
        fprintf(stderr, "open %s: %s\n", arena_name, am_strerror(rc));
        exit(1);
    }
    return a;
}

static int robot(void)
{
    am_arena *a = attach();
    am_pub *p;
    if (robot__telemetry__am_pub_open(a, "robot/telemetry", &(am_pub_opts){ .send_timeout_ns = 10 * SEC }, &p)) return 1;
    if (hz || ready_fd < 0) {            /* alone: samples sent before a subscriber attaches go nowhere */
        am_pub_counts st = { 0 };
        for (int waited = 0; am_pub_stats(p, &st) == 0 && st.subscribers == 0; waited++) {
            if (waited == 1000) return 4;
            nanosleep(&(struct timespec){ 0, 10 * 1000000 }, NULL);
        }
    }
    uint8_t camera[4096];
    double joints[6];
    for (uint64_t i = 1; i <= frames; i++) {
        if (hz) nanosleep(&(struct timespec){ 0, (long)(1000000000ull / hz) }, NULL);
        Robot__Telemetry t = ROBOT__TELEMETRY__INIT;
        Robot__Telemetry__Pose pose = ROBOT__TELEMETRY__POSE__INIT;
        pose.x = (double)i;
        pose.y = -(double)i / 2;
        pose.theta = fmod((double)i / 100, 6.28);
        for (int k = 0; k < 6; k++) joints[k] = (double)(i * (uint64_t)(k + 1));
        memset(camera, (int)(i & 0xff), sizeof camera);
        t.seq = i;
        t.name = "r2";
        t.pose = &pose;
        t.n_joints = 6;
        t.joints = joints;
        t.camera.len = sizeof camera;
        t.camera.data = camera;
        if (robot__telemetry__am_publish(p, &t)) return 2;
    }
    am_pub_close(p);
    am_arena_close(a);
    return 0;
}

static int monitor(int ready)
{
    am_arena *a = attach();
    am_sub *s;
    if (robot__telemetry__am_sub_open(a, "robot/telemetry", &(am_sub_opts){ .depth = 64, .policy = AM_POLICY_BLOCK }, &s)) return 1;
    if (say_ready(ready)) return 1;
    for (uint64_t i = 1; i <= frames; i++) {
        Robot__Telemetry *t;
        if (robot__telemetry__am_take(s, NULL, &t, NULL, 10 * SEC)) return 2;
        int ok = t->seq == i && strcmp(t->name, "r2") == 0 && t->pose && t->pose->x == (double)i && t->n_joints == 6 &&
                 t->joints[5] == (double)(i * 6) && t->camera.len == 4096 && t->camera.data[4095] == (uint8_t)(i & 0xff);
        if (i % 500 == 0 || !ok) {
            printf("  monitor: telemetry %llu from %s at (%.1f, %.1f) heading %.2f, 6 joints, %zu-byte camera frame%s\n",
                   (unsigned long long)t->seq, t->name, t->pose->x, t->pose->y, t->pose->theta, t->camera.len,
                   ok ? "" : " — WRONG");
        }
        robot__telemetry__am_free(t, NULL);
        if (!ok) return 3;
    }
    am_sub_close(s);
    am_arena_close(a);
    return 0;
}

/* The planner's handlers: replies live in the handler's memory until its next call. */
typedef struct planner { uint64_t plans; Robot__Telemetry__Pose wp[4], *wpp[4]; } planner;

static int plan(void *ctx, const Robot__Goal *goal, Robot__Path *path)
{
    planner *pl = ctx;
    if (!goal->target) return -1;                       /* no target: drop the request */
    for (int k = 0; k < 4; k++) {
        robot__telemetry__pose__init(&pl->wp[k]);
        pl->wp[k].x = goal->target->x * (k + 1) / 4;
        pl->wp[k].y = goal->target->y * (k + 1) / 4;
        pl->wpp[k] = &pl->wp[k];
    }
    path->n_waypoints = 4;
    path->waypoints = pl->wpp;
    pl->plans++;
    return 0;
}

static int status(void *ctx, const Robot__StatusRequest *req, Robot__StatusReply *reply)
{
    planner *pl = ctx;
    reply->state = strcmp(req->name, "r2") == 0 ? "ready" : "unknown robot";
    reply->plans = pl->plans;
    return 0;
}

static int planner_proc(int ready)
{
    am_arena *a = attach();
    am_server *s;
    if (robot__planner__am_server_open(a, "robot/planner", NULL, &s)) return 1;
    if (say_ready(ready)) return 1;
    planner pl = { 0 };
    const Robot__Planner_AmHandlers h = { .plan = plan, .status = status };
    for (unsigned n = 0; n < 2 * calls; n++) {
        if (robot__planner__am_serve(s, &h, &pl, 10 * SEC)) return 2;
    }
    am_server_close(s);
    am_arena_close(a);
    return 0;
}

static int client(void)
{
    am_arena *a = attach();
    am_client *c;
    if (robot__planner__am_client_open(a, "robot/planner", NULL, &c)) return 1;
    for (unsigned i = 1; i <= calls; i++) {
        Robot__Telemetry__Pose target = ROBOT__TELEMETRY__POSE__INIT;
        target.x = 8.0 * i;
        target.y = 4.0;
        Robot__Goal goal = ROBOT__GOAL__INIT;
        goal.target = &target;
        Robot__Path *path;
        int rc = robot__planner__am_plan(c, &goal, &path, NULL, 5 * SEC);
        if (rc) { fprintf(stderr, "plan: %s\n", am_strerror(rc)); return 2; }
        if (path->n_waypoints != 4 || path->waypoints[3]->x != target.x) return 3;
        robot__path__free_unpacked(path, NULL);
        Robot__StatusRequest q = ROBOT__STATUS_REQUEST__INIT;
        q.name = "r2";
        Robot__StatusReply *st;
        if (robot__planner__am_status(c, &q, &st, NULL, 5 * SEC)) return 4;
        if (i == calls) printf("  client: %u plans made; planner says \"%s\" after %llu plans\n", calls, st->state,
                               (unsigned long long)st->plans);
        int ok = st->plans == (uint64_t)i;
        robot__status_reply__free_unpacked(st, NULL);
        if (!ok) return 5;
    }
    am_client_close(c);
    am_arena_close(a);
    return 0;
}

static pid_t spawn(int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int rc = fn();
        fflush(stdout);
        _exit(rc);
    }
    return pid;
}

static int monitor_main(void) { return monitor(ready_fd); }
static int planner_main(void) { return planner_proc(ready_fd); }

/* build/typed_demo ARENA ROLE [COUNT [HZ]]: one role alone (see the top of the file). */
static int one_role(const char *role, int argc, char **argv)
{
    if (argc > 3) frames = calls = (unsigned)strtoul(argv[3], NULL, 10);
    if (argc > 4) hz = (unsigned)strtoul(argv[4], NULL, 10);
    if (strcmp(role, "robot") == 0) return robot();
    if (strcmp(role, "monitor") == 0) return monitor(-1);
    if (strcmp(role, "planner") == 0) return planner_proc(-1);
    if (strcmp(role, "client") == 0) return client();
    fprintf(stderr, "usage: typed_demo [ARENA_NAME [robot|monitor|planner|client [COUNT [HZ]]]]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1) arena_name = argv[1];
    if (argc > 2) return one_role(argv[2], argc, argv);
    am_arena_unlink(arena_name);
    am_arena *a = attach();
    int fds[2];
    if (pipe(fds)) return 1;
    ready_fd = fds[1];
    printf("typed_demo: robot.proto's generated C on arena \"%s\"\n", arena_name);
    pid_t pids[4] = { spawn(monitor_main), spawn(planner_main), 0, 0 };
    char c2[2];
    for (int got = 0; got < 2;) {                         /* monitor and planner are attached */
        ssize_t n = read(fds[0], c2, sizeof c2);
        if (n <= 0) return 1;
        got += (int)n;
    }
    pids[2] = spawn(robot);
    pids[3] = spawn(client);
    const char *who[4] = { "monitor", "planner", "robot", "client" };
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            printf("  %s FAILED (status %d)\n", who[i], st);
            failed = 1;
        }
    }
    am_stats s;
    am_arena_stats(a, &s);
    printf("  %s: %u telemetry messages checked field by field, %u calls of each rpc; arena used %llu bytes after\n",
           failed ? "FAILED" : "ok", frames, calls, (unsigned long long)s.used);
    am_arena_close(a);
    am_arena_unlink(arena_name);
    return failed || s.used != 0;
}
