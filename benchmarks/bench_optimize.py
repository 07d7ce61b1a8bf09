"""SciPy's optimizers on Rosenbrock with dualdiff's derivatives, as ratios measured in one run.

    python -m benchmarks.bench_optimize [--quick] [--n N] [--repeat R]

For L-BFGS-B (gradient) and Newton-CG (gradient and Hessian-vector products) at n = 1000,
reports wall time over the same method with SciPy's hand-written ``rosen_der`` /
``rosen_hess_prod`` (targets: L-BFGS-B <= 2.0x, Newton-CG <= 3.0x), with iteration and
evaluation counts beside the analytic run's; peers (torch, autograd, jax) when installed;
the cost of each derivative call over its hand-written counterpart; and how many function
evaluations SciPy's default finite differences spend on the same problem.
"""

import argparse
import os
import time

# L-BFGS-B's inner loop calls BLAS on length-n vectors: threads there are pure overhead, and on
# a busy machine they make every run (analytic or not) many times slower. One thread each.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess_prod  # noqa: E402

import dualdiff as dd  # noqa: E402
from benchmarks._timing import best_time, optional  # noqa: E402


def rosen_np(x, xp=np):
    """Rosenbrock in plain NumPy (``scipy.optimize.rosen`` calls np.asarray: not traceable)."""
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def start(n):
    return np.tile([-1.2, 1.0], n // 2)


def analytic(method):
    kw = {"jac": rosen_der}
    if method == "Newton-CG":
        kw["hessp"] = rosen_hess_prod
    return lambda x0: minimize(rosen, x0, method=method, **kw)


def dualdiff_run(method):
    return lambda x0: dd.optimize.minimize(rosen_np, x0, method=method)


def _torch_run(method):
    torch = optional("torch")
    if torch is None:
        return None
    torch.set_num_threads(1)

    def value_and_grad(x):
        t = torch.from_numpy(x).requires_grad_(True)
        value = rosen_np(t, torch)
        value.backward()
        return value.item(), t.grad.numpy()

    def hessp(x, p):
        t = torch.from_numpy(x).requires_grad_(True)
        (g,) = torch.autograd.grad(rosen_np(t, torch), t, create_graph=True)
        (hv,) = torch.autograd.grad(g, t, grad_outputs=torch.from_numpy(np.asarray(p, float)))
        return hv.numpy()

    return _peer_run(method, value_and_grad, hessp)


def _autograd_run(method):
    ag, anp = optional("autograd"), optional("autograd.numpy")
    if ag is None:
        return None
    vg = ag.value_and_grad(lambda x: rosen_np(x, anp))
    hvp = ag.hessian_vector_product(lambda x: rosen_np(x, anp))
    return _peer_run(method, vg, hvp)


def _jax_run(method):
    jax = optional("jax")
    if jax is None:
        return None
    jax.config.update("jax_enable_x64", True)
    jnp = optional("jax.numpy")
    f = lambda x: rosen_np(x, jnp)  # noqa: E731
    jvg = jax.jit(jax.value_and_grad(f))
    jhvp = jax.jit(lambda x, p: jax.jvp(jax.grad(f), (x,), (p,))[1])

    def value_and_grad(x):
        value, g = jvg(x)
        return float(value), np.asarray(g)

    return _peer_run(method, value_and_grad, lambda x, p: np.asarray(jhvp(x, p)))


def _peer_run(method, value_and_grad, hessp):
    kw = {"hessp": hessp} if method == "Newton-CG" else {}
    return lambda x0: minimize(value_and_grad, x0, method=method, jac=True, **kw)


PEERS = {"torch": _torch_run, "autograd": _autograd_run, "jax jit": _jax_run}


def timed(run, x0):
    t = time.perf_counter()
    res = run(x0)
    return time.perf_counter() - t, res


def compare(method, n, repeat):
    """Best-of-``repeat`` wall times, interleaved so machine noise hits every run alike."""
    x0 = start(n)
    runs = {"scipy analytic": analytic(method), "dualdiff": dualdiff_run(method)}
    for name, make in PEERS.items():
        run = make(method)
        if run is not None:
            runs[name] = run
    best, results = {}, {}
    for name, run in runs.items():  # warm-up: imports, jit compilation (reported apart)
        t, _ = timed(run, x0)
        best[name + " (first run)"] = t
    for _ in range(repeat):
        for name, run in runs.items():
            t, results[name] = timed(run, x0)
            best[name] = min(best.get(name, np.inf), t)
    return best, results


def report_method(method, target, n, repeat):
    best, results = compare(method, n, repeat)
    base = best["scipy analytic"]
    print(f"{method}, Rosenbrock n={n} (target: dualdiff <= {target}x scipy analytic)")
    print(f"  {'':16s} {'time/analytic':>13s} {'nit':>6s} {'nfev':>6s} {'nhev':>6s} {'f*':>10s}")
    for name, res in results.items():
        nhev = res.get("nhev", "-")
        print(
            f"  {name:16s} {best[name] / base:12.2f}x {res.nit:6d} {res.nfev:6d} {nhev!s:>6s} "
            f"{res.fun:10.2e}"
        )
    jax_first = best.get("jax jit (first run)")
    if jax_first is not None:
        print(f"  jax jit first run (with compilation): {jax_first / base:.2f}x")
    return best["dualdiff"] / base


def handed_hessp(fun, x0):
    """The ``hessp`` that ``dd.optimize.minimize`` hands SciPy's Newton-CG (caught, not run)."""
    caught = {}

    def catch(fun, x0, **kwargs):
        caught.update(kwargs)
        return so.OptimizeResult(x=x0)

    real, so.minimize = so.minimize, catch
    try:
        dd.optimize.minimize(fun, x0, method="Newton-CG")
    finally:
        so.minimize = real
    return caught["hessp"]


def report_calls(n):
    """Cost of each derivative call dualdiff makes, over the hand-written one."""
    x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
    y = x + 0.1
    v = np.random.default_rng(1).standard_normal(n)
    vg = dd.value_and_grad(rosen_np)
    hessp = handed_hessp(rosen_np, x)
    np.testing.assert_allclose(hessp(x, v), rosen_hess_prod(x, v), rtol=1e-10, atol=1e-8)
    t_f = best_time(lambda: rosen(x) + rosen_der(x)[0])
    t_hp = best_time(lambda: rosen_hess_prod(x, v))
    rows = [
        ("value_and_grad / (rosen + rosen_der)", best_time(lambda: vg(x)) / t_f),
        (  # two points in turn: each call records at a new x, then takes one product
            "hessp at a new x / rosen_hess_prod",
            best_time(lambda: (hessp(x, v), hessp(y, v))) / 2 / t_hp,
        ),
        ("each hessp at that x / rosen_hess_prod", best_time(lambda: hessp(x, v)) / t_hp),
        ("dd.hvp (no reuse) / rosen_hess_prod", best_time(lambda: dd.hvp(rosen_np, x, v)) / t_hp),
    ]
    print(f"Per call, n={n}:")
    for name, ratio in rows:
        print(f"  {name:44s} {ratio:6.2f}x")


def report_finite_differences(n):
    """SciPy's default (2-point finite differences) on the same L-BFGS-B problem."""
    x0 = start(n)
    t_fd, fd = timed(lambda x: minimize(rosen, x, method="L-BFGS-B"), x0)
    t_an, an = timed(analytic("L-BFGS-B"), x0)
    print(f"L-BFGS-B with SciPy's default finite differences, n={n}:")
    print(
        f"  {fd.nfev} function evaluations in {fd.nit} iterations (analytic: {an.nfev} in "
        f"{an.nit}), success={fd.success}, f={fd.fun:.3g}, {t_fd / t_an:.2f}x analytic time"
    )
    print(f"  message: {fd.message}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=100, one repeat (smoke test)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n, repeat = (100, 1) if args.quick else (args.n, args.repeat)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
        f"load average {load} (ratios: best of {repeat} interleaved runs)"
    )
    ratios = {m: report_method(m, t, n, repeat) for m, t in (("L-BFGS-B", 2.0), ("Newton-CG", 3.0))}
    report_calls(n)
    report_finite_differences(n)
    print("Summary: " + ", ".join(f"{m} {r:.2f}x" for m, r in ratios.items()))


if __name__ == "__main__":
    main()
