/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c — JSON strings for amctl's --json outputs (json.h).
 */
#include <string.h>
#include "json.h"

/* The length of the valid UTF-8 sequence at p[0..n), or 0 (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len = c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
    }
    if (c == 0xe0 && p[1] < 0xa0) return 0;      /* overlong */
    if (c == 0xed && p[1] >= 0xa0) return 0;     /* a surrogate */
    if (c == 0xf0 && p[1] < 0x90) return 0;      /* overlong */
    if (c == 0xf4 && p[1] >= 0x90) return 0;     /* above U+10FFFF */
    return len;
}

void json_string(FILE *f, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else if (c < 0x80) fputc(c, f);
        else {
            size_t len = utf8_len(p + i, n - i);
            if (len) fwrite(p + i, 1, len, f);
            else fputs("\\ufffd", f);
            i += len ? len : 1;
            continue;
        }
        i++;
    }
    fputc('"', f);
}

void json_str(FILE *f, const char *s)
{
    json_string(f, s, strlen(s));
}

void json_base64(FILE *f, const uint8_t *p, size_t n)
{
    static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', f);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(B64[v >> 18 & 63], f);
        fputc(B64[v >> 12 & 63], f);
        fputc(i + 1 < n ? B64[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? B64[v & 63] : '=', f);
    }
    fputc('"', f);
}
