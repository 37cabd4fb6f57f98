"""The binding's models against the C program: flows and continuous flows fitted by `varflow fit`,
loaded here, give the log-densities of `varflow logprob` and the samples of `varflow sample` (to 1e-6
relative); models saved here load in C with the same log-densities; conditional flows, labels,
guidance; every bad argument raises ValueError / TypeError / VarflowError and never crashes."""

import unittest

import numpy as np

import varflow
from support import MoonsCase, assert_rel_close, cli, cli_json

RTOL = 1e-6


class FlowModels(MoonsCase):
    ROWS, SEED = 600, 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model = cls.path("nsf.safetensors")
        cli("fit", "--data", cls.data, "--model", "nsf:transforms=2,hidden=16x1,bins=4", "--epochs", 3, "--batch", 128,
            "-o", cls.model, "--quiet")

    def test_log_prob_matches_cli(self):
        m = varflow.load(self.model)
        self.assertIsInstance(m, varflow.Flow)
        lp = m.log_prob(self.x)
        self.assertEqual(lp.dtype, varflow.real_dtype)
        self.assertEqual(lp.shape, (self.x.shape[0],))
        assert_rel_close(self, lp, self.cli_logprob(self.model), RTOL, "log_prob vs varflow logprob")
        # the same rows in other dtypes / layouts give the same values
        assert_rel_close(self, m.log_prob(np.asfortranarray(self.x.astype(np.float32))), lp, RTOL, "float32, Fortran order")
        assert_rel_close(self, m.log_prob(self.x.tolist()), lp, RTOL, "nested lists")
        self.assertEqual(m.log_prob(np.empty((0, 2))).shape, (0,))

    def test_sample_matches_cli(self):
        m = varflow.load(self.model)
        out = self.path("s_cli.npy")
        cli("sample", "--model", self.model, "-n", 50, "--seed", 7, "-o", out, "--quiet")
        s = m.sample(50, seed=7)
        self.assertEqual(s.shape, (50, 2))
        assert_rel_close(self, s, np.load(out), RTOL, "sample vs varflow sample")
        self.assertFalse(np.array_equal(s, m.sample(50, seed=8)), "another seed, other samples")
        s2, lp = m.sample(50, seed=7, return_log_prob=True)
        np.testing.assert_array_equal(s2, s)
        assert_rel_close(self, lp, m.log_prob(s), 1e-4, "log-densities of the sampling pass")
        self.assertEqual(m.sample(0).shape, (0, 2))

    def test_forward_and_inverse(self):
        m = varflow.load(self.model)
        z, ladj = m.forward(self.x)
        self.assertEqual((z.shape, ladj.shape), (self.x.shape, (self.x.shape[0],)))
        # the base is N(0, I): log p(x) = log N(z) + log|det dz/dx|
        base = -0.5 * np.sum(z.astype(np.float64) ** 2, axis=1) - np.log(2 * np.pi)
        assert_rel_close(self, base + ladj, m.log_prob(self.x), 1e-4, "change of variables")
        back, ladj_inv = m.inverse(z)
        np.testing.assert_allclose(back, self.x, atol=1e-4)
        np.testing.assert_allclose(ladj_inv, -ladj, atol=1e-4)
        with self.assertRaisesRegex(ValueError, "z has 3 columns"):
            m.inverse(np.zeros((2, 3)))

    def test_info(self):
        m = varflow.load(self.model)
        self.assertEqual(m.dim, 2)
        self.assertEqual(m.context_dim, 0)
        self.assertEqual(m.info["format"], "varflow.flow")
        self.assertEqual(m.info["fit.spec"], "nsf:transforms=2,hidden=16x1,bins=4")
        self.assertEqual(m.architecture["dim"], 2)
        self.assertEqual(m.n_params, cli_json("info", self.model)["params"])
        self.assertIn("Flow(dim=2", repr(m))

    def test_save_then_load_in_c(self):
        m = varflow.load(self.model)
        copy = self.path("copy.safetensors")
        m.save(copy)
        self.assertEqual(m.info["fit.spec"], "nsf:transforms=2,hidden=16x1,bins=4", "metadata kept")
        assert_rel_close(self, self.cli_logprob(copy), m.log_prob(self.x), RTOL, "saved from Python, read by the CLI")
        # changed parameters are what is saved
        p = m.get_params()
        self.assertEqual(p.shape, (m.n_params,))
        m.set_params(p + 0.05 * np.random.default_rng(0).standard_normal(p.shape))
        changed = self.path("changed.safetensors")
        m.save(changed, info={"note": "perturbed"})
        lp = m.log_prob(self.x)
        self.assertGreater(np.max(np.abs(lp - self.cli_logprob(copy))), 1e-3, "the perturbation changes the model")
        assert_rel_close(self, self.cli_logprob(changed), lp, RTOL, "perturbed model read by the CLI")
        again = varflow.load(changed)
        self.assertEqual(again.info["note"], "perturbed")
        self.assertNotIn("fit.spec", again.info)
        np.testing.assert_array_equal(again.get_params(), m.get_params())

    def test_conditional_flow(self):
        m = varflow.Flow.new("maf:transforms=2,hidden=16x1", 2, context=1, seed=3)
        self.assertEqual((m.dim, m.context_dim), (2, 1))
        p = m.get_params()
        m.set_params(p + 0.2 * np.random.default_rng(1).standard_normal(p.shape))
        path = self.path("cond.safetensors")
        m.save(path)
        ctx = np.linspace(-1, 1, self.x.shape[0]).reshape(-1, 1)
        ctx_file = self.path("ctx.npy")
        np.save(ctx_file, ctx)
        lp = m.log_prob(self.x, context=ctx)
        assert_rel_close(self, lp, self.cli_logprob(path, "--context", ctx_file), RTOL, "conditional log_prob vs CLI")
        one = m.log_prob(self.x, context=[[0.5]])
        np.testing.assert_array_equal(m([0.5]).log_prob(self.x), one)  # zuko's m(c).log_prob(x)
        np.testing.assert_array_equal(m([0.5]).sample(4, seed=1), m.sample(4, seed=1, context=[0.5]))
        assert_rel_close(self, one, m.log_prob(self.x, context=np.full((self.x.shape[0], 1), 0.5)), RTOL, "one row")
        self.assertGreater(np.max(np.abs(one - lp)), 1e-3, "the context matters")
        # sampling with one context row, as varflow sample --context
        c1 = self.path("c1.npy")
        np.save(c1, np.array([[0.25]]))
        out = self.path("cs.npy")
        cli("sample", "--model", path, "-n", 20, "--seed", 2, "--context", c1, "-o", out, "--quiet")
        assert_rel_close(self, m.sample(20, seed=2, context=[0.25]), np.load(out), RTOL, "conditional samples")
        with self.assertRaisesRegex(ValueError, "conditional"):
            m.log_prob(self.x)
        with self.assertRaisesRegex(ValueError, "context has 2 columns"):
            m.log_prob(self.x, context=np.zeros((1, 2)))
        with self.assertRaisesRegex(ValueError, "context has 3 rows"):
            m.sample(5, context=np.zeros((3, 1)))
        with self.assertRaisesRegex(ValueError, "not conditional"):
            varflow.load(self.model).log_prob(self.x, context=ctx)

    def test_bad_input(self):
        m = varflow.load(self.model)
        with self.assertRaisesRegex(ValueError, "3 columns but the model's dimension is 2"):
            m.log_prob(np.zeros((4, 3)))
        with self.assertRaisesRegex(ValueError, "2-D"):
            m.log_prob(np.zeros(2))
        with self.assertRaisesRegex(ValueError, "2-D"):
            m.log_prob(np.zeros((2, 2, 2)))
        with self.assertRaisesRegex(TypeError, "complex"):
            m.log_prob(np.zeros((3, 2), dtype=np.complex128))
        with self.assertRaises(TypeError):
            m.log_prob([["a", "b"]])
        with self.assertRaises((ValueError, TypeError)):
            m.log_prob([[1.0, 2.0], [3.0]])
        with self.assertRaisesRegex(varflow.VarflowError, "row") as e:
            m.log_prob(np.array([[0.0, 0.0], [np.nan, 0.0]]))
        self.assertEqual(e.exception.status, "VF_ERR_NUMERIC")
        with self.assertRaises(ValueError):
            m.sample(-1)
        with self.assertRaises(TypeError):
            m.sample(2.5)
        with self.assertRaises(ValueError):
            m.sample(3, seed=-1)
        with self.assertRaisesRegex(varflow.VarflowError, "no_such_dir") as e:
            m.save(self.path("no_such_dir/m.safetensors"))
        self.assertEqual(e.exception.status, "VF_ERR_IO")
        with self.assertRaises(TypeError):
            m.save(self.path("x.safetensors"), info={"k": 1})
        with self.assertRaisesRegex(varflow.VarflowError, "preset|unknown"):
            varflow.Flow.new("no_such_flow", 2)
        m.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            m.log_prob(self.x)

    def test_load_errors(self):
        missing = self.path("missing.safetensors")
        with self.assertRaisesRegex(varflow.VarflowError, "missing.safetensors") as e:
            varflow.load(missing)
        self.assertEqual(e.exception.status, "VF_ERR_IO")
        self.assertIsInstance(e.exception, RuntimeError)
        with self.assertRaises(varflow.VarflowError) as e:
            varflow.load(self.data)  # an .npy file, not a model
        self.assertIn("moons.npy", str(e.exception))
        truncated = self.path("truncated.safetensors")
        with open(self.model, "rb") as f, open(truncated, "wb") as g:
            g.write(f.read()[:300])
        with self.assertRaises(varflow.VarflowError):
            varflow.load(truncated)
        with self.assertRaises(TypeError):
            varflow.load(3)


class ContinuousFlows(MoonsCase):
    ROWS, SEED = 400, 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model = cls.path("cfm.safetensors")
        cli("fit", "--data", cls.data, "--model", "cfm:hidden=16x2", "--epochs", 2, "--batch", 128, "--nll-rows", 4,
            "-o", cls.model, "--quiet")
        cls.labels = cls.path("labels.npy")
        np.save(cls.labels, (cls.x[:, 0] > 0.5).astype(np.float64).reshape(-1, 1))
        cls.labelled = cls.path("cfm_labels.safetensors")
        cli("fit", "--data", cls.data, "--labels", cls.labels, "--model", "cfm:hidden=16x2", "--epochs", 2,
            "--batch", 128, "--nll-rows", 4, "-o", cls.labelled, "--quiet")

    def test_log_prob_and_sample_match_cli(self):
        m = varflow.load(self.model)
        self.assertIsInstance(m, varflow.ContinuousFlow)
        self.assertEqual((m.dim, m.objective, m.classes, m.source, m.has_score), (2, "cfm", 0, "gaussian", False))
        self.assertEqual(m.n_params, cli_json("info", self.model)["params"])
        lp = m.log_prob(self.x, steps=8)
        assert_rel_close(self, lp, self.cli_logprob(self.model, "--steps", 8), RTOL, "cnf log_prob vs CLI")
        self.assertEqual(m.last_nfe, cli_json("logprob", "--model", self.model, "--data", self.data, "--steps", 8)["nfe"])
        hut = m.log_prob(self.x, steps=8, solver="heun", hutchinson=2, seed=5)
        assert_rel_close(self, hut, self.cli_logprob(self.model, "--steps", 8, "--solver", "heun", "--hutchinson", 2,
                                                     "--seed", 5), RTOL, "Hutchinson")
        out, lpo = self.path("s.npy"), self.path("slp.npy")
        cli("sample", "--model", self.model, "-n", 30, "--seed", 3, "--solver", "euler", "--steps", 12, "-o", out,
            "--log-prob", lpo, "--quiet")
        s, slp = m.sample(30, seed=3, solver="euler", steps=12, return_log_prob=True)
        assert_rel_close(self, s, np.load(out), RTOL, "cnf samples vs CLI")
        assert_rel_close(self, slp, np.load(lpo)[:, 0], RTOL, "cnf sample log-densities vs CLI")
        cli("sample", "--model", self.model, "-n", 10, "--seed", 4, "-o", out, "--quiet")
        assert_rel_close(self, m.sample(10, seed=4), np.load(out), RTOL, "default solver and steps")

    def test_save_then_load_in_c(self):
        m = varflow.load(self.model)
        copy = self.path("copy.safetensors")
        m.save(copy, info=dict(m.info, note="from python"))
        assert_rel_close(self, self.cli_logprob(copy, "--steps", 5), m.log_prob(self.x, steps=5), RTOL, "saved cnf")
        again = varflow.load(copy)
        self.assertEqual(again.info["note"], "from python")
        self.assertEqual(again.info["fit.spec"], "cfm:hidden=16x2")

    def test_labels_and_guidance(self):
        m = varflow.load(self.labelled)
        self.assertEqual(m.classes, 2)
        out = self.path("ls.npy")
        cli("sample", "--model", self.labelled, "-n", 20, "--seed", 1, "--steps", 6, "--label", 1, "--guidance", 1.5,
            "-o", out, "--quiet")
        assert_rel_close(self, m.sample(20, seed=1, steps=6, labels=1, guidance=1.5), np.load(out), RTOL, "guided")
        lab = np.load(self.labels)[:, 0].astype(np.int64)
        assert_rel_close(self, m.log_prob(self.x, labels=lab, steps=6),
                         self.cli_logprob(self.labelled, "--steps", 6, "--labels", self.labels), RTOL, "labelled log_prob")
        with self.assertRaisesRegex(varflow.VarflowError, "label") as e:
            m.sample(3, labels=[0, 1, 2])
        self.assertEqual(e.exception.status, "VF_ERR_ARG")
        with self.assertRaisesRegex(ValueError, "negative"):
            m.sample(2, labels=[0, -1])
        with self.assertRaisesRegex(TypeError, "integers"):
            m.sample(2, labels=[0.0, 1.0])
        with self.assertRaisesRegex(ValueError, "3 integers"):
            m.log_prob(self.x[:3], labels=[0, 1])

    def test_bad_options(self):
        m = varflow.load(self.model)
        with self.assertRaisesRegex(ValueError, "unknown solver"):
            m.sample(3, solver="bogus")
        with self.assertRaisesRegex(ValueError, "ODE solver"):
            m.log_prob(self.x, solver="em")
        with self.assertRaises(varflow.VarflowError):
            m.sample(3, solver="em")  # no score field
        with self.assertRaises(varflow.VarflowError):
            m.sample(3, guidance=1.0)  # not class-conditional
        with self.assertRaisesRegex(ValueError, r"steps must be >= 1 \(got 0\)"):
            m.sample(3, steps=0)
        with self.assertRaisesRegex(ValueError, "columns"):
            m.log_prob(np.zeros((2, 5)))
        with self.assertRaisesRegex(TypeError, "needs n"):
            m.sample()


if __name__ == "__main__":
    unittest.main()
