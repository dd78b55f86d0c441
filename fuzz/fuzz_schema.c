/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_schema.c — libFuzzer target: the schema reader of `amctl echo`
 * (tools/amctl/pb_print.c). A recorded schema and a sample are both bytes in shared
 * memory, so a FileDescriptorSet that does not make sense, a type name it does not
 * hold, or a sample that is not that type must be printed as far as it parses (or
 * refused), never crash; the same for a service's rpcs and their types (amctl echo on
 * a service). Input layout: schema_input.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include "pb_print.h"
#include "schema_input.h"

/* What is printed does not matter here, and writing it would slow every run. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    if (!freopen("/dev/null", "w", stdout)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    schema_input in;
    if (schema_input_split(data, size, &in) != 0) return 0;
    /* amctl echo --raw: by field number, with no schema. */
    if (pb_parses(in.payload, in.payload_len, 0)) pb_print_raw(in.payload, in.payload_len, 0);
    FileSet *set = google__protobuf__file_descriptor_set__unpack(NULL, in.set_len, in.set);
    if (!set) return 0;
    const MsgDesc *md = pb_find_message(set, in.type);
    if (md) (void)pb_print_message(set, md, in.payload, in.payload_len, 0);
    if (md) (void)pb_print_json(set, md, in.payload, in.payload_len);     /* amctl echo --json */
    /* amctl echo on a service: the service the type names, the request type of each
     * method id (and one past the last) */
    const SvcDesc *sd = pb_find_service(set, in.type);
    for (uint32_t k = 0; sd && k <= sd->n_method + 1; k++) {
        const MethodDesc *m = pb_method(sd, k);
        const MsgDesc *req = m && m->input_type ? pb_find_message(set, m->input_type) : NULL;
        if (!req) continue;
        (void)pb_print_message(set, req, in.payload, in.payload_len, 0);
        (void)pb_print_json(set, req, in.payload, in.payload_len);
    }
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    return 0;
}
