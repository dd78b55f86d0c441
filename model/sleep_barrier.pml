/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sleep_barrier.pml — the receiver's sleep and the sender's wake (channel/wait.c, "The
 * sleep barrier"; channel/sample.c, the end of amc_send). The receiver stores
 * `sleeping` = 1 and then looks at its link; the sender queues and then looks at
 * `sleeping`. Each is a store followed by a load of what the other stored, which x86
 * (TSO) may reorder: the store waits in the CPU's store buffer while the load goes
 * ahead. The sender fences (drains its buffer) unless its process registered for
 * membarrier and the receiver's port has `barrier` set; a receiver with `barrier` runs
 * membarrier(GLOBAL_EXPEDITED) between its store and its look, which drains the store
 * buffer of every CPU running a thread of a registered process. Turning `barrier` off
 * (the port joins a descriptor's waitset) is an exchange followed by one membarrier;
 * turning it on needs nothing (a sender that read 0 fenced).
 *
 * Memory model: the sender's store of the slot sits in its store buffer until a fence,
 * a membarrier or the CPU drains it (at any moment); its loads read memory. The
 * receiver's stores are seq_cst (an exchange on x86: they drain at once).
 *
 * Checked: no lost wake-up. A receiver that sleeps without having seen the slot must
 * be woken, or the model ends with it blocked (an invalid end state). Mutations that
 * must be caught: -DNO_SLEEP_BARRIER (the receiver skips membarrier before its look),
 * -DNO_OFF_BARRIER (turning `barrier` off skips the membarrier), -DNO_REGISTERED_CHECK
 * (a sender that did not register skips its fence too).
 * Run: model/check.sh DIR sleep_barrier.pml [-DNO_SLEEP_BARRIER]
 */
bit slot_mem = 0;   /* the queued slot and p_tail as the receiver's CPU sees them */
bit slot_buf = 0;   /* ... still in the sender's store buffer                     */
bit sleeping = 0;   /* port `sleeping`                                            */
bit barrier;        /* port `barrier` (the receiver's, chosen at start)           */
bit registered;     /* the sender's process registered for membarrier             */
bit woken = 0;      /* port `wake` bumped (and the futex woken)                   */

inline drain() {
    atomic { if :: slot_buf -> slot_mem = 1; slot_buf = 0 :: else -> skip fi }
}

/* membarrier(GLOBAL_EXPEDITED): a full barrier on every CPU running a thread of a
 * registered process (one that is not running drained at its context switch). */
inline membarrier() {
    if :: registered -> drain() :: else -> skip fi
}

/* The sender's CPU empties its store buffer whenever it likes. */
proctype store_buffer() {
end: do :: slot_buf -> drain() od
}

proctype sender() {
    bit fence;
    slot_buf = 1;                       /* amc_ring_put: slot, then p_tail (release) */
#ifdef NO_REGISTERED_CHECK
    fence = !barrier;
#else
    fence = !(registered && barrier);   /* !fence_free || a target's barrier == 0 */
#endif
    if :: fence -> drain() :: else -> skip fi
    atomic { if :: sleeping -> sleeping = 0; woken = 1 :: else -> skip fi }  /* amc_wake_receiver */
}

proctype receiver() {
    /* amc_barrier_set: the port may join or leave a descriptor's waitset first */
    if
    :: barrier ->
        barrier = 0;
#ifndef NO_OFF_BARRIER
        membarrier();
#endif
    :: !barrier -> barrier = 1
    :: skip
    fi;
    sleeping = 1;                       /* seq_cst */
#ifndef NO_SLEEP_BARRIER
    if :: barrier -> membarrier() :: else -> skip fi    /* amc_sleep_barrier */
#endif
    if
    :: slot_mem -> sleeping = 0        /* found it: take it, no sleep */
    :: else -> woken                   /* FUTEX_WAIT until `wake` moves */
    fi
}

init {
    atomic {
        if :: barrier = 0 :: barrier = 1 fi;
        if :: registered = 0 :: registered = 1 fi;
        run store_buffer(); run sender(); run receiver()
    }
}
