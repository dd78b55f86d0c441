/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigbus_guard.c — survive an arena file truncated while amctl reads it.
 *
 * amctl checks the file's size against its header before mapping it, but a process
 * with write access can ftruncate the file at any moment afterwards, and a read of a
 * mapped page past the new end is a SIGBUS. No check can rule that out, so the read
 * commands run under this guard: the signal jumps back here and the command reports
 * the arena as truncated instead of dying. The previous handler is restored after.
 */
#include <setjmp.h>
#include <signal.h>
#include "amctl.h"

static sigjmp_buf env;
static volatile sig_atomic_t armed;

static void on_sigbus(int sig)
{
    if (armed) {
        armed = 0;
        siglongjmp(env, 1);
    }
    /* Not ours (outside a guarded call): die of it as we would have. */
    signal(sig, SIG_DFL);
    raise(sig);
}

int sigbus_guarded(int (*fn)(void *), void *arg)
{
    struct sigaction sa = { .sa_handler = on_sigbus }, old;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER;
    if (sigaction(SIGBUS, &sa, &old) != 0) return fn(arg);
    /* volatile: rc is set after sigsetjmp and read after a possible siglongjmp */
    volatile int rc = AMCTL_TRUNCATED;
    if (sigsetjmp(env, 1) == 0) {          /* 1: the signal mask comes back too */
        armed = 1;
        rc = fn(arg);
        armed = 0;
    }
    sigaction(SIGBUS, &old, NULL);
    return rc;
}
