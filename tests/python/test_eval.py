"""varflow.eval against `varflow eval --json` for every metric and its options (the same C functions,
so the values agree to rounding), values known in closed form, and the errors."""

import os
import unittest
import warnings

import numpy as np

import varflow
from support import ScratchCase, cli_json


class Eval(ScratchCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rng = np.random.default_rng(0)
        cls.x = rng.standard_normal((60, 2))
        cls.y = rng.standard_normal((50, 2)) + np.array([0.5, -0.25])
        cls.wa = rng.uniform(0.5, 1.5, 60)
        cls.xf, cls.yf, cls.waf = cls.path("x.npy"), cls.path("y.npy"), cls.path("wa.npy")
        np.save(cls.xf, cls.x)
        np.save(cls.yf, cls.y)
        np.save(cls.waf, cls.wa.reshape(-1, 1))

    def against_cli(self, metric, cli_args=(), **kw):
        if not os.environ.get("VARFLOW_CLI"):
            self.skipTest("VARFLOW_CLI is not set")
        got = varflow.eval(metric, self.x, **({} if metric == "ksd" else {"b": self.y}), **kw)
        files = (self.xf,) if metric == "ksd" else (self.xf, self.yf)
        want = cli_json("eval", "--metric", metric, *files, *cli_args)["value"]
        self.assertTrue(np.isfinite(got), metric)
        self.assertLessEqual(abs(got - want), 1e-9 * max(abs(want), 1e-12), "%s %s: %r vs CLI %r" % (metric, kw, got, want))
        return got

    def test_every_metric_matches_cli(self):
        self.against_cli("emd")
        self.against_cli("emd", ("--cost", "euclidean"), cost="euclidean")
        self.against_cli("emd", ("--weights-a", self.waf), weights_a=self.wa)
        self.against_cli("w2")
        self.against_cli("sinkhorn", ("--eps", "0.5"), eps=0.5)
        self.against_cli("sinkhorn", ("--eps", "0.5", "--weights-a", self.waf), eps=0.5, weights_a=self.wa)
        self.against_cli("sinkhorn_div", ("--eps", "0.5"), eps=0.5)
        self.against_cli("sw", ("--seed", "3"), seed=3)
        self.against_cli("sw", ("--projections", "20", "--p", "1", "--directions", "qmc"), projections=20, p=1,
                         directions="qmc")
        self.against_cli("mmd")
        self.against_cli("mmd", ("--kernel", "imq", "--bandwidth", "0.7", "--unbiased"), kernel="imq", bandwidth=0.7,
                         unbiased=True)
        self.against_cli("energy")
        self.against_cli("energy", ("--slices", "16", "--seed", "2"), slices=16, seed=2)
        self.against_cli("ksd", ("--target", "gauss:d=2,rho=0.3"), target="gauss:d=2,rho=0.3")
        self.against_cli("ksd", ("--target", "u1", "--kernel", "gaussian", "--unbiased"), target="u1",
                         kernel="gaussian", unbiased=True)

    def test_closed_forms(self):
        x = np.array([[0.0, 0.0], [1.0, 0.0]])
        y = x + np.array([3.0, 4.0])  # a translation: W2^2 = |shift|^2 = 25, W1 = 5
        self.assertAlmostEqual(varflow.eval("emd", x, y), 25.0, places=5)
        self.assertAlmostEqual(varflow.eval("w2", x, y), 5.0, places=5)
        self.assertAlmostEqual(varflow.eval("emd", x, y, cost="euclidean"), 5.0, places=5)
        self.assertAlmostEqual(varflow.eval("mmd", self.x, self.x), 0.0, places=12)
        self.assertAlmostEqual(varflow.eval("energy", self.x, self.x), 0.0, places=6)

    def test_ksd_with_a_callable_target(self):
        # gauss:d=2,rho=0 is N(0, I): the callable below is the same density, so the same KSD
        spec = varflow.eval("ksd", self.x, target="gauss:d=2,rho=0")
        fn = varflow.eval("ksd", self.x, target=lambda v: (-0.5 * v @ v, -v))
        self.assertAlmostEqual(fn, spec, delta=1e-12 * spec)
        t = varflow.Target(lambda v: (-0.5 * v @ v, -v), dim=2)
        self.assertEqual(varflow.eval("ksd", self.x, target=t), fn)

    def test_unconverged_sinkhorn_warns(self):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            v = varflow.eval("sinkhorn", self.x, self.y, eps=0.01, max_iter=3)
        self.assertTrue(np.isfinite(v))
        self.assertTrue(any(issubclass(i.category, RuntimeWarning) and "iterations" in str(i.message) for i in w))

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown metric"):
            varflow.eval("wasserstein", self.x, self.y)
        with self.assertRaisesRegex(TypeError, "unexpected option"):
            varflow.eval("w2", self.x, self.y, eps=0.1)
        with self.assertRaisesRegex(ValueError, "3 columns but the dimension of a is 2"):
            varflow.eval("w2", self.x, np.zeros((4, 3)))
        with self.assertRaisesRegex(ValueError, "2-D"):
            varflow.eval("mmd", self.x[:, 0], self.y[:, 0])
        with self.assertRaisesRegex(ValueError, "no rows"):
            varflow.eval("mmd", np.zeros((0, 2)), self.y)
        with self.assertRaisesRegex(ValueError, "non-negative"):
            varflow.eval("emd", self.x, self.y, weights_a=-self.wa)
        with self.assertRaisesRegex(ValueError, "60 values"):
            varflow.eval("emd", self.x, self.y, weights_a=self.wa[:5])
        with self.assertRaisesRegex(ValueError, r"eps must be a finite number > 0 \(got 0\)"):
            varflow.eval("sinkhorn", self.x, self.y, eps=0)
        with self.assertRaisesRegex(ValueError, "unknown cost"):
            varflow.eval("emd", self.x, self.y, cost="manhattan")
        with self.assertRaisesRegex(ValueError, "unknown kernel"):
            varflow.eval("mmd", self.x, self.y, kernel="rbf")
        with self.assertRaisesRegex(ValueError, "p must be"):
            varflow.eval("sw", self.x, self.y, p=3)
        with self.assertRaisesRegex(ValueError, "needs target"):
            varflow.eval("ksd", self.x)
        with self.assertRaisesRegex(ValueError, "not b"):
            varflow.eval("ksd", self.x, self.y, target="u1")
        with self.assertRaisesRegex(ValueError, "dimension is 3"):
            varflow.eval("ksd", self.x, target="funnel:d=3")
        with self.assertRaises(varflow.VarflowError):
            varflow.eval("ksd", self.x, target="no_such_target")
        with self.assertRaises(TypeError):
            varflow.eval("mmd", self.x.astype(np.complex64), self.y)


if __name__ == "__main__":
    unittest.main()
