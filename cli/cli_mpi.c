/* cli_mpi.c — `varflow fit` on several MPI processes (mpirun -n K varflow fit ...).
 *
 * When the program was started by an MPI launcher (the environment of Open MPI's mpirun, or of a
 * PMI launcher such as MPICH's mpiexec or Slurm's srun) and the build found MPI, main calls
 * cli_mpi_start, which initializes MPI. `fit` then shares every batch among the processes
 * (vf_fit_options.rank, ranks, reduce: docs/train.md); the reduction is MPI_Reduce to rank 0 and
 * MPI_Bcast, so every process gets the same bits and keeps the same parameters. Rank 0 speaks for
 * the job: it alone writes the model, the log, the checkpoints and prints; the other ranks' stdout and
 * stderr go to /dev/null. The other commands run on rank 0 only. Without an MPI build, or without a
 * launcher, everything here is a no-op and there is one process.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"
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
#endif

int cli_mpi_start(int *argc, char ***argv)
{
#if VF_HAVE_MPI
    if (!launched_by_mpi()) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return cli_runtime_error(NULL, "MPI_Init failed");
    mpi_started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_rank > 0) { /* rank 0 speaks for the job */
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) return 1;
    }
#else
    (void)argc, (void)argv;
#endif
    return 0;
}

void cli_mpi_finish(void)
{
#if VF_HAVE_MPI
    if (mpi_started) MPI_Finalize();
#endif
    mpi_started = 0;
}

int cli_mpi_rank(void) { return world_rank; }
int cli_mpi_size(void) { return world_size; }

vf_status cli_mpi_reduce(void *ctx, void *values, int64_t n, int is_double)
{
    (void)ctx;
#if VF_HAVE_MPI
    if (!mpi_started || world_size < 2) return VF_OK;
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
