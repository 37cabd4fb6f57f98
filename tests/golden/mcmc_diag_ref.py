#!/usr/bin/env python3
# mcmc_diag_ref.py — the reference values of tests/test_mcmc_diag.c: split R-hat, split ESS, rank-normalized
# R-hat and bulk ESS of Vehtari et al. (2021) on a fixed 3 x 11 array, written independently of
# src/vi/mcmc_diag.c (direct autocovariance sums instead of an FFT). Python 3 standard library only.
import math
from statistics import NormalDist
X = [[0.3, -1.2, 0.8, 1.5, -0.4, 0.1, 2.2, -0.9, 0.6, 1.1, -0.2],
     [1.9, 2.4, 1.1, 3.0, 2.2, 1.7, 2.8, 2.1, 1.4, 2.6, 2.0],
     [0.5, 0.9, -0.3, 1.2, 0.0, 0.7, 1.6, -0.5, 0.2, 0.4, 1.0]]
def split(X):
    n=len(X[0]); h=n//2; out=[]
    for c in X: out.append(c[:h]); out.append(c[n-h:])
    return out
def wvar(Y):
    k=len(Y); h=len(Y[0])
    means=[sum(y)/h for y in Y]
    W=sum(sum((v-m)**2 for v in y)/(h-1) for y,m in zip(Y,means))/k
    mm=sum(means)/k
    B=h/(k-1)*sum((m-mm)**2 for m in means)
    vp=(h-1)/h*W+B/h
    return W,vp,means
def rhat(Y):
    W,vp,_=wvar(Y); return math.sqrt(vp/W)
def ess(Y):
    W,vp,means=wvar(Y); k=len(Y); h=len(Y[0])
    def acov(y,m,t): return sum((y[i]-m)*(y[i+t]-m) for i in range(h-t))/h
    rho=[1-(W-sum(acov(y,m,t)*h/(h-1) for y,m in zip(Y,means))/k)/vp for t in range(h)]
    tau=-1; prev=float('inf'); j=0
    while 2*j+1<h:
        p=rho[2*j]+rho[2*j+1]
        if not p>0: break
        p=min(p,prev); prev=p; tau+=2*p; j+=1
    e=k*h/tau
    return min(e, k*h*math.log10(k*h))
def ranknorm(Y):
    flat=[v for y in Y for v in y]; S=len(flat)
    srt=sorted(flat)
    def r(v):
        lo=srt.index(v); hi=len(srt)-1-srt[::-1].index(v); return (lo+hi)/2+1
    return [[NormalDist().inv_cdf((r(v)-0.375)/(S+0.25)) for v in y] for y in Y]
Y=split(X)
print("split_rhat %.12f"%rhat(Y))
print("split_ess %.12f"%ess(Y))
Z=ranknorm(Y)
flat=sorted(v for y in Y for v in y); S=len(flat); med=(flat[S//2-1]+flat[S//2])/2 if S%2==0 else flat[S//2]
F=ranknorm([[abs(v-med) for v in y] for y in Y])
print("rhat %.12f"%max(rhat(Z),rhat(F)))
print("bulk_ess %.12f"%ess(Z))
