/* SPDX-License-Identifier: Apache-2.0 */
/*
 * free_protocol.pml — a model of the arena's free path across kill -9 (spin).
 *
 * What it models (docs/arena-design.md): blocks with a state (FREE, ALLOCATED,
 * PENDING), an owner and an allocation generation; one sector with an owner-stamped
 * try-lock {slot, incarnation}, a deferred stack and drains; per-slot intent records;
 * workers that allocate and ack (the last ack claims the block, then frees it under the
 * try-lock or pushes it); a worker may die between any two steps (CRASH), and a dead
 * slot may be taken again by a new incarnation; a reclaimer undoes dead slots under
 * their byte lock: finishes their intents, frees what they owned. A waiter steals the
 * lock of a dead holder (repair is abstracted away: the chain and lists are not
 * modelled, only block states).
 *
 * Checked: no block is freed unless it is PENDING (no double free, no free of a live
 * block), and when nothing can move any more, after a final drain, no block is lost:
 * each is FREE or ALLOCATED by a live owner.
 *
 * -DREPAIR_RESOLVES lets repair (a thief of a dead holder's lock) finish the dead
 * holder's intent itself, without the slot's byte lock, as an early version of the code
 * did; the model finds that safe too here (a joiner steals its predecessor's stale locks
 * before it uses the intent table), so finishing intents only in reclaim is a choice
 * of simpler reasoning, not a fix.
 *
 * Run: spin -a free_protocol.pml && cc -O2 -DSAFETY -o pan pan.c && ./pan -m300000
 * (one block, two operations per incarnation, two slots each respawned once: ~10 M
 * states, ~10 s, ~1 GB; -DNB=2 or -DOPS=3 on spin's command line explode it).
 */
#ifndef NB
#define NB 1            /* blocks (2 works too, but the state space explodes) */
#endif
#define NS 2            /* worker slots */
#define FREE 0
#define ALLOC 1
#define PENDING 2
#define NONE 255
#define R_ID 9          /* the reclaimer's byte-lock holder id */

byte st[NB];
byte gen[NB];
byte owner[NB];         /* slot + 1, 0 = none */
bool onstack[NB];
byte allocgen;

byte lk_slot;           /* sector lock: holder slot + 1 (0 free) ... */
byte lk_inc;            /* ... and its incarnation; R_ID + 1 for the reclaimer */

byte inc[NS];           /* current incarnation of each slot */
byte bl[NS];            /* byte lock holder: 0 none, slot + 1 live owner, R_ID reclaimer */
byte pstate[NS];        /* 0 free, 1 live, 2 reclaiming */
byte it_blk[NS + 1];    /* intent records (NONE = empty); [NS] is the reclaimer's */
byte it_gen[NS + 1];
byte respawns[NS];
byte stolen_from;       /* the slot whose dead holder's lock was last stolen */
byte running;           /* workers alive */

/* A worker may die between any two steps; the reclaimer (may_crash false) does not. */
#define CRASH if :: true -> skip :: may_crash -> goto dead fi

/* A stamp is dead for checker `me` if its slot moved on, or nobody but the checker
 * itself holds the slot's byte lock (its own lock does not show in F_OFD_GETLK). */
#define STAMP_DEAD(s, i, me) (inc[s] != (i) || bl[s] == 0 || bl[s] == (me))

inline free_locked(f_b) {
    assert(st[f_b] == PENDING);         /* the property: only claimed blocks are freed */
    st[f_b] = FREE;
    owner[f_b] = 0
}

/* Take the sector lock as (me_slot, me_inc), stealing from a dead holder. */
inline lock_sector(me_slot, me_inc, me_bl) {
    do
    :: atomic { lk_slot == 0 -> lk_slot = me_slot; lk_inc = me_inc }; break
    :: atomic { lk_slot != 0 && lk_slot != R_ID + 1 && STAMP_DEAD(lk_slot - 1, lk_inc, me_bl) ->
           stolen_from = lk_slot - 1; lk_slot = me_slot; lk_inc = me_inc };
#ifdef REPAIR_RESOLVES
       /* the old repair: finish the dead holder's intent without its byte lock */
       if
       :: it_blk[stolen_from] != NONE && st[it_blk[stolen_from]] == PENDING &&
          gen[it_blk[stolen_from]] == it_gen[stolen_from] && !onstack[it_blk[stolen_from]] ->
           free_locked(it_blk[stolen_from]); it_blk[stolen_from] = NONE
       :: else
       fi;
#endif
       break
    od
}

/* Undo dead slot s (its byte lock held by the caller `me`, whose own intent record is
 * me_it): finish its claimed-but-unfinished free, free what it owned, drain. */
inline reclaim_slot(r_s, r_slot, r_inc, r_bl, r_it, r_b, r_c) {
    lock_sector(r_slot, r_inc, r_bl);
    if
    :: it_blk[r_s] != NONE && st[it_blk[r_s]] == PENDING && gen[it_blk[r_s]] == it_gen[r_s] &&
       !onstack[it_blk[r_s]] -> CRASH; free_locked(it_blk[r_s])
    :: else
    fi;
    it_blk[r_s] = NONE;
    r_b = 0;
    do
    :: r_b < NB && st[r_b] == ALLOC && owner[r_b] == r_s + 1 ->
        it_blk[r_it] = r_b; it_gen[r_it] = gen[r_b];
        st[r_b] = PENDING;
        CRASH;
        free_locked(r_b);
        it_blk[r_it] = NONE;
        r_b++
    :: r_b < NB && !(st[r_b] == ALLOC && owner[r_b] == r_s + 1) -> r_b++
    :: r_b == NB -> break
    od;
    drain(r_it, r_c);
    lk_slot = 0
}

/* Drain the deferred stack (lock held) with intent records of slot s. */
inline drain(d_it, d_b) {
    d_b = 0;
    do
    :: d_b < NB && onstack[d_b] ->
        it_blk[d_it] = d_b; it_gen[d_it] = gen[d_b];
        onstack[d_b] = false;           /* pop */
        CRASH;
        free_locked(d_b);
        it_blk[d_it] = NONE;
        d_b++
    :: d_b < NB && !onstack[d_b] -> d_b++
    :: d_b == NB -> break
    od
}

#ifndef OPS
#define OPS 2           /* operations per worker incarnation: bounds the state space */
#endif

proctype Worker(byte s) {
    byte myinc, b, c, ops;
    bool ok;
    bool may_crash = true;
    atomic { inc[s]++; myinc = inc[s] }            /* join: new incarnation first */
    CRASH;
    if                                              /* a dead predecessor's leftovers */
    :: pstate[s] != 0 -> reclaim_slot(s, s + 1, myinc, s + 1, s, b, c)
    :: else
    fi;
    pstate[s] = 1;
    do
    :: ops == OPS -> break
    :: ops < OPS -> ops++;
        /* allocate a free block, if there is one */
        lock_sector(s + 1, myinc, s + 1);
        if
        :: atomic { st[0] == FREE -> b = 0 }; ok = true
#if NB > 1
        :: atomic { st[1] == FREE -> b = 1 }; ok = true
#endif
        :: else -> ok = false
        fi;
        if
        :: ok ->
            CRASH;
            owner[b] = s + 1;
            atomic { allocgen++; gen[b] = allocgen };
            st[b] = ALLOC;
            CRASH
        :: else
        fi;
        lk_slot = 0
    :: ops < OPS -> ops++;
        /* ack one of ours (its last reference), if we have one */
        if
        :: atomic { st[0] == ALLOC && owner[0] == s + 1 -> b = 0 }; ok = true
#if NB > 1
        :: atomic { st[1] == ALLOC && owner[1] == s + 1 -> b = 1 }; ok = true
#endif
        :: else -> ok = false
        fi;
        if
        :: ok ->
            it_blk[s] = b; it_gen[s] = gen[b];  /* the intent, before the claim */
            CRASH;
            atomic {
                if
                :: st[b] == ALLOC -> st[b] = PENDING; ok = true
                :: else -> ok = false           /* reclaimed under us: not ours any more */
                fi
            };
            if
            :: !ok -> it_blk[s] = NONE
            :: ok ->
                CRASH;
                atomic {
                    if
                    :: lk_slot == 0 -> lk_slot = s + 1; lk_inc = myinc; ok = true
                    :: else -> ok = false
                    fi
                };
                if
                :: ok ->                        /* free it now, then drain */
                    free_locked(b);
                    CRASH;
                    it_blk[s] = NONE;
                    drain(s, c);
                    lk_slot = 0
                :: else ->                      /* busy: push it for the holder */
                    onstack[b] = true;
                    CRASH;
                    it_blk[s] = NONE
                fi
            fi
        :: else
        fi
    od;
dead:                                           /* ending and dying: the same to others */
    atomic { bl[s] = 0; running-- }             /* the kernel drops the byte lock */
}

/* Reclaims dead slots under their byte lock; respawns each slot once. */
proctype Reclaimer() {
    byte s, b, c;
    bool may_crash = false;
    do
    :: atomic { bl[0] == 0 && pstate[0] != 0 -> bl[0] = R_ID; s = 0 } -> goto reclaim
    :: atomic { bl[1] == 0 && pstate[1] != 0 -> bl[1] = R_ID; s = 1 } -> goto reclaim
    :: atomic { bl[0] == 0 && respawns[0] < 1 -> bl[0] = 1; respawns[0]++; running++; run Worker(0) }
    :: atomic { bl[1] == 0 && respawns[1] < 1 -> bl[1] = 2; respawns[1]++; running++; run Worker(1) }
    :: timeout -> break
reclaim:
        pstate[s] = 2;
        reclaim_slot(s, R_ID + 1, 0, R_ID, NS, b, c);
        pstate[s] = 0;
        bl[s] = 0
    od;
    /* audit: nothing can move, so every worker ended and every dead slot was reclaimed */
    assert(running == 0);
    lock_sector(R_ID + 1, 0, R_ID);
    drain(NS, c);
    b = 0;
    do
    :: b < NB -> assert(st[b] == FREE); b++     /* no block lost */
    :: b == NB -> break
    od;
    goto done;
dead:
    assert(false);                              /* unreachable: may_crash is false */
done:
    skip
}

init {
    atomic {
        it_blk[0] = NONE; it_blk[1] = NONE; it_blk[NS] = NONE;
        bl[0] = 1; bl[1] = 2; running = 2;
        run Worker(0); run Worker(1); run Reclaimer()
    }
}
