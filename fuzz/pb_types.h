/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_types.h — the messages fuzz_pb_decode decodes, the first input byte choosing one
 * (modulo the count); seed_pb.c writes its seeds with the same table.
 */
#ifndef AM_FUZZ_PB_TYPES_H
#define AM_FUZZ_PB_TYPES_H

#include "amtest.pb-c.h"

static const ProtobufCMessageDescriptor *const fuzz_pb_types[] = {
    &amtest__frame__descriptor,   /* nested, repeated, bytes, double, packed sint64 */
    &amtest__item__descriptor,    /* string, enum */
    &amtest__sum__descriptor,     /* packed int64 */
    &amtest__total__descriptor,
};
#define FUZZ_PB_NTYPES (sizeof fuzz_pb_types / sizeof fuzz_pb_types[0])

#endif
