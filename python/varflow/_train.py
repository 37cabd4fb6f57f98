"""varflow.fit: fit a model to the rows of an array in one library call (vf_fit_table, vf_train.h),
as `varflow fit` does to a file."""

import ctypes
import math
import os
import shutil
import tempfile

from . import _lib
from ._lib import lib
from ._models import ContinuousFlow, Flow, _FLOW_RESERVED


class FitOptions(ctypes.Structure):
    _fields_ = [("epochs", ctypes.c_int64), ("steps", ctypes.c_int64), ("batch", ctypes.c_int64),
                ("lr", ctypes.c_double), ("weight_decay", ctypes.c_double), ("clip", ctypes.c_double),
                ("warmup", ctypes.c_int64), ("patience", ctypes.c_int64), ("seed", ctypes.c_uint64),
                ("dequantize", ctypes.c_int), ("progress", ctypes.c_void_p), ("progress_ctx", ctypes.c_void_p),
                ("checkpoint", ctypes.c_void_p), ("checkpoint_ctx", ctypes.c_void_p),
                ("checkpoint_every", ctypes.c_int64), ("stop_after", ctypes.c_int64), ("resume", ctypes.c_void_p)]


class FitTableOptions(ctypes.Structure):
    _fields_ = [("fit", FitOptions), ("valid_fraction", ctypes.c_double), ("standardize", ctypes.c_int),
                ("valid_dim", ctypes.c_int64), ("data_name", ctypes.c_char_p), ("valid_name", ctypes.c_char_p),
                ("log_path", ctypes.c_char_p), ("checkpoint", ctypes.c_char_p), ("resume", ctypes.c_void_p),
                ("resume_state", ctypes.c_void_p),
                # continuous flows
                ("labels", _lib.c_int64_p), ("valid_labels", _lib.c_int64_p), ("source", _lib.c_real_p),
                ("source_rows", ctypes.c_int64), ("source_name", ctypes.c_char_p),
                ("nll_rows", ctypes.c_int64)] + _lib._RESERVE


class FitResult(ctypes.Structure):
    _fields_ = [("train_nll", ctypes.c_double), ("valid_nll", ctypes.c_double), ("train_loss", ctypes.c_double),
                ("valid_loss", ctypes.c_double), ("steps", ctypes.c_int64), ("epochs", ctypes.c_int64),
                ("best_epoch", ctypes.c_int64), ("stopped_early", ctypes.c_int), ("paused", ctypes.c_int),
                ("seconds", ctypes.c_double), ("train_rows", ctypes.c_int64), ("valid_rows", ctypes.c_int64),
                ("params", ctypes.c_int64), ("stage", ctypes.c_int), ("error", ctypes.c_char * 512)] + _lib._RESERVE


_P = ctypes.c_void_p
_DECLS = {
    "vf_fit_table_default_options": (FitTableOptions, []),
    "vf_fit_table": (ctypes.c_int, [ctypes.c_char_p, _lib.c_real_p, ctypes.c_int64, ctypes.c_int64, _lib.c_real_p,
                                    ctypes.c_int64, _lib.c_real_p, ctypes.c_int64, _lib.c_real_p,
                                    ctypes.POINTER(FitTableOptions), ctypes.POINTER(_P), ctypes.POINTER(FitResult)]),
    "vf_fitted_get_kind": (ctypes.c_int, [_P]),
    "vf_fitted_flow": (_P, [_P]),
    "vf_fitted_params": (_P, [_P]),
    "vf_fitted_meta_get": (ctypes.c_char_p, [_P, ctypes.c_char_p]),
    "vf_fitted_free": (None, [_P]),
}
HAVE_FIT = all(hasattr(lib, name) for name in _DECLS)
if hasattr(lib, "vf_fitted_save"):  # continuous flows come back through their model file
    lib.vf_fitted_save.restype = ctypes.c_int
    lib.vf_fitted_save.argtypes = [_P, ctypes.c_char_p]
if HAVE_FIT:
    for _name, (_res, _args) in _DECLS.items():
        getattr(lib, _name).restype = _res
        getattr(lib, _name).argtypes = _args
    _d = lib.vf_fit_table_default_options()
    if not (_d.fit.epochs == 100 and _d.fit.batch == 512 and _d.fit.lr == 1e-3 and _d.fit.clip == 5
            and _d.fit.warmup == -1 and _d.fit.patience == 10 and _d.fit.checkpoint_every == 1
            and _d.valid_fraction == 0.1 and _d.standardize == 1 and _d.nll_rows == 1000):
        raise ImportError("varflow: vf_fit_table_options of %s does not match this binding's; rebuild the library "
                          "from the same sources" % _lib.LIB_PATH)

# The metadata vf_fit_table records (vf_train.h), read back into Flow.info.
_FIT_KEYS = ("fit.spec", "fit.data", "fit.valid", "fit.seed", "fit.batch", "fit.lr", "varflow_version",
             "fit.standardize", "fit.dequantize", "fit.epochs", "fit.steps", "fit.train_nll", "fit.valid_nll")


def _nan_to_none(v):
    return None if math.isnan(v) else float(v)


def _cnf_through_file(fitted):
    """A fitted continuous flow as a ContinuousFlow: saved (vf_fitted_save) to a scratch file and
    loaded, so it carries its whole metadata (architecture and fit.*) as a loaded model does."""
    folder = tempfile.mkdtemp(prefix="varflow_fit_")
    try:
        path = os.path.join(folder, "model.safetensors").encode()
        _lib.check(lib.vf_fitted_save(fitted, path))
        return ContinuousFlow._load(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fit(x, model="nsf", valid=None, context=None, valid_context=None, labels=None, valid_labels=None, source=None,
        epochs=100, steps=0, batch=512, lr=1e-3, weight_decay=0.0, clip=5.0, warmup=-1, patience=10, seed=0,
        valid_fraction=0.1, standardize=True, dequantize=False, nll_rows=1000, log=None, checkpoint=None,
        name="array"):
    """Fit the model named by `model` to the rows of x [n, d] and return it (vf_fit_table: what
    `varflow fit` does, with the same defaults): a flow preset ("maf", "nsf:transforms=5,hidden=128x2",
    "realnvp", ...) fitted by maximum likelihood gives a Flow; a continuous-flow objective ("cfm",
    "otcfm:hidden=64x3", "sbcfm", "fm", "rf", "si", "meanflow") trained by flow matching gives a
    ContinuousFlow. Continuous flows also take labels [n] (ints 0..K-1: a class-conditional model;
    valid_labels [nv] with valid), source [m, d] (data-to-data transport from these rows) and
    nll_rows (rows whose exact NLL is reported at the end, d <= 16; 0: none).

    valid [nv, d]: validation rows (default: valid_fraction of x's rows held out by a seeded shuffle;
    valid_fraction=0: none, the last epoch's parameters are kept). context [n, c] (and valid_context
    [nv, c] with valid) fits a conditional flow. epochs (or steps > 0), batch, lr, weight_decay
    (AdamW), clip, warmup (-1: min(100, steps / 10)), patience (epochs without a better validation NLL;
    0: never stop early), seed (initialization, split, shuffling), standardize (the model's first
    step maps each column to (x - mean) / std), dequantize (integer data), log (a path: one JSON line
    per epoch), checkpoint (a path, written after every epoch), name (recorded as fit.data).

    The returned model's info holds the fit.* metadata `varflow fit` writes and its fit_result the
    summary (train_nll, valid_nll in nats per row, steps, epochs, best_epoch, stopped_early, seconds,
    train_rows, valid_rows, params; continuous flows also train_loss, valid_loss). A failure raises VarflowError with the library's message (and
    e.stage: "input", "spec", "standardize", "init", "train" or "log").

        m = varflow.fit(x, model="nsf:transforms=4", epochs=50, seed=1)
        m.fit_result["valid_nll"]           # 2.87...
    """
    if not HAVE_FIT:
        raise NotImplementedError("varflow.fit needs vf_fit_table, which %s lacks (build a newer library)"
                                  % _lib.LIB_PATH)
    if not isinstance(model, str):
        raise TypeError("model must be a spec string, not %s" % type(model).__name__)
    xs = _lib.as_rows(x, "x")
    n, d = xs.shape
    vs = None if valid is None else _lib.as_rows(valid, "valid", d, "dimension of x")
    cs = cv = None
    c = 0
    if context is not None:
        cs = _lib.as_rows(context, "context")
        c = cs.shape[1]
        if cs.shape[0] != n:
            raise ValueError("context has %d rows but x has %d" % (cs.shape[0], n))
        if vs is not None:
            if valid_context is None:
                raise ValueError("a conditional fit with valid= needs valid_context= [nv, %d]" % c)
            cv = _lib.as_rows(valid_context, "valid_context", c, "context width")
            if cv.shape[0] != vs.shape[0]:
                raise ValueError("valid_context has %d rows but valid has %d" % (cv.shape[0], vs.shape[0]))
    elif valid_context is not None:
        raise ValueError("valid_context without context")
    lab = vlab = src = None
    if labels is not None:
        lab = _lib.as_labels(labels, n)
        if vs is not None:
            if valid_labels is None:
                raise ValueError("a labelled fit with valid= needs valid_labels= [nv]")
            vlab = _lib.as_labels(valid_labels, vs.shape[0], "valid_labels")
    elif valid_labels is not None:
        raise ValueError("valid_labels without labels")
    if source is not None:
        src = _lib.as_rows(source, "source", d, "dimension of x")
    o = lib.vf_fit_table_default_options()
    f = o.fit
    f.epochs, f.steps, f.batch = _lib.count(epochs, "epochs"), _lib.count(steps, "steps"), _lib.count(batch, "batch")
    f.lr, f.weight_decay, f.clip = float(lr), float(weight_decay), float(clip)
    f.warmup, f.patience = int(warmup), _lib.count(patience, "patience")
    f.seed, f.dequantize = _lib.seed_value(seed), int(bool(dequantize))
    o.valid_fraction, o.standardize = float(valid_fraction), int(bool(standardize))
    o.valid_dim = d if vs is not None else 0
    o.labels, o.valid_labels = _lib.ptr(lab, ctypes.c_int64), _lib.ptr(vlab, ctypes.c_int64)
    if src is not None:
        o.source, o.source_rows = _lib.ptr(src, _lib.c_real), src.shape[0]
    o.nll_rows = _lib.count(nll_rows, "nll_rows")
    keep = [str(name).encode()]  # the strings must outlive the call
    o.data_name = keep[0]
    if vs is not None:
        keep.append(b"array")
        o.valid_name = keep[-1]
    if log is not None:
        keep.append(_lib.path_bytes(log, "log"))
        o.log_path = keep[-1]
    if checkpoint is not None:
        keep.append(_lib.path_bytes(checkpoint, "checkpoint"))
        o.checkpoint = keep[-1]
    out, r = ctypes.c_void_p(), FitResult()
    R = _lib.c_real
    status = lib.vf_fit_table(model.encode(), _lib.ptr(xs, R), n, d, _lib.ptr(cs, R), c, _lib.ptr(vs, R),
                              0 if vs is None else vs.shape[0], _lib.ptr(cv, R), ctypes.byref(o), ctypes.byref(out),
                              ctypes.byref(r))
    if status != 0:
        stages = ("none", "input", "spec", "standardize", "init", "train", "log")
        err = _lib.VarflowError(r.error.decode("utf-8", "replace") or _lib.last_error(),
                                lib.vf_status_name(status).decode())
        err.stage = stages[r.stage] if 0 <= r.stage < len(stages) else str(r.stage)
        raise err
    try:
        info = {}
        for key in _FIT_KEYS:
            v = lib.vf_fitted_meta_get(out, key.encode())
            if v is not None and key not in _FLOW_RESERVED:
                info[key] = v.decode("utf-8", "replace")
        kind = lib.vf_fitted_get_kind(out)
        if kind == 0:
            m = Flow(lib.vf_fitted_flow(out), lib.vf_fitted_params(out), info, owner=out)
        elif kind == 1 and hasattr(lib, "vf_fitted_save"):
            m = _cnf_through_file(out)
            lib.vf_fitted_free(out)  # the model lives on in m, loaded from the file
        else:
            raise _lib.VarflowError("vf_fit_table returned a kind of model (%d) this binding does not know" % kind)
    except BaseException:
        lib.vf_fitted_free(out)
        raise
    m.fit_result = {"train_nll": _nan_to_none(r.train_nll), "valid_nll": _nan_to_none(r.valid_nll),
                    "steps": r.steps, "epochs": r.epochs, "best_epoch": r.best_epoch,
                    "stopped_early": bool(r.stopped_early), "seconds": r.seconds, "train_rows": r.train_rows,
                    "valid_rows": r.valid_rows, "params": r.params}
    if not math.isnan(r.train_loss):  # continuous flows: the regression losses too
        m.fit_result.update(train_loss=float(r.train_loss), valid_loss=_nan_to_none(r.valid_loss))
    return m
