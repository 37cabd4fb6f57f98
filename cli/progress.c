/* progress.c — the progress line of progress.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli.h"
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

/* Appends printf-style text at line[k] (line holds size bytes) and returns the new length, which
 * stays inside the line however long the text (a diverging loss printed with %f). */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int append(char *line, size_t size, int k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + k, size - (size_t)k, fmt, ap);
    va_end(ap);
    return n < 0 ? k : (size_t)(k + n) >= size ? (int)size - 1 : k + n;
}

/* The "epoch e/E  step s/S  train X x  valid X x" head of the fit lines; returns its length. */
static int epoch_head(char *line, size_t size, const vf_progress *p, const char *what)
{
    int k = append(line, size, 0, "epoch %lld/%lld  step %lld/%lld  train %s %.4f  valid %s ", (long long)p->epoch,
                   (long long)p->epochs, (long long)p->step, (long long)p->steps, what, p->train_loss, what);
    return isfinite(p->valid_loss) ? append(line, size, k, "%.4f", p->valid_loss) : append(line, size, k, "-");
}

/* "  ETA N s" (or "-") after a rate. */
static void eta(char *line, size_t size, int k, const vf_progress *p)
{
    if (p->steps_per_second > 0) append(line, size, k, "%.0f s", p->eta_seconds);
    else append(line, size, k, "-");
}

void cli_progress_nll(void *ctx, const vf_progress *p)
{
    cli_progress *pg = ctx;
    if (p->done) cli_interrupt_training_done();
    if (!pg->on) return;
    char line[256];
    int k = epoch_head(line, sizeof line, p, "NLL");
    k = append(line, sizeof line, k, "  %.1f steps/s  ETA ", p->steps_per_second);
    eta(line, sizeof line, k, p);
    report(pg, p, 0, line);
}

void cli_progress_loss(void *ctx, const vf_progress *p)
{
    cli_progress *pg = ctx;
    if (p->done) cli_interrupt_training_done();
    if (!pg->on) return;
    char line[256];
    int k = epoch_head(line, sizeof line, p, "loss");
    append(line, sizeof line, k, "  %.1f steps/s", p->steps_per_second);
    report(pg, p, 0, line);
}

void cli_progress_vi(void *ctx, const vf_progress *p)
{
    cli_progress *pg = ctx;
    if (p->done) cli_interrupt_training_done();
    if (!pg->on) return;
    char line[200];
    int k = append(line, sizeof line, 0, "step %lld/%lld  loss %.4f  ", (long long)p->step, (long long)p->steps,
                   p->train_loss);
    if (!isnan(p->valid_loss)) k = append(line, sizeof line, k, "valid %.4f  ", p->valid_loss); /* --patience */
    k = append(line, sizeof line, k, "%.1f steps/s  ETA ", p->steps_per_second);
    eta(line, sizeof line, k, p);
    report(pg, p, 1, line);
}
