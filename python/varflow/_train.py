"""varflow.fit: fit a model to the rows of an array in one library call (vf_fit_table, vf_train.h),
as `varflow fit` does to a file."""

import ctypes
import math
import os
import shutil
import signal
import tempfile
import threading
import warnings

import numpy as np

from . import _lib
from ._lib import lib
from ._models import ContinuousFlow, Flow, _FLOW_RESERVED
from ._target import as_target


class FitOptions(ctypes.Structure):
    _fields_ = [("epochs", ctypes.c_int64), ("steps", ctypes.c_int64), ("batch", ctypes.c_int64),
                ("lr", ctypes.c_double), ("weight_decay", ctypes.c_double), ("clip", ctypes.c_double),
                ("warmup", ctypes.c_int64), ("patience", ctypes.c_int64), ("seed", ctypes.c_uint64),
                ("dequantize", ctypes.c_int), ("progress", ctypes.c_void_p), ("progress_ctx", ctypes.c_void_p),
                ("checkpoint", ctypes.c_void_p), ("checkpoint_ctx", ctypes.c_void_p),
                ("checkpoint_every", ctypes.c_int64), ("stop_after", ctypes.c_int64), ("resume", ctypes.c_void_p),
                ("rank", ctypes.c_int), ("ranks", ctypes.c_int), ("reduce", ctypes.c_void_p),
                ("reduce_ctx", ctypes.c_void_p), ("interrupt", ctypes.c_void_p)]


class FitTableOptions(ctypes.Structure):
    _fields_ = [("fit", FitOptions), ("valid_fraction", ctypes.c_double), ("standardize", ctypes.c_int),
                ("valid_dim", ctypes.c_int64), ("data_name", ctypes.c_char_p), ("valid_name", ctypes.c_char_p),
                ("log_path", ctypes.c_char_p), ("checkpoint", ctypes.c_char_p), ("resume", ctypes.c_void_p),
                ("resume_state", ctypes.c_void_p),
                # continuous flows
                ("labels", _lib.c_int64_p), ("valid_labels", _lib.c_int64_p), ("source", _lib.c_real_p),
                ("source_rows", ctypes.c_int64), ("source_name", ctypes.c_char_p),
                ("nll_rows", ctypes.c_int64), ("box_lo", ctypes.c_double), ("box_hi", ctypes.c_double),
                ("box_alpha", ctypes.c_double)] + _lib._RESERVE


class FitResult(ctypes.Structure):
    _fields_ = [("train_nll", ctypes.c_double), ("valid_nll", ctypes.c_double), ("train_loss", ctypes.c_double),
                ("valid_loss", ctypes.c_double), ("steps", ctypes.c_int64), ("epochs", ctypes.c_int64),
                ("best_epoch", ctypes.c_int64), ("stopped_early", ctypes.c_int), ("paused", ctypes.c_int),
                ("seconds", ctypes.c_double), ("train_rows", ctypes.c_int64), ("valid_rows", ctypes.c_int64),
                ("params", ctypes.c_int64), ("stage", ctypes.c_int), ("error", ctypes.c_char * 512)] + _lib._RESERVE


class ViOptions(ctypes.Structure):
    _fields_ = [("steps", ctypes.c_int64), ("batch", ctypes.c_int64), ("lr", ctypes.c_double),
                ("clip", ctypes.c_double), ("warmup", ctypes.c_int64), ("objective", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("progress", ctypes.c_void_p), ("progress_ctx", ctypes.c_void_p),
                ("log_every", ctypes.c_int64), ("checkpoint", ctypes.c_void_p), ("checkpoint_ctx", ctypes.c_void_p),
                ("checkpoint_every", ctypes.c_int64), ("stop_after", ctypes.c_int64), ("resume", ctypes.c_void_p),
                ("anneal", ctypes.c_int64), ("beta0", ctypes.c_double), ("patience", ctypes.c_int64),
                ("valid_every", ctypes.c_int64), ("valid_draws", ctypes.c_int64), ("interrupt", ctypes.c_void_p)]


class ViRunOptions(ctypes.Structure):
    _fields_ = [("vi", ViOptions), ("box", ctypes.c_double), ("is_samples", ctypes.c_int64),
                ("target_spec", ctypes.c_char_p), ("log_path", ctypes.c_char_p), ("checkpoint", ctypes.c_char_p),
                ("resume", ctypes.c_void_p), ("resume_state", ctypes.c_void_p), ("draws", _lib.c_real_p),
                ("log_weights", _lib.c_double_p)] + _lib._RESERVE


class ViSummary(ctypes.Structure):
    _fields_ = [("elbo", ctypes.c_double), ("elbo_stderr", ctypes.c_double), ("log_z", ctypes.c_double),
                ("log_z_stderr", ctypes.c_double), ("ess", ctypes.c_double), ("ess_fraction", ctypes.c_double),
                ("khat", ctypes.c_double), ("forward_ess_fraction", ctypes.c_double),
                ("log_z_true", ctypes.c_double), ("loss", ctypes.c_double), ("steps", ctypes.c_int64),
                ("paused", ctypes.c_int), ("seconds", ctypes.c_double), ("params", ctypes.c_int64),
                ("is_samples", ctypes.c_int64), ("box", ctypes.c_double), ("flow", ctypes.c_char * 256),
                ("stage", ctypes.c_int), ("error", ctypes.c_char * 512), ("valid_loss", ctypes.c_double),
                ("best_step", ctypes.c_int64), ("stopped_early", ctypes.c_int)] + _lib._RESERVE


class Progress(ctypes.Structure):
    _fields_ = [("epoch", ctypes.c_int64), ("epochs", ctypes.c_int64), ("step", ctypes.c_int64),
                ("steps", ctypes.c_int64), ("train_loss", ctypes.c_double), ("valid_loss", ctypes.c_double),
                ("steps_per_second", ctypes.c_double), ("eta_seconds", ctypes.c_double), ("done", ctypes.c_int)]


_PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(Progress))


class _ProgressRelay:
    """Hands the library's progress reports (vf_progress_fn) to a Python callable as dicts (fn may be
    None), and holds the library's interrupt flag (vf_fit_options.interrupt, vf_vi_options.interrupt):
    set, the loop ends after the current epoch or step with the model so far. A KeyboardInterrupt the
    callable raises sets it (and `interrupted`); another exception is kept (later reports are then
    skipped) and re-raised by the caller once the library returns: a C callback cannot unwind the
    training loop. The relay runs after every step, so Python's signal handlers run then too (see
    _CtrlC)."""

    def __init__(self, fn):
        if fn is not None and not callable(fn):
            raise TypeError("progress must be a callable or None, not %s" % type(fn).__name__)
        self.fn, self.error, self.interrupted = fn, None, False
        self.flag = ctypes.c_int(0)  # sig_atomic_t
        self.c = _PROGRESS_FN(self._call)  # kept alive with the relay for the whole library call

    def _call(self, ctx, p):
        try:
            if self.error is not None or self.fn is None:
                return
            q = p.contents
            self.fn({"epoch": int(q.epoch), "epochs": int(q.epochs), "step": int(q.step), "steps": int(q.steps),
                     "train_loss": _nan_to_none(q.train_loss), "valid_loss": _nan_to_none(q.valid_loss),
                     "steps_per_second": _nan_to_none(q.steps_per_second),
                     "eta_seconds": _nan_to_none(q.eta_seconds), "done": int(q.done)})
        except KeyboardInterrupt:
            self.interrupted = True
            self.flag.value = 1
        except BaseException as e:  # noqa: B902 -- re-raised after the library call
            self.error = e

    def attach(self, options):
        options.progress = ctypes.cast(self.c, ctypes.c_void_p)
        options.interrupt = ctypes.cast(ctypes.pointer(self.flag), ctypes.c_void_p)


class _CtrlC:
    """During a training call: Ctrl-C sets the relay's interrupt flag instead of raising
    KeyboardInterrupt (which Python would raise inside the relay, where ctypes can only print and drop
    it). Only in the main thread and over Python's default SIGINT handler; the handler is put back
    after the call."""

    def __init__(self, relay):
        self.relay, self.old = relay, None

    def _on_sigint(self, signum, frame):
        self.relay.interrupted = True
        self.relay.flag.value = 1

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.old = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


def _attach_progress(options, progress):
    """A relay attached to options (a vf_fit_options or vf_vi_options), with or without progress."""
    relay = _ProgressRelay(progress)
    relay.attach(options)
    return relay


def _interrupt_outcome(relay, paused, status, out):
    """After a training call: True when the interrupt flag ended the run early (paused == 2: the caller
    returns the model so far, and a warning says so), False when no Ctrl-C came. A Ctrl-C that came
    after the loop's last look at the flag (in VI's importance sampling, the final NLLs) is raised
    now, as KeyboardInterrupt, after the result is freed."""
    if paused == 2:
        return True
    if relay.interrupted:
        if status == 0:
            lib.vf_fitted_free(out)
        raise KeyboardInterrupt
    return False


def _warn_interrupted(what, interrupted):
    if interrupted:
        warnings.warn("varflow.%s: interrupted (KeyboardInterrupt): the run ended early and the model so far "
                      "is returned (%s_result['interrupted'] is True)" % (what, what), RuntimeWarning, stacklevel=3)
    return interrupted


def _nan_to_none(v):
    return None if math.isnan(v) else float(v)


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
HAVE_FIT = _lib.declare(_DECLS, required=False)
if HAVE_FIT:
    _d = lib.vf_fit_table_default_options()
    if not (_d.fit.epochs == 100 and _d.fit.batch == 512 and _d.fit.lr == 1e-3 and _d.fit.clip == 5
            and _d.fit.warmup == -1 and _d.fit.patience == 10 and _d.fit.checkpoint_every == 1
            and _d.fit.rank == 0 and _d.fit.ranks == 1
            and _d.valid_fraction == 0.1 and _d.standardize == 1 and _d.nll_rows == 1000
            and _d.box_lo == 0 and _d.box_hi == 0 and _d.box_alpha == 1e-6):
        raise _lib.layout_error("vf_fit_table_options")
_lib.declare({"vf_fitted_save": (ctypes.c_int, [_P, ctypes.c_char_p])}, required=False)  # continuous flows
_VI_DECLS = {
    "vf_vi_run_default_options": (ViRunOptions, []),
    "vf_vi_run": (ctypes.c_int, [ctypes.POINTER(_lib.TargetStruct), ctypes.c_char_p, ctypes.POINTER(ViRunOptions),
                                 ctypes.POINTER(_P), ctypes.POINTER(ViSummary)]),
    "vf_vi_objective_from_name": (ctypes.c_int, [ctypes.c_char_p]),
}
HAVE_VI = HAVE_FIT and _lib.declare(_VI_DECLS, required=False)
if HAVE_VI:
    _v = lib.vf_vi_run_default_options()
    if not (_v.vi.steps == 2000 and _v.vi.batch == 256 and _v.vi.lr == 1e-3 and _v.vi.clip == 5
            and _v.vi.warmup == -1 and _v.vi.log_every == 10 and _v.vi.checkpoint_every == 100 and _v.box == -1
            and _v.is_samples == 10000 and _v.vi.patience == 0 and _v.vi.valid_every == 100
            and _v.vi.valid_draws == 4096):
        raise _lib.layout_error("vf_vi_run_options")

# The metadata vf_fit_table and vf_vi_run record (vf_train.h), read back into Flow.info.
_FIT_KEYS = ("fit.spec", "fit.data", "fit.valid", "fit.seed", "fit.batch", "fit.lr", "varflow_version",
             "fit.standardize", "fit.dequantize", "fit.epochs", "fit.steps", "fit.train_nll", "fit.valid_nll")
_VI_KEYS = ("vi.target", "vi.flow", "vi.objective", "vi.seed", "vi.batch", "vi.lr", "vi.box", "vi.steps",
            "varflow_version", "vi.elbo", "vi.log_z", "vi.log_z_stderr", "vi.ess_fraction", "vi.khat",
            "vi.steps_done", "vi.loss", "vi.anneal", "vi.beta0", "vi.patience", "vi.valid_every",
            "vi.valid_draws", "vi.valid_loss", "vi.best_step")
_STAGES = ("none", "input", "spec", "standardize", "init", "train", "log", "estimate")


def _failure(status, error, stage):
    err = _lib.VarflowError(error.decode("utf-8", "replace") or _lib.last_error(), lib.vf_status_name(status).decode())
    err.stage = _STAGES[stage] if 0 <= stage < len(_STAGES) else str(stage)
    return err


def _set_files(o, log, checkpoint):
    """The options' log and checkpoint paths (a bytes value set on a ctypes struct stays alive with it)."""
    if log is not None:
        o.log_path = _lib.path_bytes(log, "log")
    if checkpoint is not None:
        o.checkpoint = _lib.path_bytes(checkpoint, "checkpoint")


def _flow_of(fitted, keys):
    """A Flow owning the vf_fitted handle, with the metadata keys it has."""
    info = {}
    for key in keys:
        v = lib.vf_fitted_meta_get(fitted, key.encode())
        if v is not None and key not in _FLOW_RESERVED:
            info[key] = v.decode("utf-8", "replace")
    return Flow(lib.vf_fitted_flow(fitted), lib.vf_fitted_params(fitted), info, owner=fitted)


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
        name="array", progress=None, box=None, box_alpha=1e-6):
    """Fit the model named by `model` to the rows of x [n, d] and return it (vf_fit_table: what
    `varflow fit` does, with the same defaults): a flow preset ("maf", "nsf:transforms=5,hidden=128x2",
    "realnvp", ...) fitted by maximum likelihood gives a Flow; a continuous-flow objective ("cfm",
    "otcfm:hidden=64x3", "sbcfm", "fm", "rf", "si", "meanflow") trained by flow matching gives a
    ContinuousFlow. Continuous flows also take labels [n] (ints 0..K-1: a class-conditional model;
    valid_labels [nv] with valid), source [m, d] (data-to-data transport from these rows),
    nll_rows (rows whose exact NLL is reported at the end, d <= 16; 0: none). box=(lo, hi), for
    flows and continuous flows: every value lies in [lo, hi] and the model works on the logits
    (`varflow fit --box`, with box_alpha).

    valid [nv, d]: validation rows (default: valid_fraction of x's rows held out by a seeded shuffle;
    valid_fraction=0: none, the last epoch's parameters are kept). context [n, c] (and valid_context
    [nv, c] with valid) fits a conditional flow. epochs (or steps > 0), batch, lr, weight_decay
    (AdamW), clip, warmup (-1: min(100, steps / 10)), patience (epochs without a better validation NLL;
    0: never stop early), seed (initialization, split, shuffling), standardize (the model's first
    step maps each column to (x - mean) / std), dequantize (integer data), log (a path: one JSON line
    per epoch), checkpoint (a path, written after every epoch; flows and continuous flows alike), name
    (recorded as fit.data). progress: a callable given a dict after every optimizer step, after each
    epoch's validation and once at the end (epoch, epochs, step, steps, train_loss, valid_loss,
    steps_per_second, eta_seconds; done 0 while training, 1 at the end, -1 after a failure); an
    exception it raises is re-raised when the fit returns (the fit itself runs to its end, and later
    reports are skipped). Ctrl-C (KeyboardInterrupt) during the fit ends it after the current epoch,
    as `varflow fit` does: the model so far is returned, with fit_result["interrupted"] True and a
    RuntimeWarning (the checkpoint, if any, continues it).

    The returned model's info holds the fit.* metadata `varflow fit` writes and its fit_result the
    summary (train_nll, valid_nll in nats per row, steps, epochs, best_epoch, stopped_early, seconds,
    train_rows, valid_rows, params, interrupted; continuous flows also train_loss, valid_loss). A failure raises VarflowError with the library's message (and
    e.stage: "input", "spec", "standardize", "init", "train" or "log").

        m = varflow.fit(x, model="nsf:transforms=4", epochs=50, seed=1)
        m.fit_result["valid_nll"]           # 2.87...
    """
    if not HAVE_FIT:
        raise NotImplementedError("varflow.fit needs vf_fit_table, which %s lacks (build a newer library)"
                                  % _lib.LIB_PATH)
    if not isinstance(model, str):
        raise TypeError("model must be a spec string, not %s" % type(model).__name__)
    cmodel = _lib.cstr(model, "model")
    xs = _lib.finite_rows(_lib.as_rows(x, "x"), "x")
    n, d = xs.shape
    vs = None if valid is None else _lib.finite_rows(_lib.as_rows(valid, "valid", d, "dimension of x"), "valid")
    cs = cv = None
    c = 0
    if context is not None:
        cs = _lib.finite_rows(_lib.as_rows(context, "context"), "context")
        c = cs.shape[1]
        if cs.shape[0] != n:
            raise ValueError("context has %d rows but x has %d" % (cs.shape[0], n))
        if vs is not None:
            if valid_context is None:
                raise ValueError("a conditional fit with valid= needs valid_context= [nv, %d]" % c)
            cv = _lib.finite_rows(_lib.as_rows(valid_context, "valid_context", c, "context width"), "valid_context")
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
        src = _lib.finite_rows(_lib.as_rows(source, "source", d, "dimension of x"), "source")
    o = lib.vf_fit_table_default_options()
    f = o.fit
    f.epochs, f.steps = _lib.count(epochs, "epochs", lo=1), _lib.count(steps, "steps")
    f.batch = _lib.count(batch, "batch", lo=1)
    f.lr = _lib.real(lr, "lr", lo=0, lo_open=True)
    f.weight_decay = _lib.real(weight_decay, "weight_decay", lo=0)
    f.clip = _lib.real(clip, "clip", lo=0, lo_open=True)
    f.warmup = _lib.integer(warmup, "warmup (-1: automatic)", lo=-1)
    f.patience = _lib.count(patience, "patience")
    f.seed, f.dequantize = _lib.seed_value(seed), int(bool(dequantize))
    o.valid_fraction = _lib.real(valid_fraction, "valid_fraction", lo=0, hi=1, hi_open=True)
    o.standardize = int(bool(standardize))
    o.valid_dim = d if vs is not None else 0
    o.labels, o.valid_labels = _lib.ptr(lab, ctypes.c_int64), _lib.ptr(vlab, ctypes.c_int64)
    if src is not None:
        o.source, o.source_rows = _lib.ptr(src, _lib.c_real), src.shape[0]
    o.nll_rows = _lib.count(nll_rows, "nll_rows")
    if box is not None:
        try:
            lo, hi = box
        except (TypeError, ValueError):
            raise ValueError("box must be a pair (lo, hi) of numbers, not %r" % (box,)) from None
        o.box_lo, o.box_hi = _lib.real(lo, "box's lo"), _lib.real(hi, "box's hi")
        if not o.box_lo < o.box_hi:
            raise ValueError("box: need lo < hi (got %r)" % (box,))
        o.box_alpha = _lib.real(box_alpha, "box_alpha", lo=0, hi=0.5, hi_open=True)
    o.data_name = _lib.cstr(str(name), "name")
    if vs is not None:
        o.valid_name = b"array"
    _set_files(o, log, checkpoint)
    relay = _attach_progress(o.fit, progress)
    out, r = ctypes.c_void_p(), FitResult()
    R = _lib.c_real
    with _CtrlC(relay):
        status = lib.vf_fit_table(cmodel, _lib.ptr(xs, R), n, d, _lib.ptr(cs, R), c, _lib.ptr(vs, R),
                                  0 if vs is None else vs.shape[0], _lib.ptr(cv, R), ctypes.byref(o),
                                  ctypes.byref(out), ctypes.byref(r))
    if relay.error is not None:
        if status == 0:
            lib.vf_fitted_free(out)
        raise relay.error
    interrupted = _interrupt_outcome(relay, r.paused if status == 0 else 0, status, out)
    if status != 0:
        raise _failure(status, r.error, r.stage)
    try:
        kind = lib.vf_fitted_get_kind(out)
        if kind == 0:
            m = _flow_of(out, _FIT_KEYS)
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
                    "valid_rows": r.valid_rows, "params": r.params,
                    "interrupted": _warn_interrupted("fit", interrupted)}
    if not math.isnan(r.train_loss):  # continuous flows: the regression losses too
        m.fit_result.update(train_loss=float(r.train_loss), valid_loss=_nan_to_none(r.valid_loss))
    return m


def vi(target, flow=None, dim=None, objective="rkl", steps=2000, batch=256, lr=1e-3, clip=5.0, warmup=-1, seed=0,
       box=None, is_samples=10000, keep_draws=False, log=None, checkpoint=None, anneal=0, beta0=0.01, progress=None,
       patience=0, valid_every=100, valid_draws=4096):
    """Fit a flow q to the unnormalized density of target by reverse KL and summarize it by
    importance sampling (vf_vi_run: what `varflow vi` does, with the same defaults), returning the
    Flow.

    target: a spec string ("u1", "funnel:d=10", "plugin:./t.so:arg"), a Target, or a Python callable
    f(x) -> (logp, grad) with dim= its dimension (see Target; an exception it raises stops the run and
    is re-raised here). flow: a flow preset spec (default the CLI's: nsf_coupling with 8 transforms,
    or nsf in 1-D). objective: "rkl" (reparameterization gradient), "path" (sticking the landing),
    "fkl" (forward KL by self-normalized weights), "chi2" (the chi^2 divergence) or "fab" (flow
    annealed importance sampling bootstrap, where the library has it). anneal: > 0 multiplies log p
    by a temperature rising linearly from beta0 to 1 over the first anneal steps.
    steps, batch (draws per step), lr, clip, warmup (-1: min(100, steps / 10)), seed. box: a scaled
    tanh last in the sampling direction so draws lie in (-box, box)^d (None: the CLI's default, 4 for
    u2..u4, else none; 0: none). is_samples: draws for the estimates; keep_draws=True also keeps them
    (vi_result["draws"] [is_samples, d], ["log_weights"] [is_samples]). log: a path for JSON lines;
    checkpoint: a path written every 100 steps. progress: a callable given a dict after every step, as
    for fit (epoch and epochs are 0, train_loss the step's loss). patience: > 0 validates every
    valid_every steps (after the annealing) by the objective's loss at the same valid_draws draws of q,
    stops after patience validations without a lower loss and keeps the best parameters (0: none).
    Ctrl-C (KeyboardInterrupt) ends the run after the current step, as for fit (vi_result["interrupted"]).

    The model's vi_result holds elbo, elbo_stderr, log_z, log_z_stderr, ess, ess_fraction, khat (PSIS;
    above 0.7 the estimates are unreliable), forward_ess_fraction (targets with exact draws),
    log_z_true (when known), loss, valid_loss and best_step (with patience; else None), stopped_early,
    interrupted, steps, seconds, params, is_samples, box and flow; its info the vi.* metadata. VarflowError (with e.stage) on failure.

        m = varflow.vi("funnel:d=5", steps=500, seed=1)
        m.vi_result["log_z"], m.vi_result["log_z_true"]
    """
    if not HAVE_VI:
        raise NotImplementedError("varflow.vi needs vf_vi_run, which %s lacks (build a newer library)" % _lib.LIB_PATH)
    if flow is not None and not isinstance(flow, str):
        raise TypeError("flow must be a spec string or None, not %s" % type(flow).__name__)
    cflow = None if flow is None else _lib.cstr(flow, "flow")
    if not isinstance(objective, str) or lib.vf_vi_objective_from_name(_lib.cstr(objective, "objective")) < 0:
        raise ValueError("unknown objective %r (rkl, path, fkl, chi2, fab)" % (objective,))
    o = lib.vf_vi_run_default_options()
    v = o.vi
    v.steps, v.batch = _lib.count(steps, "steps", lo=1), _lib.count(batch, "batch", lo=1)
    v.lr = _lib.real(lr, "lr", lo=0, lo_open=True)
    v.clip = _lib.real(clip, "clip", lo=0, lo_open=True)
    v.warmup = _lib.integer(warmup, "warmup (-1: automatic)", lo=-1)
    v.objective = lib.vf_vi_objective_from_name(_lib.cstr(objective, "objective"))
    v.seed = _lib.seed_value(seed)
    v.anneal = _lib.count(anneal, "anneal")
    v.beta0 = _lib.real(beta0, "beta0", lo=0, hi=1, lo_open=True)
    v.patience = _lib.count(patience, "patience")
    v.valid_every = _lib.count(valid_every, "valid_every", lo=1)
    v.valid_draws = _lib.count(valid_draws, "valid_draws", lo=2)
    if box is not None:
        o.box = _lib.real(box, "box (0: none; None: the default)", lo=0)
    o.is_samples = _lib.count(is_samples, "is_samples", lo=2)
    t = as_target(target, dim=dim)
    if t.spec:
        o.target_spec = t._spec_bytes
    _set_files(o, log, checkpoint)
    draws = logw = None
    if keep_draws:
        draws = np.empty((o.is_samples, t.dim), dtype=_lib.REAL)
        logw = np.empty(o.is_samples)
        o.draws, o.log_weights = _lib.ptr(draws, _lib.c_real), _lib.ptr(logw, ctypes.c_double)
    relay = _attach_progress(o.vi, progress)
    out, sm = ctypes.c_void_p(), ViSummary()
    call = t._begin()
    status = -1
    try:
        with _CtrlC(relay):
            status = lib.vf_vi_run(call.ptr, cflow, ctypes.byref(o), ctypes.byref(out), ctypes.byref(sm))
    finally:
        try:
            call.finish(0)  # the callable's own exception first
            if relay.error is not None:
                raise relay.error
        except BaseException:
            if status == 0:
                lib.vf_fitted_free(out)
            raise
    interrupted = _interrupt_outcome(relay, sm.paused if status == 0 else 0, status, out)
    if status != 0:
        raise _failure(status, sm.error, sm.stage)
    try:
        m = _flow_of(out, _VI_KEYS)
    except BaseException:
        lib.vf_fitted_free(out)
        raise
    m.vi_result = {"elbo": float(sm.elbo), "elbo_stderr": _nan_to_none(sm.elbo_stderr), "log_z": float(sm.log_z),
                   "log_z_stderr": _nan_to_none(sm.log_z_stderr), "ess": float(sm.ess),
                   "ess_fraction": float(sm.ess_fraction), "khat": _nan_to_none(sm.khat),
                   "forward_ess_fraction": _nan_to_none(sm.forward_ess_fraction),
                   "log_z_true": _nan_to_none(sm.log_z_true), "loss": float(sm.loss), "steps": int(sm.steps),
                   "seconds": float(sm.seconds), "params": int(sm.params), "is_samples": int(sm.is_samples),
                   "box": float(sm.box), "flow": sm.flow.decode("utf-8", "replace"),
                   "valid_loss": _nan_to_none(sm.valid_loss), "best_step": int(sm.best_step) or None,
                   "stopped_early": bool(sm.stopped_early),
                   "interrupted": _warn_interrupted("vi", interrupted)}
    if keep_draws:
        m.vi_result.update(draws=draws, log_weights=logw)
    return m
