"""Shared by tests/python/test_*.py: the varflow program ($VARFLOW_CLI), a scratch folder, small
model files fitted by the CLI, and a banana log-density point by point and by rows. ctest sets
VARFLOW_LIB, PYTHONPATH and VARFLOW_CLI (tests/CMakeLists.txt); by hand:

    VARFLOW_LIB=build/libvarflow.so PYTHONPATH=python VARFLOW_CLI=build/varflow python3 tests/python/test_models.py
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

CLI = os.environ.get("VARFLOW_CLI")


def cli(*args, check=True):
    """Runs the varflow program; returns (exit code, stdout, stderr)."""
    p = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError("varflow %s: exit %d: %s" % (" ".join(map(str, args)), p.returncode, p.stderr))
    return p.returncode, p.stdout, p.stderr


def cli_json(*args):
    return json.loads(cli(*(args + ("--json",)))[1])


class ScratchCase(unittest.TestCase):
    """A test case with a scratch folder self.dir, removed afterwards."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="varflow_py_")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)


class MoonsCase(ScratchCase):
    """A scratch folder holding `varflow data moons -n ROWS --seed SEED` as self.data (rows in self.x),
    and the CLI's log-densities of those rows under a model. Skipped without VARFLOW_CLI."""

    ROWS, SEED = 500, 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not CLI:
            raise unittest.SkipTest("VARFLOW_CLI is not set (ctest sets it)")
        cls.data = cls.path("moons.npy")
        cli("data", "moons", "-n", cls.ROWS, "--seed", cls.SEED, "-o", cls.data)
        cls.x = np.load(cls.data)

    def cli_logprob(self, model, *extra):
        """`varflow logprob --model MODEL --data self.data EXTRA... -o FILE`, read back: [n]."""
        out = self.path("lp_cli.npy")
        cli("logprob", "--model", model, "--data", self.data, "-o", out, "--quiet", *extra)
        return np.load(out)[:, 0]


def assert_rel_close(case, got, want, rtol, msg=""):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    case.assertEqual(got.shape, want.shape, msg)
    err = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-30)) if want.size else 0.0
    case.assertLessEqual(err, rtol, "%s: largest relative difference %g" % (msg, err))


def banana_point(x):
    """A banana log-density of one point, written with the same elementwise operations as banana_rows."""
    r = x[1] - 0.25 * x[0] * x[0]
    return -0.125 * x[0] * x[0] - 0.5 * r * r, np.array([-0.25 * x[0] + r * 0.5 * x[0], -r])


def banana_rows(x):
    """banana_point for rows x [n, 2] at once."""
    r = x[:, 1] - 0.25 * x[:, 0] * x[:, 0]
    return -0.125 * x[:, 0] * x[:, 0] - 0.5 * r * r, np.stack([-0.25 * x[:, 0] + r * 0.5 * x[:, 0], -r], axis=1)
