/* threads.c — the thread count used by batch loops and by OpenBLAS. */
#include "internal.h"
#if VF_HAVE_OPENMP
#include <omp.h>
#endif
#if VF_HAVE_CBLAS
void openblas_set_num_threads(int num_threads);
#endif

static int num_threads_setting = 0; /* 0: library default */

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
    if (num_threads_setting > 0) return num_threads_setting;
#if VF_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
