/* cli_mpi.c — `varflow fit`, `vi`, `mcmc`, `particles` and `eval` on several MPI processes (mpirun -n K
 * varflow CMD ...).
 *
 * When one of those commands (cli_mpi_command) was started by an MPI launcher (the environment of Open
 * MPI's mpirun, or of a PMI launcher such as MPICH's mpiexec or Slurm's srun) and the build found MPI,
 * main calls cli_mpi_start, which initializes MPI and checks that every process got the same
 * arguments. If they did not (a script run by mpirun that starts its own runs, each with its own seed
 * or output), every process runs alone, as without MPI; other commands never initialize MPI. If they
 * did, the run is shared:
 * - `fit` splits every batch among the processes (vf_fit_options.rank, ranks, reduce: docs/train.md);
 *   the reduction is MPI_Reduce to rank 0 and MPI_Bcast, so every process gets the same bits and keeps
 *   the same parameters;
 * - vi, mcmc, particles and eval --metric ksd divide the target's work instead: cli_target_open wraps
 *   the target in vf_target_shard with cli_mpi_sum (the same reduction), so every batch of points is
 *   divided among the processes and the results are the one-process run's bit for bit; eval's other
 *   metrics run whole on every process.
 * Rank 0 speaks for the job: it alone writes files and prints results; the other ranks' stdout goes to
 * /dev/null, and their usage errors (the same arguments give the same ones) are not printed, while a
 * runtime error of their own is, marked with the process. A process that fails ends the whole job with
 * MPI_Abort (the others may be waiting for it in a reduction). Without an MPI build, or without a
 * launcher, there is one process. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "internal.h"
#if VF_HAVE_MPI
#include <mpi.h>
#endif

static int mpi_started = 0, world_rank = 0, world_size = 1;

#if VF_HAVE_MPI
/* 1 when an MPI launcher started this process. */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

/* A hash of the arguments, each with its terminating zero. */
static uint64_t arguments_hash(int argc, char **argv)
{
    uint64_t h = VF__HASH_START;
    for (int i = 1; i < argc; i++) h = vf__hash_bytes(h, argv[i], strlen(argv[i]) + 1);
    return h;
}
#endif

int cli_mpi_command(const char *cmd)
{
    static const char *const shared[] = {"fit", "vi", "mcmc", "particles", "eval", NULL};
    for (int i = 0; shared[i]; i++)
        if (strcmp(cmd, shared[i]) == 0) return 1;
    return 0;
}

int cli_mpi_start(int *argc, char ***argv)
{
#if VF_HAVE_MPI
    if (!launched_by_mpi() || *argc < 2 || !cli_mpi_command((*argv)[1])) return 0;
    int provided = 0; /* the library's worker threads never call MPI */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return cli_runtime_error(NULL, "MPI_Init failed");
    mpi_started = 1;
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    unsigned long long h = arguments_hash(*argc, *argv), lo = 0, hi = 0;
    MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (size < 2 || lo != hi) return 0; /* different commands: each process runs alone */
    world_rank = rank;
    world_size = size;
    if (world_rank > 0 && !freopen("/dev/null", "w", stdout)) return 1; /* rank 0 prints the results */
#else
    (void)argc, (void)argv;
#endif
    return 0;
}

void cli_mpi_finish(int rc)
{
#if VF_HAVE_MPI
    if (mpi_started && world_size > 1 && rc != 0) {
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc); /* the others may be waiting for this process */
    }
    if (mpi_started) MPI_Finalize();
#else
    (void)rc;
#endif
    mpi_started = 0;
}

int cli_mpi_rank(void) { return world_rank; }
int cli_mpi_size(void) { return world_size; }

vf_status cli_mpi_reduce(void *ctx, void *values, int64_t n, int is_double)
{
    (void)ctx;
#if VF_HAVE_MPI
    if (world_size < 2) return VF_OK;
    MPI_Datatype type = is_double || sizeof(vf_real) == sizeof(double) ? MPI_DOUBLE : MPI_FLOAT;
    size_t size = is_double ? sizeof(double) : sizeof(vf_real);
    for (int64_t done = 0; done < n;) { /* MPI counts are ints */
        int count = (int)(n - done < INT_MAX / 2 ? n - done : INT_MAX / 2);
        char *at = (char *)values + (size_t)done * size;
        /* a sum on rank 0 sent to all: the same bits everywhere, whatever the reduction algorithm */
        int e = world_rank == 0 ? MPI_Reduce(MPI_IN_PLACE, at, count, type, MPI_SUM, 0, MPI_COMM_WORLD)
                                : MPI_Reduce(at, NULL, count, type, MPI_SUM, 0, MPI_COMM_WORLD);
        if (e == MPI_SUCCESS) e = MPI_Bcast(at, count, type, 0, MPI_COMM_WORLD);
        if (e != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING];
            int len = 0;
            MPI_Error_string(e, msg, &len);
            return vf_set_error(VF_ERR_IO, "MPI reduction over %d processes: %s", world_size, msg);
        }
        done += count;
    }
    return VF_OK;
#else
    (void)values, (void)n, (void)is_double;
    return VF_OK;
#endif
}

vf_status cli_mpi_sum(void *ctx, double *values, int64_t n) { return cli_mpi_reduce(ctx, values, n, 1); }

int cli_mpi_share_fit(vf_fit_options *o, const char **log, const char **checkpoint)
{
    if (world_size < 2) return 0;
    o->rank = world_rank;
    o->ranks = world_size;
    o->reduce = cli_mpi_reduce;
    if (world_rank > 0) { /* rank 0 alone writes and reports */
        o->progress = NULL;
        *log = NULL;
        *checkpoint = NULL;
    }
    return world_rank;
}
