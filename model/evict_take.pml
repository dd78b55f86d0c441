/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evict_take.pml — the drop-oldest race of channel/sample.c and channel/recv.c: a
 * sender evicting the oldest slot of a link and its receiver taking it use the same CAS
 * on the link's consumer index; the sender may die at any step, and its cleaner must
 * then decide from the record, the index and the receiver's held list whether the
 * sender owed the release.
 *
 * One sample in slot 0, one holder bit (the receiver's share). The receiver copies the
 * slot into its held entry (tentative), CASes the index, marks the entry sure if it won
 * (else clears it), reads the payload, then acks (releases the bit). The evictor writes
 * its record, CASes the index, and releases the bit if it won; it may die between any
 * two steps, after which its cleaner applies finish_evict's rule (and waits, as a later
 * gc does, while the entry is tentative).
 *
 * Checked: the bit is never released while the receiver reads the sample (no use after
 * free), never twice, and at the end it is released iff somebody dequeued the slot (no
 * leak). -DNO_HELD_CHECK drops the held-list test from the cleaner's rule; -DNO_TENTATIVE
 * treats a tentative entry as not held: the model finds the use-after-free in both.
 * One receiver incarnation: a later one that holds the sample by replay (which the
 * cleaner's rule also counts as held) is covered by the crash test, not here.
 * Run: model/check.sh DIR evict_take.pml [-DNO_HELD_CHECK]
 */
byte head = 0;        /* the link's consumer index; the sample is at 0, tail is 1 */
bit  owe = 1;         /* the receiver's holder bit                                 */
byte releases = 0;
bit  reading = 0;     /* the receiver is reading the payload                       */
byte held = 0;        /* receiver's held entry: 0 empty, 1 tentative, 2 sure       */
bit  rec = 0;         /* the evictor's record {EVICT, pos 0, sample}               */
bit  evictor_dead = 0;

inline release() {
    atomic {
        assert(!reading);
        if
        :: owe == 1 -> owe = 0; releases++
        :: else -> skip     /* clearing a clear bit does nothing */
        fi
    }
}

proctype receiver() {
    bit won = 0;
    held = 1;                                        /* copy (tentative) */
    atomic { if :: head == 0 -> head = 1; won = 1 :: else -> skip fi }
    if
    :: won -> held = 2; reading = 1; reading = 0; release(); held = 0
    :: else -> held = 0
    fi
}

proctype evictor() {
    bit won = 0;
    if :: goto die :: skip fi;
    rec = 1;
    if :: goto die :: skip fi;
    atomic { if :: head == 0 -> head = 1; won = 1 :: else -> skip fi }
    if :: goto die :: skip fi;
    if :: won -> release() :: else -> skip fi;
    rec = 0;
    goto done;
die:
    evictor_dead = 1;
done:
    skip
}

proctype cleaner() {
end:
    evictor_dead == 1;
    if
    :: rec == 0 -> skip                              /* nothing in flight */
    :: else ->
        if
        :: owe == 0 -> skip                          /* released already */
        :: head == 0 -> skip                         /* nobody took it: still queued */
        :: else ->
#ifndef NO_HELD_CHECK
#ifndef NO_TENTATIVE
            held != 1;                               /* undecidable now: a later gc */
#endif
            if
            :: held == 2 -> skip                     /* the receiver has it */
            :: else -> release()
            fi
#else
            release()
#endif
        fi
    fi
}

init {
    atomic { run receiver(); run evictor(); run cleaner() }
    timeout;            /* all done (a cleaner of a live evictor waits for good) */
    assert((head == 1 && owe == 0 && releases == 1) || (head == 0 && owe == 1 && releases == 0));
}
