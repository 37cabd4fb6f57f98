/* cli_interrupt.c — what Ctrl-C (SIGINT), SIGTERM and SIGHUP do to a running command.
 *
 * By default a signal ends the program as it would without a handler (the shell sees the signal),
 * after removing the temporary files of the atomic writes in progress (src/io/atomic.c), so that no
 * half-written `NAME.tmp-PID-HEX` is left beside an output. A training command (fit, vi) asks for a
 * graceful Ctrl-C with cli_interrupt_graceful: the first SIGINT only sets the flag the training loop
 * reads (vf_fit_options.interrupt, vf_vi_options.interrupt); the loop ends at the end of its epoch or
 * step as --stop-after would (a checkpoint with --checkpoint, the best parameters so far; the result
 * says paused = 2), and the command writes its model, says so (cli_interrupt_report) and exits 130
 * (CLI_EXIT_INTERRUPTED). The graceful mode lasts while the loop reads the flag: the commands'
 * progress callbacks end it at the loop's final report (cli_interrupt_training_done), so a Ctrl-C
 * during what follows (VI's importance sampling, the final NLLs, the writes) ends the program at once,
 * as does a second Ctrl-C, SIGTERM or SIGHUP. On several MPI processes every signal ends the program
 * at once (the processes would not stop at the same step). */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "internal.h"

static volatile sig_atomic_t interrupted = 0, graceful = 0;
static struct timespec first_interrupt;

/* Seconds since the first graceful SIGINT (clock_gettime is async-signal-safe). */
static double since_first_interrupt(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - first_interrupt.tv_sec) + 1e-9 * (double)(now.tv_nsec - first_interrupt.tv_nsec);
}

static void on_signal(int sig)
{
    /* One interrupt can come as two signals at once: `timeout -s INT` sends it to the command and then
     * to its process group; a second SIGINT within 0.1 s is the same interrupt, not a second one. */
    if (sig == SIGINT && graceful && interrupted && since_first_interrupt() < 0.1) return;
    if (sig == SIGINT && graceful && !interrupted) {
        clock_gettime(CLOCK_MONOTONIC, &first_interrupt);
        interrupted = 1;
        static const char note[] = "\nvarflow: interrupted: ending the run after this epoch (vi: step) and writing "
                                   "the model so far; interrupt again to quit at once\n";
        ssize_t ignored = write(STDERR_FILENO, note, sizeof note - 1);
        (void)ignored;
        return;
    }
    vf__atomic_remove_pending();
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        struct sigaction old;
        /* a signal the shell ignores (nohup, a background job without job control) stays ignored */
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[k], &sa, NULL);
    }
}

const volatile sig_atomic_t *cli_interrupt_graceful(void)
{
    if (cli_mpi_size() > 1) return NULL;
    graceful = 1;
    return &interrupted;
}

void cli_interrupt_training_done(void) { graceful = 0; }

int cli_interrupt_report(const char *cmd, int interrupted_run, const char *output, const char *checkpoint)
{
    if (!interrupted_run) return 0;
    if (checkpoint)
        cli_runtime_error(cmd, "interrupted: %s holds the model so far; the same command with --resume %s continues "
                          "the run", output, checkpoint);
    else
        cli_runtime_error(cmd, "interrupted: %s holds the model so far (the run cannot be continued: it had no "
                          "--checkpoint)", output);
    return CLI_EXIT_INTERRUPTED;
}
