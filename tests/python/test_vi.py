"""varflow.vi (vf_vi_run) against `varflow vi`: the same target, flow and options give the same
flow and log Z; a Python callable target trains the same flow as the built-in it equals (its log Z
off by exactly the normalizing constant it leaves out); an exception raised in the callable stops
the run and comes back; validation with patience as the CLI's; the errors."""

import json
import math
import os
import unittest

import numpy as np

import varflow
from support import ScratchCase, assert_rel_close, cli, cli_json

FLOW = "maf:transforms=2,hidden=16x1"
RUN = dict(flow=FLOW, steps=40, batch=64, seed=2, is_samples=300)


def std_normal(x):
    """N(0, I) without its normalizing constant: log Z = (d / 2) log(2 pi)."""
    return -0.5 * x @ x, -x


class VI(ScratchCase):
    def test_same_as_the_cli(self):
        if not os.environ.get("VARFLOW_CLI"):
            self.skipTest("VARFLOW_CLI is not set (ctest sets it)")
        spec = "gauss:d=2,rho=0.5"
        m = varflow.vi(spec, **RUN)
        path = self.path("vi.safetensors")
        r = cli_json("vi", "--target", spec, "--flow", FLOW, "--steps", 40, "--batch", 64, "--seed", 2,
                     "--is-samples", 300, "-o", path)
        self.assertAlmostEqual(m.vi_result["log_z"], r["log_z"], delta=1e-6)
        self.assertAlmostEqual(m.vi_result["ess_fraction"], r["ess_fraction"], delta=1e-6)
        self.assertEqual(m.vi_result["log_z_true"], 0.0)  # gauss is normalized
        self.assertEqual((m.vi_result["steps"], m.vi_result["is_samples"], m.vi_result["flow"]), (40, 300, FLOW))
        self.assertEqual(m.info["vi.target"], spec)
        rows = self.path("rows.npy")
        x = np.random.default_rng(0).standard_normal((50, 2))
        np.save(rows, x)
        out = self.path("lp.npy")
        cli("logprob", "--model", path, "--data", rows, "-o", out, "--quiet")
        assert_rel_close(self, m.log_prob(x), np.load(out)[:, 0], 1e-6, "varflow.vi vs varflow vi")

    def test_patience(self):
        """Validation: the same early stop, best step and validation loss as `varflow vi --patience`."""
        kw = dict(RUN, steps=80, batch=32, lr=0.01, seed=5)
        m = varflow.vi("gauss:d=2,rho=0.5", patience=2, valid_every=5, valid_draws=256, **kw)
        r = m.vi_result
        self.assertTrue(r["stopped_early"])
        self.assertEqual(r["steps"], r["best_step"] + 10)
        self.assertEqual(int(m.info["vi.best_step"]), r["best_step"])
        self.assertEqual(m.info["vi.patience"], "2")
        plain = varflow.vi("gauss:d=2,rho=0.5", **dict(kw, steps=20)).vi_result
        self.assertEqual((plain["valid_loss"], plain["best_step"], plain["stopped_early"]), (None, None, False))
        with self.assertRaises(ValueError):
            varflow.vi("u1", patience=-1)
        if not os.environ.get("VARFLOW_CLI"):
            return
        c = cli_json("vi", "--target", "gauss:d=2,rho=0.5", "--flow", FLOW, "--steps", 80, "--batch", 32, "--lr", 0.01,
                     "--seed", 5, "--is-samples", 300, "--patience", 2, "--valid-every", 5, "--valid-draws", 256,
                     "-o", self.path("p.safetensors"))
        self.assertEqual((c["best_step"], c["steps"], c["stopped_early"]), (r["best_step"], r["steps"], True))
        self.assertAlmostEqual(c["valid_loss"], r["valid_loss"], delta=1e-6 * (1 + abs(r["valid_loss"])))

    def test_callable_target(self):
        spec = varflow.vi("gauss:d=2,rho=0", **RUN)
        calls = [0]

        def f(x):
            calls[0] += 1
            return std_normal(x)

        fn = varflow.vi(f, dim=2, **RUN)
        self.assertGreaterEqual(calls[0], 40 * 64 + 300)
        np.testing.assert_allclose(fn.get_params(), spec.get_params(), rtol=0, atol=1e-6)
        self.assertAlmostEqual(fn.vi_result["log_z"] - spec.vi_result["log_z"], math.log(2 * math.pi), delta=1e-6)
        self.assertIsNone(fn.vi_result["log_z_true"])
        self.assertIsNone(fn.vi_result["forward_ess_fraction"])  # no exact sampler
        t = varflow.Target(f, dim=2)
        self.assertEqual(varflow.vi(t, **RUN).vi_result["log_z"], fn.vi_result["log_z"])

    def test_exception_stops_the_run(self):
        calls = [0]

        def f(x):
            calls[0] += 1
            if calls[0] == 100:
                raise RuntimeError("the simulator failed at call 100")
            return std_normal(x)

        with self.assertRaisesRegex(RuntimeError, "simulator failed at call 100") as e:
            varflow.vi(f, dim=2, **RUN)
        self.assertNotIsInstance(e.exception, varflow.VarflowError)
        self.assertLess(calls[0], 40 * 64, "the run stopped at the failing call's batch")
        varflow.vi(std_normal, dim=2, **dict(RUN, steps=2))  # the binding works afterwards

    def test_progress(self):
        reports = []
        varflow.vi("gauss:d=2,rho=0", progress=reports.append, **dict(RUN, steps=7))
        self.assertEqual([r["step"] for r in reports], [1, 2, 3, 4, 5, 6, 7, 7])
        self.assertEqual([r["done"] for r in reports], [0] * 7 + [1])
        self.assertTrue(all(r["steps"] == 7 and r["epochs"] == 0 and r["valid_loss"] is None for r in reports))
        self.assertTrue(all(math.isfinite(r["train_loss"]) for r in reports))

        def bad(r):
            raise ValueError("from the callback")

        with self.assertRaisesRegex(ValueError, "from the callback"):
            varflow.vi("gauss:d=2,rho=0", progress=bad, **dict(RUN, steps=3))

    def test_draws(self):
        m = varflow.vi("funnel:d=2,scale=1", keep_draws=True, **RUN)
        d, lw = m.vi_result["draws"], m.vi_result["log_weights"]
        self.assertEqual((d.shape, lw.shape), ((300, 2), (300,)))
        top = lw.max()
        self.assertAlmostEqual(m.vi_result["log_z"], top + math.log(np.mean(np.exp(lw - top))), delta=1e-9)
        self.assertIsNotNone(m.vi_result["forward_ess_fraction"])

    def test_log_and_checkpoint(self):
        log, ck = self.path("vi.jsonl"), self.path("ck.safetensors")
        m = varflow.vi("gauss:d=2,rho=0", log=log, checkpoint=ck, **dict(RUN, steps=20))
        with open(log) as f:
            steps = [json.loads(line)["step"] for line in f]
        self.assertEqual(steps[-1], 20)
        c = varflow.load(ck)  # a checkpoint is a model file too
        self.assertEqual(c.dim, 2)
        self.assertEqual(c.n_params, m.n_params)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown objective"):
            varflow.vi("u1", objective="nosuch")
        with self.assertRaises(varflow.VarflowError) as e:
            varflow.vi("u1", flow="bogus", steps=1)
        self.assertEqual(e.exception.stage, "spec")
        with self.assertRaises(varflow.VarflowError):
            varflow.vi("no_such_target")
        with self.assertRaisesRegex(ValueError, "dim"):
            varflow.vi(std_normal)
        with self.assertRaisesRegex(ValueError, "box"):
            varflow.vi("u1", box=-1)
        with self.assertRaises(TypeError):
            varflow.vi("u1", flow=3)
        with self.assertRaises(varflow.VarflowError):  # NaN log-density: the library's error
            varflow.vi(lambda x: (math.nan, x), dim=2, **dict(RUN, steps=2))


if __name__ == "__main__":
    unittest.main()
