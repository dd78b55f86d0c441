/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_codegen_names.c — the golden .proto files (tests/codegen/) built with
 * am_protobuf_generate: their generated code compiles and links with -Werror, the types
 * it records are the proto names, schemas tell types apart, and a message with nested
 * types, an enum, a oneof, a map and keyword field names goes through a topic intact,
 * and a file with a service and no message of its own records its schema too.
 */
#include <string.h>
#include "kitchen.am.h"
#include "plain.am.h"
#include "renamed.am.h"
#include "services_only.am.h"
#include "test_util.h"

START_TEST(names_and_types)
{
    ck_assert_str_eq(kitchen__sink_v2__outer__am_type().name, "kitchen.sink_v2.Outer");
    ck_assert_str_eq(kitchen__sink_v2__outer__middle__inner__am_type().name, "kitchen.sink_v2.Outer.Middle.Inner");
    ck_assert_str_eq(kitchen__sink_v2__kitchen_service__am_type().name, "kitchen.sink_v2.KitchenService");
    ck_assert_str_eq(bare__am_type().name, "Bare");
    ck_assert_str_eq(only__repeater__am_type().name, "only.Repeater");
    /* c_package renames the C symbols, not the proto names recorded with a topic */
    ck_assert_str_eq(short_pkg__pinger__am_type().name, "long.original.pkg.Pinger");
    ck_assert(short_pkg__ping__am_type().fingerprint != 0);
    am_type all[] = { kitchen__sink_v2__outer__am_type(), kitchen__sink_v2__outer__middle__am_type(),
                      kitchen__sink_v2__outer__middle__inner__am_type(), kitchen__sink_v2__httprequest2__am_type(),
                      kitchen__sink_v2__kitchen_service__am_type(), bare__am_type(), short_pkg__ping__am_type(),
                      short_pkg__pinger__am_type() };
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++) {
        for (unsigned k = i + 1; k < sizeof all / sizeof all[0]; k++) ck_assert(all[i].fingerprint != all[k].fingerprint);
    }
}
END_TEST

START_TEST(every_construct_through_a_topic)
{
    am_arena *a = tu_open(tu_name("cgnames"), 16 << 20, 0);
    am_pub *p;
    am_sub *s;
    ck_assert_int_eq(kitchen__sink_v2__outer__am_sub_open(a, "kitchen", NULL, &s), 0);
    ck_assert_int_eq(kitchen__sink_v2__outer__am_pub_open(a, "kitchen", NULL, &p), 0);
    Kitchen__SinkV2__Outer o = KITCHEN__SINK_V2__OUTER__INIT;
    Kitchen__SinkV2__Outer__Middle mid = KITCHEN__SINK_V2__OUTER__MIDDLE__INIT;
    Kitchen__SinkV2__Outer__Middle__Inner in = KITCHEN__SINK_V2__OUTER__MIDDLE__INNER__INIT;
    in.deep = 42;
    mid.inner = &in;
    mid.mode = KITCHEN__SINK_V2__OUTER__MIDDLE__MODE__MODE_ON;
    o.middle = &mid;
    Kitchen__SinkV2__Outer__Middle *mids[2] = { &mid, &mid };
    o.n_middles = 2;
    o.middles = mids;
    Kitchen__SinkV2__Outer__CountsEntry e1 = KITCHEN__SINK_V2__OUTER__COUNTS_ENTRY__INIT, *ents[1] = { &e1 };
    e1.key = "apples";
    e1.value = -7;
    o.n_counts = 1;
    o.counts = ents;
    o.choice_case = KITCHEN__SINK_V2__OUTER__CHOICE_COLOR;
    o.color = KITCHEN__SINK_V2__COLOR__COLOR_RED;
    o.int_ = 5;
    o.default_ = 1;
    o.struct_ = "keyword";
    ck_assert_int_eq(kitchen__sink_v2__outer__am_publish(p, &o), 0);
    Kitchen__SinkV2__Outer *got;
    ck_assert_int_eq(kitchen__sink_v2__outer__am_take(s, NULL, &got, NULL, 0), 0);
    ck_assert_int_eq(got->middle->inner->deep, 42);
    ck_assert_int_eq(got->middle->mode, KITCHEN__SINK_V2__OUTER__MIDDLE__MODE__MODE_ON);
    ck_assert_int_eq(got->n_middles, 2);
    ck_assert_int_eq(got->n_counts, 1);
    ck_assert_str_eq(got->counts[0]->key, "apples");
    ck_assert_int_eq(got->counts[0]->value, -7);
    ck_assert_int_eq(got->choice_case, KITCHEN__SINK_V2__OUTER__CHOICE_COLOR);
    ck_assert_int_eq(got->color, KITCHEN__SINK_V2__COLOR__COLOR_RED);
    ck_assert_int_eq(got->int_, 5);
    ck_assert_int_eq(got->default_, 1);
    ck_assert_str_eq(got->struct_, "keyword");
    kitchen__sink_v2__outer__am_free(got, NULL);
    /* The publisher recorded the file's descriptors with the topic. */
    const void *schema;
    size_t len;
    ck_assert_int_eq(am_sub_schema(s, &schema, &len), 0);
    ck_assert_uint_gt(len, 100);
    ck_assert_ptr_nonnull(memmem(schema, len, "kitchen.proto", 13));
    ck_assert_ptr_nonnull(memmem(schema, len, "middles", 7));
    am_pub_close(p);
    am_sub_close(s);
    tu_finish(a);
}
END_TEST

/* services_only.proto defines no message: its server records the file's descriptors
 * (with the imported plain.proto's) all the same. */
START_TEST(a_service_without_messages_records_its_schema)
{
    am_arena *a = tu_open(tu_name("cgonly"), 16 << 20, 0);
    am_server *s;
    am_client *c;
    ck_assert_int_eq(only__repeater__am_server_open(a, "repeat", NULL, &s), 0);
    ck_assert_int_eq(only__repeater__am_client_open(a, "repeat", NULL, &c), 0);
    const void *schema;
    size_t len;
    ck_assert_int_eq(am_client_schema(c, &schema, &len), 0);
    ck_assert_ptr_nonnull(memmem(schema, len, "services_only.proto", 19));
    ck_assert_ptr_nonnull(memmem(schema, len, "Repeater", 8));
    ck_assert_ptr_nonnull(memmem(schema, len, "plain.proto", 11));
    am_client_close(c);
    am_server_close(s);
    tu_finish(a);
}
END_TEST

int main(void)
{
    return tu_main("codegen_names", 120, (const TTest *[]){ names_and_types, every_construct_through_a_topic,
                                                            a_service_without_messages_records_its_schema, NULL });
}
