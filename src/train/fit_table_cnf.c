/* fit_table_cnf.c — vf_fit_table for continuous flows (placeholder). */
#include "train/train_internal.h"

vf_status vf__fit_table_cnf(const char *spec, const vf_real *x, int64_t n, int64_t d, const vf_real *valid,
                            int64_t nv, const vf_fit_table_options *o, vf_fitted **out, vf_fit_result *r)
{
    return vf__fit_fail(r, VF_FIT_STAGE_SPEC, VF_ERR_UNSUPPORTED, "%s: continuous flows are not fitted here yet", spec);
}
