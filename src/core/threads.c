/* threads.c — the thread count used by batch loops and by OpenBLAS. */
#include "internal.h"
#if VF_HAVE_OPENMP
#include <omp.h>
#endif
#if VF_HAVE_CBLAS
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif

static int num_threads_setting = 0; /* 0: library default */
static _Thread_local int worker = 0; /* vf__worker_enter */

int vf__worker_enter(int on)
{
    int was = worker;
    worker = on != 0;
    return was;
}

int vf__blas_set_threads(int n)
{
#if VF_HAVE_CBLAS
    int old = openblas_get_num_threads();
    if (n > 0) openblas_set_num_threads(n);
    return old;
#else
    (void)n;
    return 0;
#endif
}

int vf_set_num_threads(int n)
{
    int old = num_threads_setting;
    num_threads_setting = n > 0 ? n : 0;
#if VF_HAVE_CBLAS
    if (n > 0) openblas_set_num_threads(n);
#endif
    return old;
}

int vf_get_num_threads(void) { return vf__threads(); }

int vf__threads(void)
{
    if (worker) return 1;
    if (num_threads_setting > 0) return num_threads_setting;
#if VF_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
