"""Ctrl-C during varflow.fit and varflow.vi: the run ends after the current epoch (fit) or step (vi),
as `varflow fit` does on SIGINT, and the model so far is returned with interrupted=True and a
RuntimeWarning, instead of the KeyboardInterrupt either being held until the run's end or losing
the model. The KeyboardInterrupt comes from a progress callback (where a real Ctrl-C lands, the only
Python code that runs during the library call) and from a real SIGINT."""

import os
import signal
import threading
import time
import unittest
import warnings

import numpy as np

import varflow

WAIT = 60  # seconds: far more than an interrupted run takes, far less than the runs asked for


def blobs(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)) * 0.5
    x[: n // 2, 0] += 2.0
    return x


class FitInterrupt(unittest.TestCase):
    def test_keyboard_interrupt_in_progress_ends_after_the_epoch(self):
        x = blobs(600, 1)

        def progress(p):
            if p["step"] == 12:  # in epoch 3: 540 training rows in batches of 128 are 5 steps an epoch
                raise KeyboardInterrupt

        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m = varflow.fit(x, model="maf:transforms=2,hidden=16x2", epochs=1000, batch=128, patience=0, seed=2,
                            progress=progress)
        self.assertTrue(m.fit_result["interrupted"])
        self.assertEqual(m.fit_result["epochs"], 3)
        self.assertEqual(m.fit_result["steps"], 15)
        self.assertTrue(any(issubclass(x.category, RuntimeWarning) and "interrupted" in str(x.message) for x in w))
        self.assertTrue(np.all(np.isfinite(m.log_prob(x[:10]))))
        # without an interrupt the key is there and False
        self.assertFalse(varflow.fit(x, model="maf:transforms=2,hidden=16x2", epochs=2, batch=128, patience=0,
                                     seed=2).fit_result["interrupted"])

    def test_real_sigint(self):
        x = blobs(2000, 3)
        timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
        t0 = time.monotonic()
        timer.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m = varflow.fit(x, model="maf:transforms=2,hidden=16x2", epochs=10 ** 7, batch=64, patience=0,
                                seed=4)
        finally:
            timer.cancel()
        self.assertLess(time.monotonic() - t0, WAIT)
        self.assertTrue(m.fit_result["interrupted"])
        self.assertGreaterEqual(m.fit_result["epochs"], 1)


class ViInterrupt(unittest.TestCase):
    def test_keyboard_interrupt_ends_after_the_step(self):
        def progress(p):
            if p["step"] == 30:
                raise KeyboardInterrupt

        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m = varflow.vi("banana", flow="realnvp:transforms=2,hidden=8x2", steps=100000, batch=32, seed=1,
                           is_samples=200, progress=progress)
        self.assertTrue(m.vi_result["interrupted"])
        self.assertEqual(m.vi_result["steps"], 30)
        self.assertTrue(any("interrupted" in str(x.message) for x in w))
        self.assertTrue(np.isfinite(m.vi_result["log_z"]))


class LateInterrupt(unittest.TestCase):
    def test_ctrl_c_after_the_loop_is_raised(self):
        # 5 steps, then 1.5 million importance-sampling draws through a larger flow (about 3 s): the
        # Ctrl-C comes after the loop's last look at the flag, so it is raised when the call returns
        timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with self.assertRaises(KeyboardInterrupt):
                varflow.vi("banana", flow="realnvp:transforms=8,hidden=64x2", steps=5, batch=16, seed=1,
                           is_samples=1500000)
        finally:
            timer.cancel()


if __name__ == "__main__":
    unittest.main()
