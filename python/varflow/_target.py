"""Targets (unnormalized log-densities): a built-in or plugin by spec string, or a Python callable
wrapped in a ctypes callback into a vf_target (vf_target.h)."""

import ctypes
import math

import numpy as np

from . import _lib
from ._lib import lib


class Target:
    """An unnormalized log-density for varflow.vi, varflow.eval("ksd", ...) and friends.

    Target(spec) names a built-in or a plugin as the command line does: "u1", "funnel:d=10",
    "gauss:d=5,rho=0.9", "plugin:./my_target.so:arg" (vf_target_from_spec; VarflowError for an unknown
    name or key). Target(f, dim=d) wraps a Python callable f(x) -> (logp, grad) that receives a float64
    array x [d] and returns log p(x) (up to a constant) and its gradient [d]; when the library asks for
    no gradient, f may return the float alone. A log-density of -inf means outside the support. An
    exception raised inside f stops the library call (the callback returns NaN, which the library
    treats as an error) and is re-raised from the binding's call with its own type and message.

    Target(f, dim=d, batched=True) hands f many points at once: x [n, d] -> (logp [n], grad [n, d]),
    or logp [n] alone when no gradient is needed. The library then makes one call per batch (a VI
    step's draws, the importance-sampling draws, an MCMC iteration's chains) instead of one per point,
    so a numpy-vectorized (or torch) log-density runs at array speed.

        t = varflow.Target("funnel:d=3")
        t.log_prob(np.zeros((2, 3)))            # array([-3.0..., -3.0...])
        g = varflow.Target(lambda x: (-0.5 * x @ x, -x), dim=2)
        g.score(np.ones((1, 2)))                # array([[-1., -1.]])
        b = varflow.Target(lambda x: (-0.5 * (x * x).sum(1), -x), dim=2, batched=True)
    """

    def __init__(self, target, dim=None, batched=False):
        self._struct = _lib.TargetStruct()
        self._owned = False
        self._error = None
        self._callback = None
        self._batch_callback = None
        self.batched = False
        if isinstance(target, Target):
            raise TypeError("Target(Target): pass the Target itself where a target is expected")
        if isinstance(target, (str, bytes)):
            if dim is not None or batched:
                raise ValueError("dim and batched are given by the spec %r; pass them only with a callable"
                                 % (target,))
            spec = target.encode() if isinstance(target, str) else target
            _lib.check(lib.vf_target_from_spec(spec, ctypes.byref(self._struct)))
            self._owned = True
            self.spec = spec.decode("utf-8", "replace")
        elif callable(target):
            if dim is None:
                raise ValueError("a callable target needs its dimension: Target(f, dim=d)")
            d = _lib.count(dim, "dim")
            if d < 1:
                raise ValueError("dim must be >= 1 (got %d)" % d)
            self._fn = target
            self.batched = bool(batched)
            self._callback = _lib.LOG_PROB_FN(self._call)
            self._struct.dim = d
            self._struct.log_prob = self._callback
            if self.batched:
                self._batch_callback = _lib.LOG_PROB_BATCH_FN(self._call_batch)
                self._struct.log_prob_batch = self._batch_callback
            self._struct.name = b"python"
            self.spec = None
        else:
            raise TypeError("a target is a spec string or a callable f(x) -> (logp, grad), not %s"
                            % type(target).__name__)

    @staticmethod
    def _split(out, want_grad):
        """What the callable returned -> (logp, grad or None); (logp, grad) is needed when want_grad."""
        if not want_grad:
            return (out[0] if isinstance(out, tuple) else out), None
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError("the target callable must return (logp, grad) when a gradient is needed, "
                            "got %s" % type(out).__name__)
        return out[0], np.asarray(out[1], dtype=np.float64)

    def _evaluate(self, xs, want_grad):
        """f at rows xs [n, d] (a batched callable) -> (logp [n], grad [n, d] or None), checked."""
        n, d = xs.shape
        lp, g = self._split(self._fn(xs), want_grad)
        if g is not None and g.shape != (n, d):
            raise ValueError("the batched target callable returned a gradient of shape %s for %d rows, "
                             "expected (%d, %d)" % (g.shape, n, n, d))
        lp = np.asarray(lp, dtype=np.float64)
        if lp.shape != (n,):
            raise ValueError("the batched target callable returned log-densities of shape %s for %d rows, "
                             "expected (%d,)" % (lp.shape, n, n))
        return lp, g

    # The batch callback: 0 on success, 1 after an exception (kept to be re-raised).
    def _call_batch(self, state, n, x, logp, grad):
        if self._error is not None:
            return 1
        try:
            d = self._struct.dim
            lp, g = self._evaluate(np.ctypeslib.as_array(x, shape=(n, d)).copy(), bool(grad))
            np.ctypeslib.as_array(logp, shape=(n,))[:] = lp
            if grad:
                np.ctypeslib.as_array(grad, shape=(n, d))[:] = g
            return 0
        except BaseException as e:  # noqa: B902 - as in _call
            self._error = e
            return 1

    # The callback: never lets an exception escape into C (ctypes would print and return 0).
    def _call(self, state, x, grad):
        if self._error is not None:
            return math.nan
        try:
            d = self._struct.dim
            xs = np.ctypeslib.as_array(x, shape=(d,)).copy()
            if self.batched:  # a single point as a batch of one row
                lp, g = self._evaluate(xs[None, :], bool(grad))
                lp, g = lp[0], None if g is None else g[0]
            else:
                lp, g = self._split(self._fn(xs), bool(grad))
                if g is not None and g.shape != (d,):
                    raise ValueError("the target callable returned a gradient of shape %s, expected (%d,)"
                                     % (g.shape, d))
            if grad:
                np.ctypeslib.as_array(grad, shape=(d,))[:] = g
            return float(lp)
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt too: stop the run, re-raise later
            self._error = e
            return math.nan

    def _begin(self):
        self._error = None

    def _end(self, status):
        """After a library call that may have called back: re-raise the callable's exception, else
        turn a failed status into VarflowError."""
        err, self._error = self._error, None
        if err is not None:
            raise err
        _lib.check(status)

    @property
    def ptr(self):
        return ctypes.byref(self._struct)

    @property
    def dim(self):
        """The dimension d of the target's points."""
        return int(self._struct.dim)

    @property
    def name(self):
        """The target's name ("funnel", "plugin", "python", ...)."""
        return self._struct.name.decode("utf-8", "replace")

    @property
    def log_z(self):
        """log of the normalizing constant when known (every built-in), else None."""
        return float(self._struct.log_z) if self._struct.has_log_z else None

    def log_prob(self, x):
        """log p(x) (unnormalized) of each row of x [n, d], float64 [n]. The rows pass through the
        library's scalar type (float32 in a float build)."""
        x = _lib.as_rows(x, "x", self.dim, "target's dimension")
        out = np.empty(x.shape[0])
        if x.shape[0]:
            self._begin()
            self._end(lib.vf_target_scores(self.ptr, x.shape[0], _lib.ptr(x, _lib.c_real),
                                           _lib.ptr(out, ctypes.c_double), None))
        return out

    def score(self, x):
        """grad log p(x) of each row of x [n, d], float64 [n, d] (VarflowError where log p is -inf)."""
        x = _lib.as_rows(x, "x", self.dim, "target's dimension")
        out = np.empty(x.shape)
        if x.shape[0]:
            self._begin()
            self._end(lib.vf_target_scores(self.ptr, x.shape[0], _lib.ptr(x, _lib.c_real), None,
                                           _lib.ptr(out, ctypes.c_double)))
        return out

    def sample(self, n, seed=0):
        """n exact draws [n, d] (the library's scalar type), for targets that have an exact sampler
        (VarflowError VF_ERR_UNSUPPORTED otherwise: u1..u4, plugins, callables)."""
        n = _lib.count(n)
        out = np.empty((n, self.dim), dtype=_lib.REAL)
        r = _lib.rng(seed)
        _lib.check(lib.vf_target_sample(self.ptr, n, ctypes.byref(r), _lib.ptr(out, _lib.c_real)))
        return out

    def close(self):
        """Release the target (a plugin's state); the object is unusable afterwards."""
        if self._owned:
            lib.vf_target_free(ctypes.byref(self._struct))
            self._owned = False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        what = repr(self.spec) if self.spec is not None else repr(self._fn)
        return "Target(%s, dim=%d%s)" % (what, self.dim, ", batched=True" if self.batched else "")


def as_target(target, callable_dim=None):
    """A Target from a Target, a spec string, or a callable (of dimension callable_dim)."""
    if isinstance(target, Target):
        return target
    if isinstance(target, (str, bytes)):
        return Target(target)
    return Target(target, dim=callable_dim)
