"""Targets (unnormalized log-densities): a built-in or plugin by spec string, or a Python callable
wrapped in a ctypes callback into a vf_target (vf_target.h)."""

import copy
import ctypes
import itertools
import math

import numpy as np

from . import _lib
from ._lib import lib


_FLOAT64 = np.dtype(np.float64)


class Target:
    """An unnormalized log-density for varflow.vi, varflow.eval("ksd", ...) and friends.

    Target(spec) names a built-in or a plugin as the command line does: "u1", "funnel:d=10",
    "gauss:d=5,rho=0.9", "plugin:./my_target.so:arg" (vf_target_from_spec; VarflowError for an unknown
    name or key). Target(f, dim=d) wraps a Python callable f(x) -> (logp, grad) that receives a float64
    array x [d] and returns log p(x) (up to a constant) and its gradient [d]; when the library asks for
    no gradient, f may return the float alone. A log-density of -inf means outside the support (+inf
is a ValueError, a string, complex or bool a TypeError). Copies (copy.copy, copy.deepcopy, pickle)
open the spec again or wrap the same callable again; close() waits for calls in flight. An
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
        self._life = _lib.Lifetime("target")
        self._pending = {}  # call id -> _Call: each library call's own pending exception
        self._ids = itertools.count(1)
        self._fn = None
        self._callback = None
        self._batch_callback = None
        self._spec_bytes = None
        self.batched = False
        if isinstance(target, Target):
            raise TypeError("Target(Target): pass the Target itself where a target is expected "
                            "(copy.copy(t) for a second one)")
        if isinstance(target, (str, bytes)):
            if dim is not None or batched:
                raise ValueError("dim and batched are given by the spec %r; pass them only with a callable"
                                 % (target,))
            spec = _lib.cstr(target, "target spec")
            _lib.check(lib.vf_target_from_spec(spec, ctypes.byref(self._struct)))
            self._owned = True
            self._spec_bytes = spec
            self.spec = spec.decode("utf-8", "replace")
        elif callable(target):
            if dim is None:
                raise ValueError("a callable target needs its dimension: Target(f, dim=d)")
            d = _lib.count(dim, "dim", lo=1)
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
        # kept here: close() releases the struct
        self._dim, self._name = int(self._struct.dim), self._struct.name.decode("utf-8", "replace")
        self._log_z = float(self._struct.log_z) if self._struct.has_log_z else None

    # ---- what the callable returns ----
    @staticmethod
    def _split(out, want_grad):
        """What the callable returned -> (logp, grad or None); (logp, grad) is needed when want_grad."""
        if not want_grad:
            return (out[0] if isinstance(out, tuple) else out), None
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError("the target callable must return (logp, grad) when a gradient is needed, "
                            "got %s" % type(out).__name__)
        g = out[1]
        if type(g) is np.ndarray and g.dtype is _FLOAT64:  # the common case, without a copy or a check
            return out[0], g
        g = np.asarray(g)
        if g.dtype.kind not in "fiu":
            raise TypeError("the target callable returned a gradient of dtype %s (expected real numbers)"
                            % g.dtype)
        return out[0], g.astype(np.float64, copy=False)

    @staticmethod
    def _log_densities(lp, shape):
        """The callable's log-density (a real number, or real numbers of the given shape) as float64:
        TypeError for a string, a complex or a bool, ValueError for +inf (NaN is the library's error,
        -inf means outside the support)."""
        a = np.asarray(lp)
        if a.dtype.kind not in "fiu":
            raise TypeError("the target callable returned a log-density of type %s (expected a real number)"
                            % (type(lp).__name__ if a.ndim == 0 else "array of dtype %s" % a.dtype))
        a = a.astype(np.float64)
        if a.shape != shape:
            return a
        if np.any(a == math.inf):
            raise ValueError("the target callable returned a log-density of +inf%s (it must be finite, or -inf "
                             "outside the support)" % ("" if not shape else " at row %d" % int(np.argmax(a == math.inf))))
        return a

    def _evaluate(self, xs, want_grad):
        """f at rows xs [n, d] (a batched callable) -> (logp [n], grad [n, d] or None), checked."""
        n, d = xs.shape
        lp, g = self._split(self._fn(xs), want_grad)
        if g is not None and g.shape != (n, d):
            raise ValueError("the batched target callable returned a gradient of shape %s for %d rows, "
                             "expected (%d, %d)" % (g.shape, n, n, d))
        lp = self._log_densities(lp, (n,))
        if lp.shape != (n,):
            raise ValueError("the batched target callable returned log-densities of shape %s for %d rows, "
                             "expected (%d,)" % (lp.shape, n, n))
        return lp, g

    # The callbacks never let an exception escape into C (ctypes would print it and return 0): they
    # keep it in the record of the library call that made them (its id is the struct's state), to
    # be re-raised when that call returns. Two threads calling the same target keep theirs apart.
    def _call_batch(self, state, n, x, logp, grad):
        call = self._pending.get(state)
        if call is None or call.error is not None:
            return 1
        try:
            d = self._dim
            lp, g = self._evaluate(np.ctypeslib.as_array(x, shape=(n, d)).copy(), bool(grad))
            np.ctypeslib.as_array(logp, shape=(n,))[:] = lp
            if grad:
                np.ctypeslib.as_array(grad, shape=(n, d))[:] = g
            return 0
        except BaseException as e:  # noqa: B902 - as in _call
            call.error = e
            return 1

    def _call(self, state, x, grad):
        call = self._pending.get(state)
        if call is None or call.error is not None:
            return math.nan
        try:
            d = self._dim
            xs = np.ctypeslib.as_array(x, shape=(d,)).copy()
            if self.batched:  # a single point as a batch of one row
                lp, g = self._evaluate(xs[None, :], bool(grad))
                lp, g = lp[0], None if g is None else g[0]
            else:
                lp, g = self._split(self._fn(xs), bool(grad))
                if type(lp) is float or type(lp) is np.float64:  # the common case, checked cheaply
                    if lp == math.inf:
                        self._log_densities(lp, ())  # raises
                else:
                    lp = self._log_densities(lp, ())
                    if lp.shape != ():
                        raise TypeError("the target callable returned log-densities of shape %s; a point's "
                                        "log-density is one number" % (lp.shape,))
                if g is not None and g.shape != (d,):
                    raise ValueError("the target callable returned a gradient of shape %s, expected (%d,)"
                                     % (g.shape, d))
            if grad:
                np.ctypeslib.as_array(grad, shape=(d,))[:] = g
            return float(lp)
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt too: stop the run, re-raise later
            call.error = e
            return math.nan

    # ---- library calls ----
    def _begin(self):
        """Start a library call on the target: a _Call whose ptr goes to C and whose finish(status)
        ends it (always call it: the target stays in use until then)."""
        self._life.__enter__()
        if self._fn is None:  # a spec target: its own struct, nothing to re-raise
            return _Call(self, None, ctypes.byref(self._struct))
        key = next(self._ids)
        s = _lib.TargetStruct.from_buffer_copy(self._struct)
        s.state = key
        call = _Call(self, key, None)
        call.struct = s
        call.ptr = ctypes.byref(s)
        self._pending[key] = call
        return call

    @property
    def ptr(self):
        return ctypes.byref(self._struct)

    @property
    def dim(self):
        """The dimension d of the target's points."""
        return self._dim

    @property
    def name(self):
        """The target's name ("funnel", "plugin", "python", ...)."""
        return self._name

    @property
    def log_z(self):
        """log of the normalizing constant when known (every built-in), else None."""
        return self._log_z

    def log_prob(self, x):
        """log p(x) (unnormalized) of each row of x [n, d], float64 [n]. The rows pass through the
        library's scalar type (float32 in a float build)."""
        call = self._begin()
        status = 0
        try:
            x = _lib.as_rows(x, "x", self.dim, "target's dimension")
            out = np.empty(x.shape[0])
            if x.shape[0]:
                status = lib.vf_target_scores(call.ptr, x.shape[0], _lib.ptr(x, _lib.c_real),
                                              _lib.ptr(out, ctypes.c_double), None)
        finally:
            call.finish(status)
        return out

    def score(self, x):
        """grad log p(x) of each row of x [n, d], float64 [n, d] (VarflowError where log p is -inf)."""
        call = self._begin()
        status = 0
        try:
            x = _lib.as_rows(x, "x", self.dim, "target's dimension")
            out = np.empty(x.shape)
            if x.shape[0]:
                status = lib.vf_target_scores(call.ptr, x.shape[0], _lib.ptr(x, _lib.c_real), None,
                                              _lib.ptr(out, ctypes.c_double))
        finally:
            call.finish(status)
        return out

    def sample(self, n, seed=0):
        """n exact draws [n, d] (the library's scalar type), for targets that have an exact sampler
        (VarflowError VF_ERR_UNSUPPORTED otherwise: u1..u4, plugins, callables)."""
        n = _lib.count(n)
        out = np.empty((n, self.dim), dtype=_lib.REAL)
        r = _lib.rng(seed)
        call = self._begin()
        status = 0
        try:
            status = lib.vf_target_sample(call.ptr, n, ctypes.byref(r), _lib.ptr(out, _lib.c_real))
        finally:
            call.finish(status)
        return out

    def close(self):
        """Release the target (a plugin's state) once the calls in flight on other threads have
        returned; using it afterwards raises ValueError("the target was closed")."""
        life = self.__dict__.get("_life")
        if life is not None:
            life.close(self._free)

    def _free(self):
        if self._owned:
            lib.vf_target_free(ctypes.byref(self._struct))
            self._owned = False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- copies: a spec is opened again, a callable wrapped again (the same callable) ----
    def _args(self):
        if self._life.closed:
            raise ValueError("the target was closed")
        if self._fn is None:
            return (self._spec_bytes if isinstance(self._spec_bytes, bytes) else self.spec,)
        return (self._fn, self.dim, self.batched)

    def __copy__(self):
        return Target(*self._args())

    def __deepcopy__(self, memo):
        args = self._args()
        if self._fn is not None:  # a callable object is deep-copied (a function stays itself, as in copy)
            args = (copy.deepcopy(self._fn, memo),) + args[1:]
        return Target(*args)

    def __reduce__(self):
        """A spec target pickles as its spec (opened again on loading); a callable one as the callable
        (pickle's own error for one it cannot pickle, such as a lambda)."""
        args = self._args()
        if self._fn is None:
            args = (self.spec,) if self._spec_bytes == self.spec.encode("utf-8") else args
        return Target, args

    def __repr__(self):
        what = repr(self.spec) if self.spec is not None else repr(self._fn)
        closed = ", closed" if self._life.closed else ""
        return "Target(%s, dim=%d%s%s)" % (what, self.dim, ", batched=True" if self.batched else "", closed)


class _Call:
    """One library call on a Target: the struct it passes (a callable's own copy, whose state is the
    call's id), the exception its callbacks kept."""

    def __init__(self, target, key, ptr):
        self.target, self.key, self.ptr = target, key, ptr
        self.struct = None
        self.error = None
        self._done = False

    def reraise(self):
        """Raise the callable's exception, if any (the call stays open)."""
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def finish(self, status):
        """End the call: re-raise the callable's exception, else a failed status as VarflowError."""
        if not self._done:
            self._done = True
            self.target._pending.pop(self.key, None)
            self.target._life.__exit__(None, None, None)
        self.reraise()
        _lib.check(status)


def as_target(target, dim=None):
    """A Target from a Target, a spec string, or a callable (of dimension dim). dim given with a
    Target or a spec must be the target's own (ValueError otherwise: it would be ignored)."""
    if isinstance(target, Target):
        t = target
    elif isinstance(target, (str, bytes)):
        t = Target(target)
    else:
        return Target(target, dim=dim)
    if dim is not None and _lib.count(dim, "dim", lo=1) != t.dim:
        raise ValueError("dim=%d but the target %s has dimension %d" % (dim, t.spec or repr(t), t.dim))
    return t
