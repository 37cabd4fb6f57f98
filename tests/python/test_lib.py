"""Finding and loading the library: the scalar type read at run time matches the build, a bad
VARFLOW_LIB is a clear ImportError, the version agrees with the program's, and errors are
VarflowError (a RuntimeError) carrying the library's message and status name."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import varflow


class Library(unittest.TestCase):
    def test_real_dtype_is_the_builds(self):
        want = os.environ.get("VARFLOW_REAL")  # set by tests/CMakeLists.txt: float32 or float64
        if not want:
            self.skipTest("VARFLOW_REAL is not set (ctest sets it)")
        self.assertEqual(varflow.real_dtype, np.dtype(want))

    def test_version(self):
        self.assertRegex(varflow.library_version(), r"^\d+\.\d+\.\d+$")
        cli = os.environ.get("VARFLOW_CLI")
        if cli:
            out = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout
            self.assertEqual(out.split()[-1], varflow.library_version())

    def test_library_path(self):
        want = os.environ.get("VARFLOW_LIB")
        if want:
            self.assertEqual(varflow.library_path, want)

    def test_bad_library_path_is_an_import_error(self):
        env = dict(os.environ, VARFLOW_LIB="/no/such/libvarflow.so")
        p = subprocess.run([sys.executable, "-c", "import varflow"], env=env, capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ImportError", p.stderr)
        self.assertIn("/no/such/libvarflow.so", p.stderr)

    def test_library_next_to_the_package(self):
        # an installed copy with the library inside: found without VARFLOW_LIB
        lib = os.environ.get("VARFLOW_LIB")
        if not lib:
            self.skipTest("VARFLOW_LIB is not set")
        folder = tempfile.mkdtemp(prefix="varflow_pkg_")
        try:
            pkg = os.path.join(folder, "varflow")
            shutil.copytree(os.path.dirname(varflow.__file__), pkg, ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copy(lib, os.path.join(pkg, "libvarflow.so"))
            env = {k: v for k, v in os.environ.items() if k != "VARFLOW_LIB"}
            env["PYTHONPATH"] = folder
            p = subprocess.run([sys.executable, "-B", "-c", "import varflow; print(varflow.library_path)"], env=env,
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.strip(), os.path.join(pkg, "libvarflow.so"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def test_threads(self):
        before = varflow.set_num_threads(1)
        self.assertEqual(varflow.set_num_threads(before), 1)

    def test_error_type(self):
        self.assertTrue(issubclass(varflow.VarflowError, RuntimeError))
        with self.assertRaises(varflow.VarflowError) as e:
            varflow.Target("gauss:d=2,rho=7")
        self.assertEqual(e.exception.status, "VF_ERR_ARG")
        self.assertIn("rho", str(e.exception))


if __name__ == "__main__":
    unittest.main()
