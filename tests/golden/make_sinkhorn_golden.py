"""make_sinkhorn_golden.py -- the POT 0.8.2 reference numbers written as constants into
tests/test_sinkhorn.c and tests/test_sinkhorn_unbalanced.c (CI does not run this script).

The problems are defined by formulas, so the C tests rebuild them exactly:
  cost[i, j] = (i / (n - 1) - j / (m - 1))^2 + 0.3 sin(1.7 i + 0.9 j + 0.5)^2 ,  n = 7, m = 5
  a_i = (1 + 0.3 i) / sum,  b_j = (2 + cos j) / sum
Run:  /usr/bin/python3 tests/golden/make_sinkhorn_golden.py
"""
import math
import numpy as np
import ot

n, m = 7, 5
C = np.array([[(i / (n - 1) - j / (m - 1)) ** 2 + 0.3 * math.sin(1.7 * i + 0.9 * j + 0.5) ** 2
               for j in range(m)] for i in range(n)])
a = np.array([1 + 0.3 * i for i in range(n)]); a /= a.sum()
b = np.array([2 + math.cos(j) for j in range(m)]); b /= b.sum()

print("/* balanced: ot.sinkhorn(a, b, C, eps, method='sinkhorn_log', stopThr=1e-6): iterations (niter + 1) and <P, C> */")
for eps in (0.05, 0.01):
    P, log = ot.sinkhorn(a, b, C, eps, method='sinkhorn_log', stopThr=1e-6, numItermax=100000, log=True)
    print("{%g, %d, %.17g}," % (eps, log['niter'] + 1, float((P * C).sum())))

# Unbalanced with reference measure a b^T: POT's entropy sum P log P on the cost C - eps log(a_i b_j)
# gives the minimizer of <P, C> + eps KL(P | a b^T) + rho KL(P 1 | a) + rho KL(P^T 1 | b).
print("/* unbalanced: ot.sinkhorn_unbalanced(a, b, C - eps log(a b^T), eps, rho, stopThr=1e-13): "
      "eps, rho, <P, C>, mass of P */")
for eps, rho in ((0.1, 1.0), (0.05, 0.2), (0.2, 5.0)):
    Cp = C - eps * np.log(np.outer(a, b))
    P = ot.unbalanced.sinkhorn_unbalanced(a, b, Cp, eps, rho, method='sinkhorn', numItermax=1000000, stopThr=1e-13)
    print("{%g, %g, %.17g, %.17g}," % (eps, rho, float((P * C).sum()), float(P.sum())))
