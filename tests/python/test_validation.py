"""What the binding refuses before a value reaches C, with a message naming the argument: numbers out of
the C type's range (never wrapped) or out of the option's range (never silently replaced), non-finite
training rows (named by row and column, before any training), strings with an embedded NUL (never
truncated), a dim= that contradicts the target, and a callable's +inf or non-real log-density."""

import math
import os
import shutil
import tempfile
import unittest

import numpy as np

import varflow

BIG64 = 2 ** 64 + 1  # wraps to 1 in a uint64/int64 field
BIG32 = 2 ** 31 + 1  # negative in a C int


def blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)) * 0.5
    x[: n // 2, 0] += 2.0
    return x


class Options(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = blobs()
        cls.dir = tempfile.mkdtemp(prefix="varflow_py_val_")
        cls.cnf = varflow.fit(cls.x, model="cfm:hidden=8x1", epochs=1, seed=0, nll_rows=0)
        cls.flow = varflow.fit(cls.x, model="maf:transforms=1,hidden=4x1", epochs=1, seed=0)
        cls.sde = varflow.fit(cls.x, model="sbcfm:hidden=8x1", epochs=1, seed=0, nll_rows=0)  # has a score: em

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_integers_beyond_the_c_type(self):
        x, c = self.x, self.cnf
        cases = [
            ("epochs", lambda: varflow.fit(x, model="maf", epochs=BIG64)),
            ("steps", lambda: varflow.fit(x, model="maf", steps=BIG64)),
            ("batch", lambda: varflow.fit(x, model="maf", batch=BIG64)),
            ("steps", lambda: c.sample(3, steps=BIG64)),
            ("steps", lambda: c.log_prob(x[:2], steps=BIG64)),
            ("hutchinson", lambda: c.log_prob(x[:2], hutchinson=BIG32)),
            ("warmup", lambda: varflow.mcmc("gauss:d=2", n=4, warmup=2 ** 64 + 3)),
            ("n", lambda: varflow.mcmc("gauss:d=2", n=BIG64)),
            ("steps", lambda: varflow.vi("gauss:d=2", steps=BIG64)),
            ("is_samples", lambda: varflow.vi("gauss:d=2", is_samples=BIG64)),
            ("n", lambda: varflow.set_num_threads(10 ** 12)),
            ("n", lambda: self.flow.sample(BIG64)),
            ("max_iter", lambda: varflow.eval("sinkhorn", x, x, max_iter=BIG64)),
            ("projections", lambda: varflow.eval("sw", x, x, projections=BIG64)),
        ]
        for name, call in cases:
            with self.subTest(name):
                with self.assertRaisesRegex(ValueError, r"^%s.* must be .*\(got \d+\)" % name):
                    call()
        self.assertEqual(varflow.set_num_threads(0), varflow.set_num_threads(0))  # still usable

    def test_out_of_range_values_are_refused(self):
        x, c = self.x, self.cnf
        cases = [
            ("sigma", lambda: self.sde.sample(3, solver="em", sigma=math.nan)),
            ("sigma", lambda: self.sde.sample(3, solver="em", sigma=-1.0)),
            ("rtol", lambda: c.sample(3, solver="dopri5", rtol=0.0)),
            ("atol", lambda: c.log_prob(x[:2], solver="dopri5", atol=math.inf)),
            ("guidance", lambda: c.sample(3, guidance=math.nan)),
            ("epochs", lambda: varflow.fit(x, model="maf", epochs=0)),
            ("batch", lambda: varflow.fit(x, model="maf", batch=0)),
            ("clip", lambda: varflow.fit(x, model="maf", clip=0)),
            ("lr", lambda: varflow.fit(x, model="maf", lr=-1e-3)),
            ("weight_decay", lambda: varflow.fit(x, model="maf", weight_decay=math.nan)),
            ("valid_fraction", lambda: varflow.fit(x, model="maf", valid_fraction=1.0)),
            ("warmup", lambda: varflow.fit(x, model="maf", warmup=-2)),
            ("box_alpha", lambda: varflow.fit(x, model="maf", box=(-5, 5), box_alpha=0.5)),
            ("clip", lambda: varflow.vi("gauss:d=2", clip=0)),
            ("lr", lambda: varflow.vi("gauss:d=2", lr=math.inf)),
            ("steps", lambda: varflow.vi("gauss:d=2", steps=0)),
            ("beta0", lambda: varflow.vi("gauss:d=2", beta0=0.0)),
            ("box", lambda: varflow.vi("gauss:d=2", box=math.nan)),
            ("step_size", lambda: varflow.mcmc("gauss:d=2", n=4, step_size=math.inf)),
            ("target_accept", lambda: varflow.mcmc("gauss:d=2", n=4, target_accept=1.0)),
            ("leapfrog", lambda: varflow.mcmc("gauss:d=2", n=4, leapfrog=0)),
            ("eps", lambda: varflow.eval("sinkhorn", x, x, eps=math.nan)),
            ("bandwidth", lambda: varflow.eval("mmd", x, x, bandwidth=-1.0)),
            ("p", lambda: varflow.eval("sw", x, x, p=3)),
        ]
        for name, call in cases:
            with self.subTest(name):
                with self.assertRaisesRegex(ValueError, r"^%s.* must be " % name):
                    call()
        # the CLI's words for what used to be misleading library errors
        with self.assertRaisesRegex(ValueError, r"epochs must be >= 1 \(got 0\)"):
            varflow.fit(x, model="maf", epochs=0)
        with self.assertRaisesRegex(ValueError, r"batch must be >= 1 \(got 0\)"):
            varflow.fit(x, model="maf", batch=0)
        with self.assertRaisesRegex(ValueError, r"clip must be a finite number > 0 \(got 0\)"):
            varflow.fit(x, model="maf", clip=0)
        with self.assertRaisesRegex(ValueError, r"sigma .* must be a finite number >= 0 \(got -1"):
            self.sde.sample(3, solver="em", sigma=-1)
        self.assertTrue(np.all(np.isfinite(self.sde.sample(3, solver="em", sigma=0.5, steps=10))))

    def test_wrong_types_as_numbers(self):
        x, c = self.x, self.cnf
        cases = [
            ("epochs", lambda: varflow.fit(x, model="maf", epochs=True)),
            ("epochs", lambda: varflow.fit(x, model="maf", epochs=2.0)),
            ("lr", lambda: varflow.fit(x, model="maf", lr="0.01")),
            ("clip", lambda: varflow.vi("gauss:d=2", clip=True)),
            ("sigma", lambda: self.sde.sample(3, solver="em", sigma="1")),
            ("guidance", lambda: c.sample(3, guidance=1j)),
            ("hutchinson", lambda: c.log_prob(x[:2], hutchinson=True)),
            ("step_size", lambda: varflow.mcmc("gauss:d=2", n=4, step_size="0.1")),
            ("n", lambda: varflow.set_num_threads(2.0)),
        ]
        for name, call in cases:
            with self.subTest(name):
                with self.assertRaisesRegex(TypeError, r"^%s.* must be an? (int|real number), not" % name):
                    call()

    def test_non_finite_training_rows(self):
        x = self.x.copy()
        x[5, 1] = math.inf
        with self.assertRaisesRegex(ValueError, r"^x: row 5, column 1 is inf"):
            varflow.fit(x, model="maf", epochs=1)
        v = self.x[:20].copy()
        v[3, 0] = math.nan
        with self.assertRaisesRegex(ValueError, r"^valid: row 3, column 0 is nan"):
            varflow.fit(self.x, model="maf", epochs=1, valid=v)
        ctx = np.zeros((len(self.x), 1))
        ctx[9, 0] = -math.inf
        with self.assertRaisesRegex(ValueError, r"^context: row 9, column 0 is -inf"):
            varflow.fit(self.x, model="maf", epochs=1, context=ctx)
        vc = np.zeros((20, 1))
        vc[2, 0] = math.nan
        with self.assertRaisesRegex(ValueError, r"^valid_context: row 2, column 0 is nan"):
            varflow.fit(self.x, model="maf", epochs=1, context=np.zeros((len(self.x), 1)), valid=self.x[:20],
                        valid_context=vc)

    def test_eval_needs_b(self):
        with self.assertRaisesRegex(ValueError, r"eval\('emd'\) compares two samples: pass b"):
            varflow.eval("emd", self.x)
        with self.assertRaisesRegex(ValueError, r"eval\('mmd'\) compares two samples"):
            varflow.eval("mmd", self.x, None)


class NulCharacters(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="varflow_py_nul_")
        cls.x = blobs()
        cls.model = os.path.join(cls.dir, "a.safetensors")
        varflow.fit(cls.x, model="maf:transforms=1,hidden=4x1", epochs=1, seed=0).save(cls.model)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_refused_everywhere(self):
        m = varflow.load(self.model)  # the file exists: a truncated name would load it
        c = varflow.fit(self.x, model="cfm:hidden=8x1", epochs=1, seed=0, nll_rows=0)
        cases = [
            lambda: varflow.load(self.model + "\0zz"),
            lambda: varflow.load(os.fsencode(self.model) + b"\0zz"),
            lambda: varflow.Target("funnel:d=3\0zz"),
            lambda: varflow.Target(b"funnel:d=3\0zz"),
            lambda: varflow.fit(self.x, model="maf", epochs=1, name="a\0b"),
            lambda: varflow.fit(self.x, model="maf:transforms=1\0zz", epochs=1),
            lambda: varflow.fit(self.x, model="maf", epochs=1, log=os.path.join(self.dir, "l\0og")),
            lambda: m.save(os.path.join(self.dir, "b.safetensors\0zz")),
            lambda: m.save(os.path.join(self.dir, "b.safetensors"), info={"note": "a\0b"}),
            lambda: m.save(os.path.join(self.dir, "b.safetensors"), info={"no\0te": "ab"}),
            lambda: c.save(os.path.join(self.dir, "c.safetensors"), info={"note": "a\0b"}),
            lambda: c.sample(2, solver="rk4\0zz"),
            lambda: varflow.Flow.new("maf\0zz", 2),
            lambda: varflow.vi("gauss:d=2\0zz", steps=2),
            lambda: varflow.vi("gauss:d=2", flow="maf\0zz", steps=2),
            lambda: varflow.vi("gauss:d=2", objective="rkl\0zz", steps=2),
            lambda: varflow.mcmc("gauss:d=2", n=4, sampler="mala\0zz"),
            lambda: varflow.eval("emd", self.x, self.x, cost="euclidean\0zz"),
        ]
        for k, call in enumerate(cases):
            with self.subTest(k):
                with self.assertRaisesRegex(ValueError, "embedded null character"):
                    call()
        self.assertFalse(os.path.exists(os.path.join(self.dir, "b.safetensors")))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "c.safetensors")))


class DimMismatch(unittest.TestCase):
    def test_dim_must_match_the_target(self):
        f = varflow.Target(lambda v: (-0.5 * float(v @ v), -v), dim=2)
        cases = [
            lambda: varflow.vi("gauss:d=2", dim=5, steps=2),
            lambda: varflow.vi(f, dim=7, steps=2),
            lambda: varflow.mcmc("gauss:d=2", dim=5, n=4),
            lambda: varflow.mcmc(f, dim=3, n=4),
        ]
        for k, call in enumerate(cases):
            with self.subTest(k):
                with self.assertRaisesRegex(ValueError, r"dim=\d but the target .* has dimension 2"):
                    call()
        # the same dim is fine
        draws, _ = varflow.mcmc("gauss:d=2", dim=2, n=4, warmup=0, chains=1)
        self.assertEqual(draws.shape, (1, 4, 2))


class CallableReturns(unittest.TestCase):
    x = np.array([[0.0, 0.0], [1.0, 2.0]])

    def test_plus_inf_is_an_error(self):
        for batched in (False, True):
            with self.subTest(batched=batched):
                if batched:
                    t = varflow.Target(lambda v: (np.where(v[:, 0] > 0.5, math.inf, 0.0), -v), dim=2, batched=True)
                else:
                    t = varflow.Target(lambda v: (math.inf if v[0] > 0.5 else 0.0, -v), dim=2)
                with self.assertRaisesRegex(ValueError, r"log-density of \+inf"):
                    t.log_prob(self.x)
                with self.assertRaisesRegex(ValueError, r"log-density of \+inf"):
                    varflow.vi(t, flow="maf:transforms=1,hidden=4x1", steps=2, batch=8, is_samples=30)
        # -inf stays legal: outside the support
        t = varflow.Target(lambda v: -math.inf if v[0] > 0.5 else 0.0, dim=2)
        np.testing.assert_array_equal(t.log_prob(self.x), [0.0, -math.inf])
        tb = varflow.Target(lambda v: np.where(v[:, 0] > 0.5, -math.inf, 0.0), dim=2, batched=True)
        np.testing.assert_array_equal(tb.log_prob(self.x), [0.0, -math.inf])

    def test_non_real_values(self):
        cases = [
            ("log-density of type str", varflow.Target(lambda v: "1.5", dim=2), "log_prob"),
            ("log-density of type complex", varflow.Target(lambda v: 1.5 + 0j, dim=2), "log_prob"),
            ("log-density of type bool", varflow.Target(lambda v: True, dim=2), "log_prob"),
            ("gradient of dtype complex128",
             varflow.Target(lambda v: (0.0, np.array([1.0 + 1j, 0.0])), dim=2), "score"),
            ("log-density of type array of dtype <U3",
             varflow.Target(lambda v: np.array(["1.5"] * len(v)), dim=2, batched=True), "log_prob"),
            ("log-density of type array of dtype complex128",
             varflow.Target(lambda v: np.zeros(len(v), dtype=complex), dim=2, batched=True), "log_prob"),
            ("gradient of dtype complex128",
             varflow.Target(lambda v: (np.zeros(len(v)), np.zeros(v.shape, dtype=complex)), dim=2, batched=True),
             "score"),
        ]
        for message, t, method in cases:
            with self.subTest(message):
                with self.assertRaisesRegex(TypeError, message):
                    getattr(t, method)(self.x)


if __name__ == "__main__":
    unittest.main()
