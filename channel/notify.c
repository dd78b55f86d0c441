/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify.c — a pollable descriptor that any process can make readable.
 *
 * A waitset's descriptor (am_waitset_fd) is a datagram socket bound to a name in the
 * abstract Unix namespace: "atomicmatrix.<16 hex digits>", a random token. Ports and
 * discovery watchers record the token in shared memory; a sender that finds the
 * receiver asleep sends one empty datagram to that name, which makes the descriptor
 * readable for poll/epoll/libuv in the receiving process. Nothing is passed between
 * processes, no file is created, and the kernel frees the name with the socket, so a
 * dead waiter leaves nothing behind: a datagram to a name nobody holds fails with
 * ECONNREFUSED, which is ignored.
 *
 * Why not an eventfd: it cannot be reached by an unrelated process without passing it
 * over a socket. Why not a FIFO in /dev/shm: every sender would have to open it, and a
 * planted FIFO or a full /dev/shm would be one more hazard.
 *
 * The descriptor carries no data: datagrams only mean "look again", so a hostile
 * local user sending to the name (abstract sockets have no permissions) can cause at
 * most spurious wake-ups, and a full receive queue (many senders) already means
 * readable, so a send that would block is dropped (MSG_DONTWAIT).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "channel_internal.h"

/* The abstract address of token: sun_path[0] = 0, then the name (not terminated). */
static socklen_t address(uint64_t token, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "atomicmatrix.%016llx", (unsigned long long)token);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int amc_notify_open(uint64_t *token)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? AM_ENOMEM : AM_ESYS;
    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t t = 0;
        if (getrandom(&t, sizeof t, 0) != (ssize_t)sizeof t) t = am_now_ns() ^ ((uint64_t)getpid() << 40);
        if (t == 0) continue;
        struct sockaddr_un sa;
        socklen_t len = address(t, &sa);
        if (bind(fd, (struct sockaddr *)&sa, len) == 0) {
            *token = t;
            return fd;
        }
        if (errno != EADDRINUSE) break;          /* taken (by chance, or squatted): again */
    }
    close(fd);
    return AM_ESYS;
}

/* One unbound socket per process to send from, made on first use (a race makes two;
 * the loser closes its own). Shared with fork children, which is harmless: it only
 * sends. */
static _Atomic int sender = -1;

void amc_notify(uint64_t token)
{
    if (token == 0) return;
    int fd = atomic_load_explicit(&sender, memory_order_acquire);
    if (fd < 0) {
        int mine = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (mine < 0) return;
        int none = -1;
        if (atomic_compare_exchange_strong_explicit(&sender, &none, mine, memory_order_acq_rel, memory_order_acquire)) {
            fd = mine;
        } else {
            close(mine);
            fd = none;
        }
    }
    struct sockaddr_un sa;
    socklen_t len = address(token, &sa);
    (void)sendto(fd, "", 0, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
}

void amc_notify_drain(int fd)
{
    char b[16];
    while (recv(fd, b, sizeof b, MSG_DONTWAIT) >= 0) {
    }
}
