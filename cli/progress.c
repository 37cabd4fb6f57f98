/* progress.c — the progress line of progress.h. */
#include <math.h>
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

/* Draws the line when due (forced at the end; after a failure only ends it, or also draws it when
 * draw_on_failure) and ends it after the last report. */
static void report(cli_progress *pg, const vf_progress *p, int draw_on_failure, const char *line)
{
    if (p->done == 0 ? cli_progress_due(pg, 0) : p->done > 0 || draw_on_failure) cli_progress_draw(pg, line);
    if (p->done) cli_progress_end(pg);
}

/* The "epoch e/E  step s/S  train X x  valid X x" head of the fit lines; returns its length. */
/* The length written so far, k, kept inside the line (snprintf returns what it would have written). */
static int within(int k, size_t size) { return k < 0 ? 0 : (size_t)k >= size ? (int)size - 1 : k; }

static int epoch_head(char *line, size_t size, const vf_progress *p, const char *what)
{
    int k = within(snprintf(line, size, "epoch %lld/%lld  step %lld/%lld  train %s %.4f  valid %s ",
                            (long long)p->epoch, (long long)p->epochs, (long long)p->step, (long long)p->steps, what,
                            p->train_loss, what), size);
    if (isfinite(p->valid_loss)) k = within(k + snprintf(line + k, size - (size_t)k, "%.4f", p->valid_loss), size);
    else k = within(k + snprintf(line + k, size - (size_t)k, "-"), size);
    return k;
}

/* "  ETA N s" (or "-") after a rate. */
static void eta(char *line, size_t size, int k, const vf_progress *p)
{
    if (p->steps_per_second > 0) snprintf(line + k, size - (size_t)k, "%.0f s", p->eta_seconds);
    else snprintf(line + k, size - (size_t)k, "-");
}

void cli_progress_nll(void *ctx, const vf_progress *p)
{
    cli_progress *pg = ctx;
    if (!pg->on) return;
    char line[256];
    int k = epoch_head(line, sizeof line, p, "NLL");
    k = within(k + snprintf(line + k, sizeof line - (size_t)k, "  %.1f steps/s  ETA ", p->steps_per_second),
               sizeof line);
    eta(line, sizeof line, k, p);
    report(pg, p, 0, line);
}

void cli_progress_loss(void *ctx, const vf_progress *p)
{
    cli_progress *pg = ctx;
    if (!pg->on) return;
    char line[256];
    int k = epoch_head(line, sizeof line, p, "loss");
    snprintf(line + k, sizeof line - (size_t)k, "  %.1f steps/s", p->steps_per_second);
    report(pg, p, 0, line);
}

void cli_progress_vi(void *ctx, const vf_progress *p)
{
    cli_progress *pg = ctx;
    if (!pg->on) return;
    char line[200];
    int k = within(snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  ", (long long)p->step,
                            (long long)p->steps, p->train_loss), sizeof line);
    if (!isnan(p->valid_loss)) /* --patience: the last validation */
        k = within(k + snprintf(line + k, sizeof line - (size_t)k, "valid %.4f  ", p->valid_loss), sizeof line);
    k = within(k + snprintf(line + k, sizeof line - (size_t)k, "%.1f steps/s  ETA ", p->steps_per_second),
               sizeof line);
    eta(line, sizeof line, k, p);
    report(pg, p, 1, line);
}
