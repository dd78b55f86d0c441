/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tlsf.c — the allocator on one process: size mapping, split, merge in both
 * directions, reference counts, ownership, bad pointers, and "everything freed ->
 * each sector is one free block".
 */
#include <string.h>
#include <unistd.h>
#include "arena_internal.h"
#include "test_util.h"
#include "testing.h"

/* Smallest block size filed under class (fl, sl). */
static uint64_t class_min(unsigned fl, unsigned sl)
{
    if (fl == 0) return (uint64_t)sl * AM_GRAN;
    uint64_t base = 1ull << (fl + AM_FL_SHIFT);
    return base + sl * (base >> AM_SL_LOG);
}

START_TEST(mapping_exhaustive)
{
    for (uint64_t n = 0; n <= (1u << 20); n++) {
        uint64_t need = am_block_bytes(n);
        TU_REQUIRE(need >= n + AM_HDR && need % AM_GRAN == 0, "size %llu: block %llu", (unsigned long long)n, (unsigned long long)need);
        unsigned fl, sl, f2, s2;
        TU_REQUIRE(am_tlsf_mapping_search(need, &fl, &sl) == 0, "size %llu: no class", (unsigned long long)n);
        uint64_t lo = class_min(fl, sl);
        /* class_min really is the bottom of the class */
        am_tlsf_mapping_insert(lo, &f2, &s2);
        TU_REQUIRE(f2 == fl && s2 == sl, "class_min(%u,%u) files elsewhere", fl, sl);
        am_tlsf_mapping_insert(lo - AM_GRAN, &f2, &s2);
        TU_REQUIRE(f2 != fl || s2 != sl, "class (%u,%u) starts below %llu", fl, sl, (unsigned long long)lo);
        /* the bucket searched only holds blocks at least that big */
        TU_REQUIRE(lo >= need, "size %llu: searched class holds blocks of %llu < %llu",
                   (unsigned long long)n, (unsigned long long)lo, (unsigned long long)need);
        /* and it is the first such class: the one below starts under `need` */
        am_tlsf_mapping_insert(need, &f2, &s2);
        TU_REQUIRE(f2 < fl || (f2 == fl && s2 <= sl), "size %llu: search below insert", (unsigned long long)n);
        if (lo > need) {
            unsigned pf, ps;
            am_tlsf_mapping_insert(lo - AM_GRAN, &pf, &ps);
            TU_REQUIRE(class_min(pf, ps) < need, "size %llu: a smaller class would do", (unsigned long long)n);
        }
    }
}
END_TEST

START_TEST(sizes_checked)
{
    am_arena *a = tu_open_fixed(tu_name("sizes"), 1 << 20, 1);
    void *p = NULL;
    ck_assert_int_eq(am_try_alloc(a, SIZE_MAX, &p), AM_ETOOBIG);
    ck_assert_int_eq(am_try_alloc(a, SIZE_MAX - 20, &p), AM_ETOOBIG);
    ck_assert_int_eq(am_try_alloc(a, (size_t)1 << 40, &p), AM_ETOOBIG);
    ck_assert_ptr_null(p);
    am_stats st;
    ck_assert_int_eq(am_arena_stats(a, &st), 0);
    /* the largest free block can be allocated exactly, and then nothing else fits */
    ck_assert_int_eq(am_try_alloc(a, st.largest_free, &p), 0);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    memset(p, 0xab, st.largest_free);
    ck_assert_int_eq(am_try_alloc(a, 1, &(void *){0}), AM_ENOMEM);
    ck_assert_int_eq(am_ack(a, p), 0);
    tu_finish(a);
}
END_TEST

/* Offsets of three consecutive blocks carved from a fresh sector. */
static void three(am_arena *a, void **p)
{
    for (int i = 0; i < 3; i++) {
        p[i] = am_alloc(a, 100);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % AM_ALIGN, 0);
    }
    /* split hands out consecutive blocks from the sector's start */
    ck_assert_uint_eq(am_offset(a, p[1]) - am_offset(a, p[0]), am_block_bytes(100));
    ck_assert_uint_eq(am_offset(a, p[2]) - am_offset(a, p[1]), am_block_bytes(100));
}

static uint64_t free_blocks(am_arena *a)
{
    am_stats st;
    ck_assert_int_eq(am_arena_stats(a, &st), 0);
    return st.free_blocks;
}

START_TEST(split_and_merge_both_ways)
{
    am_arena *a = tu_open(tu_name("merge"), 1 << 20, 1);
    void *p[3];
    three(a, p);
    ck_assert_uint_eq(free_blocks(a), 1);          /* the tail */
    /* free the middle: no neighbour free -> 2 free blocks */
    ck_assert_int_eq(am_ack(a, p[1]), 0);
    ck_assert_uint_eq(free_blocks(a), 2);
    ck_assert_int_eq(am_arena_check(a), 0);
    /* free the first: merges forward with the middle */
    ck_assert_int_eq(am_ack(a, p[0]), 0);
    ck_assert_uint_eq(free_blocks(a), 2);
    ck_assert_int_eq(am_arena_check(a), 0);
    /* free the last: merges backward and forward -> one block */
    ck_assert_int_eq(am_ack(a, p[2]), 0);
    ck_assert_uint_eq(free_blocks(a), 1);
    ck_assert(tu_all_free(a));
    ck_assert_int_eq(am_arena_check(a), 0);

    /* backward only: free first, then second merges back into it */
    three(a, p);
    ck_assert_int_eq(am_ack(a, p[0]), 0);
    ck_assert_uint_eq(free_blocks(a), 2);
    ck_assert_int_eq(am_ack(a, p[1]), 0);
    ck_assert_uint_eq(free_blocks(a), 2);
    ck_assert_int_eq(am_arena_check(a), 0);
    ck_assert_int_eq(am_ack(a, p[2]), 0);
    ck_assert(tu_all_free(a));
    /* a freed block is reused: same first offset */
    void *q = am_alloc(a, 100);
    ck_assert_ptr_eq(q, p[0]);
    ck_assert_int_eq(am_ack(a, q), 0);
    am_arena_close(a);
    tu_cleanup();
}
END_TEST

START_TEST(refcounts)
{
    am_arena *a = tu_open(tu_name("refs"), 1 << 20, 2);
    char *p = am_alloc(a, 64);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(am_retain(a, p, 2), 0);       /* 3 references */
    ck_assert_int_eq(am_ack(a, p), 0);
    ck_assert_int_eq(am_ack(a, p), 0);
    ck_assert_uint_ge(am_block_size(a, p), 64);    /* still live */
    ck_assert(!tu_all_free(a));
    ck_assert_int_eq(am_ack(a, p), 0);             /* last one frees */
    ck_assert(tu_all_free(a));
    ck_assert_int_eq(am_ack(a, p), AM_EINVAL);     /* double ack is refused */
    ck_assert_int_eq(am_retain(a, p, 1), AM_EINVAL);
    ck_assert_uint_eq(am_block_size(a, p), 0);
    ck_assert_int_eq(am_arena_check(a), 0);
    /* overflowing the count is refused */
    p = am_alloc(a, 64);
    ck_assert_int_eq(am_retain(a, p, AM_MAX_REFS), AM_EINVAL);
    ck_assert_int_eq(am_ack(a, p), 0);
    ck_assert(tu_all_free(a));
    am_arena_close(a);
    tu_cleanup();
}
END_TEST

START_TEST(bad_pointers)
{
    am_arena *a = tu_open(tu_name("badptr"), 1 << 20, 1);
    char *p = am_alloc(a, 256);
    char local[64];
    ck_assert_int_eq(am_ack(a, NULL), AM_EINVAL);
    ck_assert_int_eq(am_ack(a, local), AM_EINVAL);
    ck_assert_int_eq(am_ack(a, p + 1), AM_EINVAL);
    ck_assert_int_eq(am_ack(a, p + 16), AM_EINVAL);   /* interior, aligned */
    ck_assert_int_eq(am_ack(a, p + 128), AM_EINVAL);
    ck_assert_int_eq(am_retain(a, p + 32, 1), AM_EINVAL);
    ck_assert_int_eq(am_disown(a, p + 48), AM_EINVAL);
    ck_assert_ptr_null(am_ptr(a, 0));
    ck_assert_ptr_null(am_ptr(a, UINT64_MAX));
    ck_assert_ptr_null(am_ptr(a, am_offset(a, p) + 1));
    ck_assert_ptr_eq(am_ptr(a, am_offset(a, p)), p);
    ck_assert_uint_eq(am_offset(a, local), 0);
    ck_assert_int_eq(am_ack(a, p), 0);
    tu_finish(a);
}
END_TEST

START_TEST(ownership_and_close)
{
    const char *name = tu_name("own");
    am_arena *a = tu_open(name, 1 << 20, 2);
    am_arena *b = tu_open(name, 0, 0);             /* a second participant */
    ck_assert_uint_ne(am_arena_slot(a), am_arena_slot(b));
    void *kept = am_alloc(b, 1000), *given = am_alloc(b, 1000);
    void *given_a = am_ptr(a, am_offset(b, given));   /* the same block in a's mapping */
    ck_assert_ptr_ne(given_a, given);                 /* two mappings, two addresses */
    ck_assert_int_eq(am_disown(a, given_a), AM_EPERM); /* not a's */
    ck_assert_int_eq(am_disown(a, given), AM_EINVAL);  /* not even a pointer into a's map */
    ck_assert_int_eq(am_disown(b, given), 0);
    ck_assert_int_eq(am_disown(b, given), AM_EPERM);  /* no longer b's */
    /* closing b frees what b still owns, not what it gave away */
    am_stats st;
    am_arena_close(b);
    ck_assert_int_eq(am_arena_stats(a, &st), 0);
    ck_assert_uint_eq(st.used_blocks, 1);
    ck_assert_uint_eq(st.reclaimed, 1);
    (void)kept;
    ck_assert_int_eq(am_ack(a, given_a), 0);
    tu_finish(a);
}
END_TEST

/* The largest arena (64 GiB, sparse in /dev/shm): offsets and sizes do not wrap. A
 * real arena's pages are reserved when it is made, which this machine may not have
 * room for (test_files checks the refusal): this geometry test makes sparse ones. */
START_TEST(sixty_four_gib)
{
    am_test_sparse_arenas(1);
    unsigned sectors[] = { 0, 1 };
    for (unsigned i = 0; i < 2; i++) {
        const char *name = tu_name("64g");
        am_arena_opts o = { .size = (size_t)AM_MAX_SIZE, .sectors = sectors[i] };
        am_arena *a = NULL;
        ck_assert_int_eq(am_arena_open(name, &o, &a), 0);
        am_stats st;
        ck_assert_int_eq(am_arena_stats(a, &st), 0);
        ck_assert_uint_eq(st.size, AM_MAX_SIZE);
        ck_assert_uint_gt(st.largest_free, (uint64_t)st.heap / st.sectors - 4096);
        /* nearly the biggest block there is (room left for small ones behind it) */
        size_t want = st.largest_free - 65536;
        char *big = am_alloc(a, want);
        ck_assert_ptr_nonnull(big);
        big[0] = 1;
        big[want - 1] = 2;                       /* the last byte is ours and mapped */
        ck_assert_uint_ge(am_offset(a, big + want - 1), (uint64_t)st.heap / st.sectors - 65536);
        void *small[8];
        for (int j = 0; j < 8; j++) ck_assert_ptr_nonnull((small[j] = am_alloc(a, 100)));
        if (st.sectors == 1) ck_assert_ptr_null(am_alloc(a, 100000));    /* the one sector is full */
        ck_assert_int_eq(am_ack(a, big), 0);
        for (int j = 0; j < 8; j++) ck_assert_int_eq(am_ack(a, small[j]), 0);
        ck_assert(tu_all_free(a));
        ck_assert_msg(am_arena_check(a) == 0, "%s", am_arena_check_report());
        am_arena_close(a);
        am_arena_unlink(name);
    }
    tu_cleanup();
}
END_TEST

/* Random alloc/free in one process with the checker run often. */
START_TEST(random_single_process)
{
    am_arena *a = tu_open(tu_name("rand"), 4 << 20, 4);
    enum { LIVE = 512 };
    void *live[LIVE] = { 0 };
    size_t len[LIVE] = { 0 };
    uint64_t rng = 42;
    for (int i = 0; i < 200000; i++) {
        unsigned j = (unsigned)(tu_rand(&rng) % LIVE);
        if (live[j]) {
            TU_REQUIRE(tu_verify(live[j], len[j], j), "payload %u overwritten", j);
            TU_REQUIRE(am_ack(a, live[j]) == 0, "ack %u", j);
            live[j] = NULL;
        } else {
            len[j] = 1 + tu_rand(&rng) % (tu_rand(&rng) % 8 == 0 ? 65536 : 512);
            live[j] = am_alloc(a, len[j]);
            if (live[j]) tu_fill(live[j], len[j], j);
        }
        if (i % 20000 == 0) TU_REQUIRE(am_arena_check(a) == 0, "%s", am_arena_check_report());
    }
    for (unsigned j = 0; j < LIVE; j++) {
        if (live[j]) ck_assert_int_eq(am_ack(a, live[j]), 0);
    }
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("tlsf", 120, (const TTest *[]){
        mapping_exhaustive,
        sizes_checked,
        split_and_merge_both_ways,
        refcounts,
        bad_pointers,
        ownership_and_close,
        random_single_process,
        sixty_four_gib,
        NULL });
}
