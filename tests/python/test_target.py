"""varflow.Target: built-ins by spec (values against their closed forms), plugins, and Python callables
wrapped in a ctypes callback, whose exceptions stop the library call and come back with their own type
and message (never a crash, never swallowed); batched callables (one call per batch, the same numbers)."""

import math
import os
import unittest

import numpy as np

import varflow
from support import banana_point, banana_rows


def rows_as_library(x):
    """The rows as the library sees them (its scalar type), in float64."""
    return np.asarray(x).astype(varflow.real_dtype).astype(np.float64)


class Builtins(unittest.TestCase):
    def test_gauss_log_prob_and_score(self):
        t = varflow.Target("gauss:d=3,rho=0")
        self.assertEqual((t.dim, t.name), (3, "gauss"))
        x = np.random.default_rng(0).standard_normal((7, 3))
        xs = rows_as_library(x)
        want = -0.5 * np.sum(xs ** 2, axis=1) - 1.5 * math.log(2 * math.pi)  # normalized N(0, I)
        np.testing.assert_allclose(t.log_prob(x), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(t.score(x), -xs, rtol=1e-12, atol=1e-12)
        self.assertAlmostEqual(t.log_z, 0.0, places=12)

    def test_exact_samples(self):
        # funnel:d=2,scale=1: x0 ~ N(0, 1), so mean 0 and variance 1 within Monte Carlo error
        s = varflow.Target("funnel:d=2,scale=1").sample(4000, seed=5)
        self.assertEqual(s.shape, (4000, 2))
        self.assertLess(abs(s[:, 0].mean()), 5 / math.sqrt(4000))
        self.assertLess(abs(s[:, 0].var() - 1), 5 * math.sqrt(2 / 4000))
        np.testing.assert_array_equal(s, varflow.Target("funnel:d=2,scale=1").sample(4000, seed=5))
        self.assertEqual(varflow.Target("u1").sample(3, seed=1).shape, (3, 2))  # by rejection
        with self.assertRaises(varflow.VarflowError) as e:  # a Python callable has no exact sampler
            varflow.Target(lambda x: (-0.5 * float(x @ x), -x), dim=2).sample(3)
        self.assertEqual(e.exception.status, "VF_ERR_UNSUPPORTED")

    def test_bad_specs(self):
        with self.assertRaisesRegex(varflow.VarflowError, "gauss") as e:  # the message lists the names
            varflow.Target("no_such_target")
        self.assertEqual(e.exception.status, "VF_ERR_ARG")
        with self.assertRaises(varflow.VarflowError):
            varflow.Target("funnel:d=0")
        with self.assertRaises(varflow.VarflowError):
            varflow.Target("plugin:/no/such/plugin.so")
        with self.assertRaises(TypeError):
            varflow.Target(42)
        with self.assertRaises(ValueError):
            varflow.Target("u1", dim=2)
        with self.assertRaisesRegex(ValueError, "columns"):
            varflow.Target("u1").log_prob(np.zeros((2, 3)))

    @unittest.skipUnless(os.environ.get("VF_TEST_PLUGIN"), "VF_TEST_PLUGIN is not set (ctest sets it)")
    def test_plugin(self):
        plugin = os.environ["VF_TEST_PLUGIN"]
        t = varflow.Target("plugin:%s:3" % plugin)
        self.assertEqual(t.dim, 3)
        x = np.random.default_rng(1).standard_normal((4, 3))
        np.testing.assert_allclose(t.log_prob(x), -0.5 * np.sum(rows_as_library(x) ** 2, axis=1), rtol=1e-12)
        t.close()
        bad = varflow.Target("plugin:%s:nan" % plugin)
        with self.assertRaisesRegex(varflow.VarflowError, "NaN at row 1") as e:
            bad.log_prob([[0.0, 0.0], [2.0, 0.0]])
        self.assertEqual(e.exception.status, "VF_ERR_NUMERIC")


class Callables(unittest.TestCase):
    def test_values_and_gradients(self):
        calls = []

        def f(x):
            calls.append(x.copy())
            return -0.5 * x @ x - x[0], -x - np.array([1.0, 0.0])

        t = varflow.Target(f, dim=2)
        self.assertEqual((t.dim, t.name, t.log_z), (2, "python", None))
        x = np.array([[1.0, 2.0], [0.5, -1.0]])
        np.testing.assert_allclose(t.log_prob(x), [-3.5, -1.125])
        np.testing.assert_allclose(t.score(x), [[-2.0, -2.0], [-1.5, 1.0]])
        self.assertEqual(len(calls), 4)
        self.assertEqual(calls[0].dtype, np.float64)
        # a callable that returns only log p is fine where no gradient is asked for
        np.testing.assert_allclose(varflow.Target(lambda v: float(v.sum()), dim=2).log_prob(x), [3.0, -0.5])

    def test_exception_is_reraised(self):
        seen = []

        def f(x):
            seen.append(1)
            if x[0] > 1:
                raise KeyError("bad point %g" % x[0])
            return -0.5 * x @ x, -x

        t = varflow.Target(f, dim=2)
        x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
        with self.assertRaisesRegex(KeyError, "bad point 2"):
            t.log_prob(x)
        self.assertEqual(len(seen), 2, "the run stops at the failing row")
        with self.assertRaisesRegex(KeyError, "bad point 2"):
            t.score(x)
        with self.assertRaisesRegex(KeyError, "bad point 2"):
            varflow.eval("ksd", x, target=t)
        # the target still works afterwards
        np.testing.assert_allclose(t.log_prob(x[[0, 2]]), [0.0, -0.5])

    def test_bad_returns(self):
        x = np.zeros((2, 2))
        with self.assertRaisesRegex(ValueError, r"gradient of shape \(3,\)"):
            varflow.Target(lambda v: (0.0, np.zeros(3)), dim=2).score(x)
        with self.assertRaisesRegex(TypeError, r"\(logp, grad\)"):
            varflow.Target(lambda v: 0.0, dim=2).score(x)
        with self.assertRaisesRegex(TypeError, "log-density of type str"):
            varflow.Target(lambda v: ("x", np.zeros(2)), dim=2).log_prob(x)
        # NaN from the callable is the library's error, -inf a valid value
        with self.assertRaisesRegex(varflow.VarflowError, "NaN"):
            varflow.Target(lambda v: math.nan, dim=2).log_prob(x)
        self.assertTrue(np.all(varflow.Target(lambda v: -math.inf, dim=2).log_prob(x) == -math.inf))
        with self.assertRaisesRegex(ValueError, "dim"):
            varflow.Target(lambda v: 0.0)
        with self.assertRaises(ValueError):
            varflow.Target(lambda v: 0.0, dim=0)
        with self.assertRaises(varflow.VarflowError):
            varflow.Target(lambda v: 0.0, dim=2).sample(3)


class Batched(unittest.TestCase):
    """Target(f, batched=True): one call per batch, the same numbers as the point callable."""

    def test_same_values_fewer_calls(self):
        calls = []

        def rows(x):
            calls.append(x.shape)
            return banana_rows(x)

        tb, tp = varflow.Target(rows, dim=2, batched=True), varflow.Target(banana_point, dim=2)
        self.assertTrue(tb.batched and not tp.batched)
        self.assertIn("batched=True", repr(tb))
        x = np.random.default_rng(1).standard_normal((50, 2))
        np.testing.assert_array_equal(tb.log_prob(x), tp.log_prob(x))
        np.testing.assert_array_equal(tb.score(x), tp.score(x))
        self.assertEqual(calls, [(50, 2), (50, 2)])
        # a fit and its importance sampling: the same flow and log Z, in one call per batch
        del calls[:]
        kw = dict(flow="maf:transforms=2,hidden=16x1", steps=30, batch=64, seed=3, is_samples=500)
        mb, mp = varflow.vi(tb, **kw), varflow.vi(tp, **kw)
        self.assertEqual(mb.vi_result["log_z"], mp.vi_result["log_z"])
        self.assertLess(len(calls), 40)
        self.assertEqual(sum(n for n, _ in calls), 30 * 64 + 500)

    def test_values_only_and_errors(self):
        lp_only = varflow.Target(lambda x: banana_rows(x)[0], dim=2, batched=True)
        x = np.zeros((3, 2))
        np.testing.assert_array_equal(lp_only.log_prob(x), np.zeros(3))
        with self.assertRaisesRegex(TypeError, r"\(logp, grad\)"):
            lp_only.score(x)
        with self.assertRaisesRegex(ValueError, r"log-densities of shape \(2,\) for 3 rows"):
            varflow.Target(lambda v: np.zeros(2), dim=2, batched=True).log_prob(x)
        with self.assertRaisesRegex(ValueError, r"gradient of shape \(3, 3\) for 3 rows"):
            varflow.Target(lambda v: (np.zeros(3), np.zeros((3, 3))), dim=2, batched=True).score(x)

        def boom(v):
            raise KeyError("no batch today")

        t = varflow.Target(boom, dim=2, batched=True)
        with self.assertRaisesRegex(KeyError, "no batch today"):
            t.log_prob(x)
        with self.assertRaisesRegex(KeyError, "no batch today"):
            varflow.vi(t, flow="maf:transforms=1,hidden=4x1", steps=2, batch=8, is_samples=30)
        with self.assertRaisesRegex(varflow.VarflowError, "NaN"):
            varflow.Target(lambda v: np.full(len(v), math.nan), dim=2, batched=True).log_prob(x)
        with self.assertRaisesRegex(ValueError, "batched"):
            varflow.Target("u1", batched=True)


if __name__ == "__main__":
    unittest.main()
