/* SPDX-License-Identifier: Apache-2.0 */
/*
 * holder_bits.pml — a model of who frees a channel sample, across kill -9 (spin).
 *
 * What it models (docs/channel-design.md, "Who holds a sample"): one sample whose `owe`
 * word has three holder bits — receiver R0, receiver R1 and the topic's history — and a
 * freer field written by the CAS that clears the last bit. Every party may die between
 * any two of its steps, and whoever cleans up after it may die too and be followed by
 * another cleaner:
 *   - R0 takes the sample and acks it: release(bit R0, freer R0), then free if last.
 *     Its cleaner (the dead port's release) repeats that as a recovery.
 *   - R1 either acks it itself like R0, or — exclusively, as the take lock makes it — a
 *     sender evicts it from R1's full DROP_OLDEST queue under the channel lock:
 *     dequeue, then release(bit R1, freer LOCK(R1)). The evictor's cleaner (the lock's
 *     thief) recovers the release if the dequeue happened. R1's cleaner only names the
 *     sample if R1 holds it (it was not evicted).
 *   - The history is evicted by a sender under the channel lock: release(bit HIST,
 *     freer HIST); its cleaner (the lock's thief) repeats it.
 *   - The thief of a dead sender's lock, finishing its send record, recovers for each
 *     target whose bit it finds clear (freer LOCK(target)), at any moment.
 * A recovery is: probe (is the block still this live allocation?), then one CAS that
 * clears the bit if set and otherwise sees "no holders, freer = me" (an earlier release
 * by the same freer died before freeing), then the free.
 *
 * Lock holders (the evictors, a dead sender's thief, every cleaner) hold the channel
 * lock; a cleaner takes a dead holder's lock over. Receivers' own acks take no lock.
 *
 * Checked: the block is never freed twice, and when nothing can move any more it has
 * been freed (no leak). -DSHARED_FREER gives lock holders acting for a port the port's
 * own freer id (port + 1), as a first version of the code did: the model then finds
 * the double free (a recovery finishing a free that the live receiver is finishing).
 * -DNO_FINISH makes a recovery never finish a free cut short: the model finds the leak.
 *
 * Run: spin -a holder_bits.pml && cc -O2 -DSAFETY -o pan pan.c && ./pan
 */
#define B_R0   1
#define B_R1   2
#define B_HIST 4
#define F_R0   1
#define F_R1   2
#define F_HIST 3
#ifdef SHARED_FREER
#define F_LOCK_R0 F_R0
#define F_LOCK_R1 F_R1
#else
#define F_LOCK_R0 5
#define F_LOCK_R1 4
#endif

byte bits = 7;          /* every holder holds it: R0, R1, history          */
byte freer = 0;
bit  freed = 0;
bit  evicted = 0;       /* R1's queue slot was dequeued by the evictor     */
bit  r1_took = 0;       /* R1 took it into its held list                   */
byte dead = 0;          /* bit per party that died: 1 R0, 2 R1, 4 E, 8 H   */
byte lock = 0;          /* the channel lock: 0 free, else its holder's id  */

/* Lock holder ids. A dead holder's lock is taken over by its cleaner (the thief). */
#define L_E   1         /* the evictor                  */
#define L_H   2         /* the history's evictor        */
#define L_ST  3         /* a dead sender's lock thief   */
#define L_CL  4         /* + cleaner index: cleaners    */

inline do_free() {
    atomic { assert(freed == 0); freed = 1 }
}

/* A normal release: the holder knows it holds the bit. */
inline release(b, f) {
    atomic {
        assert(bits & b);
        bits = bits & ~b;
        if
        :: bits == 0 -> freer = f; last = 1
        :: else -> last = 0
        fi
    }
}

/* A recovery, repeatable: probe, one CAS, free. */
inline recover(b, f) {
    if
    :: freed == 1 -> last = 0                 /* probe: not live any more */
    :: else ->
        atomic {
            if
            :: (bits & b) ->
                bits = bits & ~b;
                if
                :: bits == 0 -> freer = f; last = 1
                :: else -> last = 0
                fi
#ifdef NO_FINISH
            :: else -> last = 0                /* mutation: never finish a free */
#else
            :: else -> last = (bits == 0 && freer == f)
#endif
            fi
        }
    fi
}

/* Die here, maybe. */
#define CRASH(who) if :: skip :: dead = dead | (who); goto gone fi

proctype R0() {
    bit last;
    CRASH(1);
    release(B_R0, F_R0);
    CRASH(1);
    if :: last -> do_free() :: else -> skip fi;
gone: skip
}

proctype R1() {
    bit last;
    if
    :: atomic { evicted == 0 -> r1_took = 1 }  /* take (the take lock excludes eviction) */
    :: atomic { evicted == 1 -> goto gone }    /* it was evicted: nothing to do */
    fi;
    CRASH(2);
    release(B_R1, F_R1);
    CRASH(2);
    if :: last -> do_free() :: else -> skip fi;
gone: skip
}

proctype Evictor() {
    bit last;
end_wait:
    atomic { lock == 0 && r1_took == 0 -> lock = L_E; evicted = 1 };  /* dequeue, under
                                               the channel lock and R1's take lock */
    CRASH(4);
    release(B_R1, F_LOCK_R1);
    CRASH(4);
    if :: last -> do_free() :: else -> skip fi;
    lock = 0;
gone: skip
}

proctype History() {
    bit last;
end_wait:
    atomic { lock == 0 -> lock = L_H };
    CRASH(8);
    release(B_HIST, F_HIST);
    CRASH(8);
    if :: last -> do_free() :: else -> skip fi;
    lock = 0;
gone: skip
}

/* Whoever cleans up after party `who` (bit, freer): runs once it is dead; it may die
 * after its CAS and before freeing, and then another cleaner starts over (at most
 * twice). A death before the CAS is the same as a cleaner that has not run yet. */
proctype Cleaner(byte who; byte b; byte f; byte holds) {
    bit last;
    byte tries = 0;
end_wait:
    atomic { (dead & who) && (lock == 0 || lock == holds) -> lock = L_CL + who };
    if
    :: who == 2 && r1_took == 0 -> goto done   /* R1 never held it           */
    :: who == 4 && evicted == 0 -> goto done   /* the dequeue did not happen */
    :: else -> skip
    fi;
again:
    recover(b, f);
    if
    :: tries < 2 -> tries++; goto again        /* died here: the next cleaner */
    :: true -> skip
    fi;
    if :: last -> do_free() :: else -> skip fi;
done:
    lock = 0
}

/* The thief of a dead sender's lock finishing its send record: for each target whose
 * bit it finds clear (taken and acked, or dropped by an earlier thief that died), it
 * finishes a free that an earlier lock holder acting for that target did not get to. */
proctype SendThief() {
    bit last;
end_wait:
    atomic { lock == 0 -> lock = L_ST };
    if :: (bits & B_R0) == 0 -> recover(B_R0, F_LOCK_R0) :: else -> last = 0 fi;
    if :: last -> do_free() :: else -> skip fi;
    if :: (bits & B_R1) == 0 -> recover(B_R1, F_LOCK_R1) :: else -> last = 0 fi;
    if :: last -> do_free() :: else -> skip fi;
    lock = 0
}

/* When nothing can move, the sample must have been freed. */
proctype Leak() {
end_check:
    timeout -> assert(freed == 1)
}

init {
    atomic {
        run R0(); run R1(); run Evictor(); run History();
        run Cleaner(1, B_R0, F_R0, 99);         /* receivers hold no channel lock */
        run Cleaner(2, B_R1, F_R1, 99);
        run Cleaner(4, B_R1, F_LOCK_R1, L_E);
        run Cleaner(8, B_HIST, F_HIST, L_H);
        run SendThief();
        run Leak()
    }
}
