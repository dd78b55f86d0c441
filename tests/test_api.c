/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api.c — what a program sees before it sends anything: the version (headers and
 * library agree) and the error table (every code has a unique name and its own
 * message; the codes keep their released values; arena names are checked like topic
 * names).
 */
#include <stdio.h>
#include <string.h>
#include "test_util.h"

START_TEST(version_matches_headers)
{
    ck_assert_str_eq(am_version(), AM_VERSION_STRING);
    char built[32];
    snprintf(built, sizeof built, "%d.%d.%d", AM_VERSION_MAJOR, AM_VERSION_MINOR, AM_VERSION_PATCH);
    ck_assert_str_eq(built, AM_VERSION_STRING);
    ck_assert_int_ge(AM_VERSION_NUMBER, AM_VERSION_AT(0, 2, 0));
}
END_TEST

static const struct { int code; const char *name, *text; } table[] = {
#define ROW(name, value, text) { value, "AM_" #name, text },
    AM_ERRORS(ROW)
#undef ROW
};
enum { NCODES = sizeof table / sizeof table[0] };

START_TEST(every_code_has_a_unique_name_and_message)
{
    ck_assert_int_eq(NCODES, 19);                 /* AM_OK .. AM_EREMOTE */
    const char *unknown = am_strerror(12345);
    for (int i = 0; i < NCODES; i++) {
        int c = table[i].code;
        ck_assert_int_eq(c, -i);                  /* 0, -1, -2, ... no gap, no reuse */
        ck_assert_str_eq(am_err_name(c), table[i].name);
        ck_assert_str_eq(am_strerror(c), table[i].text);
        ck_assert(strlen(am_strerror(c)) > 5);
        ck_assert_str_ne(am_strerror(c), unknown);
        for (int j = 0; j < i; j++) {
            ck_assert_str_ne(am_err_name(table[j].code), am_err_name(c));
            ck_assert_str_ne(am_strerror(table[j].code), am_strerror(c));
        }
    }
    ck_assert_str_eq(am_err_name(1), "unknown");
    ck_assert_str_eq(am_err_name(-NCODES), "unknown");
    ck_assert_str_eq(am_strerror(-NCODES), "unknown atomicmatrix error");
}
END_TEST

START_TEST(released_values_do_not_change)
{
    ck_assert_int_eq(AM_OK, 0);
    ck_assert_int_eq(AM_ENOMEM, -1);
    ck_assert_int_eq(AM_ETIMEDOUT, -3);
    ck_assert_int_eq(AM_EINVAL, -6);
    ck_assert_int_eq(AM_EFULL, -14);
    ck_assert_int_eq(AM_ENAME, -16);
    ck_assert_int_eq(AM_EREMOTE, -18);
    ck_assert_str_eq(am_err_name(AM_ETIMEDOUT), "AM_ETIMEDOUT");
    /* the messages no longer name one table or one limit for every case */
    ck_assert_ptr_null(strstr(am_strerror(AM_EFULL), "participants table"));
    ck_assert_ptr_null(strstr(am_strerror(AM_ETOOBIG), "ever"));
    ck_assert(AM_FOREVER < 0);
}
END_TEST

START_TEST(bad_names_are_enames)
{
    am_arena *a = NULL;
    ck_assert_int_eq(am_arena_open("no/slash", NULL, &a), AM_ENAME);
    ck_assert_int_eq(am_arena_open("", NULL, &a), AM_ENAME);
    ck_assert_int_eq(am_arena_open(NULL, NULL, &a), AM_EINVAL);
    const char *name = tu_name("api");
    a = tu_open(name, 1 << 20, 1);
    am_pub *p = NULL;
    ck_assert_int_eq(am_pub_open(a, "bad name", NULL, &p), AM_ENAME);
    /* AM_FOREVER is accepted as a timeout: something is there, so it returns at once */
    am_sub *s;
    ck_assert_int_eq(am_sub_open(a, "t", NULL, &s), 0);
    ck_assert_int_eq(am_pub_open(a, "t", NULL, &p), 0);
    ck_assert_int_eq(am_pub_publish(p, "x", 1), 0);
    am_sample smp;
    ck_assert_int_eq(am_sub_take(s, &smp, AM_FOREVER), 0);
    ck_assert_int_eq(am_sub_ack(s, &smp), 0);
    ck_assert_int_eq(am_sub_take(s, &smp, 0), AM_ETIMEDOUT);
    am_pub_close(p);
    am_sub_close(s);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("api", 30, (const TTest *[]){
        version_matches_headers,
        every_code_has_a_unique_name_and_message,
        released_values_do_not_change,
        bad_names_are_enames,
        NULL });
}
