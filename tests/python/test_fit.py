"""varflow.fit (vf_fit_table) against `varflow fit`: the same data, spec and options give the same
model (log-densities to 1e-6) and metadata; validation rows, conditional flows, the log, and the
errors with their stage."""

import json
import unittest

import numpy as np

import varflow
from support import MoonsCase, assert_rel_close, cli, cli_json

SPEC = "nsf:transforms=2,hidden=16x1,bins=4"


class Fit(MoonsCase):
    ROWS, SEED = 500, 4

    def test_same_model_as_the_cli(self):
        m = varflow.fit(self.x, model=SPEC, epochs=3, batch=100, lr=2e-3, seed=5, name="moons.npy")
        path = self.path("cli.safetensors")
        r = cli_json("fit", "--data", self.data, "--model", SPEC, "--epochs", 3, "--batch", 100, "--lr", 0.002,
                     "--seed", 5, "-o", path)
        assert_rel_close(self, m.log_prob(self.x), self.cli_logprob(path), 1e-6, "varflow.fit vs varflow fit")
        # the CLI's JSON has 9 significant digits
        self.assertAlmostEqual(m.fit_result["valid_nll"], r["valid_nll"], delta=1e-7 * abs(r["valid_nll"]))
        self.assertEqual(m.fit_result["steps"], r["steps"])
        self.assertEqual((m.fit_result["train_rows"], m.fit_result["valid_rows"]), (450, 50))
        self.assertEqual(m.n_params, r["params"])
        self.assertEqual(m.info["fit.spec"], SPEC)
        self.assertEqual(m.info["fit.data"], "moons.npy")
        self.assertEqual(m.info["fit.seed"], "5")
        # saved from Python, the CLI reads the same model and metadata
        saved = self.path("py.safetensors")
        m.save(saved)
        assert_rel_close(self, self.cli_logprob(saved), m.log_prob(self.x), 1e-6, "fitted in Python, read by the CLI")
        meta = cli_json("info", saved)["metadata"]
        self.assertEqual(meta["fit.spec"], SPEC)
        self.assertEqual(meta["fit.valid_nll"], m.info["fit.valid_nll"])
        m.close()
        m.close()  # twice is fine

    def test_valid_rows_and_log(self):
        valid = self.x[:100]
        log = self.path("log.jsonl")
        m = varflow.fit(self.x[100:], model="maf:transforms=2,hidden=8x1", valid=valid, epochs=2, batch=200,
                        log=log, patience=0)
        self.assertEqual((m.fit_result["train_rows"], m.fit_result["valid_rows"]), (400, 100))
        with open(log) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual([line["epoch"] for line in lines], [1, 2])
        self.assertAlmostEqual(lines[-1]["valid_nll"], m.fit_result["valid_nll"], places=6)
        # valid_fraction=0: no validation
        m0 = varflow.fit(self.x, model="maf:transforms=1,hidden=8x1", valid_fraction=0, epochs=1)
        self.assertIsNone(m0.fit_result["valid_nll"])
        self.assertEqual(m0.fit_result["valid_rows"], 0)

    def test_progress(self):
        reports = []
        m = varflow.fit(self.x, model="maf:transforms=1,hidden=8x1", epochs=2, batch=150, progress=reports.append)
        steps = m.fit_result["steps"]  # 450 training rows in batches of 150: 3 steps per epoch
        self.assertEqual(steps, 6)
        during, last = reports[:-1], reports[-1]
        self.assertTrue(all(r["done"] == 0 for r in during))
        self.assertEqual(last["done"], 1)
        self.assertEqual((last["step"], last["steps"], last["epochs"]), (steps, steps, 2))
        self.assertEqual([r["step"] for r in during if r["valid_loss"] is None], [1, 2, 3])  # before any validation
        self.assertEqual(sorted({r["step"] for r in during}), list(range(1, steps + 1)))
        self.assertEqual([r["epoch"] for r in during], sorted(r["epoch"] for r in during))
        self.assertAlmostEqual(last["valid_loss"], m.fit_result["valid_nll"], places=6)
        # same model with or without the callback
        m2 = varflow.fit(self.x, model="maf:transforms=1,hidden=8x1", epochs=2, batch=150)
        np.testing.assert_array_equal(m.log_prob(self.x), m2.log_prob(self.x))

    def test_progress_exception(self):
        seen = []

        def stop(r):
            seen.append(r["step"])
            if r["step"] == 2:  # (a KeyboardInterrupt ends the run early instead: test_interrupt.py)
                raise RuntimeError("enough")

        with self.assertRaisesRegex(RuntimeError, "enough"):
            varflow.fit(self.x, model="maf:transforms=1,hidden=8x1", epochs=2, batch=150, progress=stop)
        self.assertEqual(seen, [1, 2], "no report after the one that raised")
        with self.assertRaisesRegex(TypeError, "progress must be a callable"):
            varflow.fit(self.x, model="maf", epochs=1, progress=3)

    def test_conditional(self):
        c = (self.x[:, :1] > 0.5).astype(np.float64)
        m = varflow.fit(self.x, model="maf:transforms=2,hidden=8x1", context=c, epochs=2, batch=100)
        self.assertEqual((m.dim, m.context_dim), (2, 1))
        self.assertEqual(m.log_prob(self.x, context=c).shape, (500,))
        with self.assertRaisesRegex(ValueError, "conditional"):
            m.log_prob(self.x)
        with self.assertRaisesRegex(ValueError, "context has 3 rows"):
            varflow.fit(self.x, model="maf", context=c[:3])
        with self.assertRaisesRegex(ValueError, "valid_context"):
            varflow.fit(self.x, model="maf", context=c, valid=self.x[:10])

    def test_continuous_flow_same_as_the_cli(self):
        lab = (self.x[:, 0] > 0.5).astype(np.int64)
        lab_file = self.path("labels.npy")
        np.save(lab_file, lab.astype(np.float64).reshape(-1, 1))
        m = varflow.fit(self.x, model="cfm:hidden=16x2", labels=lab, epochs=2, batch=100, seed=3, nll_rows=20,
                        name="moons.npy")
        self.assertIsInstance(m, varflow.ContinuousFlow)
        self.assertEqual((m.objective, m.classes), ("cfm", 2))
        path = self.path("cfm_cli.safetensors")
        r = cli_json("fit", "--data", self.data, "--labels", lab_file, "--model", "cfm:hidden=16x2", "--epochs", 2,
                     "--batch", 100, "--seed", 3, "--nll-rows", 20, "-o", path)
        assert_rel_close(self, m.log_prob(self.x, labels=lab, steps=8),
                         self.cli_logprob(path, "--steps", 8, "--labels", lab_file), 1e-6, "fitted cfm vs CLI")
        self.assertAlmostEqual(m.fit_result["valid_loss"], r["valid_loss"], delta=1e-7 * abs(r["valid_loss"]))
        self.assertEqual(m.info["fit.spec"], "cfm:hidden=16x2")
        self.assertEqual(m.architecture["objective"], "cfm")
        with self.assertRaisesRegex(ValueError, "valid_labels"):
            varflow.fit(self.x, model="cfm", labels=lab, valid=self.x[:10])

    def test_data_to_data(self):
        src = np.random.default_rng(0).standard_normal((300, 2))
        src_file, rows_file = self.path("src.npy"), self.path("rows.npy")
        np.save(src_file, src)
        np.save(rows_file, src[:20])
        m = varflow.fit(self.x, model="cfm:hidden=16x2", source=src, epochs=2, batch=100, seed=1, nll_rows=0)
        self.assertEqual(m.source, "data")
        path, out = self.path("d2d.safetensors"), self.path("d2d.npy")
        cli("fit", "--data", self.data, "--source", src_file, "--model", "cfm:hidden=16x2", "--epochs", 2, "--batch",
            100, "--seed", 1, "--nll-rows", 0, "-o", path, "--quiet")
        cli("sample", "--model", path, "--source", rows_file, "--steps", 5, "-o", out, "--quiet")
        assert_rel_close(self, m.sample(source=src[:20], steps=5), np.load(out), 1e-6, "transported rows vs CLI")
        with self.assertRaises(varflow.VarflowError):
            m.log_prob(self.x)  # a data-to-data model has no density
        with self.assertRaises(varflow.VarflowError):
            m.sample(5)  # it needs the rows to transport
        with self.assertRaisesRegex(ValueError, "n=3 but source has 20 rows"):
            m.sample(3, source=src[:20])

    def test_continuous_flow_on_a_box(self):
        u = (self.x - self.x.min(0)) / (self.x.max(0) - self.x.min(0))  # rows in [0, 1]
        data = self.path("unit.npy")
        np.save(data, u)
        m = varflow.fit(u, model="cfm:hidden=16x2", epochs=2, batch=100, seed=4, nll_rows=20, box=(0, 1), box_alpha=0.01)
        self.assertEqual(m.architecture["box"], {"lo": 0, "hi": 1, "alpha": 0.01})
        path = self.path("box_cli.safetensors")
        cli("fit", "--data", data, "--model", "cfm:hidden=16x2", "--epochs", 2, "--batch", 100, "--seed", 4,
            "--nll-rows", 20, "--box", "0,1", "--box-alpha", 0.01, "-o", path, "--quiet")
        out = self.path("lp_box.npy")
        cli("logprob", "--model", path, "--data", data, "--steps", 8, "-o", out, "--quiet")
        assert_rel_close(self, m.log_prob(u, steps=8), np.load(out)[:, 0], 1e-6, "fitted cfm on a box vs CLI")
        s = m.sample(200, seed=1, steps=8)
        self.assertTrue(np.all(s > -0.011) and np.all(s < 1.011))
        with self.assertRaisesRegex(ValueError, "box must be a pair"):
            varflow.fit(u, model="cfm", box=1)
        with self.assertRaisesRegex(varflow.VarflowError, "outside the box"):
            varflow.fit(u, model="cfm", box=(0, 0.5), epochs=1)

    def test_continuous_flow_checkpoint_and_dequantize(self):
        ints = np.floor(3 * self.x + 0.5)
        ck = self.path("cnf_ck.safetensors")
        m = varflow.fit(ints, model="cfm:hidden=16x2", epochs=2, batch=100, seed=2, valid_fraction=0, patience=0,
                        dequantize=True, checkpoint=ck, nll_rows=20)
        self.assertEqual(m.info["fit.dequantize"], "1")
        c = varflow.load(ck)  # a checkpoint is a continuous-flow model file of the last epoch's field
        self.assertEqual((c.info["fit.resume.epoch"], c.info["fit.dequantize"]), ("2", "1"))
        assert_rel_close(self, c.log_prob(ints[:20] + 0.5), m.log_prob(ints[:20] + 0.5), 1e-12,
                         "checkpoint vs fitted model")
        with self.assertRaises(varflow.VarflowError):
            varflow.fit(self.x, model="cfm", epochs=1, dequantize=True)  # not integers

    def test_errors(self):
        with self.assertRaisesRegex(varflow.VarflowError, "unknown flow") as e:
            varflow.fit(self.x, model="bogus")
        self.assertEqual((e.exception.status, e.exception.stage), ("VF_ERR_ARG", "spec"))
        with self.assertRaises(varflow.VarflowError) as e:
            varflow.fit(self.x[:1], model="maf")
        self.assertEqual(e.exception.stage, "input")
        bad = self.x.copy()
        bad[7, 1] = np.nan
        with self.assertRaisesRegex(ValueError, "x: row 7, column 1 is nan"):  # before any training
            varflow.fit(bad, model="maf", epochs=1)
        with self.assertRaises(varflow.VarflowError):
            varflow.fit(self.x, model="maf", epochs=1, dequantize=True)  # not integers
        with self.assertRaisesRegex(ValueError, "3 columns but the dimension of x is 2"):
            varflow.fit(self.x, model="maf", valid=np.zeros((5, 3)))
        with self.assertRaises(TypeError):
            varflow.fit(self.x, model=None)
        with self.assertRaises(TypeError):
            varflow.fit(self.x.astype(np.complex128))
        with self.assertRaises(ValueError):
            varflow.fit(self.x, epochs=-1)


if __name__ == "__main__":
    unittest.main()
