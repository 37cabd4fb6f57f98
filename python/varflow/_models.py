"""Model files: normalizing flows (vf_model.h, vf_eval.h) and continuous flows (vf_cnf_model.h)."""

import copy
import ctypes
import json
import os
import shutil
import tempfile

import numpy as np

from . import _lib
from ._lib import lib

_FLOW_RESERVED = ("format", "format_version", "flow")
_CNF_RESERVED = ("format", "format_version", "cnf")


def _file_metadata(path):
    """Every metadata key of a safetensors file, in file order, as strings."""
    f = ctypes.c_void_p()
    _lib.check(lib.vf_st_open(path, ctypes.byref(f)))
    try:
        out = {}
        for i in range(lib.vf_st_meta_count(f)):
            key = lib.vf_st_meta_key(f, i)
            out[key.decode("utf-8", "replace")] = lib.vf_st_meta(f, key).decode("utf-8", "replace")
        return out
    finally:
        lib.vf_st_close(f)


def _meta_dict(meta):
    out = {}
    for i in range(meta.n):
        out[meta.keys[i].decode("utf-8", "replace")] = meta.values[i].decode("utf-8", "replace")
    return out


def _extra_arrays(info, reserved):
    items = [(_lib.cstr(k, "info key %r" % k), _lib.cstr(v, "info[%r]" % k)) for k, v in info.items()
             if k not in reserved]
    keys = (ctypes.c_char_p * max(len(items), 1))(*[k for k, _ in items])
    values = (ctypes.c_char_p * max(len(items), 1))(*[v for _, v in items])
    return len(items), keys, values


def _check_info(info):
    if not isinstance(info, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in info.items()):
        raise TypeError("info must be a dict of str to str")


class _Scratch:
    """A scratch folder holding one model file name (path, bytes), removed on exit."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="varflow_")
        return os.fsencode(os.path.join(self.dir, "model.safetensors"))

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def _model_from_bytes(data, state):
    """pickle's way back: the model file's bytes loaded as a model, then its Python attributes."""
    with _Scratch() as path:
        with open(path, "wb") as f:
            f.write(data)
        m = load(path)
    m.__dict__.update(state)
    return m


class _Model:
    """What flows and continuous flows share: metadata, the file they came from, the lifetime of the
    library handle (calls in flight keep it alive; close() waits for them), copies and pickling."""

    info = None  # dict str -> str: the model file's metadata
    _HANDLES = ("_flow", "_params", "_owner", "_model", "_life")

    @property
    def architecture(self):
        """The architecture recorded in the file's metadata ("flow" or "cnf" key), parsed from JSON;
        None for a model not loaded from a file."""
        text = self.info.get(self._arch_key) if self.info else None
        return json.loads(text) if text else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def close(self):
        """Free the model now (also done when it is garbage collected). Calls in flight on other
        threads finish first; later calls raise ValueError("the model was closed")."""
        life = self.__dict__.get("_life")
        if life is not None:
            life.close(self._free)

    # Copies are independent models: the file the binding's save() writes, loaded again (parameters,
    # architecture, metadata), with the Python attributes (info, fit_result, vi_result, ...) copied.
    def _attributes(self, memo=None):
        state = {k: v for k, v in self.__dict__.items() if k not in self._HANDLES}
        if memo is None:
            return {k: copy.copy(v) for k, v in state.items()}
        return copy.deepcopy(state, memo)

    def _duplicate(self, memo):
        with _Scratch() as path:
            with self._life:
                self._write(path)
            m = type(self)._load(path)
        m.__dict__.update(self._attributes(memo))
        return m

    def __copy__(self):
        return self._duplicate(None)

    def __deepcopy__(self, memo):
        return self._duplicate(memo)

    def __reduce__(self):
        with _Scratch() as path:
            with self._life:
                self._write(path)
            with open(path, "rb") as f:
                data = f.read()
        return _model_from_bytes, (data, self._attributes({}))


class Flow(_Model):
    """A normalizing flow (a varflow.flow model file): exact log-densities and samples.

        m = varflow.load("moons.safetensors")
        lp = m.log_prob(x)                      # x [n, m.dim] -> [n]
        s = m.sample(1000, seed=1)              # [1000, m.dim]
        m.save("copy.safetensors")              # the same file contents (parameters and metadata)

    Conditional flows (m.context_dim > 0) take context=[n, c] or one row [1, c] used for every row.
    Arrays come back in the library's scalar type (varflow.real_dtype).
    """

    _arch_key = "flow"

    fit_result = None  # varflow.fit: the training summary
    vi_result = None  # varflow.vi: the importance-sampling summary

    def __init__(self, _flow, _params, info, owner=None):
        self._flow, self._params = _flow, _params
        self._owner = owner  # a vf_fitted handle that owns flow and params (varflow.fit), or None
        self._life = _lib.Lifetime("model")
        self.info = info

    @classmethod
    def new(cls, spec, dim, context=0, seed=0):
        """An untrained flow from a preset spec ("maf", "nsf:transforms=5,hidden=128x2", "planar", ...;
        `varflow fit --help` lists them) for data of dimension dim and context width context,
        parameters initialized from seed (vf_flow_from_spec)."""
        dim, context = _lib.count(dim, "dim", lo=1), _lib.count(context, "context")
        seed = _lib.seed_value(seed)
        if not isinstance(spec, str):
            raise TypeError("spec must be a str, not %s" % type(spec).__name__)
        cspec = _lib.cstr(spec, "spec")
        p = lib.vf_params_new()
        if not p:
            raise MemoryError("varflow: out of memory")
        f = ctypes.c_void_p()
        try:
            _lib.check(lib.vf_flow_from_spec(cspec, dim, context, p, ctypes.byref(f)))
            _lib.check(lib.vf_params_finalize(p, seed))
        except BaseException:
            lib.vf_flow_free(f)
            lib.vf_params_free(p)
            raise
        return cls(f, ctypes.c_void_p(p), {})

    @classmethod
    def _load(cls, path):
        p, f, meta = ctypes.c_void_p(), ctypes.c_void_p(), _lib.ModelMeta()
        _lib.check(lib.vf_flow_load(path, ctypes.byref(p), ctypes.byref(f), ctypes.byref(meta)))
        lib.vf_model_meta_free(ctypes.byref(meta))
        try:
            info = _file_metadata(path)
        except BaseException:
            lib.vf_flow_free(f)
            lib.vf_params_free(p)
            raise
        return cls(f, p, info)

    @property
    def dim(self):
        """The data dimension d."""
        with self._life:
            return int(lib.vf_flow_dim(self._flow))

    @property
    def context_dim(self):
        """The context width c (0: not conditional)."""
        with self._life:
            return int(lib.vf_flow_context_dim(self._flow))

    @property
    def n_params(self):
        """Number of scalar parameters."""
        with self._life:
            return int(lib.vf_params_size(self._params))

    def __call__(self, context=None):
        """zuko's shape: m(c) is the distribution of x given the context c (one row [c] or [1, c], or
        n rows), with log_prob(x) and sample(n, seed=0)."""
        return _Conditioned(self, context)

    def get_params(self):
        """A copy of every parameter in one flat array [n_params] (the store's order: the file's
        tensors by registration)."""
        with self._life:
            n = self.n_params
            return np.ctypeslib.as_array(lib.vf_params_values(self._params), shape=(n,)).copy()

    def set_params(self, values):
        """Overwrite every parameter from a flat array [n_params] (e.g. get_params() changed)."""
        with self._life:
            v = _lib.as_vector(values, "values", self.n_params, _lib.REAL)
            if not np.all(np.isfinite(v)):
                raise ValueError("values must be finite")
            np.ctypeslib.as_array(lib.vf_params_values(self._params), shape=(v.shape[0],))[:] = v

    def _context(self, context, n):
        c = self.context_dim
        if c == 0:
            if context is not None:
                raise ValueError("the model is not conditional: context must be None")
            return None, 0
        if context is None:
            raise ValueError("the model is conditional (context width %d): pass context=[n, %d] or [1, %d]"
                             % (c, c, c))
        a = np.asarray(context)
        if a.ndim == 1:
            a = a.reshape(1, -1)
        ctx = _lib.as_rows(a, "context", c, "model's context width")
        if ctx.shape[0] not in (1, n):
            raise ValueError("context has %d rows: give one row (used for every row) or %d" % (ctx.shape[0], n))
        return ctx, ctx.shape[0]

    def log_prob(self, x, context=None):
        """log p(x | context) of each row of x [n, dim] -> [n] (vf_flow_log_prob_rows). A non-finite
        result raises VarflowError (VF_ERR_NUMERIC) naming the first such row; -inf (outside the
        support of a bounded base) is a valid value."""
        with self._life:
            x = _lib.as_rows(x, "x", self.dim, "model's dimension")
            n = x.shape[0]
            ctx, rows = self._context(context, n)
            out = np.empty(n, dtype=_lib.REAL)
            if n:
                _lib.check(lib.vf_flow_log_prob_rows(self._flow, self._params, None, n, _lib.ptr(x, _lib.c_real),
                                                     _lib.ptr(ctx, _lib.c_real), rows, _lib.ptr(out, _lib.c_real)))
            return out

    def sample(self, n, seed=0, context=None, return_log_prob=False):
        """n samples [n, dim] drawn with the generator seeded by seed (the same as `varflow sample
        --seed`: the same model, n and seed give the same rows). With return_log_prob, also their
        log-densities [n] from the same pass: (x, log_prob)."""
        n = _lib.count(n)
        r = _lib.rng(seed)
        with self._life:
            ctx, rows = self._context(context, n)
            x = np.empty((n, self.dim), dtype=_lib.REAL)
            lp = np.empty(n, dtype=_lib.REAL) if return_log_prob else None
            if n:
                _lib.check(lib.vf_flow_sample_rows(self._flow, self._params, None, n, _lib.ptr(ctx, _lib.c_real), rows,
                                                   ctypes.byref(r), _lib.ptr(x, _lib.c_real),
                                                   _lib.ptr(lp, _lib.c_real)))
        return (x, lp) if return_log_prob else x

    def _map(self, fn, x, name, context):
        with self._life:
            x = _lib.as_rows(x, name, self.dim, "model's dimension")
            n = x.shape[0]
            ctx, rows = self._context(context, n)
            out, ladj = np.empty_like(x), np.empty(n, dtype=_lib.REAL)
            if n:
                _lib.check(fn(self._flow, self._params, None, n, _lib.ptr(x, _lib.c_real), _lib.ptr(ctx, _lib.c_real),
                              rows, _lib.ptr(out, _lib.c_real), _lib.ptr(ladj, _lib.c_real)))
            return out, ladj

    def forward(self, x, context=None):
        """Data to latent: (z [n, dim], log|det dz/dx| [n]) for the rows x [n, dim]
        (vf_flow_forward_rows); log_prob(x) = base log-density of z + the log-determinant."""
        return self._map(lib.vf_flow_forward_rows, x, "x", context)

    def inverse(self, z, context=None):
        """Latent to data: (x [n, dim], log|det dx/dz| [n]) for the rows z [n, dim]
        (vf_flow_inverse_rows)."""
        return self._map(lib.vf_flow_inverse_rows, z, "z", context)

    def save(self, path, info=None):
        """Write the model file atomically (vf_flow_save). The metadata keys of self.info other than
        the reserved "format", "format_version" and "flow" are kept; info (dict str -> str) replaces
        them when given. The file loads in C (vf_flow_load), the CLI and here."""
        path = _lib.path_bytes(path)
        with self._life:
            self._write(path, info)
            self.info = _file_metadata(path)

    def _write(self, path, info=None):
        extra = self.info if info is None else info
        _check_info(extra)
        n, keys, values = _extra_arrays(extra, _FLOW_RESERVED)
        _lib.check(lib.vf_flow_save(self._flow, self._params, path, n, keys, values))

    def _free(self):
        if self._owner:
            lib.vf_fitted_free(self._owner)
            self._owner = self._flow = self._params = None
        if self._flow:
            lib.vf_flow_free(self._flow)
            self._flow = None
        if self._params:
            lib.vf_params_free(self._params)
            self._params = None

    def __repr__(self):
        if self._life.closed:
            return "Flow(closed)"
        return "Flow(dim=%d, context_dim=%d, params=%d)" % (self.dim, self.context_dim, self.n_params)


class _Conditioned:
    """A Flow with its context fixed: Flow.__call__."""

    def __init__(self, flow, context):
        self.flow, self.context = flow, context

    def log_prob(self, x):
        return self.flow.log_prob(x, context=self.context)

    def sample(self, n, seed=0, return_log_prob=False):
        return self.flow.sample(n, seed=seed, context=self.context, return_log_prob=return_log_prob)


class ContinuousFlow(_Model):
    """A continuous flow (a varflow.cnf model file: flow matching, OT-CFM, rectified flow, MeanFlow,
    ...): samples by solving the ODE (or SDE) from the source, log-densities by solving it back with
    the divergence integrated along.

        m = varflow.load("moons_cfm.safetensors")
        s = m.sample(1000, seed=1, solver="rk4", steps=100)
        lp = m.log_prob(x, steps=100)           # exact divergence by default; hutchinson=K probes

    Class-conditional models (m.classes > 0) take labels= one int or [n] ints (and guidance= w for
    classifier-free guidance); models trained from data (m.source == "data") take source= rows to
    transport and have no log-density.
    """

    _arch_key = "cnf"

    def __init__(self, _model, info):
        self._model = _model
        self._life = _lib.Lifetime("model")
        self.info = info
        self.last_nfe = None
        arch = self.architecture
        self._dim = int(arch["dim"])
        self.objective = arch.get("objective")
        self.classes = int(arch.get("field", {}).get("classes", 0))
        self.source = arch.get("source", {}).get("kind", "gaussian")
        self.has_score = bool(arch.get("score", 0))

    @classmethod
    def _load(cls, path):
        m = ctypes.c_void_p()
        _lib.check(lib.vf_cnf_model_load(path, ctypes.byref(m), None))
        try:
            return cls(m, _file_metadata(path))
        except BaseException:
            lib.vf_cnf_model_free(m)
            raise

    @property
    def dim(self):
        """The data dimension d."""
        return self._dim

    @property
    def n_params(self):
        """Number of scalar parameters (the field and, when present, the score field)."""
        with self._life:
            return int(lib.vf_cnf_model_param_count(self._model))

    def _options(self, solver, steps, rtol, atol, guidance, sigma=0.0, hutchinson=0, seed=0, sampling=False):
        o = lib.vf_cnf_sample_default_options()
        if sampling:  # a distilled model records its sampler; MeanFlow defaults to one jump (as the CLI)
            rec_solver, rec_steps = self.info.get("sample.solver"), self.info.get("sample.steps")
            if solver is None and rec_solver and lib.vf_solver_from_name(rec_solver.encode()) >= 0 \
                    and not lib.vf_solver_is_stochastic(lib.vf_solver_from_name(rec_solver.encode())):
                solver = rec_solver
            if steps is None and rec_steps and rec_steps.isdigit() and int(rec_steps) >= 1:
                steps = int(rec_steps)
            if steps is None and self.objective == "meanflow":
                steps = 1
        if solver is not None:
            if not isinstance(solver, str):
                raise TypeError("solver must be a str, not %s" % type(solver).__name__)
            k = lib.vf_solver_from_name(_lib.cstr(solver, "solver"))
            if k < 0:
                raise ValueError("unknown solver %r (euler, midpoint, heun, rk4, rk4_38, dopri5; em, sheun for "
                                 "sampling models with a score)" % solver)
            if lib.vf_solver_is_stochastic(k) and not sampling:
                raise ValueError("solver %r: log-densities need an ODE solver" % solver)
            o.ode.solver = k
        if steps is not None:
            o.ode.steps = _lib.count(steps, "steps", lo=1)
        if rtol is not None:
            o.ode.rtol = _lib.real(rtol, "rtol", lo=0, lo_open=True)
        if atol is not None:
            o.ode.atol = _lib.real(atol, "atol", lo=0, lo_open=True)
        o.guidance = _lib.real(guidance, "guidance")
        o.ode.sigma = _lib.real(sigma, "sigma (0: the path's own)", lo=0)
        hutchinson = _lib.count(hutchinson, "hutchinson", hi=_lib.INT_MAX)
        if hutchinson:
            o.density.divergence = 1
            o.density.probes = hutchinson
            o.density.seed = _lib.seed_value(seed)
        return o

    def log_prob(self, x, labels=None, solver="rk4", steps=100, rtol=None, atol=None, guidance=0.0,
                 hutchinson=0, seed=0):
        """log p(x) of each row of x [n, dim] -> [n] by solving the ODE from the data back to the
        source (vf_cnf_model_log_prob), with the exact divergence or, with hutchinson=K, K Rademacher
        probes per row drawn from seed. labels / guidance: the class-conditional (guided) density.
        Same options and defaults as `varflow logprob` (rk4, 100 steps; dopri5 uses rtol, atol).
        A row outside a box model's box gets -inf; a NaN in x raises VarflowError (VF_ERR_NUMERIC)."""
        x = _lib.as_rows(x, "x", self.dim, "model's dimension")
        n = x.shape[0]
        lab = None if labels is None else _lib.as_labels(labels, n)
        o = self._options(solver, steps, rtol, atol, guidance, hutchinson=hutchinson, seed=seed)
        out = np.empty(n, dtype=_lib.REAL)
        with self._life:
            if n:
                st = _lib.OdeStats()
                _lib.check(lib.vf_cnf_model_log_prob(self._model, n, _lib.ptr(x, _lib.c_real),
                                                     _lib.ptr(lab, ctypes.c_int64), ctypes.byref(o),
                                                     _lib.ptr(out, _lib.c_real), ctypes.byref(st)))
                self.last_nfe = int(st.nfe)
        return out

    def sample(self, n=None, seed=0, solver=None, steps=None, labels=None, guidance=0.0, source=None, sigma=0.0,
               rtol=None, atol=None, return_log_prob=False):
        """n samples [n, dim] (vf_cnf_model_sample), the same rows as `varflow sample` with the same
        seed and options. solver: euler, midpoint, heun, rk4 (default), rk4_38, dopri5, or for models
        with a score em / sheun (SDE, diffusion sigma, default the model's path sigma); steps: fixed
        steps (default 100; MeanFlow: jumps, default 1). labels: one int or [n] ints; guidance: w of
        classifier-free guidance. source [n, dim]: the rows to transport for a model trained from data
        (n may then be left out). With return_log_prob, also the samples' log-densities from the same
        solve: (x, log_prob). self.last_nfe holds the field evaluations of the solve."""
        src = None
        if source is not None:
            src = _lib.as_rows(source, "source", self.dim, "model's dimension")
            if n is not None and _lib.count(n) != src.shape[0]:
                raise ValueError("n=%d but source has %d rows" % (n, src.shape[0]))
            n = src.shape[0]
        if n is None:
            raise TypeError("sample() needs n (or source= rows for a model trained from data)")
        n = _lib.count(n)
        lab = None if labels is None else _lib.as_labels(labels, n)
        o = self._options(solver, steps, rtol, atol, guidance, sigma=sigma, sampling=True)
        x = np.empty((n, self.dim), dtype=_lib.REAL)
        lp = np.empty(n, dtype=_lib.REAL) if return_log_prob else None
        r = _lib.rng(seed)
        with self._life:
            if n:
                st = _lib.OdeStats()
                _lib.check(lib.vf_cnf_model_sample(self._model, n, _lib.ptr(src, _lib.c_real),
                                                   _lib.ptr(lab, ctypes.c_int64), ctypes.byref(r), ctypes.byref(o),
                                                   _lib.ptr(x, _lib.c_real), _lib.ptr(lp, _lib.c_real),
                                                   ctypes.byref(st)))
                self.last_nfe = int(st.nfe)
        return (x, lp) if return_log_prob else x

    def save(self, path, info=None):
        """Write the model file atomically (vf_cnf_model_save), keeping the metadata of self.info
        other than "format", "format_version" and "cnf" (or info, a dict str -> str, instead)."""
        path = _lib.path_bytes(path)
        with self._life:
            self._write(path, info)
            self.info = _file_metadata(path)

    def _write(self, path, info=None):
        extra = self.info if info is None else info
        _check_info(extra)
        n, keys, values = _extra_arrays(extra, _CNF_RESERVED)
        _lib.check(lib.vf_cnf_model_save(self._model, path, n, keys, values, 0, None))

    def _free(self):
        if self._model:
            lib.vf_cnf_model_free(self._model)
            self._model = None

    def __repr__(self):
        return "ContinuousFlow(objective=%r, dim=%d, classes=%d, source=%r)" % (self.objective, self.dim, self.classes,
                                                                                self.source)


def load(path):
    """Load a model file: a Flow for a varflow.flow file, a ContinuousFlow for a varflow.cnf file
    (vf_cnf_model_file_is_cnf). VarflowError (VF_ERR_IO, VF_ERR_FORMAT) names the file and the
    problem for a missing, truncated or foreign file."""
    p = _lib.path_bytes(path)
    if lib.vf_cnf_model_file_is_cnf(p):
        return ContinuousFlow._load(p)
    return Flow._load(p)
