/* progress.h — the one-line progress display of the training commands (fit, vi): redrawn on stderr
 * with "\r" at most CLI_PROGRESS_HZ times a second, padded over the previous line, ended with a
 * newline. Only when stderr is a terminal (cli_show_progress) — the caller sets `on`.
 *
 * Usage
 *   cli_progress pg = {cli_show_progress(&common), 0, 0, 0.0};
 *   if (cli_progress_due(&pg, 0)) { snprintf(line, ...); cli_progress_draw(&pg, line); }
 *   cli_progress_end(&pg);
 * or, for the library's loops (vf_train.h), a vf_progress_fn drawing the line of one kind:
 *   o.progress = pg.on ? cli_progress_nll : NULL;  o.progress_ctx = &pg;
 */
#ifndef VF_CLI_PROGRESS_H
#define VF_CLI_PROGRESS_H

#include "varflow.h"

#define CLI_PROGRESS_HZ 10.0

typedef struct cli_progress {
    int on, drawn, width;   /* enabled; something is on the line; its length */
    double last;            /* time of the last redraw */
} cli_progress;

/* Monotonic wall-clock seconds. */
double cli_now_seconds(void);
/* 1 when a redraw is wanted now (on, and forced or 1 / CLI_PROGRESS_HZ since the last one). */
int cli_progress_due(const cli_progress *pg, int force);
/* Redraws the line (no newline). */
void cli_progress_draw(cli_progress *pg, const char *line);
/* Ends the line with a newline when one was drawn. */
void cli_progress_end(cli_progress *pg);

/* vf_progress_fn callbacks (ctx: a cli_progress) drawing the line of `varflow fit` for flows (epoch,
 * step, train and valid NLL, steps/s, ETA), for continuous flows (the same with the losses, no ETA)
 * and of `varflow vi` (step, loss, steps/s, ETA); the final report draws the line and ends it, and
 * ends the graceful Ctrl-C (cli_interrupt_training_done), drawn or not. */
void cli_progress_nll(void *ctx, const vf_progress *p);
void cli_progress_loss(void *ctx, const vf_progress *p);
void cli_progress_vi(void *ctx, const vf_progress *p);

#endif
