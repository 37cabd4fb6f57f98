"""varflow.mcmc (vf_mcmc_run) against `varflow mcmc`: the same chains bit for bit; a correlated
Gaussian's mean and correlation within Monte Carlo error of the chains (by their ESS); a batched
callable gives the point callable's chains in fewer calls; the flow-assisted samplers with a Flow;
the errors, and an exception in the callable coming back."""

import math
import os
import unittest

import numpy as np

import varflow
from support import ScratchCase, banana_point, banana_rows, cli_json


class Mcmc(ScratchCase):
    def test_same_as_the_cli(self):
        if not os.environ.get("VARFLOW_CLI"):
            self.skipTest("VARFLOW_CLI is not set (ctest sets it)")
        draws, info = varflow.mcmc("funnel:d=3", n=60, sampler="hmc", chains=4, warmup=50, seed=5)
        self.assertEqual(draws.shape, (4, 60, 3))
        path = self.path("c.npy")
        r = cli_json("mcmc", "--target", "funnel:d=3", "--sampler", "hmc", "-n", 60, "--chains", 4, "--warmup", 50,
                     "--seed", 5, "-o", path)
        np.testing.assert_array_equal(draws.reshape(-1, 3), np.load(path))
        self.assertAlmostEqual(info["acceptance"], r["acceptance"], places=9)
        self.assertEqual((info["grad_evals"], info["divergences"]), (r["grad_evals"], r["divergences"]))
        self.assertAlmostEqual(float(np.max(info["rhat"])), r["rhat_max"], places=6)

    def test_gaussian_moments(self):
        # gauss:d=2,rho=0.5: mean 0, correlation 0.5; errors from the chains' own bulk ESS
        draws, info = varflow.mcmc("gauss:d=2,rho=0.5", n=2000, sampler="mala", seed=3)
        x = draws.reshape(-1, 2).astype(np.float64)
        self.assertTrue(np.all(info["rhat"] < 1.05), info["rhat"])
        for k in range(2):
            se = x[:, k].std() / math.sqrt(info["ess"][k])
            self.assertLess(abs(x[:, k].mean()), 4 * se, "coordinate %d" % k)
        prod = x[:, 0] * x[:, 1]
        se = prod.std() / math.sqrt(min(info["ess"]))
        self.assertLess(abs(prod.mean() - 0.5), 4 * se)
        self.assertTrue(0.3 < info["acceptance"] < 0.9 and info["step_size"] > 0)

    def test_batched_target(self):
        calls = []

        def rows(x):
            calls.append(len(x))
            return banana_rows(x)

        kw = dict(n=200, sampler="mala", chains=4, warmup=100, seed=2)
        a, ia = varflow.mcmc(varflow.Target(banana_point, dim=2), **kw)
        b, ib = varflow.mcmc(varflow.Target(rows, dim=2, batched=True), **kw)
        np.testing.assert_array_equal(a, b)
        self.assertEqual(ia["acceptance"], ib["acceptance"])
        self.assertEqual(set(calls), {4})  # the four chains' points in each call
        self.assertEqual(len(calls), ib["grad_evals"])

    def test_flow_samplers(self):
        q = varflow.vi("gauss:d=2,rho=0.5", flow="realnvp:transforms=2,hidden=16x1", steps=200, batch=128, seed=1,
                       is_samples=200)
        for s in ("imh", "isir", "neutra-mala", "neutra-hmc"):
            draws, info = varflow.mcmc("gauss:d=2,rho=0.5", n=100, sampler=s, warmup=50, model=q, seed=4)
            self.assertEqual(draws.shape, (4, 100, 2))
            self.assertTrue(np.all(np.isfinite(draws)), s)
            self.assertGreater(info["acceptance"], 0.2, s)
        with self.assertRaisesRegex(ValueError, "needs model="):
            varflow.mcmc("gauss", sampler="imh")
        with self.assertRaisesRegex(ValueError, "takes no model"):
            varflow.mcmc("gauss", sampler="mala", model=q)
        with self.assertRaisesRegex(ValueError, "dimension 2 but the target has 3"):
            varflow.mcmc("gauss:d=3", sampler="imh", model=q)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown sampler"):
            varflow.mcmc("gauss", sampler="gibbs")
        with self.assertRaisesRegex(ValueError, r"init must have shape \(chains, d\) = \(4, 2\)"):
            varflow.mcmc("gauss", init=np.zeros((3, 2)))
        with self.assertRaises(ValueError):
            varflow.mcmc("gauss", n=0)
        with self.assertRaisesRegex(varflow.VarflowError, "NaN"):
            varflow.mcmc(lambda x: (math.nan, x), dim=2, n=5, warmup=5)

        def boom(x):
            raise KeyError("no density here")

        with self.assertRaisesRegex(KeyError, "no density here"):
            varflow.mcmc(boom, dim=2, n=5, warmup=5)
        # starting points are used: one chain far out, zero warm-up, a tiny step: it stays far
        init = np.array([[0.0, 0.0], [50.0, 50.0], [0.0, 0.0], [0.0, 0.0]])
        draws, _ = varflow.mcmc("gauss:d=2,rho=0", n=5, warmup=0, step_size=1e-6, init=init, seed=1)
        self.assertGreater(draws[1, 0, 0], 49)


if __name__ == "__main__":
    unittest.main()
