/* varflow.h — the whole public API of varflow.
 *
 * Usage
 *   #include <varflow.h>      // cc prog.c $(pkg-config --cflags --libs varflow)
 *
 * Layers (each header has its own usage section):
 *   varflow/vf_core.h     status codes, errors, allocator hooks, arena, vf_real
 *   varflow/vf_rng.h      counter-based random numbers
 *   varflow/vf_tensor.h   row-major tensors and views
 *   varflow/vf_ad.h       the autodiff tape: ops with forward, VJP and JVP
 *   varflow/vf_nn.h       linear, MADE, MLP and residual-MLP layers over a flat parameter buffer
 *   varflow/vf_optim.h    Adam/AdamW, clipping, schedules, EMA
 *   varflow/vf_io.h       CSV, NPY, IDX, safetensors, atomic writes
 *   varflow/vf_data.h     built-in data sets (2-D toys)
 *   varflow/vf_flow.h     normalizing flows: transforms, base distributions, composition
 *   varflow/vf_dist.h     learnable base distributions (diagonal normal, Student-t, uniform box, mixture)
 *   varflow/vf_transforms.h  ActNorm, LU linear, permutations, elementwise affine, sigmoid/logit, tanh
 *   varflow/vf_coupling.h    affine (RealNVP) and additive (NICE) coupling
 *   varflow/vf_autoregressive.h  MAF and IAF on a MADE
 *   varflow/vf_planar.h   planar and radial flows
 *   varflow/vf_spline.h   the rational-quadratic spline op (Neural Spline Flows)
 *   varflow/vf_model.h    flow model files: architecture and parameters in one safetensors file
 *   varflow/vf_nsf.h      neural spline flows: spline coupling and autoregressive splines
 *   varflow/vf_presets.h  flows by name from spec strings ("maf:transforms=5,hidden=128x2")
 *   varflow/vf_eval.h     flows on plain arrays (log-densities, samples) in blocks, for embedding
 *   varflow/vf_ode.h      ODE and SDE solvers (Euler ... RK4, Dopri5; Euler-Maruyama, stochastic Heun)
 *   varflow/vf_paths.h    probability paths of flow matching and stochastic interpolants
 *   varflow/vf_vfield.h   vector fields v(x, t[, c]) and MeanFlow average velocities u(x, r, t)
 *   varflow/vf_cfm.h      conditional flow matching: the loss on a path, transport through the field
 *   varflow/vf_target.h   unnormalized log-densities (targets) by name or plugin, their scores
 *   varflow/vf_plot.h     pictures: heat maps, corner plots, curves (SVG), image grids (PNG, SVG)
 *   varflow/vf_ot.h       optimal transport: exact assignment, exact OT between equal-size samples,
 *                         distances, the kernel Stein discrepancy, particle flows
 *   varflow/vf_train.h    training loops (maximum likelihood, flow matching, VI), checkpoints, and
 *                         one-call fitting of a table (vf_fit_table) into a model with its metadata
 */
#ifndef VARFLOW_H
#define VARFLOW_H

#include <varflow/vf_config.h>
#include "varflow/vf_core.h"
#include "varflow/vf_rng.h"
#include "varflow/vf_tensor.h"
#include "varflow/vf_ad.h"
#include "varflow/vf_nn.h"
#include "varflow/vf_optim.h"
#include "varflow/vf_io.h"
#include "varflow/vf_data.h"
#include "varflow/vf_flow.h"
#include "varflow/vf_dist.h"
#include "varflow/vf_transforms.h"
#include "varflow/vf_coupling.h"
#include "varflow/vf_autoregressive.h"
#include "varflow/vf_planar.h"
#include "varflow/vf_spline.h"
#include "varflow/vf_model.h"
#include "varflow/vf_nsf.h"
#include "varflow/vf_presets.h"
#include "varflow/vf_eval.h"
#include "varflow/vf_ode.h"
#include "varflow/vf_paths.h"
#include "varflow/vf_vfield.h"
#include "varflow/vf_cfm.h"
#include "varflow/vf_target.h"
#include "varflow/vf_cnf_model.h"
#include "varflow/vf_ot.h"
#include "varflow/vf_vi.h"
#include "varflow/vf_train.h"
#include "varflow/vf_plot.h"
#include "varflow/vf_mcmc.h"

#endif
