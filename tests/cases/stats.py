"""Test-table lines for ``dualdiff.scipy.stats`` (and its rules in dualdiff/rules/stats_special.py).

One line per method and differentiable argument, named ``dist.method[arg]``; its ``op`` is a
registered op the method calls (the table's check that every line exercises its op). Points are
inside the support, away from the kinks of ``laplace`` (``x = loc``) and the support's ends;
parameters broadcast against ``x`` as SciPy allows. The cdf-family methods of ``t``, ``chi2``,
``gamma`` and ``beta`` have no line for their shape parameters: those raise (tested in
tests/test_scipy_stats.py).
"""

import numpy as np
import scipy.special as sc
from scipy.special import _ufuncs as scu

from dualdiff.scipy import stats
from tests._table import Case, pos, rand

real = rand(2, 3, low=-2.0, high=2.0, seed=20)
positive = pos(2, 3, seed=21) + 0.2
unit = rand(2, 3, low=0.1, high=0.9, seed=22)
loc = rand(3, low=-0.3, high=0.3, seed=23)  # broadcasts against x
loc_pos = -rand(3, low=0.0, high=0.05, seed=24)  # keeps x - loc inside (0, inf)
scale = pos(1, seed=25)
scale_unit = np.array([1.1])  # keeps (x - loc) / scale inside (0, 1)
shape_a = pos(3, seed=26) + 0.5

# name: (x, loc, scale, shapes, {method: op}); methods not listed use the op under "*".
CONTINUOUS = {
    "norm": (real, loc, scale, (), {"*": np.square, "cdf": sc.ndtr, "sf": sc.ndtr,
                                    "logcdf": sc.log_ndtr, "logsf": sc.log_ndtr}),
    "t": (real, loc, scale, (shape_a + 1.0,), {"*": np.log1p, "pdf[df]": sc.poch,
                                               "logpdf[df]": sc.poch, "cdf": sc.stdtr,
                                               "sf": sc.stdtr, "logcdf": sc.stdtr,
                                               "logsf": sc.stdtr, "entropy": sc.beta}),
    "chi2": (positive, loc_pos, scale, (shape_a + 1.0,), {"*": sc.xlogy, "cdf": sc.chdtr,
                                                           "sf": sc.chdtrc, "logcdf": sc.chdtr,
                                                           "logsf": sc.chdtrc,
                                                           "entropy": sc.psi}),
    "gamma": (positive, loc_pos, scale, (shape_a,), {"*": sc.xlogy, "cdf": sc.gammainc,
                                                     "sf": sc.gammaincc,
                                                     "logcdf": sc.gammainc,
                                                     "logsf": sc.gammaincc, "entropy": sc.psi}),
    "beta": (unit, loc_pos, scale_unit, (shape_a, shape_a[::-1] + 0.3),
             {"*": sc.betaln, "logpdf": sc.xlogy, "logpdf[a]": sc.betaln,
              "logpdf[b]": sc.betaln, "pdf": scu._beta_pdf, "cdf": sc.betainc, "sf": sc.betaincc,
              "logcdf": sc.betainc, "logsf": sc.betaincc}),
    "expon": (positive, loc_pos, scale, (), {"*": np.exp, "logpdf": np.negative,
                                             "cdf": sc.expm1, "logsf": np.negative,
                                             "entropy": np.log}),
    "laplace": (real + np.where(np.abs(real) < 0.5, 1.0, 0.0), loc / 10, scale, (),
                {"*": np.exp, "entropy": np.log}),
    "logistic": (real, loc, scale, (), {"*": sc.log1p, "cdf": sc.expit, "sf": sc.expit,
                                        "logcdf": sc.log_expit, "logsf": sc.log_expit,
                                        "entropy": np.log}),
    "cauchy": (real, loc, scale, (), {"*": np.arctan2, "pdf": np.divide, "logpdf": np.log1p,
                                      "entropy": np.log}),
    "uniform": (unit, loc_pos, scale_unit, (), {"*": np.divide, "logpdf": np.log,
                                                "logpdf[x]": np.subtract,
                                                "logpdf[loc]": np.subtract,
                                                "logcdf": np.log, "logsf": np.log,
                                                "entropy": np.log}),
    "lognorm": (positive, loc_pos, scale, (shape_a,), {"*": np.log, "cdf": sc.ndtr,
                                                       "sf": sc.ndtr, "logcdf": sc.log_ndtr,
                                                       "logsf": sc.log_ndtr}),
}  # fmt: skip
NO_SHAPE_DERIVATIVE = {"t", "chi2", "gamma", "beta"}  # in the cdf family
TAILS = ("cdf", "logcdf", "sf", "logsf")


def _line(dist, method, ops, point, i, label):
    if method == "entropy" and label == "scale":
        op = np.log  # + log(scale)
    else:
        op = ops.get(f"{method}[{label}]", ops.get(method, ops["*"]))
    fn = getattr(getattr(stats, dist), method)

    def f(a):
        args = list(point)
        args[i] = a
        return fn(*args)

    return Case(op, f, (point[i],), name=f"{dist}.{method}[{label}]")


CASES = []
for dist, (x, lc, sc_, shapes, ops) in CONTINUOUS.items():
    for method in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "entropy"):
        names = getattr(stats, dist)._shape_names
        if method == "entropy":  # in the shapes and the scale (it does not depend on loc)
            point = (*shapes, lc, sc_)
            for i, label in enumerate((*names, "loc", "scale")):
                if label != "loc":
                    CASES.append(_line(dist, method, ops, point, i, label))
            continue
        point = (x, *shapes, lc, sc_)
        for i, label in enumerate(("x", *names, "loc", "scale")):
            if method in TAILS and dist in NO_SHAPE_DERIVATIVE and label in names:
                continue
            CASES.append(_line(dist, method, ops, point, i, label))

# Far tails and special points.
CASES += [
    Case(sc.log_ndtr, lambda a: stats.norm.logcdf(a), (rand(4, low=-30.0, high=-5.0),),
         name="norm.logcdf[far-tail]"),
    Case(sc.stdtr, lambda a: stats.t.logsf(a, 3.0), (rand(4, low=2.0, high=30.0),),
         name="t.logsf[tail]"),
    Case(np.divide, lambda s: stats.uniform.pdf(np.array([0.0, 0.5, 1.0]), 0.0, s),
         (np.array([1.0, 2.0, 1.5]),), name="uniform.pdf[support-edge]"),
    Case(sc.poch, lambda d: stats.t.logpdf(0.3, d), (np.array([0.7, 5.0, 150.0]),),
         name="t.logpdf[df-range]"),
    Case(sc.beta, lambda d: stats.t.entropy(d), (np.array([0.7, 5.0, 150.0]),),
         name="t.entropy[df-asymptotic]"),
    # Outside the support the value is a constant: zero derivatives, at every order, no NaN.
    Case(sc.gammainc, lambda a: stats.gamma.cdf(a, 2.0), (np.array([-1.0, -0.5, 0.5, 2.0]),),
         name="gamma.cdf[outside]"),
    Case(sc.betaincc, lambda a: stats.beta.sf(a, 2.0, 3.0), (np.array([-0.3, 0.4, 1.4]),),
         name="beta.sf[outside]"),
    Case(np.divide, lambda s: stats.uniform.cdf(np.array([-1.0, 0.5, 3.0]), 0.0, s), (2.0,),
         name="uniform.cdf[outside]"),
    Case(np.exp, lambda a: stats.expon.pdf(a, 0.0, 1.5), (np.array([-2.0, 0.5, 3.0]),),
         name="expon.pdf[outside]"),
    Case(sc.chdtrc, lambda a: stats.chi2.logsf(a, 3.0), (np.array([-2.0, 0.5, 3.0]),),
         name="chi2.logsf[outside]"),
]  # fmt: skip

# Discrete distributions: differentiable in p (binom, bernoulli) and mu (poisson).
k = np.array([[0.0], [1.0], [2.0], [3.0], [2.5], [9.0]])  # 2.5: off the lattice, 9: beyond n
k01 = np.array([[0.0], [1.0], [0.5]])
p = rand(3, low=0.1, high=0.9, seed=27)
mu = pos(3, seed=28) * 2.0
DISCRETE = {
    "poisson": ((mu,), {"pmf": sc.xlogy, "logpmf": sc.xlogy, "cdf": sc.pdtr, "sf": sc.pdtrc,
                        "logcdf": sc.pdtr, "logsf": sc.pdtrc}),
    "binom": ((np.array([8.0, 3.0, 10.0]), p), {"pmf": scu._binom_pmf, "logpmf": sc.xlog1py,
                                               "cdf": scu._binom_cdf, "sf": scu._binom_sf,
                                               "logcdf": scu._binom_cdf,
                                               "logsf": scu._binom_sf, "entropy": sc.entr}),
    "bernoulli": ((p,), {"pmf": scu._binom_pmf, "logpmf": sc.xlog1py, "cdf": scu._binom_cdf,
                         "sf": scu._binom_sf, "logcdf": scu._binom_cdf,
                         "logsf": scu._binom_sf, "entropy": sc.entr}),
}  # fmt: skip
for dist, (shapes, ops) in DISCRETE.items():
    for method, op in ops.items():
        ks = k01[: 1 if method == "logsf" else None] if dist == "bernoulli" else k
        if method.startswith("log"):  # -inf off the support: no finite differences there
            ks = ks[: 2 if dist == "bernoulli" else 3]
        point = shapes if method == "entropy" else (ks, *shapes)
        i = len(point) - 1  # the continuous parameter is the last one
        CASES.append(_line(dist, method, {"*": op}, point, i, "p" if dist != "poisson" else "mu"))

# Multivariate normal and Dirichlet.
cov = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]])
mean = rand(3, seed=29)
xs = rand(4, 3, seed=30)
mvn = stats.multivariate_normal
chol, solve = np.linalg.cholesky, np.linalg.solve
alpha = np.array([0.8, 2.0, 3.5])
xd = np.array([[0.2, 0.3, 0.1], [0.3, 0.25, 0.6]])  # K - 1 rows: the last is 1 - sum
CASES += [
    Case(solve, lambda a: mvn.logpdf(a, mean, cov), (xs,), name="mvn.logpdf[x]"),
    Case(solve, lambda a: mvn.logpdf(xs, a, cov), (mean,), name="mvn.logpdf[mean]"),
    Case(chol, lambda a: mvn.logpdf(xs, mean, a), (cov,), name="mvn.logpdf[cov]"),
    Case(chol, lambda a: mvn.logpdf(xs[0], mean, a), (cov[0] + 1.0,), name="mvn.logpdf[diag]"),
    Case(solve, lambda a: mvn.pdf(a, mean, cov), (xs,), name="mvn.pdf[x]"),
    Case(chol, lambda a: mvn.pdf(xs, mean, a), (cov,), name="mvn.pdf[cov]"),
    Case(chol, lambda a: mvn.logpdf(xs[:, 0], 0.2, a), (np.array(1.7),), name="mvn.logpdf[1d]"),
    Case(chol, lambda a: mvn.entropy(mean, a), (cov,), name="mvn.entropy[cov]"),
    Case(sc.xlogy, lambda a: stats.dirichlet.logpdf(a, alpha), (xd,), name="dirichlet.logpdf[x]"),
    Case(sc.gammaln, lambda a: stats.dirichlet.logpdf(xd, a), (alpha,),
         name="dirichlet.logpdf[alpha]"),
    Case(sc.xlogy, lambda a: stats.dirichlet.pdf(a[:, 0], alpha), (xd,),
         name="dirichlet.pdf[x]"),
    Case(sc.psi, stats.dirichlet.entropy, (alpha,), name="dirichlet.entropy[alpha]"),
]  # fmt: skip

# The rules of stats_special.py, called directly.
CASES += [
    Case(sc.poch, sc.poch, (shape_a, pos(3, seed=31))),
    Case(sc.stdtr, lambda a: sc.stdtr(np.array([1.0, 4.0, np.inf]), a), (real,)),
    Case(sc.chdtr, lambda a: sc.chdtr(shape_a + 1.0, a), (positive,)),
    Case(sc.chdtrc, lambda a: sc.chdtrc(shape_a + 1.0, a), (positive,)),
    Case(sc.pdtr, lambda a: sc.pdtr(k, a), (mu,)),
    Case(sc.pdtrc, lambda a: sc.pdtrc(k, a), (mu,)),
    Case(sc.betaincc, lambda a: sc.betaincc(2.0, 3.5, a), (unit,)),
    Case(scu._beta_pdf, lambda a, b, c: scu._beta_pdf(a, b, c), (unit, shape_a, shape_a + 0.2)),
]  # fmt: skip
