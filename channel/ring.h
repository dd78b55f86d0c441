/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ring.h — the hot-path operations on a link's rings, with cached indexes.
 *
 * The rings are Concurrency Kit's (struct ck_ring: c_head on the consumers' line,
 * p_tail on the producer's, set up by ck_ring_init). These do ck_ring's steps with its
 * fences, but keep a private copy of the *other* side's index and re-read it only when
 * the copy says the ring is full (producer) or empty (consumer). Indexes only move
 * forward, so a stale copy never overstates the room or the contents; what it saves is
 * a read of a line the other process writes on every message. `mask` is always the
 * caller's validated copy, never the ring's own field (ck_ring's calls index with
 * that, and a peer could rewrite it after it was checked): every index stays inside
 * the slots the caller validated.
 */
#ifndef AMC_RING_H
#define AMC_RING_H

#include "channel_layout.h"

/* The producer (the only one): put *s if fewer than `cap` are queued. *tail is the
 * producer's own copy of p_tail (only it writes p_tail, so the copy is exact): the
 * shared word is only written, never read, here, because the consumer polls it and a
 * read of it would wait for the line to come back from the consumer's CPU. */
static inline bool amc_ring_put(struct ck_ring *r, amc_slot *slots, unsigned mask, unsigned cap, const amc_slot *s,
                                unsigned *head, unsigned *tail_copy)
{
    unsigned tail = *tail_copy;
    if (tail - *head >= cap) {
        *head = atomic_load_explicit((_Atomic unsigned *)&r->c_head, memory_order_acquire);
        if (tail - *head >= cap) return false;
    }
    slots[tail & mask] = *s;
    /* The slot before the index that publishes it (pairs with the consumer's acquire
     * load of p_tail). */
    atomic_store_explicit((_Atomic unsigned *)&r->p_tail, tail + 1, memory_order_release);
    *tail_copy = tail + 1;
    return true;
}

/* Copy the oldest slot (at head) into *out; false if the ring is empty. */
static inline bool amc_ring_peek(struct ck_ring *r, const amc_slot *slots, unsigned mask, unsigned head,
                                 amc_slot *out, unsigned *tail)
{
    if ((int)(*tail - head) <= 0) {
        *tail = atomic_load_explicit((_Atomic unsigned *)&r->p_tail, memory_order_acquire);
        if ((int)(*tail - head) <= 0) return false;
    }
    *out = slots[head & mask];
    return true;
}

/* The one consumer that holds the ring's lock (a return ring's ret_lock): nobody else
 * moves c_head, so the claim is a store, after the copy (release: a producer that sees
 * the new c_head and reuses the slot cannot overwrite what we read). */
static inline bool amc_ring_take_locked(struct ck_ring *r, const amc_slot *slots, unsigned mask, amc_slot *out,
                                        unsigned *tail)
{
    unsigned head = atomic_load_explicit((_Atomic unsigned *)&r->c_head, memory_order_relaxed);
    if (!amc_ring_peek(r, slots, mask, head, out, tail)) return false;
    atomic_store_explicit((_Atomic unsigned *)&r->c_head, head + 1, memory_order_release);
    return true;
}

/* A consumer: copy the oldest slot into *out, then claim it by CAS on c_head (other
 * consumers may race for it). false: empty, or the CAS lost (*out is then stale and
 * the caller must not keep it). */
static inline bool amc_ring_take(struct ck_ring *r, const amc_slot *slots, unsigned mask, amc_slot *out,
                                 unsigned *tail)
{
    unsigned head = atomic_load_explicit((_Atomic unsigned *)&r->c_head, memory_order_acquire);
    if (!amc_ring_peek(r, slots, mask, head, out, tail)) return false;
    /* The copy before the claim (release: a producer reusing the slot after it sees
     * the new c_head cannot overwrite what we are still reading); seq_cst also makes
     * it the receiver's half of the room_wanted handshake (amc_wake_senders), which
     * costs nothing more where a CAS is a full barrier anyway (x86). */
    return atomic_compare_exchange_strong_explicit((_Atomic unsigned *)&r->c_head, &head, head + 1,
                                                   memory_order_seq_cst, memory_order_relaxed);
}

/* Is s the last slot the producer put (its dead producer's last act, if it was)? */
static inline bool amc_ring_last_is(struct ck_ring *r, const amc_slot *slots, unsigned mask, amc_slot s)
{
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)&r->p_tail, memory_order_acquire);
    const amc_slot *last = &slots[(tail - 1) & mask];
    return tail != 0 && last->off == s.off && last->gen == s.gen;
}

#endif
