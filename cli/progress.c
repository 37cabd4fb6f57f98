/* progress.c — the progress line of progress.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "progress.h"

double cli_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cli_progress_due(const cli_progress *pg, int force)
{
    if (!pg->on) return 0;
    return force || !pg->drawn || cli_now_seconds() - pg->last >= 1.0 / CLI_PROGRESS_HZ;
}

void cli_progress_draw(cli_progress *pg, const char *line)
{
    int k = (int)strlen(line);
    fprintf(stderr, "\r%s%*s", line, pg->width > k ? pg->width - k : 0, "");
    fflush(stderr);
    pg->width = k;
    pg->drawn = 1;
    pg->last = cli_now_seconds();
}

void cli_progress_end(cli_progress *pg)
{
    if (pg->on && pg->drawn) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    pg->drawn = 0;
}
