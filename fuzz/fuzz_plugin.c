/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_plugin.c — libFuzzer target: protoc-gen-am (codegen/protoc-gen-am.c, built
 * without its main) on a CodeGeneratorRequest that is the fuzzer's input.
 *
 * protoc only sends well-formed requests, but the plugin is a program anyone can feed
 * bytes to, and its output is C that gets compiled: a request it cannot handle must be
 * refused (not a request) or answered with an error in the response, never a crash, a
 * hang or a sanitizer report. Seeds: the requests protoc sends for the .proto files of tests/codegen/
 * (fuzz/seed_plugin.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int am_plugin_respond(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

/* The plugin's complaint about a non-request goes to stderr: not wanted at every run.
 * Only the `stderr` FILE pointer is replaced (libFuzzer kept its own copy at start-up;
 * the sanitizers write to descriptor 2), so reports still show. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    FILE *null = fopen("/dev/null", "w");
    if (!null) abort();
    stderr = null;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out;
    size_t n;
    if (am_plugin_respond(data, size, &out, &n) == 0) free(out);
    return 0;
}
