"""varflow.mcmc: Markov chain Monte Carlo on a target (vf_mcmc_run, vf_mcmc.h), as `varflow mcmc`
does: MALA and HMC with step-size adaptation, and the flow-assisted samplers (independent
Metropolis-Hastings, iterated SIR, NeuTra) with a Flow as the proposal or the reparameterization."""

import contextlib
import ctypes
import time

import numpy as np

from . import _lib
from ._lib import lib
from ._models import Flow
from ._target import as_target


class McmcParams(ctypes.Structure):
    _fields_ = [("sampler", ctypes.c_int), ("chains", ctypes.c_int64), ("warmup", ctypes.c_int64),
                ("step_size", ctypes.c_double), ("adapt", ctypes.c_int), ("target_accept", ctypes.c_double),
                ("leapfrog", ctypes.c_int64), ("proposals", ctypes.c_int64), ("diag_mass", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("init", _lib.c_double_p), ("progress", ctypes.c_void_p),
                ("progress_ctx", ctypes.c_void_p)] + _lib._RESERVE


class McmcResult(ctypes.Structure):
    _fields_ = [("acceptance", ctypes.c_double), ("step_size", ctypes.c_double), ("grad_evals", ctypes.c_int64),
                ("logp_evals", ctypes.c_int64), ("divergences", ctypes.c_int64)] + _lib._RESERVE


_P = ctypes.c_void_p
_DECLS = {
    "vf_mcmc_sampler_from_name": (ctypes.c_int, [ctypes.c_char_p]),
    "vf_mcmc_sampler_needs_flow": (ctypes.c_int, [ctypes.c_int]),
    "vf_mcmc_default_params": (McmcParams, [ctypes.c_int]),
    "vf_mcmc_run": (ctypes.c_int, [ctypes.POINTER(_lib.TargetStruct), _P, _P, ctypes.POINTER(McmcParams),
                                   ctypes.c_int64, _lib.c_real_p, ctypes.POINTER(McmcResult)]),
    "vf_mcmc_diagnose": (ctypes.c_int, [ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, _lib.c_real_p,
                                        _lib.c_double_p, _lib.c_double_p]),
}
HAVE_MCMC = _lib.declare(_DECLS, required=False)
SAMPLERS = ("mala", "hmc", "imh", "isir", "neutra-mala", "neutra-hmc")
if HAVE_MCMC:
    _d = lib.vf_mcmc_default_params(0)
    if not (_d.sampler == 0 and _d.chains == 4 and _d.warmup == 500 and _d.step_size == 0 and _d.adapt == 1
            and _d.leapfrog == 10 and _d.proposals == 16 and _d.diag_mass == 0 and not _d.init):
        raise _lib.layout_error("vf_mcmc_params")


def mcmc(target, n=1000, sampler="mala", chains=4, warmup=500, step_size=None, target_accept=None, leapfrog=10,
         proposals=16, diag_mass=False, model=None, init=None, seed=0, dim=None):
    """n draws per chain from the unnormalized density of target after warmup iterations, by
    vf_mcmc_run (what `varflow mcmc` does, with the same defaults). Returns (draws, info):

    draws  [chains, n, d] (the library's scalar type), chain c's draw i at draws[c, i];
    info   acceptance (after warm-up), step_size (final, mean over chains; 0 for imh and isir),
           grad_evals and logp_evals (per chain, warm-up included), divergences (HMC, after warm-up),
           rhat and ess (rank-normalized split R-hat and bulk ESS per coordinate, float64 [d];
           NaN for a coordinate that never moved), seconds.

    target: a spec string ("funnel:d=10", "plugin:./t.so"), a Target, or a callable f(x) ->
    (logp, grad) with dim= its dimension (Target(f, dim, batched=True) evaluates each iteration's
    chains in one call). sampler: "mala", "hmc" (use the gradient), "imh", "isir" (the flow as an
    independent proposal; isir draws `proposals` per step), "neutra-mala", "neutra-hmc" (the chains
    move in the flow's latent space); the last four need model=, a Flow of the target's dimension such
    as varflow.vi returns. step_size: the initial step (None: from the dimension), adapted by dual
    averaging toward target_accept (None: 0.574 for MALA, 0.65 for HMC) during warm-up; with warmup=0
    it is used as is. leapfrog: HMC's steps per iteration. diag_mass: adapt a diagonal mass matrix
    during warm-up. init: [chains, d] starting points (None: the library's). seed: the draws'.

        draws, info = varflow.mcmc("funnel:d=3", n=2000, sampler="hmc", seed=1)
        draws.shape, info["rhat"].max()
    """
    if not HAVE_MCMC:
        raise NotImplementedError("varflow.mcmc needs vf_mcmc_run, which %s lacks (build a newer library)"
                                  % _lib.LIB_PATH)
    if not isinstance(sampler, str) or lib.vf_mcmc_sampler_from_name(_lib.cstr(sampler, "sampler")) < 0:
        raise ValueError("unknown sampler %r (%s)" % (sampler, ", ".join(SAMPLERS)))
    s = lib.vf_mcmc_sampler_from_name(_lib.cstr(sampler, "sampler"))
    n, chains = _lib.count(n, "n", lo=1), _lib.count(chains, "chains", lo=1)
    warmup = _lib.count(warmup, "warmup")
    t = as_target(target, dim=dim)
    d = t.dim
    needs_flow = bool(lib.vf_mcmc_sampler_needs_flow(s))
    if needs_flow:
        if not isinstance(model, Flow):
            raise ValueError("sampler %r needs model=, a Flow of the target's dimension (varflow.vi, varflow.load)"
                             % sampler)
        if model.dim != d:
            raise ValueError("the model has dimension %d but the target has %d" % (model.dim, d))
    elif model is not None:
        raise ValueError("sampler %r takes no model" % sampler)
    p = lib.vf_mcmc_default_params(s)
    p.chains, p.warmup = chains, warmup
    if step_size is not None:
        p.step_size = _lib.real(step_size, "step_size (None: from the dimension)", lo=0, lo_open=True)
    if target_accept is not None:
        p.target_accept = _lib.real(target_accept, "target_accept", lo=0, hi=1, lo_open=True, hi_open=True)
    p.leapfrog = _lib.count(leapfrog, "leapfrog", lo=1)
    p.proposals = _lib.count(proposals, "proposals", lo=1)
    p.diag_mass = 1 if diag_mass else 0
    p.seed = _lib.seed_value(seed)
    start = None
    if init is not None:
        start = np.ascontiguousarray(np.asarray(init, dtype=np.float64))
        if start.shape != (chains, d):
            raise ValueError("init must have shape (chains, d) = (%d, %d), not %s" % (chains, d, start.shape))
        p.init = _lib.ptr(start, ctypes.c_double)
    draws = np.empty((chains * n, d), dtype=_lib.REAL)
    res = McmcResult()
    t0 = time.perf_counter()
    with (model._life if needs_flow else contextlib.nullcontext()):
        call = t._begin()
        status = 0
        try:
            status = lib.vf_mcmc_run(call.ptr, model._flow if needs_flow else None,
                                     model._params if needs_flow else None, ctypes.byref(p), n,
                                     _lib.ptr(draws, _lib.c_real), ctypes.byref(res))
        finally:
            call.finish(status)
    seconds = time.perf_counter() - t0
    rhat, ess = np.empty(d), np.empty(d)
    if n >= 4:
        _lib.check(lib.vf_mcmc_diagnose(chains, n, d, _lib.ptr(draws, _lib.c_real), _lib.ptr(rhat, ctypes.c_double),
                                        _lib.ptr(ess, ctypes.c_double)))
    else:  # the diagnostics need four draws per chain
        rhat[:], ess[:] = np.nan, np.nan
    info = {"acceptance": float(res.acceptance), "step_size": float(res.step_size),
            "grad_evals": int(res.grad_evals), "logp_evals": int(res.logp_evals),
            "divergences": int(res.divergences), "rhat": rhat, "ess": ess, "seconds": seconds}
    return draws.reshape(chains, n, d), info
