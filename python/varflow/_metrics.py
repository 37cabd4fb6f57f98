"""varflow.eval: distances between samples (vf_ot.h), with the options and defaults of `varflow eval`."""

import ctypes
import math
import warnings

import numpy as np

from . import _lib
from ._lib import lib
from ._target import Target, as_target

METRICS = ("emd", "w2", "sinkhorn", "sinkhorn_div", "sw", "mmd", "energy", "ksd")

_ALLOWED = {
    "emd": {"cost", "weights_a", "weights_b"},
    "w2": {"cost", "weights_a", "weights_b"},
    "sinkhorn": {"cost", "weights_a", "weights_b", "eps", "tol", "max_iter"},
    "sinkhorn_div": {"weights_a", "weights_b", "eps", "tol", "max_iter"},
    "sw": {"projections", "p", "seed", "directions"},
    "mmd": {"kernel", "bandwidth", "unbiased"},
    "energy": {"slices", "seed"},
    "ksd": {"target", "kernel", "bandwidth", "unbiased"},
}


def _weights(w, n, name):
    """Weights of n rows: finite, >= 0, positive sum; normalized to sum 1 (as the CLI's weight files)."""
    if w is None:
        return None
    a = _lib.as_vector(w, name, n)
    if not np.all(a >= 0) or not np.all(np.isfinite(a)):
        raise ValueError("%s: weights must be finite and non-negative" % name)
    total = a.sum()
    if not total > 0 or not math.isfinite(total):
        raise ValueError("%s: the weights must have a positive, finite sum" % name)
    return a / total


def _cost_kind(cost):
    if not isinstance(cost, str):
        raise TypeError("cost must be a str, not %s" % type(cost).__name__)
    k = lib.vf_cost_kind_from_name(_lib.cstr(cost, "cost"))
    if k < 0:
        raise ValueError("unknown cost %r (sqeuclidean, euclidean)" % (cost,))
    return k


def _kernel(kernel, allowed):
    if kernel not in allowed:
        raise ValueError("unknown kernel %r (%s)" % (kernel, ", ".join(allowed)))
    return lib.vf_kernel_from_name(_lib.cstr(kernel, "kernel"))


def _sinkhorn_options(eps, tol, max_iter):
    o = lib.vf_sinkhorn_default_options()
    o.eps = _lib.real(eps, "eps", lo=0, lo_open=True)
    o.tol = _lib.real(tol, "tol", lo=0, lo_open=True)
    o.max_iter = _lib.count(max_iter, "max_iter", lo=1)
    return o


def _unconverged(status, what, value):
    """Sinkhorn that did not reach tol within max_iter: as the CLI, warn and report the last iterate's
    value when it is finite; anything else is an error."""
    if status == _lib.VF_ERR_NUMERIC and math.isfinite(value):
        warnings.warn("varflow.eval(%s): %s (the value is the last iterate's)" % (what, _lib.last_error()),
                      RuntimeWarning, stacklevel=3)
        return 0
    return status


def eval(metric, a, b=None, **kw):
    """A distance between the samples a [n, d] and b [m, d] (the metrics of `varflow eval`, same
    defaults), as a float.

      emd           exact optimal transport cost (W2^2 for cost="sqeuclidean", W1 for "euclidean");
                    weights_a [n], weights_b [m] (normalized to sum 1; default uniform)
      w2            its square root
      sinkhorn      <P, C> of the entropic plan at eps (default 0.05; tol 1e-9, max_iter 10000; cost,
                    weights); a run that does not converge warns (RuntimeWarning) and gives the last
                    iterate's value, as the CLI
      sinkhorn_div  debiased Sinkhorn divergence at eps (squared Euclidean cost; weights)
      sw            sliced Wasserstein W_p, projections=50, p=2, seed=0, directions="random"|"qmc"
      mmd           squared MMD, kernel="gaussian"|"laplace"|"imq", bandwidth=0 (median), unbiased=False
      energy        energy distance, exact (slices=0) or sliced (slices=K, seed)
      ksd           squared kernel Stein discrepancy of a against target= (a spec, a Target or a
                    callable with dim = a's columns); b must be None; kernel="imq"|"gaussian",
                    bandwidth (imq c, default 1; gaussian h, default median), unbiased=False

    An unknown metric or option raises ValueError / TypeError; a library error VarflowError.

        varflow.eval("w2", x, y)                       # 0.1234...
        varflow.eval("mmd", x, y, kernel="imq", bandwidth=1.0)
    """
    if not isinstance(metric, str) or metric not in _ALLOWED:
        raise ValueError("unknown metric %r (%s)" % (metric, ", ".join(METRICS)))
    extra = set(kw) - _ALLOWED[metric]
    if extra:
        raise TypeError("eval(%r) got unexpected option(s) %s (it takes %s)"
                        % (metric, ", ".join(sorted(extra)), ", ".join(sorted(_ALLOWED[metric])) or "none"))
    x = _lib.as_rows(a, "a")
    if x.shape[0] < 1:
        raise ValueError("a has no rows")
    n, d = x.shape
    out = ctypes.c_double(math.nan)
    if metric == "ksd":
        if b is not None:
            raise ValueError("eval('ksd') takes one sample a and target=..., not b")
        return _ksd(x, out, **kw)
    if b is None:
        raise ValueError("eval(%r) compares two samples: pass b [m, %d] (only 'ksd' takes one sample and a "
                         "target)" % (metric, d))
    y = _lib.as_rows(b, "b", d, "dimension of a")
    m = y.shape[0]
    if m < 1:
        raise ValueError("b has no rows")
    xp, yp = _lib.ptr(x, _lib.c_real), _lib.ptr(y, _lib.c_real)
    dp = ctypes.POINTER(ctypes.c_double)
    wa = _weights(kw.get("weights_a"), n, "weights_a")
    wb = _weights(kw.get("weights_b"), m, "weights_b")
    if metric in ("emd", "w2"):
        kind = _cost_kind(kw.get("cost", "sqeuclidean"))
        _lib.check(lib.vf_emd(n, d, xp, m, d, yp, _lib.ptr(wa, ctypes.c_double), _lib.ptr(wb, ctypes.c_double), kind,
                              ctypes.byref(out), None))
        return math.sqrt(max(out.value, 0.0)) if metric == "w2" else out.value
    if metric == "sinkhorn":
        kind = _cost_kind(kw.get("cost", "sqeuclidean"))
        o = _sinkhorn_options(kw.get("eps", 0.05), kw.get("tol", 1e-9), kw.get("max_iter", 10000))
        cost = np.empty((n, m))
        _lib.check(lib.vf_cost_matrix(n, m, d, xp, yp, kind, _lib.ptr(cost, ctypes.c_double)))
        res = _lib.SinkhornResult()
        s = lib.vf_sinkhorn(n, m, _lib.ptr(cost, ctypes.c_double), _lib.ptr(wa, ctypes.c_double),
                            _lib.ptr(wb, ctypes.c_double), ctypes.byref(o), None, None, ctypes.byref(res))
        _lib.check(_unconverged(s, metric, res.transport_cost))
        return res.transport_cost
    if metric == "sinkhorn_div":
        o = _sinkhorn_options(kw.get("eps", 0.05), kw.get("tol", 1e-9), kw.get("max_iter", 10000))
        s = lib.vf_sinkhorn_divergence(n, m, d, xp, yp, _lib.ptr(wa, ctypes.c_double), _lib.ptr(wb, ctypes.c_double),
                                       ctypes.byref(o), ctypes.byref(out), None)
        _lib.check(_unconverged(s, metric, out.value))
        return out.value
    if metric == "sw":
        projections = _lib.count(kw.get("projections", 50), "projections", lo=1)
        p = _lib.integer(kw.get("p", 2), "p", 1, 2)
        seed = _lib.seed_value(kw.get("seed", 0))
        directions = kw.get("directions", "random")
        if directions == "random":
            _lib.check(lib.vf_sliced_wasserstein(n, m, d, xp, yp, int(p), projections, seed, ctypes.byref(out)))
        elif directions == "qmc":
            dirs = np.empty((max(projections, 1), d))
            _lib.check(lib.vf_directions(projections, d, 1, seed, dirs.ctypes.data_as(dp)))
            _lib.check(lib.vf_sliced_wasserstein_dirs(n, m, d, xp, yp, None, None, projections, dirs.ctypes.data_as(dp),
                                                      float(p), ctypes.byref(out)))
        else:
            raise ValueError("unknown directions %r (random, qmc)" % (directions,))
        return out.value
    if metric == "mmd":
        kernel = _kernel(kw.get("kernel", "gaussian"), ("gaussian", "laplace", "imq"))
        bandwidth = _lib.real(kw.get("bandwidth", 0.0), "bandwidth (0: the median heuristic)", lo=0)
        _lib.check(lib.vf_mmd2(n, m, d, xp, yp, kernel, bandwidth, int(bool(kw.get("unbiased", False))),
                               ctypes.byref(out), None))
        return out.value
    # energy
    slices = _lib.count(kw.get("slices", 0), "slices")
    _lib.check(lib.vf_energy_distance(n, m, d, xp, yp, slices, _lib.seed_value(kw.get("seed", 0)), ctypes.byref(out)))
    return out.value


def _ksd(x, out, target=None, kernel="imq", bandwidth=None, unbiased=False):
    if target is None:
        raise ValueError("eval('ksd') needs target= (a spec string, a Target or a callable)")
    n, d = x.shape
    t = as_target(target) if isinstance(target, (Target, str, bytes)) else as_target(target, dim=d)
    if t.dim != d:
        raise ValueError("a has %d columns but the target's dimension is %d" % (d, t.dim))
    scores = np.empty((n, d))
    call = t._begin()
    status = 0
    try:
        status = lib.vf_target_scores(call.ptr, n, _lib.ptr(x, _lib.c_real), None, _lib.ptr(scores, ctypes.c_double))
    finally:
        call.finish(status)
    o = lib.vf_ksd_default_options()
    o.kernel = _kernel(kernel, ("imq", "gaussian"))
    if bandwidth is not None:
        o.bandwidth = _lib.real(bandwidth, "bandwidth")
    elif kernel == "gaussian":
        o.bandwidth = 0.0
    o.unbiased = int(bool(unbiased))
    _lib.check(lib.vf_ksd(n, d, _lib.ptr(x, _lib.c_real), _lib.ptr(scores, ctypes.c_double), ctypes.byref(o),
                          ctypes.byref(out), None))
    return out.value
