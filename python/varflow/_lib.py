"""Loading libvarflow, the C declarations the binding uses, errors and array conversion.

Everything here is private: the public API is in __init__.py. The library is found, in order, at
$VARFLOW_LIB (a path to libvarflow.so), next to this package (a copy installed with it), and by
ctypes.util.find_library("varflow"). Its scalar type (float or double build) is read at run time from
vf_real_size(), and every array handed to it is converted to that type, C-contiguous.
"""

import ctypes
import ctypes.util
import math
import numbers
import os
import threading

import numpy as np

c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_double_p = ctypes.POINTER(ctypes.c_double)


VF_ERR_NUMERIC = 6  # vf_status values the binding tests for


class VarflowError(RuntimeError):
    """A varflow library call failed: str(e) is the library's message (vf_last_error()) and
    e.status the status name ("VF_ERR_ARG", "VF_ERR_IO", ...)."""

    def __init__(self, message, status="VF_ERR_UNKNOWN"):
        super().__init__(message)
        self.status = status


def _candidates():
    env = os.environ.get("VARFLOW_LIB")
    if env:
        return [("$VARFLOW_LIB", env)]
    found = []
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libvarflow.so", "libvarflow.so.0", "libvarflow.dylib"):
        path = os.path.join(here, name)
        if os.path.exists(path):
            found.append(("next to the package", path))
    system = ctypes.util.find_library("varflow")
    if system:
        found.append(("find_library", system))
    return found


def _load():
    tried = []
    for where, path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, where, e))
    if not tried:
        raise ImportError("varflow: libvarflow.so not found: set VARFLOW_LIB to its path (e.g. "
                          "VARFLOW_LIB=build/libvarflow.so after `make`), copy it next to the varflow package, "
                          "or install it where the dynamic linker finds it")
    raise ImportError("varflow: cannot load the library: " + "; ".join(tried))


lib, LIB_PATH = _load()

if not hasattr(lib, "vf_real_size"):
    raise ImportError("varflow: %s has no vf_real_size(): it is older than this binding; rebuild it" % LIB_PATH)
lib.vf_real_size.restype = ctypes.c_int
lib.vf_real_size.argtypes = []
_size = lib.vf_real_size()
if _size == 4:
    REAL, c_real = np.dtype(np.float32), ctypes.c_float
elif _size == 8:
    REAL, c_real = np.dtype(np.float64), ctypes.c_double
else:
    raise ImportError("varflow: %s reports a scalar of %d bytes (expected 4 or 8)" % (LIB_PATH, _size))
c_real_p = ctypes.POINTER(c_real)


# ---- C structs mirrored (checked against the library's defaults below) --------------------------
# Structs the library writes (out-parameters, by-value returns) end in a reserve, so that a library
# whose struct grew at the end cannot write past the buffer ctypes allocated; a reordered struct is
# caught by _check_layouts() at import.
_RESERVE = [("_reserve", ctypes.c_char * 128)]


class Rng(ctypes.Structure):
    _fields_ = [("key", ctypes.c_uint32 * 2), ("counter", ctypes.c_uint64), ("stream", ctypes.c_uint64)] + _RESERVE


class OdeOptions(ctypes.Structure):
    _fields_ = [("solver", ctypes.c_int), ("steps", ctypes.c_int64), ("grid", c_double_p),
                ("rtol", ctypes.c_double), ("atol", ctypes.c_double), ("first_step", ctypes.c_double),
                ("min_step", ctypes.c_double), ("max_steps", ctypes.c_int64), ("sigma", ctypes.c_double),
                ("progress", ctypes.c_void_p), ("progress_ctx", ctypes.c_void_p)]


class DensityOptions(ctypes.Structure):
    _fields_ = [("divergence", ctypes.c_int), ("probes", ctypes.c_int), ("seed", ctypes.c_uint64)]


class CnfSampleOptions(ctypes.Structure):
    _fields_ = [("ode", OdeOptions), ("guidance", ctypes.c_double), ("density", DensityOptions)] + _RESERVE


class OdeStats(ctypes.Structure):
    _fields_ = [("nfe", ctypes.c_int64), ("steps", ctypes.c_int64), ("rejected", ctypes.c_int64)] + _RESERVE


class ModelMeta(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int64), ("keys", ctypes.POINTER(ctypes.c_char_p)),
                ("values", ctypes.POINTER(ctypes.c_char_p))] + _RESERVE


class SinkhornOptions(ctypes.Structure):
    _fields_ = [("eps", ctypes.c_double), ("tol", ctypes.c_double), ("max_iter", ctypes.c_int64),
                ("check_every", ctypes.c_int64), ("error_norm", ctypes.c_int), ("eps_start", ctypes.c_double),
                ("eps_factor", ctypes.c_double), ("stage_tol", ctypes.c_double), ("method", ctypes.c_int)] + _RESERVE


class SinkhornResult(ctypes.Structure):
    _fields_ = [("iterations", ctypes.c_int64), ("marginal_error", ctypes.c_double),
                ("transport_cost", ctypes.c_double), ("objective", ctypes.c_double),
                ("stages", ctypes.c_int64)] + _RESERVE


class KsdOptions(ctypes.Structure):
    _fields_ = [("kernel", ctypes.c_int), ("bandwidth", ctypes.c_double), ("beta", ctypes.c_double),
                ("unbiased", ctypes.c_int)] + _RESERVE


LOG_PROB_FN = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p, c_double_p, c_double_p)
FREE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
SAMPLE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(Rng), c_double_p)
LOG_PROB_BATCH_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, c_double_p, c_double_p, c_double_p)


class TargetStruct(ctypes.Structure):
    _fields_ = [("dim", ctypes.c_int64), ("log_prob", LOG_PROB_FN), ("state", ctypes.c_void_p),
                ("free", FREE_FN), ("sample", SAMPLE_FN), ("name", ctypes.c_char * 32),
                ("has_log_z", ctypes.c_int), ("log_z", ctypes.c_double), ("constrain", ctypes.c_void_p),
                ("constrained_dim", ctypes.c_int64), ("log_prob_batch", LOG_PROB_BATCH_FN)] + _RESERVE


# ---- function declarations ----------------------------------------------------------------------
_P = ctypes.c_void_p
_S = ctypes.c_int  # vf_status
_I64 = ctypes.c_int64
_D = ctypes.c_double
_STR = ctypes.c_char_p

_DECLS = {
    "vf_last_error": (_STR, []),
    "vf_status_name": (_STR, [_S]),
    "vf_version": (_STR, []),
    "vf_set_num_threads": (ctypes.c_int, [ctypes.c_int]),
    "vf_rng_init": (None, [ctypes.POINTER(Rng), ctypes.c_uint64, ctypes.c_uint64]),
    # parameter stores and flows
    "vf_params_new": (_P, []),
    "vf_params_free": (None, [_P]),
    "vf_params_finalize": (_S, [_P, ctypes.c_uint64]),
    "vf_params_size": (_I64, [_P]),
    "vf_params_values": (c_real_p, [_P]),
    "vf_flow_free": (None, [_P]),
    "vf_flow_dim": (_I64, [_P]),
    "vf_flow_context_dim": (_I64, [_P]),
    "vf_flow_from_spec": (_S, [_STR, _I64, _I64, _P, ctypes.POINTER(_P)]),
    "vf_flow_load": (_S, [_STR, ctypes.POINTER(_P), ctypes.POINTER(_P), ctypes.POINTER(ModelMeta)]),
    "vf_flow_save": (_S, [_P, _P, _STR, _I64, ctypes.POINTER(_STR), ctypes.POINTER(_STR)]),
    "vf_model_meta_free": (None, [ctypes.POINTER(ModelMeta)]),
    "vf_flow_log_prob_rows": (_S, [_P, _P, _P, _I64, c_real_p, c_real_p, _I64, c_real_p]),
    "vf_flow_sample_rows": (_S, [_P, _P, _P, _I64, c_real_p, _I64, ctypes.POINTER(Rng), c_real_p, c_real_p]),
    "vf_flow_forward_rows": (_S, [_P, _P, _P, _I64, c_real_p, c_real_p, _I64, c_real_p, c_real_p]),
    "vf_flow_inverse_rows": (_S, [_P, _P, _P, _I64, c_real_p, c_real_p, _I64, c_real_p, c_real_p]),
    # safetensors metadata (model.info)
    "vf_st_open": (_S, [_STR, ctypes.POINTER(_P)]),
    "vf_st_close": (None, [_P]),
    "vf_st_meta_count": (_I64, [_P]),
    "vf_st_meta_key": (_STR, [_P, _I64]),
    "vf_st_meta": (_STR, [_P, _STR]),
    # continuous flows
    "vf_cnf_model_file_is_cnf": (ctypes.c_int, [_STR]),
    "vf_cnf_model_load": (_S, [_STR, ctypes.POINTER(_P), ctypes.POINTER(ModelMeta)]),
    "vf_cnf_model_free": (None, [_P]),
    "vf_cnf_model_save": (_S, [_P, _STR, _I64, ctypes.POINTER(_STR), ctypes.POINTER(_STR), _I64, _P]),
    "vf_cnf_model_param_count": (_I64, [_P]),
    "vf_cnf_sample_default_options": (CnfSampleOptions, []),
    "vf_cnf_model_sample": (_S, [_P, _I64, c_real_p, c_int64_p, ctypes.POINTER(Rng),
                                 ctypes.POINTER(CnfSampleOptions), c_real_p, c_real_p, ctypes.POINTER(OdeStats)]),
    "vf_cnf_model_log_prob": (_S, [_P, _I64, c_real_p, c_int64_p, ctypes.POINTER(CnfSampleOptions), c_real_p,
                                   ctypes.POINTER(OdeStats)]),
    "vf_solver_from_name": (ctypes.c_int, [_STR]),
    "vf_solver_is_stochastic": (ctypes.c_int, [ctypes.c_int]),
    # targets
    "vf_target_from_spec": (_S, [_STR, ctypes.POINTER(TargetStruct)]),
    "vf_target_free": (None, [ctypes.POINTER(TargetStruct)]),
    "vf_target_scores": (_S, [ctypes.POINTER(TargetStruct), _I64, c_real_p, c_double_p, c_double_p]),
    "vf_target_sample": (_S, [ctypes.POINTER(TargetStruct), _I64, ctypes.POINTER(Rng), c_real_p]),
    # metrics (vf_ot.h)
    "vf_emd": (_S, [_I64, _I64, c_real_p, _I64, _I64, c_real_p, c_double_p, c_double_p, ctypes.c_int,
                    c_double_p, _P]),
    "vf_cost_matrix": (_S, [_I64, _I64, _I64, c_real_p, c_real_p, ctypes.c_int, c_double_p]),
    "vf_cost_kind_from_name": (ctypes.c_int, [_STR]),
    "vf_sinkhorn_default_options": (SinkhornOptions, []),
    "vf_sinkhorn": (_S, [_I64, _I64, c_double_p, c_double_p, c_double_p, ctypes.POINTER(SinkhornOptions),
                         c_double_p, c_double_p, ctypes.POINTER(SinkhornResult)]),
    "vf_sinkhorn_divergence": (_S, [_I64, _I64, _I64, c_real_p, c_real_p, c_double_p, c_double_p,
                                    ctypes.POINTER(SinkhornOptions), c_double_p, ctypes.POINTER(SinkhornResult)]),
    "vf_sliced_wasserstein": (_S, [_I64, _I64, _I64, c_real_p, c_real_p, ctypes.c_int, _I64, ctypes.c_uint64,
                                   c_double_p]),
    "vf_directions": (_S, [_I64, _I64, ctypes.c_int, ctypes.c_uint64, c_double_p]),
    "vf_sliced_wasserstein_dirs": (_S, [_I64, _I64, _I64, c_real_p, c_real_p, c_double_p, c_double_p, _I64,
                                        c_double_p, _D, c_double_p]),
    "vf_kernel_from_name": (ctypes.c_int, [_STR]),
    "vf_mmd2": (_S, [_I64, _I64, _I64, c_real_p, c_real_p, ctypes.c_int, _D, ctypes.c_int, c_double_p,
                     c_double_p]),
    "vf_energy_distance": (_S, [_I64, _I64, _I64, c_real_p, c_real_p, _I64, ctypes.c_uint64, c_double_p]),
    "vf_ksd_default_options": (KsdOptions, []),
    "vf_ksd": (_S, [_I64, _I64, c_real_p, c_double_p, ctypes.POINTER(KsdOptions), c_double_p, c_double_p]),
}

def declare(decls, required=True):
    """Give each function of decls (name -> (restype, argtypes)) its C signature. A missing function
    is an ImportError when required, else the result is False (the caller leaves that feature out)."""
    missing = [name for name in decls if not hasattr(lib, name)]
    if missing and required:
        raise ImportError("varflow: %s lacks %s(): it does not match this binding; rebuild it" % (LIB_PATH, missing[0]))
    if missing:
        return False
    for name, (res, args) in decls.items():
        getattr(lib, name).restype = res
        getattr(lib, name).argtypes = args
    return True


def layout_error(what):
    return ImportError("varflow: %s of %s does not match this binding's; rebuild the library from the same sources"
                       % (what, LIB_PATH))


declare(_DECLS)


def _check_layouts():
    """The mirrored structs must read the library's documented defaults, or the binding would pass
    garbage: refuse to import instead."""
    so = lib.vf_cnf_sample_default_options()
    so_ok = (so.ode.solver == lib.vf_solver_from_name(b"rk4") and so.ode.steps == 100 and so.ode.rtol == 1e-5
             and so.ode.atol == 1e-5 and so.guidance == 0 and so.density.divergence == 0)
    sk = lib.vf_sinkhorn_default_options()
    sk_ok = (sk.eps == 0.1 and sk.tol == 1e-9 and sk.max_iter == 10000 and sk.error_norm == 1
             and sk.stage_tol == 1e-3 and sk.method == 0)
    ko = lib.vf_ksd_default_options()
    ko_ok = ko.bandwidth == 1 and ko.beta == -0.5 and ko.unbiased == 0
    if not (so_ok and sk_ok and ko_ok):
        raise layout_error("the option structs (cnf sample %s, sinkhorn %s, ksd %s)" % (so_ok, sk_ok, ko_ok))


_check_layouts()


# ---- errors -------------------------------------------------------------------------------------
def last_error():
    return lib.vf_last_error().decode("utf-8", "replace")


def check(status):
    """Raise VarflowError with the library's message for a status other than VF_OK."""
    if status != 0:
        raise VarflowError(last_error(), lib.vf_status_name(status).decode("ascii", "replace"))


def cstr(s, what="string"):
    """A string for the library: str (UTF-8) or bytes, without an embedded NUL (C would silently stop
    there, so 'a.safetensors\\0zz' would open a.safetensors): ValueError as Python's open() gives."""
    if isinstance(s, str):
        b = s.encode("utf-8")
    elif isinstance(s, bytes):
        b = s
    else:
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    if b"\0" in b:
        raise ValueError("%s: embedded null character" % what)
    return b


def path_bytes(path, what="path"):
    """A file name for the library (str, bytes or os.PathLike; no embedded NUL)."""
    if isinstance(path, (str, bytes, os.PathLike)):
        p = os.fspath(path)
        return cstr(p if isinstance(p, bytes) else os.fsencode(p), what)
    raise TypeError("%s must be a str or os.PathLike, not %s" % (what, type(path).__name__))


# ---- numbers for the library's options ----------------------------------------------------------
INT_MAX = 2 ** 31 - 1  # C int
INT64_MAX = 2 ** 63 - 1  # int64_t


def integer(v, name, lo=0, hi=INT64_MAX):
    """A whole number in [lo, hi] (the C type's range at most): TypeError for a bool, a float or a
    string, ValueError naming the argument and the range otherwise, never a wrapped value."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError("%s must be an int, not %s" % (name, type(v).__name__))
    v = int(v)
    if v < lo and hi in (INT64_MAX, INT_MAX):
        raise ValueError("%s must be >= %d (got %d)" % (name, lo, v))
    if not lo <= v <= hi:
        raise ValueError("%s must be a whole number in [%d, %d] (got %d)" % (name, lo, hi, v))
    return v


def count(n, name="n", lo=0, hi=INT64_MAX):
    """A non-negative whole number of rows (or an option with lower bound lo), int64 by default."""
    return integer(n, name, lo, hi)


def real(v, name, lo=None, hi=None, lo_open=False, hi_open=False):
    """A finite real number within the bounds (open or closed): TypeError for a bool, a string or a
    complex, ValueError naming the argument and the allowed range for NaN, an infinity or a value
    outside it."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError("%s must be a real number, not %s" % (name, type(v).__name__))
    f = float(v)
    ok = math.isfinite(f)
    ok = ok and (lo is None or (f > lo if lo_open else f >= lo))
    ok = ok and (hi is None or (f < hi if hi_open else f <= hi))
    if not ok:
        if lo is not None and hi is not None:
            rng_ = "in %s%g, %g%s" % ("(" if lo_open else "[", lo, hi, ")" if hi_open else "]")
        elif lo is not None:
            rng_ = "%s %g" % (">" if lo_open else ">=", lo)
        elif hi is not None:
            rng_ = "%s %g" % ("<" if hi_open else "<=", hi)
        else:
            rng_ = None
        raise ValueError("%s must be a finite number%s (got %r)" % (name, " " + rng_ if rng_ else "", v))
    return f


# ---- handle lifetimes ---------------------------------------------------------------------------
class Lifetime:
    """Keeps a library handle alive while calls on it are in flight. ctypes releases the GIL during a
    call, so another thread may close the object meanwhile: every call enters (refused with
    ValueError("the model was closed") once closed) and exits; close() refuses new calls, waits until
    the calls in flight have returned, then frees. Calls run concurrently: the lock is held only to
    count, never during a call.

        with self._life:                 # raises ValueError after close()
            lib.vf_...(self._handle, ...)
        self._life.close(free)           # waits for the calls in flight, then free() once
    """

    def __init__(self, what):
        self.what = what
        self._cond = threading.Condition(threading.Lock())
        self._calls = 0
        self._threads = {}  # thread id -> its calls in flight (a close from inside one would wait forever)
        self.closed = False

    def __enter__(self):
        me = threading.get_ident()
        with self._cond:
            if self.closed:
                raise ValueError("the %s was closed" % self.what)
            self._calls += 1
            self._threads[me] = self._threads.get(me, 0) + 1
        return self

    def __exit__(self, *exc):
        me = threading.get_ident()
        with self._cond:
            self._calls -= 1
            left = self._threads[me] - 1
            if left:
                self._threads[me] = left
            else:
                del self._threads[me]
            if not self._calls:
                self._cond.notify_all()

    def close(self, free):
        """Refuse new calls, wait for the ones in flight, then call free() (only the first time).
        RuntimeError from inside a call on the same object (a callback): it could never return."""
        with self._cond:
            if self.closed:
                return
            if self._threads.get(threading.get_ident()):
                raise RuntimeError("cannot close the %s from inside a call on it (a callback of that call)"
                                   % self.what)
            self.closed = True
            while self._calls:
                self._cond.wait()
        free()


# ---- arrays -------------------------------------------------------------------------------------
def _numeric(a, name):
    kind = a.dtype.kind
    if kind in "fiub":
        return a
    raise TypeError("%s: dtype %s cannot be converted to the library's %s (expected real numbers)"
                    % (name, a.dtype, REAL.name))


def as_rows(x, name, width=None, what="dimension", dtype=None):
    """x as a C-contiguous [n, width] array of the library's scalar type (or dtype): a 2-D real array
    is required; ValueError for another shape, TypeError for a non-real dtype."""
    dtype = REAL if dtype is None else np.dtype(dtype)
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged nested lists and the like
        raise ValueError("%s: not an array (%s)" % (name, e)) from None
    _numeric(a, name)
    if a.ndim != 2:
        raise ValueError("%s must be a 2-D array [n, %s] but has shape %s"
                         % (name, width if width is not None else "d", a.shape))
    if width is not None and a.shape[1] != width:
        raise ValueError("%s has %d columns but the %s is %d" % (name, a.shape[1], what, width))
    return np.ascontiguousarray(a, dtype=dtype)


def finite_rows(a, name):
    """ValueError naming the first non-finite entry (row, column) of the rows a [n, d] (checked as the
    library will see them), else a."""
    bad = ~np.isfinite(a)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError("%s: row %d, column %d is %s (every value must be finite)" % (name, i, j, a[i, j]))
    return a


def as_vector(w, name, n, dtype=np.float64):
    """w as a C-contiguous 1-D array of n values."""
    a = _numeric(np.asarray(w), name)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError("%s must be a 1-D array of %d values but has shape %s" % (name, n, a.shape))
    return np.ascontiguousarray(a, dtype=dtype)


def as_labels(labels, n, name="labels"):
    """labels: one int for every row, or n ints -> C-contiguous int64 [n]."""
    a = np.asarray(labels)
    if a.dtype.kind not in "iu":
        raise TypeError("%s must be integers, not dtype %s" % (name, a.dtype))
    if a.ndim == 0:
        a = np.full(n, int(a), dtype=np.int64)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError("%s must be one integer or a 1-D array of %d integers but has shape %s"
                         % (name, n, a.shape))
    if a.size and a.min() < 0:
        raise ValueError("%s: label %d is negative" % (name, int(a.min())))
    return np.ascontiguousarray(a, dtype=np.int64)


def ptr(a, ctype):
    """Pointer to the data of a C-contiguous array (NULL for None)."""
    if a is None:
        return None
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def seed_value(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError("seed must be an int, not %s" % type(seed).__name__)
    if not 0 <= seed < 2 ** 64:
        raise ValueError("seed must be in [0, 2^64) (got %d)" % seed)
    return int(seed)


def rng(seed, stream=0):
    r = Rng()
    lib.vf_rng_init(ctypes.byref(r), seed_value(seed), stream)
    return r
