/* SPDX-License-Identifier: Apache-2.0 */
/*
 * am-bridge against a real nats-server (started by each test on 127.0.0.1 and a free
 * port, killed at its end): topics and services carried between arenas that stand
 * for hosts, discovery, faults, globs and loops, and one case with the two hosts in
 * two network namespaces joined by a veth pair. Skipped (exit 77) when nats-server
 * is not installed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "robot.am.h"
#include "test_util.h"

#define MS 1000000ll
#define SEC 1000000000ll

static pid_t suite_pid;   /* main()'s: each case runs in a forked child */
static int nats_port;
static const char *nats_addr = "127.0.0.1";   /* where nats-server listens */
static const char *bridge_netns;              /* set: bridges start in this network namespace */
static pid_t nats_pid;
static pid_t kids[16];
static char logs[16][128];
static int nkids;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * MS }, NULL); }

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t n = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &n);
    close(s);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, nats_addr, &a.sin_addr);
    bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* Start a program that dies with the test; stdout to out (NULL: /dev/null). */
static pid_t spawn(char *const argv[], const char *out)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *f = freopen(out ? out : "/dev/null", "w", stdout);
        (void)f;
        if (!getenv("AM_BRIDGE_VERBOSE")) f = freopen("/dev/null", "w", stderr);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void nats_start(void)
{
    if (!nats_port) nats_port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", nats_port);
    char *argv[] = { NATS_SERVER, "-a", (char *)nats_addr, "-p", port, NULL };
    nats_pid = spawn(argv, NULL);
    for (int i = 0; i < 500 && !port_open(nats_port); i++) sleep_ms(10);
    ck_assert_msg(port_open(nats_port), "nats-server did not listen on port %d", nats_port);
}

static void nats_kill(void)
{
    kill(nats_pid, SIGKILL);
    waitpid(nats_pid, NULL, 0);
    nats_pid = 0;
}

/* ip(8), for the network namespace case; NULL if not installed. */
static const char *ip_bin(void)
{
    static const char *const where[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };
    for (unsigned i = 0; i < sizeof where / sizeof *where; i++)
        if (access(where[i], X_OK) == 0) return where[i];
    return NULL;
}

/* Start am-bridge on arena with extra arguments (NULL-terminated), in bridge_netns if
 * set; returns its slot in kids[] (its stats go to logs[slot]; its command line is
 * kept in argvs[slot] for bridge_restart). */
static char *argvs[16][40];
static char urls[16][64];

static int bridge(const char *arena, const char *name, ...)
{
    int k = nkids++, n = 0;
    char **argv = argvs[k];
    if (bridge_netns) {   /* ip netns exec NS am-bridge ...: the same process, execed twice */
        argv[n++] = (char *)ip_bin();
        argv[n++] = "netns";
        argv[n++] = "exec";
        argv[n++] = (char *)bridge_netns;
    }
    snprintf(urls[k], sizeof urls[k], "nats://%s:%d", nats_addr, nats_port);
    char *base[] = { AM_BRIDGE, "--arena", (char *)arena, "--url", urls[k], "--name", (char *)name, "--stats", "0.2",
                     "--queue", "8192" };
    for (unsigned i = 0; i < sizeof base / sizeof *base; i++) argv[n++] = base[i];
    va_list ap;
    va_start(ap, name);
    for (char *s; (s = va_arg(ap, char *)) != NULL && n < 39;) argv[n++] = s;
    va_end(ap);
    argv[n] = NULL;
    snprintf(logs[k], sizeof logs[k], "/tmp/test_bridge-%d-%d-%s.log", (int)suite_pid, (int)getpid(), name);
    kids[k] = spawn(argv, logs[k]);
    return k;
}

/* The bridge in slot k again, as it was started (its log starts again). */
static void bridge_restart(int k) { kids[k] = spawn(argvs[k], logs[k]); }

/* A counter from the bridge's last statistics line ("... drops 3, ..."). */
static long long stat_of(int k, const char *what)
{
    FILE *f = fopen(logs[k], "r");
    if (!f) return -1;
    char line[1024], last[1024] = "";
    while (fgets(line, sizeof line, f)) memcpy(last, line, sizeof last);
    fclose(f);
    char key[64];
    snprintf(key, sizeof key, " %s ", what);
    const char *p = strstr(last, key);
    return p ? atoll(p + strlen(key)) : -1;
}

static void stop_all(void)
{
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) kill(kids[i], SIGTERM);
    }
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) waitpid(kids[i], NULL, 0);
        unlink(logs[i]);
        kids[i] = 0;
    }
    nkids = 0;
    if (nats_pid) nats_kill();
}

/* How many ports of role a bridge (process "am-bridge") holds on channel name. */
static int bridge_ports(am_arena *a, const char *name, am_role role)
{
    am_port_info pi[AM_MAX_PORTS];
    int k = am_channel_ports(a, name, pi, AM_MAX_PORTS), n = 0;
    for (int j = 0; j < k; j++) n += pi[j].role == role && strcmp(pi[j].process, "am-bridge") == 0;
    return n;
}

static int ports_of(am_arena *a, const char *name, am_role role)
{
    am_port_info pi[AM_MAX_PORTS];
    int k = am_channel_ports(a, name, pi, AM_MAX_PORTS), n = 0;
    for (int j = 0; j < k; j++) n += pi[j].role == role;
    return n;
}

/* Wait up to ms for the bridge's mirror on a (want 1) or for it to go (want 0). */
static bool mirror_is(am_arena *a, const char *name, am_role role, int want, int ms)
{
    int64_t end = now_ns() + ms * MS;
    do {
        if ((bridge_ports(a, name, role) > 0) == (want > 0)) return true;
        sleep_ms(5);
    } while (now_ns() < end);
    return false;
}

/* Each test's hosts: arenas A, B (and C), and a fresh nats-server. */
static am_arena *A, *B, *C;
static const char *na, *nb, *nc;

/* Arena names carry the suite's pid, so that main() can remove what a failed case
 * (which never reaches world_end) left in /dev/shm and /tmp. */
static char names[3][48];

static const char *arena_name(int i)
{
    snprintf(names[i], sizeof names[i], "test-br%c-%d-%d", 'A' + i, (int)suite_pid, (int)getpid());
    am_arena_unlink(names[i]);
    return names[i];
}

static void world(int arenas)
{
    na = arena_name(0);
    nb = arena_name(1);
    nc = arena_name(2);
    A = tu_open(na, 64 << 20, 0);
    B = tu_open(nb, 64 << 20, 0);
    C = arenas > 2 ? tu_open(nc, 64 << 20, 0) : NULL;
    nats_start();
}

/* Stop bridges and nats-server; with check_free, the arenas must hold nothing then
 * (every port closed: whatever the bridges and NATS did, no arena memory leaked). */
static void world_end(bool check_free)
{
    stop_all();
    am_arena *all[3] = { A, B, C };
    for (int i = 0; i < 3; i++) {
        if (!all[i]) continue;
        am_stats st;
        am_channels_gc(all[i]);   /* what a bridge killed -9 held is released like any dead port's */
        am_arena_stats(all[i], &st);
        if (check_free) ck_assert_msg(st.used == 0, "arena %d holds %llu bytes", i, (unsigned long long)st.used);
        am_arena_close(all[i]);
    }
    A = B = C = NULL;
    for (int i = 0; i < 3; i++) am_arena_unlink(names[i]);
}

/* ---- typed telemetry: message i packed the same way every time */

static size_t telemetry(uint64_t i, uint8_t *buf, size_t cap, size_t camera_len)
{
    static uint8_t camera[4096];
    double joints[6];
    Robot__Telemetry t = ROBOT__TELEMETRY__INIT;
    Robot__Telemetry__Pose pose = ROBOT__TELEMETRY__POSE__INIT;
    pose.x = (double)i;
    pose.y = -(double)i / 2;
    for (int k = 0; k < 6; k++) joints[k] = (double)(i * (uint64_t)(k + 1));
    memset(camera, (int)(i & 0xff), sizeof camera);
    t.seq = i;
    t.name = "r2";
    t.pose = &pose;
    t.n_joints = 6;
    t.joints = joints;
    t.camera.len = camera_len;
    t.camera.data = camera;
    size_t n = robot__telemetry__get_packed_size(&t);
    ck_assert_uint_le(n, cap);
    return robot__telemetry__pack(&t, buf);
}

static am_pub *telemetry_pub(am_arena *a, const char *topic)
{
    am_pub *p;
    ck_assert_int_eq(robot__telemetry__am_pub_open(a, topic, NULL, &p), 0);
    return p;
}

static void publish_range(am_pub *p, uint64_t from, uint64_t to, int pause_us)
{
    static uint8_t buf[8192];
    for (uint64_t i = from; i <= to; i++) {
        size_t n = telemetry(i, buf, sizeof buf, (size_t)((i * 37) % 4096));
        TU_REQUIRE(am_pub_publish(p, buf, n) == 0, "publish %llu", (unsigned long long)i);
        if (pause_us) nanosleep(&(struct timespec){ 0, pause_us * 1000l }, NULL);
    }
}

/* Take samples until count arrived or ms passed; check each against telemetry(seq)
 * byte for byte, in order from `from`, each once. Returns how many arrived. */
static uint64_t take_in_order(am_sub *s, uint64_t from, uint64_t count, int ms, bool gaps_ok)
{
    static uint8_t want[8192];
    uint64_t got = 0, next = from;
    int64_t end = now_ns() + ms * MS;
    while (got < count && now_ns() < end) {
        am_sample smp;
        int rc = am_sub_take(s, &smp, 20 * MS);
        if (rc == AM_ETIMEDOUT) continue;
        TU_REQUIRE(rc == 0, "take: %s", am_err_name(rc));
        Robot__Telemetry *t = robot__telemetry__unpack(NULL, smp.len, smp.data);
        TU_REQUIRE(t != NULL, "sample %llu does not unpack", (unsigned long long)got);
        uint64_t seq = t->seq;
        robot__telemetry__free_unpacked(t, NULL);
        TU_REQUIRE(gaps_ok ? seq >= next : seq == next, "sample %llu, expected %llu (duplicate or out of order)",
                   (unsigned long long)seq, (unsigned long long)next);
        size_t n = telemetry(seq, want, sizeof want, (size_t)((seq * 37) % 4096));
        TU_REQUIRE(smp.len == n && memcmp(smp.data, want, n) == 0, "sample %llu: bytes differ", (unsigned long long)seq);
        am_sub_ack(s, &smp);
        next = seq + 1;
        got++;
    }
    return got;
}

static am_sub *raw_sub(am_arena *a, const char *topic)
{
    am_sub *s;
    ck_assert_int_eq(am_sub_open(a, topic, &(am_sub_opts){ .depth = 8192, .policy = AM_POLICY_BLOCK }, &s), 0);
    return s;
}

static const am_channel_info *info(am_arena *a, const char *name)
{
    static am_channel_info ci[AM_MAX_CHANNELS];
    int n = am_channels_list(a, ci, AM_MAX_CHANNELS);
    for (int i = 0; i < n; i++)
        if (strcmp(ci[i].name, name) == 0) return &ci[i];
    return NULL;
}

/* ---- topics */

START_TEST(topic_across_two_bridges)
{
    world(2);
    bridge(na, "hostA", "--export", "robot/*", NULL);
    bridge(nb, "hostB", "--import", "robot/*", NULL);
    am_pub *p = telemetry_pub(A, "robot/telemetry");
    ck_assert_msg(mirror_is(B, "robot/telemetry", AM_ROLE_PUBLISHER, 1, 5000), "no mirror on B");
    am_sub *s1 = raw_sub(B, "robot/telemetry"), *s2 = raw_sub(B, "robot/telemetry");

    /* the mirror has A's type, fingerprint and schema */
    const am_channel_info *ia = info(A, "robot/telemetry");
    am_channel_info ca = *ia, cb = *info(B, "robot/telemetry");
    ck_assert_str_eq(cb.type, "robot.Telemetry");
    ck_assert_uint_eq(cb.fingerprint, ca.fingerprint);
    ck_assert_uint_ne(cb.fingerprint, 0);
    am_sub *sa = raw_sub(A, "robot/telemetry");
    const void *schema_a, *schema_b;
    size_t la, lb;
    ck_assert_int_eq(am_sub_schema(sa, &schema_a, &la), 0);
    ck_assert_int_eq(am_sub_schema(s1, &schema_b, &lb), 0);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(schema_a, schema_b, la), 0);
    am_sub_close(sa);

    /* every message once, in order, bytes identical, to both subscribers (fan-out) */
    enum { N = 3000 };
    publish_range(p, 1, N, 20);
    ck_assert_uint_eq(take_in_order(s1, 1, N, 10000, false), N);
    ck_assert_uint_eq(take_in_order(s2, 1, N, 10000, false), N);

    /* amctl echo on B decodes by field name with the schema the mirror recorded */
    char cmd[512], out[4096] = "";
    snprintf(cmd, sizeof cmd, "%s echo %s robot/telemetry --count 1 --seconds 5 --json", AMCTL, nb);
    FILE *f = popen(cmd, "r");
    sleep_ms(300);
    publish_range(p, N + 1, N + 1, 0);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    ck_assert_int_eq(pclose(f), 0);
    ck_assert_msg(strstr(out, "\"seq\":\"3001\"") && strstr(out, "\"name\":\"r2\"") && strstr(out, "\"pose\":{"),
                  "amctl echo on B: %s", out);

    /* the last publisher leaves: the mirror goes on B */
    am_pub_close(p);
    ck_assert_msg(mirror_is(B, "robot/telemetry", AM_ROLE_PUBLISHER, 0, 3000), "mirror stayed after the publisher left");
    am_sub_close(s1);
    am_sub_close(s2);
    world_end(true);
}
END_TEST

/* A publisher killed with SIGKILL: its port is cleaned like any dead one, and the
 * mirror on the other side goes. Fan-out to subscribers on two remote arenas. */
static int publish_forever(void *arg)
{
    am_arena *a;
    if (am_arena_open(arg, NULL, &a)) return 1;
    am_pub *p;
    if (robot__telemetry__am_pub_open(a, "robot/pose", NULL, &p)) return 2;
    for (uint64_t i = 1;; i++) {
        publish_range(p, i, i, 0);
        sleep_ms(2);
    }
    return 0;
}

START_TEST(fanout_and_killed_publisher)
{
    world(3);
    bridge(na, "A", "--export", "*", NULL);
    bridge(nb, "B", "--import", "*", NULL);
    bridge(nc, "C", "--import", "*", NULL);
    pid_t pub = tu_fork(publish_forever, (void *)na);
    ck_assert(mirror_is(B, "robot/pose", AM_ROLE_PUBLISHER, 1, 5000));
    ck_assert(mirror_is(C, "robot/pose", AM_ROLE_PUBLISHER, 1, 5000));
    am_sub *sb = raw_sub(B, "robot/pose"), *sc = raw_sub(C, "robot/pose");
    ck_assert_uint_eq(take_in_order(sb, 1, 100, 5000, true), 100);
    ck_assert_uint_eq(take_in_order(sc, 1, 100, 5000, true), 100);
    kill(pub, SIGKILL);
    tu_wait(pub);
    ck_assert_msg(mirror_is(B, "robot/pose", AM_ROLE_PUBLISHER, 0, 4000), "B's mirror outlived the killed publisher");
    ck_assert_msg(mirror_is(C, "robot/pose", AM_ROLE_PUBLISHER, 0, 4000), "C's mirror outlived the killed publisher");
    am_sub_close(sb);
    am_sub_close(sc);
    world_end(true);
}
END_TEST

/* ---- services */

typedef struct server_ctx {
    const char *arena;
    const char *service;
    atomic_int  stop;
    atomic_int  served;
    int         id;            /* replied in StatusReply.plans (service "count") */
} server_ctx;

static int plan(void *ctx, const Robot__Goal *goal, Robot__Path *path)
{
    static Robot__Telemetry__Pose wp[2], *wpp[2];
    if (!goal->target) return -1;
    for (int k = 0; k < 2; k++) {
        robot__telemetry__pose__init(&wp[k]);
        wp[k].x = goal->target->x * (k + 1);
        wpp[k] = &wp[k];
    }
    path->n_waypoints = 2;
    path->waypoints = wpp;
    return 0;
}

static int status(void *ctx, const Robot__StatusRequest *req, Robot__StatusReply *reply)
{
    server_ctx *c = ctx;
    reply->state = "ready";
    reply->plans = (uint64_t)c->id;
    return 0;
}

static void *serve_thread(void *arg)
{
    server_ctx *c = arg;
    am_arena *a;
    am_server *s;
    if (am_arena_open(c->arena, NULL, &a) || robot__planner__am_server_open(a, c->service, NULL, &s)) return (void *)1;
    const Robot__Planner_AmHandlers h = { .plan = plan, .status = status };
    while (!atomic_load(&c->stop)) {
        if (robot__planner__am_serve(s, &h, c, 20 * MS) == 0) atomic_fetch_add(&c->served, 1);
    }
    am_server_close(s);
    am_arena_close(a);
    return NULL;
}

/* Serve sc's planner on its arena in a thread, wait up to ms for its mirror on B, and
 * open a typed client of it there. */
static am_client *planner_across(server_ctx *sc, pthread_t *th, int ms)
{
    pthread_create(th, NULL, serve_thread, sc);
    ck_assert_msg(mirror_is(B, sc->service, AM_ROLE_SERVER, 1, ms), "no mirror of %s on B", sc->service);
    am_client *c;
    ck_assert_int_eq(robot__planner__am_client_open(B, sc->service, NULL, &c), 0);
    return c;
}

/* Plan call i through c: the path the server's plan() makes for target x = i. */
static void plan_once(am_client *c, int i)
{
    Robot__Telemetry__Pose target = ROBOT__TELEMETRY__POSE__INIT;
    target.x = i;
    Robot__Goal goal = ROBOT__GOAL__INIT;
    goal.target = &target;
    Robot__Path *path;
    int rc = robot__planner__am_plan(c, &goal, &path, NULL, 2 * SEC);
    TU_REQUIRE(rc == 0, "plan %d: %s", i, am_err_name(rc));
    TU_REQUIRE(path->n_waypoints == 2 && path->waypoints[1]->x == 2.0 * i, "plan %d: wrong path", i);
    robot__path__free_unpacked(path, NULL);
}

START_TEST(typed_rpc_across)
{
    world(2);
    bridge(na, "A", "--export", "*", "--import", "*", NULL);
    int kb = bridge(nb, "B", "--export", "*", "--import", "*", NULL);
    /* no server anywhere: no mirror, the call fails at once */
    am_client *ghost;
    ck_assert_int_eq(am_client_open(B, "ghost/svc", NULL, &ghost), 0);
    am_sample rep;
    int64_t t0 = now_ns();
    ck_assert_int_eq(am_client_call(ghost, "x", 1, &rep, 2 * SEC), AM_ENOENT);
    ck_assert_int_lt(now_ns() - t0, 100 * MS);
    am_client_close(ghost);

    server_ctx sc = { .arena = na, .service = "robot/planner", .id = 7 };
    pthread_t th;
    am_client *c = planner_across(&sc, &th, 5000);
    const void *sa, *sb;
    size_t la, lb;
    ck_assert_int_eq(am_client_schema(c, &sb, &lb), 0);   /* the service's schema came across */
    am_client *ca;
    ck_assert_int_eq(am_client_open(A, "robot/planner", NULL, &ca), 0);
    ck_assert_int_eq(am_client_schema(ca, &sa, &la), 0);
    ck_assert(la == lb && memcmp(sa, sb, la) == 0);
    am_client_close(ca);
    for (int i = 1; i <= 200; i++) {
        plan_once(c, i);
        Robot__StatusRequest q = ROBOT__STATUS_REQUEST__INIT;
        q.name = "r2";
        Robot__StatusReply *st;
        TU_REQUIRE(robot__planner__am_status(c, &q, &st, NULL, 2 * SEC) == 0, "status %d", i);
        TU_REQUIRE(st->plans == 7 && strcmp(st->state, "ready") == 0, "status %d: wrong reply", i);
        robot__status_reply__free_unpacked(st, NULL);
    }
    ck_assert_int_eq(atomic_load(&sc.served), 400);   /* each call reached the server once */
    /* a request the server fails (Plan without a target: status -1) fails on B with the
     * same status */
    Robot__Goal empty = ROBOT__GOAL__INIT;
    Robot__Path *path;
    int rc = robot__planner__am_plan(c, &empty, &path, NULL, 2 * SEC);
    ck_assert_int_eq(rc, AM_EREMOTE);
    ck_assert_int_eq(am_client_status(c), -1);
    /* a request the server drops (a method it does not have) times out for its caller
     * and holds one of bridge A's callers; the next calls are served by the others */
    rc = am_client_call_method(c, 99, "?", 1, &rep, 300 * MS);
    ck_assert_int_eq(rc, AM_ETIMEDOUT);
    for (int i = 0; i < 20; i++) {
        Robot__StatusRequest q = ROBOT__STATUS_REQUEST__INIT;
        q.name = "r2";
        Robot__StatusReply *st;
        rc = robot__planner__am_status(c, &q, &st, NULL, 1 * SEC);
        ck_assert_msg(rc == 0, "a call after a dropped one: %s", am_err_name(rc));
        robot__status_reply__free_unpacked(st, NULL);
    }

    /* the only server's host vanishes (its bridge killed -9): NATS has no responders,
     * the call fails fast with AM_EPEERDEAD, not a timeout */
    kill(kids[0], SIGKILL);
    waitpid(kids[0], NULL, 0);
    kids[0] = 0;
    sleep_ms(50);
    Robot__StatusRequest q = ROBOT__STATUS_REQUEST__INIT;
    q.name = "r2";
    Robot__StatusReply *st;
    t0 = now_ns();
    rc = robot__planner__am_status(c, &q, &st, NULL, 5 * SEC);
    int64_t took = now_ns() - t0;
    ck_assert_msg(rc == AM_EPEERDEAD, "call after the server's host vanished: %s", am_err_name(rc));
    ck_assert_msg(took < 500 * MS, "AM_EPEERDEAD took %lld ms", (long long)(took / MS));
    sleep_ms(300);
    ck_assert_int_ge(stat_of(kb, "responders"), 1);   /* "no responders N" */
    /* later calls: the mirror is gone until the service is announced again */
    rc = robot__planner__am_status(c, &q, &st, NULL, 5 * SEC);
    ck_assert_int_eq(rc, AM_ENOENT);
    atomic_store(&sc.stop, 1);
    pthread_join(th, NULL);
    am_client_close(c);
    world_end(true);
}
END_TEST

START_TEST(two_servers_share_calls)
{
    world(3);
    bridge(na, "A", "--export", "*", NULL);
    bridge(nb, "B", "--import", "*", NULL);
    bridge(nc, "C", "--export", "*", NULL);
    server_ctx s1 = { .arena = na, .service = "robot/planner", .id = 1 };
    server_ctx s2 = { .arena = nc, .service = "robot/planner", .id = 2 };
    pthread_t t1, t2;
    pthread_create(&t1, NULL, serve_thread, &s1);
    pthread_create(&t2, NULL, serve_thread, &s2);
    ck_assert(mirror_is(B, "robot/planner", AM_ROLE_SERVER, 1, 5000));
    sleep_ms(300);   /* both exporting bridges in the queue group */
    am_client *c;
    ck_assert_int_eq(robot__planner__am_client_open(B, "robot/planner", NULL, &c), 0);
    int by[3] = { 0 };
    for (int i = 0; i < 200; i++) {
        Robot__StatusRequest q = ROBOT__STATUS_REQUEST__INIT;
        q.name = "r2";
        Robot__StatusReply *st;
        int rc = robot__planner__am_status(c, &q, &st, NULL, 2 * SEC);
        TU_REQUIRE(rc == 0, "call %d: %s", i, am_err_name(rc));
        TU_REQUIRE(st->plans == 1 || st->plans == 2, "reply from nowhere");
        by[st->plans]++;
        robot__status_reply__free_unpacked(st, NULL);
    }
    ck_assert_msg(by[1] >= 20 && by[2] >= 20, "calls not shared: %d on A, %d on C", by[1], by[2]);
    ck_assert_int_eq(by[1] + by[2], 200);
    atomic_store(&s1.stop, 1);
    atomic_store(&s2.stop, 1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    am_client_close(c);
    world_end(true);
}
END_TEST

/* ---- faults */

START_TEST(nats_server_restarted_midstream)
{
    world(2);
    int ka = bridge(na, "A", "--export", "*", NULL);
    int kb = bridge(nb, "B", "--import", "*", NULL);
    am_pub *p = telemetry_pub(A, "robot/telemetry");
    ck_assert(mirror_is(B, "robot/telemetry", AM_ROLE_PUBLISHER, 1, 5000));
    am_sub *s = raw_sub(B, "robot/telemetry");
    am_sub *local = raw_sub(A, "robot/telemetry");
    publish_range(p, 1, 500, 500);
    ck_assert_uint_eq(take_in_order(s, 1, 500, 5000, false), 500);
    nats_kill();
    publish_range(p, 501, 1000, 500);          /* the arena side carries on meanwhile */
    ck_assert_uint_eq(take_in_order(local, 1, 1000, 5000, false), 1000);
    nats_start();                              /* same port */
    sleep_ms(1000);                            /* both bridges reconnect (every 200 ms) */
    publish_range(p, 1001, 1500, 500);
    /* what was published while NATS was away may be lost (B resubscribes after A's
     * buffer is flushed); nothing arrives twice or out of order, and the stream goes on */
    uint64_t got = take_in_order(s, 501, 1000, 5000, true);
    ck_assert_msg(got >= 500, "only %llu samples after the restart", (unsigned long long)got);
    sleep_ms(500);
    ck_assert_int_ge(stat_of(ka, "reconnects"), 1);
    ck_assert_int_ge(stat_of(kb, "reconnects"), 1);
    am_pub_close(p);
    am_sub_close(s);
    am_sub_close(local);
    world_end(true);
}
END_TEST

START_TEST(bridge_killed_and_restarted)
{
    world(2);
    bridge(na, "A", "--export", "*", "--import", "*", NULL);
    int kb = bridge(nb, "B", "--export", "*", "--import", "*", NULL);
    am_pub *p = telemetry_pub(A, "robot/telemetry");
    ck_assert(mirror_is(B, "robot/telemetry", AM_ROLE_PUBLISHER, 1, 5000));
    am_sub *s = raw_sub(B, "robot/telemetry");
    publish_range(p, 1, 300, 200);
    ck_assert_uint_eq(take_in_order(s, 1, 300, 5000, false), 300);
    kill(kids[kb], SIGKILL);
    waitpid(kids[kb], NULL, 0);
    ck_assert_int_ge(am_channels_gc(B), 1);    /* its mirror is a dead port, cleaned like any */
    ck_assert_int_eq(bridge_ports(B, "robot/telemetry", AM_ROLE_PUBLISHER), 0);
    bridge_restart(kb);
    ck_assert(mirror_is(B, "robot/telemetry", AM_ROLE_PUBLISHER, 1, 5000));
    publish_range(p, 301, 600, 200);
    ck_assert_uint_eq(take_in_order(s, 301, 300, 5000, false), 300);
    am_pub_close(p);
    am_sub_close(s);
    world_end(true);
}
END_TEST

/* Append one batch frame (docs/bridge.md, "Batches": u32 length, u64 seq, i64 sent,
 * little-endian, then the bytes) for telemetry(i), or for len bytes of i if len. */
static size_t frame(uint8_t *buf, size_t at, uint64_t i, uint32_t len)
{
    static uint8_t body[16384];
    size_t n = len ? len : telemetry(i, body, sizeof body, (size_t)((i * 37) % 4096));
    if (len) memset(body, (int)i, len);
    uint64_t seq = i, sent = (uint64_t)now_ns();
    for (int k = 0; k < 4; k++) buf[at + k] = (uint8_t)(n >> (8 * k));
    for (int k = 0; k < 8; k++) buf[at + 4 + k] = (uint8_t)(seq >> (8 * k));
    for (int k = 0; k < 8; k++) buf[at + 12 + k] = (uint8_t)(sent >> (8 * k));
    memcpy(buf + at + 20, body, n);
    return at + 20 + n;
}

/* Publish a batch message: the topic's headers and Am-Batch count, payload buf. */
static void publish_batch(natsConnection *conn, const char *subj, const char *fp, const char *count, const uint8_t *buf, size_t len)
{
    natsMsg *m;
    ck_assert_int_eq(natsMsg_Create(&m, subj, NULL, (const char *)buf, (int)len), NATS_OK);
    natsMsgHeader_Set(m, "Am-Type", "robot.Telemetry");
    natsMsgHeader_Set(m, "Am-Fp", fp);
    natsMsgHeader_Set(m, "Am-Origin", "evil");
    natsMsgHeader_Set(m, "Am-Batch", count);
    ck_assert_int_eq(natsConnection_PublishMsg(conn, m), NATS_OK);
    natsMsg_Destroy(m);
}

/* Malformed NATS messages on a mirrored topic's subject: counted, dropped; a batch
 * whose frames do not check out is dropped whole (none of its samples arrives). */
START_TEST(malformed_messages_dropped)
{
    world(2);
    bridge(na, "A", "--export", "*", NULL);
    int kb = bridge(nb, "B", "--import", "*", "--max-size", "10000", NULL);
    am_pub *p = telemetry_pub(A, "robot/telemetry");
    ck_assert(mirror_is(B, "robot/telemetry", AM_ROLE_PUBLISHER, 1, 5000));
    am_sub *s = raw_sub(B, "robot/telemetry");
    natsConnection *raw;
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", nats_port);
    ck_assert_int_eq(natsConnection_ConnectTo(&raw, url), NATS_OK);
    const char *subj = "am.t.robot~2Ftelemetry";
    static char big[20000];
    natsMsg *m;
    ck_assert_int_eq(natsConnection_Publish(raw, subj, "no headers", 10), NATS_OK);    /* 1: no headers */
    natsMsg_Create(&m, subj, NULL, "x", 1);                                         /* 2: wrong fingerprint */
    natsMsgHeader_Set(m, "Am-Type", "robot.Telemetry");
    natsMsgHeader_Set(m, "Am-Fp", "0000000000000001");
    natsMsgHeader_Set(m, "Am-Seq", "1");
    natsMsgHeader_Set(m, "Am-Origin", "evil");
    natsConnection_PublishMsg(raw, m);
    natsMsgHeader_Set(m, "Am-Fp", "not hex");                                        /* 3: bad header */
    natsConnection_PublishMsg(raw, m);
    natsMsg_Destroy(m);
    char fp[24];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)info(B, "robot/telemetry")->fingerprint);
    natsMsg_Create(&m, subj, NULL, big, sizeof big);                                /* 4: oversized */
    natsMsgHeader_Set(m, "Am-Type", "robot.Telemetry");
    natsMsgHeader_Set(m, "Am-Fp", fp);
    natsMsgHeader_Set(m, "Am-Seq", "1");
    natsMsgHeader_Set(m, "Am-Origin", "evil");
    natsConnection_PublishMsg(raw, m);
    natsMsg_Destroy(m);
    ck_assert_int_eq(natsConnection_Publish(raw, "am.ann", "junk", 4), NATS_OK);      /* 5: a bad announcement */
    /* Batches. A good one of telemetry 1..3 arrives, each sample once, in order. */
    static uint8_t bb[40000];
    size_t n = frame(bb, frame(bb, frame(bb, 0, 1, 0), 2, 0), 3, 0);
    publish_batch(raw, subj, fp, "3", bb, n);
    /* Malformed batches, each holding telemetry 4 (and 5) first: were any of it
     * published, take_in_order below would meet 4 twice. */
    n = frame(bb, frame(bb, 0, 4, 0), 5, 0);
    publish_batch(raw, subj, fp, "3", bb, n);                                       /* 6: fewer frames than Am-Batch */
    publish_batch(raw, subj, fp, "2", bb, n - 1);                                   /* 7: last frame's body cut short */
    publish_batch(raw, subj, fp, "2", bb, frame(bb, 0, 4, 0) + 10);                 /* 8: second frame's header cut short */
    bb[n] = bb[n + 1] = bb[n + 2] = 0;
    publish_batch(raw, subj, fp, "2", bb, n + 3);                                   /* 9: bytes after the last frame */
    publish_batch(raw, subj, fp, "2", bb, frame(bb, frame(bb, 0, 4, 0), 5, 12000)); /* 10: a frame above --max-size */
    n = frame(bb, frame(bb, 0, 4, 0), 5, 0);
    publish_batch(raw, subj, fp, "1", bb, n);                                       /* 11: a batch of one */
    publish_batch(raw, subj, fp, "two", bb, n);                                     /* 12: Am-Batch not a number */
    bb[0] = 0xff, bb[1] = 0xff, bb[2] = 0xff, bb[3] = 0xff;
    publish_batch(raw, subj, fp, "2", bb, n);                                       /* 13: a length of 4 GiB - 1 */
    natsConnection_Flush(raw);
    natsConnection_Destroy(raw);
    publish_range(p, 4, 13, 0);                 /* then good ones, which all arrive */
    ck_assert_uint_eq(take_in_order(s, 1, 13, 5000, false), 13);
    am_sample smp;
    ck_assert_int_eq(am_sub_take(s, &smp, 100 * MS), AM_ETIMEDOUT);
    sleep_ms(500);
    ck_assert_int_eq(stat_of(kb, "malformed"), 13);
    am_pub_close(p);
    am_sub_close(s);
    world_end(true);
}
END_TEST

/* ---- selection and loops */

START_TEST(allow_and_deny_globs)
{
    world(2);
    bridge(na, "A", "--export", "robot/*", "--export", "!robot/secret", "--export", "cam/*", NULL);
    bridge(nb, "B", "--import", "*", "--import", "!cam/*", NULL);
    am_pub *p1 = telemetry_pub(A, "robot/pose"), *p2 = telemetry_pub(A, "robot/secret"), *p3 = telemetry_pub(A, "other/x"),
           *p4 = telemetry_pub(A, "cam/front");
    am_pub *raw;   /* an untyped topic crosses too (no Am-Type header) */
    ck_assert_int_eq(am_pub_open(A, "robot/raw", NULL, &raw), 0);
    ck_assert(mirror_is(B, "robot/pose", AM_ROLE_PUBLISHER, 1, 5000));
    ck_assert(mirror_is(B, "robot/raw", AM_ROLE_PUBLISHER, 1, 5000));
    ck_assert_str_eq(info(B, "robot/raw")->type, "");
    am_sub *rs = raw_sub(B, "robot/raw");
    ck_assert_int_eq(am_pub_publish(raw, "untyped bytes", 13), 0);
    am_sample smp;
    ck_assert_int_eq(am_sub_take(rs, &smp, 5 * SEC), 0);
    ck_assert(smp.len == 13 && memcmp(smp.data, "untyped bytes", 13) == 0);
    am_sub_ack(rs, &smp);
    am_sub_close(rs);
    am_pub_close(raw);
    sleep_ms(1500);   /* a full announce period: whatever else would come has come */
    ck_assert_ptr_null(info(B, "robot/secret"));   /* denied by A's export */
    ck_assert_ptr_null(info(B, "other/x"));        /* not allowed by A's export */
    ck_assert_ptr_null(info(B, "cam/front"));      /* exported by A, denied by B's import */
    am_pub_close(p1);
    am_pub_close(p2);
    am_pub_close(p3);
    am_pub_close(p4);
    world_end(true);
}
END_TEST

/* Three bridges exporting and importing everything: what one imports it never exports
 * again, so every sample arrives exactly once everywhere and nothing comes back. */
START_TEST(three_bridges_no_loop)
{
    world(3);
    bridge(na, "A", "--export", "*", "--import", "*", NULL);
    bridge(nb, "B", "--export", "*", "--import", "*", NULL);
    bridge(nc, "C", "--export", "*", "--import", "*", NULL);
    am_pub *p = telemetry_pub(A, "robot/telemetry");
    ck_assert(mirror_is(B, "robot/telemetry", AM_ROLE_PUBLISHER, 1, 5000));
    ck_assert(mirror_is(C, "robot/telemetry", AM_ROLE_PUBLISHER, 1, 5000));
    sleep_ms(1500);
    ck_assert_int_eq(bridge_ports(A, "robot/telemetry", AM_ROLE_PUBLISHER), 0);   /* nothing mirrored back to A */
    ck_assert_int_eq(ports_of(B, "robot/telemetry", AM_ROLE_PUBLISHER), 1);       /* one mirror, from A only */
    am_sub *sa = raw_sub(A, "robot/telemetry"), *sb = raw_sub(B, "robot/telemetry"), *sc = raw_sub(C, "robot/telemetry");
    publish_range(p, 1, 500, 100);
    ck_assert_uint_eq(take_in_order(sa, 1, 500, 5000, false), 500);
    ck_assert_uint_eq(take_in_order(sb, 1, 500, 5000, false), 500);
    ck_assert_uint_eq(take_in_order(sc, 1, 500, 5000, false), 500);
    am_sample smp;   /* and no copy comes round again */
    ck_assert_int_eq(am_sub_take(sa, &smp, 300 * MS), AM_ETIMEDOUT);
    ck_assert_int_eq(am_sub_take(sb, &smp, 0), AM_ETIMEDOUT);
    ck_assert_int_eq(am_sub_take(sc, &smp, 0), AM_ETIMEDOUT);
    /* a second real publisher on B: both streams reach C, still no loop */
    am_pub *pb = telemetry_pub(B, "robot/telemetry");
    ck_assert(mirror_is(A, "robot/telemetry", AM_ROLE_PUBLISHER, 1, 5000));
    sleep_ms(300);
    publish_range(pb, 1, 100, 100);
    ck_assert_uint_eq(take_in_order(sa, 1, 100, 5000, false), 100);   /* B's samples on A, once */
    ck_assert_uint_eq(take_in_order(sc, 1, 100, 5000, false), 100);
    ck_assert_uint_eq(take_in_order(sb, 1, 100, 5000, false), 100);   /* B's own, locally, once */
    ck_assert_int_eq(am_sub_take(sa, &smp, 300 * MS), AM_ETIMEDOUT);
    ck_assert_int_eq(am_sub_take(sb, &smp, 0), AM_ETIMEDOUT);
    ck_assert_int_eq(am_sub_take(sc, &smp, 0), AM_ETIMEDOUT);
    am_pub_close(p);
    am_pub_close(pb);
    am_sub_close(sa);
    am_sub_close(sb);
    am_sub_close(sc);
    world_end(true);
}
END_TEST

/* ---- two hosts as two network namespaces
 * The test's own namespace and a new one, joined by a veth pair with an address at each
 * end: nats-server and bridge A listen and connect on this side's address, bridge B
 * reaches it across the pair from the new namespace (the arenas stay in the one
 * /dev/shm: only the network is apart). Root only; skipped with a message where the
 * kernel or the machine refuses. */
static char netns[32];

/* The names of the case run by process pid: its namespace, and its veth pair (the end
 * that stays here is <veth>a, the one moved into the namespace <veth>b). */
static void net_names(pid_t pid, char *ns, size_t ns_len, char *veth, size_t veth_len)
{
    snprintf(ns, ns_len, "am-br-%d-%d", (int)suite_pid, (int)pid);
    snprintf(veth, veth_len, "amv%d", (int)(pid % 1000000));
}

static bool netns_up(char *here, char *there, size_t cap)
{
    const char *ip = ip_bin();
    if (!ip || geteuid() != 0) return false;
    char veth[16];
    net_names(getpid(), netns, sizeof netns, veth, sizeof veth);
    unsigned o = (unsigned)(getpid() % 250);
    snprintf(here, cap, "10.231.%u.1", o);
    snprintf(there, cap, "10.231.%u.2", o);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "{ %1$s netns add %2$s && %1$s link add %3$sa type veth peer name %3$sb && "
             "%1$s link set %3$sb netns %2$s && %1$s addr add %4$s/30 dev %3$sa && %1$s link set %3$sa up && "
             "%1$s netns exec %2$s %1$s addr add %5$s/30 dev %3$sb && %1$s netns exec %2$s %1$s link set %3$sb up && "
             "%1$s netns exec %2$s %1$s link set lo up; } >/dev/null 2>&1",
             ip, netns, veth, here, there);
    return system(cmd) == 0;
}

/* Undo netns_up of process pid, however far it got: deleting the namespace deletes a
 * pair whose far end was moved into it; a pair that never got there is deleted here. */
static void netns_down(pid_t pid)
{
    const char *ip = ip_bin();
    char ns[32], veth[16], cmd[256];
    if (!ip) return;
    net_names(pid, ns, sizeof ns, veth, sizeof veth);
    snprintf(cmd, sizeof cmd, "%1$s netns del %2$s >/dev/null 2>&1; %1$s link del %3$sa >/dev/null 2>&1", ip, ns, veth);
    (void)system(cmd);   /* either may find nothing to delete */
    char path[64];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    if (access(path, F_OK) == 0) fprintf(stderr, "test_bridge: could not delete network namespace %s\n", ns);
}

START_TEST(two_hosts_through_a_veth_pair)
{
    char here[32], there[32];
    if (!netns_up(here, there, sizeof here)) {
        printf("test_bridge: two_hosts_through_a_veth_pair: SKIPPED: cannot make a network namespace and a veth "
               "pair here (needs root, ip(8) and a kernel that allows them)\n");
        netns_down(getpid());
        return;
    }
    nats_addr = here;
    world(2);
    bridge(na, "hostA", "--export", "far/*", "--import", "far/*", NULL);
    bridge_netns = netns;
    bridge(nb, "hostB", "--export", "far/*", "--import", "far/*", NULL);
    bridge_netns = NULL;

    /* a topic from A to B: every message once, in order, bytes identical */
    am_pub *p = telemetry_pub(A, "far/telemetry");
    ck_assert_msg(mirror_is(B, "far/telemetry", AM_ROLE_PUBLISHER, 1, 10000), "no mirror on B across the veth pair");
    am_sub *s = raw_sub(B, "far/telemetry");
    enum { N = 1000 };
    publish_range(p, 1, N, 20);
    ck_assert_uint_eq(take_in_order(s, 1, N, 10000, false), N);

    /* a typed call from B to a server on A */
    server_ctx sc = { .arena = na, .service = "far/planner", .id = 3 };
    pthread_t th;
    am_client *c = planner_across(&sc, &th, 10000);
    for (int i = 1; i <= 50; i++) plan_once(c, i);
    ck_assert_int_eq(atomic_load(&sc.served), 50);
    am_client_close(c);
    atomic_store(&sc.stop, 1);
    pthread_join(th, NULL);
    am_sub_close(s);
    am_pub_close(p);
    world_end(true);
    netns_down(getpid());
}
END_TEST

/* What main() sweeps: a file (unlinked), a case's network namespace (name ends in the
 * pid of the case that made it). */
static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static void remove_netns(const char *dir, const char *name)
{
    (void)dir;
    netns_down((pid_t)atoi(strrchr(name, '-') + 1));
}

/* Remove dir/<head>[A-C]?<pid>-* with rm: this suite's leftovers only. */
static void remove_matching(const char *dir, const char *head, pid_t pid, void (*rm)(const char *, const char *))
{
    DIR *d = opendir(dir);
    char tail[32];
    snprintf(tail, sizeof tail, "%d-", (int)pid);
    size_t hl = strlen(head);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        const char *p = e->d_name;
        if (strncmp(p, head, hl) != 0) continue;
        p += hl;
        if (*p >= 'A' && *p <= 'C' && p[1] == '-') p += 2;   /* am.test-brA-... */
        if (strncmp(p, tail, strlen(tail)) != 0) continue;
        rm(dir, e->d_name);
    }
    if (d) closedir(d);
}

int main(void)
{
    if (access(NATS_SERVER, X_OK) != 0) {
        printf("test_bridge: SKIPPED: %s is not installed (apt-get install nats-server)\n", NATS_SERVER);
        return 77;
    }
    const TTest *tests[] = { topic_across_two_bridges, fanout_and_killed_publisher, typed_rpc_across, two_servers_share_calls,
                             nats_server_restarted_midstream, bridge_killed_and_restarted, malformed_messages_dropped,
                             allow_and_deny_globs, three_bridges_no_loop, two_hosts_through_a_veth_pair, NULL };
    suite_pid = getpid();
    int rc = tu_main("bridge", 40, tests);
    /* what failed cases left: their arenas and bridge logs (their processes died with
     * them: PR_SET_PDEATHSIG) */
    remove_matching("/dev/shm", "am.test-br", suite_pid, remove_file);
    remove_matching("/dev/shm", "amlock.test-br", suite_pid, remove_file);   /* and their lock files */
    remove_matching("/tmp", "test_bridge-", suite_pid, remove_file);
    remove_matching("/run/netns", "am-br-", suite_pid, remove_netns);       /* and their veth pairs */
    return rc;
}
