/* SPDX-License-Identifier: Apache-2.0 */
/* Uses an installed atomicmatrix: a typed Greeting through a topic, in one process. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "greeting.am.h"

int main(void)
{
    char name[64];
    snprintf(name, sizeof name, "consumer_%d", (int)getpid());
    am_arena *a;
    am_pub *p;
    am_sub *s;
    if (am_arena_open(name, NULL, &a)) return 1;
    am_arena_unlink(name);
    if (consumer__greeting__am_sub_open(a, "greetings", NULL, &s) || consumer__greeting__am_pub_open(a, "greetings", NULL, &p)) return 2;
    Consumer__Greeting g = CONSUMER__GREETING__INIT;
    g.text = "hello from an installed atomicmatrix";
    g.times = 3;
    if (consumer__greeting__am_publish(p, &g)) return 3;
    Consumer__Greeting *got;
    if (consumer__greeting__am_take(s, NULL, &got, NULL, 0)) return 4;
    int ok = strcmp(got->text, g.text) == 0 && got->times == 3;
    printf("%s (x%u)\n", got->text, got->times);
    consumer__greeting__am_free(got, NULL);
    am_pub_close(p);
    am_sub_close(s);
    am_arena_close(a);
    return ok ? 0 : 5;
}
