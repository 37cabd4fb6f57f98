/* progress.h — the one-line progress display of the training commands (fit, vi): redrawn on stderr
 * with "\r" at most CLI_PROGRESS_HZ times a second, padded over the previous line, ended with a
 * newline. Only when stderr is a terminal (cli_show_progress) — the caller sets `on`.
 *
 * Usage
 *   cli_progress pg = {cli_show_progress(&common), 0, 0, 0.0};
 *   if (cli_progress_due(&pg, 0)) { snprintf(line, ...); cli_progress_draw(&pg, line); }
 *   cli_progress_end(&pg);
 */
#ifndef VF_CLI_PROGRESS_H
#define VF_CLI_PROGRESS_H

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

#endif
