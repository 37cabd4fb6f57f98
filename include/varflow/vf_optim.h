/* vf_optim.h — optimizers over flat parameter vectors: Adam/AdamW, gradient clipping, learning-rate
 * schedules, and an exponential moving average of the parameters.
 *
 * Usage
 *   int64_t n = vf_params_size(p);
 *   vf_adam_params ap = vf_adamw_default_params();           // lr 1e-3, betas (0.9, 0.999), wd 1e-2
 *   vf_adam *opt = NULL;
 *   vf_adam_new(n, &ap, &opt);
 *   vf_schedule sch = vf_schedule_default(1e-3, steps);       // constant lr
 *   sch.kind = VF_SCHED_COSINE; sch.warmup_steps = 100; sch.final_fraction = 0.01;
 *   vf_ema *ema = NULL;
 *   vf_ema_new(vf_params_values(p), n, 0.999, &ema);
 *
 *   for (int64_t k = 0; k < steps; k++) {
 *       ... forward, vf_backward: gradients in vf_params_grads(p) ...
 *       double norm;
 *       if (vf_clip_grad_norm(vf_params_grads(p), n, 1.0, &norm) != VF_OK) { skip the step }
 *       vf_adam_set_lr(opt, vf_schedule_lr(&sch, k));
 *       vf_adam_step(opt, vf_params_values(p), vf_params_grads(p));
 *       vf_ema_update(ema, vf_params_values(p));
 *   }
 *   vf_ema_swap(ema, vf_params_values(p));   // evaluate with the averaged weights ...
 *   vf_ema_swap(ema, vf_params_values(p));   // ... and swap back to keep training
 *
 * Adam and AdamW follow torch.optim.Adam / torch.optim.AdamW exactly (eps added outside the square
 * root, bias corrections 1 - beta^t). Their state (step count, first and second moments as flat
 * [n] vectors) is exposed for checkpoints: write the vectors and the count, and on resume copy
 * them back and call vf_adam_set_step.
 */
#ifndef VF_OPTIM_H
#define VF_OPTIM_H

#include "vf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Adam / AdamW ------------------------------------------------------------------------- */
typedef struct vf_adam_params {
    double lr;                /* learning rate (default 1e-3) */
    double beta1, beta2;      /* moment decay rates in [0, 1) (default 0.9, 0.999) */
    double eps;               /* added to sqrt(v_hat) (default 1e-8) */
    double weight_decay;      /* >= 0 (Adam default 0, AdamW default 1e-2) */
    int decoupled;            /* 0: Adam (decay added to the gradient); 1: AdamW (x *= 1 - lr wd) */
} vf_adam_params;

typedef struct vf_adam vf_adam;

vf_adam_params vf_adam_default_params(void);
vf_adam_params vf_adamw_default_params(void);
/* Optimizer for n parameters (moments zeroed, step 0). VF_ERR_ARG for invalid hyper-parameters. */
vf_status vf_adam_new(int64_t n, const vf_adam_params *ap, vf_adam **out);
void vf_adam_free(vf_adam *o);
/* One update of x [n] from gradient g [n]:
 *   t += 1;  (AdamW) x *= 1 - lr wd;  (Adam) g += wd x
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   x -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * VF_ERR_NUMERIC (nothing changed) if a gradient is NaN or infinite. */
vf_status vf_adam_step(vf_adam *o, vf_real *x, const vf_real *g);
vf_status vf_adam_set_lr(vf_adam *o, double lr);       /* lr >= 0, finite */
double vf_adam_get_lr(const vf_adam *o);
const vf_adam_params *vf_adam_get_params(const vf_adam *o);
int64_t vf_adam_size(const vf_adam *o);
/* Checkpoint access: *m, *v point at the optimizer's [n] moment vectors (writable: a restore copies
 * into them); the step count is the number of updates done. */
void vf_adam_state(vf_adam *o, vf_real **m, vf_real **v, int64_t *step);
vf_status vf_adam_set_step(vf_adam *o, int64_t step);  /* step >= 0 */
void vf_adam_reset(vf_adam *o);                         /* zero moments and step */

/* ---- gradient clipping -------------------------------------------------------------------- */
/* Global L2 norm of g [n] (accumulated in double). */
double vf_grad_norm(const vf_real *g, int64_t n);
/* Scales g [n] by max_norm / (norm + 1e-6) when norm > max_norm (as torch.nn.utils.clip_grad_norm_);
 * *norm (may be NULL) gets the norm before clipping. A NaN or infinite norm returns VF_ERR_NUMERIC
 * and leaves g untouched. max_norm > 0 (infinity: measure only). */
vf_status vf_clip_grad_norm(vf_real *g, int64_t n, double max_norm, double *norm);

/* ---- learning-rate schedules -------------------------------------------------------------- */
typedef enum vf_schedule_kind {
    VF_SCHED_CONSTANT = 0,    /* lr */
    VF_SCHED_COSINE,          /* lr (f + (1 - f) (1 + cos(pi p)) / 2) */
    VF_SCHED_LINEAR           /* lr (1 - (1 - f) p) */
} vf_schedule_kind;

/* The rate at 0-based step k: warm-up (k < W): lr (k + 1) / W; then the decay with progress
 * p = (k - W) / (total_steps - W) clamped to [0, 1], f = final_fraction. */
typedef struct vf_schedule {
    vf_schedule_kind kind;
    double lr;                /* peak rate */
    int64_t total_steps;      /* steps over which the decay runs, warm-up included */
    int64_t warmup_steps;     /* W >= 0 (default 0) */
    double final_fraction;    /* f in [0, 1]: the rate at the end relative to lr (default 0) */
} vf_schedule;

vf_schedule vf_schedule_default(double lr, int64_t total_steps);   /* constant, no warm-up */
vf_status vf_schedule_check(const vf_schedule *s);                 /* VF_ERR_ARG if inconsistent */
/* Rate at step k (a pure function; k < 0 counts as 0, k past the end gives the final rate). */
double vf_schedule_lr(const vf_schedule *s, int64_t step);

/* ---- exponential moving average of parameters -------------------------------------------- */
typedef struct vf_ema vf_ema;

/* Shadow copy of x [n] with decay in [0, 1]. */
vf_status vf_ema_new(const vf_real *x, int64_t n, double decay, vf_ema **out);
void vf_ema_free(vf_ema *e);
/* shadow = decay shadow + (1 - decay) x, x [n]. */
void vf_ema_update(vf_ema *e, const vf_real *x);
/* Exchange shadow and x [n] (twice restores both). */
void vf_ema_swap(vf_ema *e, vf_real *x);
void vf_ema_copy_to(const vf_ema *e, vf_real *x);        /* x [n] = shadow */
void vf_ema_copy_from(vf_ema *e, const vf_real *x);      /* shadow = x [n] */
vf_real *vf_ema_values(vf_ema *e);                        /* the shadow [n], for checkpoints */
int64_t vf_ema_size(const vf_ema *e);
int64_t vf_ema_updates(const vf_ema *e);                  /* number of vf_ema_update calls */

#ifdef __cplusplus
}
#endif
#endif
