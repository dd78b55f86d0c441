/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.h — the JSON strings every amctl --json output writes. On its own (no arena
 * headers) so that the schema reader's fuzz target can link it.
 */
#ifndef AMCTL_JSON_H
#define AMCTL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* p[0..n) as a JSON string: valid UTF-8 passes through, quotes, backslashes and control
 * characters are escaped, and every byte of an invalid UTF-8 sequence becomes U+FFFD
 * (the bytes come from shared memory: the output stays valid JSON whatever they are). */
void json_string(FILE *f, const char *p, size_t n);
/* A NUL-terminated string, the same way. */
void json_str(FILE *f, const char *s);
/* p[0..n) as a JSON string holding its standard base64 (with padding). */
void json_base64(FILE *f, const uint8_t *p, size_t n);

#endif
