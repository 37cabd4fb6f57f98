"""varflow — normalizing flows, flow matching, variational inference and optimal transport, from
Python: a ctypes binding over the C library libvarflow.so (numpy arrays in, numpy arrays out).

    import varflow
    m = varflow.load("moons.safetensors")      # a Flow or a ContinuousFlow, by the file's format
    lp = m.log_prob(x)                          # x [n, m.dim] -> [n]
    s = m.sample(1000, seed=1)                  # [1000, m.dim]
    m.save("copy.safetensors")
    varflow.eval("w2", s, x)                    # emd, w2, sinkhorn, sinkhorn_div, sw, mmd, energy, ksd
    t = varflow.Target("funnel:d=10")           # or Target(f, dim=d) with f(x) -> (logp, grad)
    m = varflow.fit(x, model="nsf", epochs=50)  # what `varflow fit` does, on an array
    q = varflow.vi("funnel:d=10", steps=2000)   # what `varflow vi` does; q.vi_result["log_z"]
    draws, info = varflow.mcmc("funnel:d=10", n=2000, sampler="neutra-hmc", model=q)   # `varflow mcmc`

The library is found at $VARFLOW_LIB (a path to libvarflow.so), next to this package, or by
ctypes.util.find_library("varflow"); its scalar type (float or double build) is varflow.real_dtype,
and arrays are converted to it. Every library error raises VarflowError (a RuntimeError) carrying the
library's message. docs/python.md has the whole guide.
"""

from ._lib import LIB_PATH as library_path
from ._lib import REAL as real_dtype
from ._lib import VarflowError, lib as _clib
from ._mcmc import mcmc
from ._metrics import METRICS, eval
from ._models import ContinuousFlow, Flow, load
from ._target import Target
from ._train import fit, vi

__all__ = ["load", "fit", "vi", "mcmc", "Flow", "ContinuousFlow", "Target", "eval", "METRICS", "VarflowError", "real_dtype",
           "library_path", "library_version", "set_num_threads"]

__version__ = "0.1.0"


def library_version():
    """The linked library's version string ("0.1.0")."""
    return _clib.vf_version().decode()


def set_num_threads(n):
    """Threads for the library's batch loops and BLAS (0: its default). Returns the previous value."""
    from ._lib import INT_MAX, count
    return int(_clib.vf_set_num_threads(count(n, "n", hi=INT_MAX)))
