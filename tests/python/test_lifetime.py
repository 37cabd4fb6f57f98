"""Object lifetimes across threads and copies: copy.copy / copy.deepcopy / pickle give independent
models and targets (never two owners of one C pointer); close() while another thread is inside a call
on the same object waits for that call, and later calls say the object was closed; concurrent calls on
one object still run concurrently; a callable Target shared by threads keeps each call's exception
apart."""

import copy
import gc
import math
import pickle
import shutil
import tempfile
import threading
import time
import unittest

import numpy as np

import varflow

WAIT = 20  # seconds: a generous bound for things that happen at once when the code is right


def two_blobs(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)) * 0.5
    x[: n // 2, 0] += 2.0
    return x


def gauss_point(v):
    return -0.5 * float(v @ v), -v


def gauss_rows(v):
    return -0.5 * np.sum(v * v, axis=1), -v


class ScaledGauss:
    """A callable object (deep-copied with its Target)."""

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, v):
        return -0.5 * float(v @ v) / self.scale, -v / self.scale


class Copies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="varflow_py_life_")
        cls.x = two_blobs(300, 1)
        f = varflow.fit(cls.x, model="maf:transforms=2,hidden=8x1", epochs=2, seed=0)
        cls.flow_path = cls.dir + "/flow.safetensors"
        f.save(cls.flow_path)
        c = varflow.fit(cls.x, model="cfm:hidden=16x1", epochs=2, seed=0, nll_rows=0)
        cls.cnf_path = cls.dir + "/cnf.safetensors"
        c.save(cls.cnf_path)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    COPIES = (("copy.copy", copy.copy), ("copy.deepcopy", copy.deepcopy),
              ("pickle", lambda m: pickle.loads(pickle.dumps(m))))

    def check_flow_copy(self, make, dup_of):
        m = make()
        want_lp, want_s = m.log_prob(self.x[:20]), m.sample(5, seed=3)
        info, fit_result, vi_result = dict(m.info), copy.deepcopy(m.fit_result), m.vi_result
        m.note = {"mine": [1]}  # a Python attribute travels with the copy
        d = dup_of(m)
        self.assertIsNot(d, m)
        self.assertEqual(d.info, info)
        self.assertEqual(d.fit_result, fit_result)
        self.assertEqual(d.vi_result, vi_result)
        self.assertEqual(d.note, {"mine": [1]})
        np.testing.assert_array_equal(d.get_params(), m.get_params())
        # independent parameters: changing the copy leaves the original alone
        d.set_params(np.zeros(d.n_params))
        np.testing.assert_array_equal(m.log_prob(self.x[:20]), want_lp)
        d.set_params(m.get_params())
        m.close()  # the copy lives on after the original is freed
        np.testing.assert_array_equal(d.log_prob(self.x[:20]), want_lp)
        np.testing.assert_array_equal(d.sample(5, seed=3), want_s)
        with self.assertRaisesRegex(ValueError, "the model was closed"):
            m.log_prob(self.x[:2])
        with self.assertRaisesRegex(ValueError, "the model was closed"):
            dup_of(m)
        del m, d
        gc.collect()

    def test_flow_copies(self):
        for name, how in self.COPIES:
            with self.subTest(name, model="loaded"):
                self.check_flow_copy(lambda: varflow.load(self.flow_path), how)
            with self.subTest(name, model="fitted"):  # a fitted flow owns a vf_fitted handle
                self.check_flow_copy(lambda: varflow.fit(self.x, model="maf:transforms=1,hidden=4x1", epochs=1,
                                                         seed=2), how)

    def test_vi_flow_copy(self):
        q = varflow.vi("gauss:d=2", flow="maf:transforms=1,hidden=4x1", steps=5, batch=16, is_samples=50, seed=1)
        self.check_flow_copy(lambda: q, copy.deepcopy)

    def test_continuous_flow_copies(self):
        for name, how in self.COPIES:
            with self.subTest(name):
                m = varflow.load(self.cnf_path)
                want_s = m.sample(5, seed=3, steps=10)
                want_lp = m.log_prob(self.x[:5], steps=10)
                d = how(m)
                self.assertIsNot(d, m)
                self.assertEqual(d.info, m.info)
                self.assertEqual((d.objective, d.dim, d.classes), (m.objective, m.dim, m.classes))
                m.close()
                np.testing.assert_array_equal(d.sample(5, seed=3, steps=10), want_s)
                np.testing.assert_array_equal(d.log_prob(self.x[:5], steps=10), want_lp)
                with self.assertRaisesRegex(ValueError, "the model was closed"):
                    m.sample(2)
                del m, d
                gc.collect()
        f = varflow.fit(self.x, model="cfm:hidden=8x1", epochs=1, seed=0, nll_rows=0)
        self.assertEqual(copy.copy(f).fit_result, f.fit_result)

    def test_targets(self):
        x = np.random.default_rng(0).standard_normal((4, 3))
        t = varflow.Target("funnel:d=3")
        want = t.log_prob(x)
        for name, how in self.COPIES:
            with self.subTest(name, target="spec"):
                d = how(t)
                self.assertIsNot(d, t)
                self.assertEqual((d.spec, d.dim, d.name), (t.spec, t.dim, t.name))
                np.testing.assert_array_equal(d.log_prob(x), want)
                d.close()
                np.testing.assert_array_equal(t.log_prob(x), want)  # the original's state is its own
        d = copy.copy(t)
        t.close()
        np.testing.assert_array_equal(d.log_prob(x), want)
        for use in (lambda: t.log_prob(x), lambda: t.score(x), lambda: t.sample(2), lambda: copy.copy(t),
                    lambda: varflow.eval("ksd", x, target=t),
                    lambda: varflow.mcmc(t, n=4, warmup=0)):
            with self.assertRaisesRegex(ValueError, "the target was closed"):
                use()
        # callables: a new Target around the same callable (deepcopy copies a callable object)
        g = varflow.Target(gauss_point, dim=2)
        xs = x[:, :2]
        for name, how in self.COPIES:
            with self.subTest(name, target="callable"):
                d = how(g)
                self.assertIs(d._fn, gauss_point)
                np.testing.assert_array_equal(d.log_prob(xs), g.log_prob(xs))
        b = varflow.Target(gauss_rows, dim=2, batched=True)
        self.assertTrue(copy.copy(b).batched and pickle.loads(pickle.dumps(b)).batched)
        o = varflow.Target(ScaledGauss(2.0), dim=2)
        od = copy.deepcopy(o)
        self.assertIsNot(od._fn, o._fn)
        o._fn.scale = 4.0
        np.testing.assert_allclose(od.log_prob([[2.0, 0.0]]), [-1.0])
        with self.assertRaises((pickle.PicklingError, AttributeError)):  # pickle's own error for a lambda
            pickle.dumps(varflow.Target(lambda v: -float(v @ v), dim=2))


class CloseWhileInUse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = two_blobs(300, 2)
        cls.flow = varflow.fit(cls.x, model="maf:transforms=2,hidden=8x1", epochs=2, seed=0)
        cls.dir = tempfile.mkdtemp(prefix="varflow_py_life_")
        cls.flow_path = cls.dir + "/flow.safetensors"
        cls.flow.save(cls.flow_path)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def close_while_busy(self, obj, call, entered, release, probe, closed):
        """Runs call() on a thread; once it is inside the library (entered), closes obj from another
        thread and checks that close() waits for the call, that new calls (probe()) are refused with
        `closed` meanwhile, and that the call ends without an error. Returns call()'s result."""
        out = {}

        def run():
            try:
                out["result"] = call()
            except BaseException as e:  # noqa: B902
                out["error"] = e

        th = threading.Thread(target=run)
        th.start()
        self.assertTrue(entered.wait(WAIT))
        closer = threading.Thread(target=obj.close)
        closer.start()
        closer.join(0.3)
        alive = closer.is_alive()
        if alive:  # new calls are refused while close() waits
            with self.assertRaisesRegex(ValueError, closed):
                probe()
        release.set()
        th.join(WAIT)
        closer.join(WAIT)
        self.assertTrue(alive, "close() returned while the library was still using the object")
        self.assertNotIn("error", out)
        return out["result"]

    def test_flow_close_waits_for_mcmc(self):
        m = varflow.load(self.flow_path)
        entered, release = threading.Event(), threading.Event()

        def f(v):  # blocks the first call, inside vf_mcmc_run, until released
            entered.set()
            release.wait(WAIT)
            return -0.5 * float(v @ v), -v

        draws = self.close_while_busy(
            m, lambda: varflow.mcmc(varflow.Target(f, dim=2), n=20, chains=2, warmup=5, sampler="imh", model=m,
                                    seed=1)[0],
            entered, release, lambda: m.log_prob(self.x[:2]), "the model was closed")
        self.assertEqual(draws.shape, (2, 20, 2))
        self.assertTrue(np.all(np.isfinite(draws)))
        with self.assertRaisesRegex(ValueError, "the model was closed"):
            m.sample(2)
        self.assertEqual(repr(m), "Flow(closed)")

    def test_target_close_waits_for_vi(self):
        t = varflow.Target("gauss:d=2")
        entered, release = threading.Event(), threading.Event()

        def progress(r):
            entered.set()
            release.wait(WAIT)

        q = self.close_while_busy(
            t, lambda: varflow.vi(t, flow="maf:transforms=1,hidden=4x1", steps=3, batch=8, is_samples=30,
                                  progress=progress),
            entered, release, lambda: t.log_prob(np.zeros((1, 2))), "the target was closed")
        self.assertTrue(math.isfinite(q.vi_result["log_z"]))
        with self.assertRaisesRegex(ValueError, "the target was closed"):
            t.log_prob(np.zeros((1, 2)))

    def test_continuous_flow_close_during_sample(self):
        c = varflow.fit(self.x, model="cfm:hidden=32x2", epochs=1, seed=0, nll_rows=0)
        want = c.sample(4000, seed=5, steps=100)
        out = {}

        def run():
            try:
                out["s"] = c.sample(4000, seed=5, steps=100)
            except BaseException as e:  # noqa: B902
                out["error"] = e
            out["done"] = time.monotonic()

        th = threading.Thread(target=run)
        th.start()
        time.sleep(0.02)
        c.close()
        closed = time.monotonic()
        th.join(WAIT)
        if "error" in out:  # close() came first: the call is refused, not run on freed memory
            self.assertRegex(str(out["error"]), "the model was closed")
        else:  # the call came first: close() waited for it
            np.testing.assert_array_equal(out["s"], want)
            self.assertLessEqual(out["done"], closed)
        with self.assertRaisesRegex(ValueError, "the model was closed"):
            c.sample(2)

    def test_close_inside_own_call_is_refused(self):
        t = varflow.Target("gauss:d=2")
        seen = []

        def progress(r):
            if not seen:
                try:
                    t.close()
                except RuntimeError as e:
                    seen.append(str(e))

        varflow.vi(t, flow="maf:transforms=1,hidden=4x1", steps=2, batch=8, is_samples=30, progress=progress)
        self.assertEqual(len(seen), 1)
        self.assertIn("inside a call", seen[0])
        t.close()
        t.close()  # twice is fine


class Concurrency(unittest.TestCase):
    def test_calls_on_one_model_and_target_overlap(self):
        """Two threads inside mcmc on the same Flow and the same Target at once: each waits at a barrier
        for the other inside its first callback, which times out if the calls were serialized."""
        x = two_blobs(200, 3)
        m = varflow.fit(x, model="maf:transforms=1,hidden=4x1", epochs=1, seed=0)
        barrier = threading.Barrier(2, timeout=WAIT)
        local = threading.local()

        def f(v):
            if not getattr(local, "met", False):
                local.met = True
                barrier.wait()
            return -0.5 * float(v @ v), -v

        t = varflow.Target(f, dim=2)
        out = {}

        def run(k):
            try:
                out[k] = varflow.mcmc(t, n=10, chains=2, warmup=0, sampler="imh", model=m, seed=k)[0]
            except BaseException as e:  # noqa: B902
                out[k] = e

        threads = [threading.Thread(target=run, args=(k,)) for k in (1, 2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(2 * WAIT)
        for k in (1, 2):
            self.assertIsInstance(out[k], np.ndarray, "thread %d: %r" % (k, out[k]))
        want = varflow.mcmc(varflow.Target(gauss_point, dim=2), n=10, chains=2, warmup=0, sampler="imh", model=m,
                            seed=1)[0]
        np.testing.assert_array_equal(out[1], want)


class SharedCallableTarget(unittest.TestCase):
    def test_each_call_keeps_its_own_exception(self):
        """Thread A's vi fails inside the callable; while its exception is pending (A's progress report
        after the failure), thread B finishes a call it had started and thread C makes a new one. B and
        C must succeed, and A must get its own exception back."""
        main = threading.current_thread()
        b_inside, b_go = threading.Event(), threading.Event()
        local = threading.local()

        def f(v):
            me = threading.current_thread()
            if me is main:
                raise KeyError("boom in A")
            if me.name == "B" and not getattr(local, "waited", False):
                local.waited = True
                b_inside.set()
                b_go.wait(WAIT)
            return -0.5 * float(v @ v), -v

        t = varflow.Target(f, dim=2)
        rows = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
        want = -0.5 * np.sum(rows * rows, axis=1)
        out = {}

        def call(k):
            try:
                out[k] = t.log_prob(rows)
            except BaseException as e:  # noqa: B902
                out[k] = e

        b = threading.Thread(target=call, args=("B",), name="B")
        b.start()
        self.assertTrue(b_inside.wait(WAIT))

        def progress(r):
            if r["done"] == -1:  # A's exception is pending now
                b_go.set()
                b.join(WAIT)
                c = threading.Thread(target=call, args=("C",), name="C")
                c.start()
                c.join(WAIT)

        with self.assertRaisesRegex(KeyError, "boom in A"):
            varflow.vi(t, flow="maf:transforms=1,hidden=4x1", steps=3, batch=8, is_samples=30, progress=progress)
        b_go.set()
        b.join(WAIT)
        for k in ("B", "C"):
            self.assertIsInstance(out.get(k), np.ndarray, "call %s: %r" % (k, out.get(k)))
            np.testing.assert_allclose(out[k], want)


if __name__ == "__main__":
    unittest.main()
