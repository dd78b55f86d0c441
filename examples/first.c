/* SPDX-License-Identifier: Apache-2.0 */
/* first.c: publish a message and take it back, in one process (the README's first
 * program). Build: cc first.c $(pkg-config --cflags --libs atomicmatrix) -o first */
#include <stdio.h>
#include <atomicmatrix/atomicmatrix.h>

int main(void)
{
    am_arena *a;
    am_pub *pub;
    am_sub *sub;
    am_sample s;
    int rc = am_arena_open("first", NULL, &a);          /* /dev/shm/am.first */
    if (rc) { fprintf(stderr, "open: %s (%s)\n", am_strerror(rc), am_err_name(rc)); return 1; }
    am_sub_open(a, "hello", NULL, &sub);                /* subscribe first...        */
    am_pub_open(a, "hello", NULL, &pub);                /* ...then publish           */
    am_pub_publish(pub, "hi there", 9);
    rc = am_sub_take(sub, &s, AM_FOREVER);              /* or a timeout in ns; 0 = poll */
    if (rc == 0) {
        printf("took \"%s\" (seq %llu) with atomicmatrix %s\n", (const char *)s.data,
               (unsigned long long)s.seq, am_version());
        am_sub_ack(sub, &s);                            /* the block is freed */
    }
    am_pub_close(pub);
    am_sub_close(sub);
    am_arena_close(a);
    am_arena_unlink("first");
    return rc ? 1 : 0;
}
