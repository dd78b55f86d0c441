/* SPDX-License-Identifier: Apache-2.0 */
/*
 * amctl — see inside a running atomicmatrix bus, and clean it up.
 *
 *   amctl ls                       every arena in /dev/shm (or $AM_SHM_DIR)
 *   amctl stat NAME                figures of one arena, per sector
 *   amctl map NAME [--svg FILE]    a picture of its blocks
 *   amctl topics NAME              topics, their types and ports
 *   amctl services NAME            services, their types, methods and ports
 *   amctl top NAME                 rates per topic, service and port, refreshed
 *   amctl echo NAME TOPIC          print samples (or a service's calls) as they arrive
 *   amctl gc NAME [--trust]        reclaim what dead participants held
 *   amctl rm NAME [--force] [--trust]  remove an arena
 *   amctl --version                the version
 * Read commands take --json. Exit status: 0 fine, 1 error, 2 corruption found, 3 refused.
 */
#include <stdlib.h>
#include <string.h>
#include "amctl.h"
#include "atomicmatrix/version.h"

static const struct cmd_help { const char *name, *args, *text; } HELP[] = {
    { "ls", "[--json]", "List every atomicmatrix arena in /dev/shm (or $AM_SHM_DIR): name, size, used %, live\n"
                        "and dead participants, owner uid and mode, and each participant's process name (and\n"
                        "node name), pid and whether it is dead. Files that are not arenas are left alone\n"
                        "(only regular files are opened)." },
    { "stat", "NAME [--json]", "Used, free and held-by-dead bytes, the largest free block, fragmentation, per-sector\n"
                               "figures, allocation and free counters, repairs and reclaims. Exit 2 if a sector's\n"
                               "block chain is corrupt." },
    { "map", "NAME [--width N] [--svg FILE] [--json]",
      "A picture of the arena: a row of N cells (default 64) per sector, each showing what\n"
      "covers most of it: used, free, held by a dead participant, or unreadable. ANSI colours\n"
      "on a terminal, characters (# . X ?) when piped; --svg FILE writes the same picture as\n"
      "an SVG image; --json the rows as strings of u f d ?." },
    { "topics", "NAME [--json]", "Every topic: its type, and each port with its pid, process (and node) name, whether it\n"
                                 "is alive, queue depth and policy, samples held, bytes held, how long the oldest has\n"
                                 "been held, counters." },
    { "services", "NAME [--json]", "The same for services (servers and clients), and each service's methods with\n"
                                   "their request and response types when its server recorded a protobuf schema\n"
                                   "(code from protoc-gen-am does)." },
    { "top", "NAME [--interval SECONDS] [--count N] [--seconds S] [--json]",
      "A live table per topic/service and per port: messages, megabytes and drops per second\n"
      "(from the ports' counters, read --interval apart, default 1 s), queue fill and the bytes\n"
      "of samples held. Redraws the screen on a terminal, appends tables when piped; --json\n"
      "prints one object a line per refresh. Stops after --count refreshes, --seconds, or\n"
      "Ctrl-C (SIGINT) or SIGTERM, with status 0." },
    { "echo", "NAME TOPIC [--wait] [--raw] [--count N] [--seconds S] [--json]",
      "Print samples as they arrive: decoded by field name when the topic's publisher\n"
      "recorded a protobuf schema (code from protoc-gen-am does), as the wire format by field\n"
      "number with --raw, else as hex. A sample that does not parse is shown as hex.\n"
      "A topic that does not exist is an error (exit 1; it is never created); --wait waits\n"
      "for it to appear. --json: one object a line, the sample decoded to JSON by field name\n"
      "(proto3 JSON mapping: 64-bit integers as strings, bytes as base64, enums by name),\n"
      "or its payload in hex.\n"
      "On a service: its requests and replies, decoded by method with the schema its server\n"
      "recorded. echo watches the service's queues read-only, every millisecond, without\n"
      "joining it: a call answered and acked between two looks is not seen." },
    { "gc", "NAME [--trust] [--json]", "Reclaim what dead participants held (their blocks, and the samples and queues of\n"
                                        "their ports), and say what was reclaimed. Refused (exit 3) for another user's\n"
                                        "arena, unless --trust. Also removes orphaned lock files of NAME (amlock.NAME.*\n"
                                        "with no arena of theirs), even with no arena NAME left." },
    { "rm", "NAME [--force] [--trust] [--json]", "Remove an arena's name and its lock file. Refused (exit 3) while live\n"
                                        "participants are attached, unless --force, and for another user's arena, unless\n"
                                        "--trust; attached processes keep using it until they close." },
};

static void help(FILE *f)
{
    fprintf(f, "amctl — see inside a running atomicmatrix bus, and clean it up\n\nusage:\n");
    for (size_t i = 0; i < sizeof HELP / sizeof HELP[0]; i++) fprintf(f, "  amctl %s %s\n", HELP[i].name, HELP[i].args);
    fprintf(f, "  amctl --version\n");
    fprintf(f, "\n`amctl CMD --help` explains a command. Read commands never write to the arena and take no lock\n"
               "a live process needs; every value read from it is checked. Exit: 0 ok, 1 error, 2 corrupt, 3 refused.\n");
}

void die_usage(const char *cmd)
{
    for (size_t i = 0; i < sizeof HELP / sizeof HELP[0]; i++) {
        if (cmd && strcmp(cmd, HELP[i].name) == 0) {
            fprintf(stderr, "usage: amctl %s %s\n", HELP[i].name, HELP[i].args);
            exit(1);
        }
    }
    help(stderr);
    exit(1);
}

/* One command on one arena, run under the SIGBUS guard. */
typedef struct named_cmd { const char *cmd, *name, *topic; const opts *o; } named_cmd;

static int run_named(void *arg)
{
    const named_cmd *c = arg;
    if (strcmp(c->cmd, "stat") == 0) return cmd_stat(c->name, c->o);
    if (strcmp(c->cmd, "map") == 0) return cmd_map(c->name, c->o);
    if (strcmp(c->cmd, "topics") == 0) return cmd_channels(c->name, AMC_KIND_TOPIC, c->o);
    if (strcmp(c->cmd, "services") == 0) return cmd_channels(c->name, AMC_KIND_SERVICE, c->o);
    if (strcmp(c->cmd, "echo") == 0) return cmd_echo(c->name, c->topic, c->o);
    if (strcmp(c->cmd, "top") == 0) return cmd_top(c->name, c->o);
    if (strcmp(c->cmd, "gc") == 0) return cmd_gc(c->name, c->o);
    return cmd_rm(c->name, c->o);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("amctl %s (atomicmatrix library %s)\n", AM_VERSION_STRING, am_version());
        return 0;
    }
    const char *cmd = argv[1];
    opts o = { 0 };
    const char *pos[2] = { NULL, NULL };
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            for (size_t k = 0; k < sizeof HELP / sizeof HELP[0]; k++) {
                if (strcmp(cmd, HELP[k].name) == 0) {
                    printf("usage: amctl %s %s\n\n%s\n", HELP[k].name, HELP[k].args, HELP[k].text);
                    return 0;
                }
            }
            die_usage(NULL);
        } else if (strcmp(a, "--json") == 0) o.json = true;
        else if (strcmp(a, "--force") == 0) o.force = true;
        else if (strcmp(a, "--trust") == 0) o.trust = true;
        else if (strcmp(a, "--raw") == 0) o.raw = true;
        else if (strcmp(a, "--wait") == 0) o.wait = true;
        else if (strcmp(a, "--interval") == 0 && i + 1 < argc) o.interval = atof(argv[++i]);
        else if (strcmp(a, "--svg") == 0 && i + 1 < argc) o.svg = argv[++i];
        else if (strcmp(a, "--width") == 0 && i + 1 < argc) o.width = (unsigned)atoi(argv[++i]);
        else if (strcmp(a, "--count") == 0 && i + 1 < argc) o.count = atol(argv[++i]);
        else if (strcmp(a, "--seconds") == 0 && i + 1 < argc) o.seconds = atof(argv[++i]);
        else if (a[0] == '-' || npos == 2) die_usage(cmd);
        else pos[npos++] = a;
    }
    if (o.width > 4096) o.width = 4096;
    if (strcmp(cmd, "ls") == 0 && npos == 0) return cmd_ls(&o);
    if (npos < 1) die_usage(cmd);
    static const char *const one_name[] = { "stat", "map", "topics", "services", "top", "gc", "rm" };
    bool known = strcmp(cmd, "echo") == 0 && npos == 2;
    for (size_t i = 0; i < sizeof one_name / sizeof one_name[0]; i++) known |= strcmp(cmd, one_name[i]) == 0 && npos == 1;
    if (!known) die_usage(cmd);
    named_cmd c = { cmd, pos[0], pos[1], &o };
    int rc = sigbus_guarded(run_named, &c);
    if (rc == AMCTL_TRUNCATED) {
        fflush(stdout);
        fprintf(stderr, "\namctl: %s: the arena's file was truncated while amctl read it (SIGBUS): it is shorter "
                        "than its header says\n", pos[0]);
        return 2;
    }
    return rc;
}
