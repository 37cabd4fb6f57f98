/* fuzz_fit.c — libFuzzer target: vf_fit_table (what `varflow fit` runs) on any small table. The bytes
 * pick the model (flow presets and continuous flows, small networks), the options (learning rate up to
 * 10, batch, epochs, validation fraction, standardization, a box, dequantization with the values
 * rounded to integers) and the rows (2-40 rows of 1-3 raw floats: NaN, infinities, huge values,
 * constant columns). A fit must end in a model whose log-densities and samples follow the contract of
 * vf_eval.h (finite, or an error with a message), or in an error with a message and a failure stage;
 * a crash, a leak, a hang, or VF_OK with a non-finite result aborts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"

static const char *const specs[] = {
    "maf:transforms=1,hidden=4x1", "nsf:transforms=1,hidden=4x1,bins=3", "realnvp:transforms=1,hidden=4x1",
    "glow:transforms=1,hidden=4x1", "planar:transforms=1", "radial:transforms=1",
    "maf:transforms=1,hidden=4x1,base=mixture2", "nsf:coupling=1,transforms=1,hidden=4x1,bins=3",
    "cfm:hidden=4x1", "otcfm:hidden=4x1", "meanflow:hidden=4x1", "sbcfm:hidden=4x1",
};
enum { N_SPECS = sizeof specs / sizeof specs[0], MAX_ROWS = 40, MAX_D = 3 };

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 6) return 0;
    static const double lrs[] = {1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0};
    const char *spec = specs[data[0] % N_SPECS];
    int64_t d = 1 + data[1] % MAX_D;
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.lr = lrs[data[2] % 6];
    o.fit.epochs = 1 + (data[2] / 6) % 3;
    o.fit.batch = 1 + data[3] % 16;
    o.fit.patience = 0;
    o.fit.seed = data[3] >> 4;
    o.valid_fraction = (data[4] & 3) * 0.1;
    o.standardize = !(data[4] & 4);
    o.fit.dequantize = (data[4] >> 3) & 1;
    int box = (data[4] >> 4) & 1, grid = (data[4] >> 5) & 1;
    if (box) o.box_lo = -3, o.box_hi = 4;
    o.nll_rows = 20;
    data += 5, size -= 5;
    vf_real x[MAX_ROWS * MAX_D];
    int64_t n = fuzz_float_rows(data, size, d, MAX_ROWS, x);
    if (n < 2) return 0;
    for (int64_t i = 0; (grid || o.fit.dequantize) && i < n * d; i++) /* small integers instead */
        x[i] = (vf_real)(data[4 * i] % 7) - (o.fit.dequantize ? 0 : 3);
    vf_fitted *m = NULL;
    vf_fit_result r;
    vf_status s = vf_fit_table(spec, x, n, d, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    if (s != VF_OK) {
        fuzz_require(m == NULL && r.error[0] != 0 && r.stage != VF_FIT_STAGE_NONE);
        vf_clear_error();
        return 0;
    }
    fuzz_require(m != NULL);
    vf_real lp[MAX_ROWS], xs[MAX_ROWS * MAX_D];
    s = vf_fitted_log_prob(m, n, x, NULL, NULL, lp);
    if (s == VF_OK)
        for (int64_t i = 0; i < n; i++) fuzz_require(!isnan((double)lp[i]) && lp[i] != INFINITY);
    else
        fuzz_require(vf_last_error()[0] != 0);
    vf_clear_error();
    s = vf_fitted_sample(m, 5, NULL, NULL, 3, xs);
    if (s == VF_OK)
        for (int64_t i = 0; i < 5 * d; i++) fuzz_require(isfinite((double)xs[i]));
    else
        fuzz_require(vf_last_error()[0] != 0);
    vf_clear_error();
    vf_fitted_free(m);
    return 0;
}
