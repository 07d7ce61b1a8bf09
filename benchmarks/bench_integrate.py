"""dualdiff.integrate against SciPy's own solvers, as ratios measured in one run.

    python -m benchmarks.bench_integrate [--quick] [--n N] [--repeat R]

1. A 1-D reaction-diffusion system (Fisher-KPP, n = 1000 states, Neumann boundaries) solved
   with BDF: dualdiff's exact sparse Jacobian (pattern detected and colored at each call)
   against SciPy's default finite-difference Jacobian (dense, n evaluations per Jacobian) and
   against SciPy given ``jac_sparsity`` (3 grouped evaluations per Jacobian). Targets: >= 5x
   faster than the default, no slower than ``jac_sparsity``.
2. The gradient of ``sum(u(T)**2)`` with respect to the 1000 local rates, by the adjoint,
   over the time of one solve (target <= 10x), and on a small case (n = 12) its agreement with
   forward sensitivities at tight tolerances (target 1e-6 relative).
3. The fits of ``examples/fit_ode.py`` (Robertson, Lotka-Volterra): exact sensitivities
   against SciPy's finite differences, in evaluations, wall time and final cost.
"""

import argparse
import os
import time

# BDF's sparse LU and the small dense products run on one thread: threads only add overhead at
# these sizes, and on a busy machine they make every run slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.integrate as si  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import dualdiff as dd  # noqa: E402
from benchmarks._timing import best_time  # noqa: E402
from dualdiff.bench import best_times  # noqa: E402
from dualdiff.integrate import solve_ivp  # noqa: E402

T_END = 1.0
TOL = {"rtol": 1e-6, "atol": 1e-8}


def system(n):
    """``(rhs, u0, rates)``: Fisher-KPP ``u_t = D u_xx + k(x) u (1 - u)`` on n points."""
    x = np.linspace(0.0, 1.0, n)
    h = x[1] - x[0]

    def rhs(t, u, k):
        up = np.concatenate([u[1:], u[-1:]])
        um = np.concatenate([u[:1], u[:-1]])
        return 1e-2 * (up - 2 * u + um) / h**2 + k * u * (1 - u)

    return rhs, np.exp(-100 * (x - 0.5) ** 2), 1.0 + 0.5 * np.sin(2 * np.pi * x)


def report_jacobians(n, repeat):
    rhs, u0, k = system(n)
    pattern = sp.diags_array([1.0, 1.0, 1.0], offsets=[-1, 0, 1], shape=(n, n))
    runs = {
        "scipy default": lambda: si.solve_ivp(rhs, (0, T_END), u0, "BDF", args=(k,), **TOL),
        "scipy jac_sparsity": lambda: si.solve_ivp(rhs, (0, T_END), u0, "BDF", args=(k,),
                                                   jac_sparsity=pattern, **TOL),
        "dualdiff exact sparse": lambda: solve_ivp(rhs, (0, T_END), u0, "BDF", args=(k,), **TOL),
    }  # fmt: skip
    sols = {name: run() for name, run in runs.items()}
    times = best_times(runs, budget=0.5, rounds=repeat)
    ref = sols["scipy jac_sparsity"].y[:, -1]
    print(f"1. Reaction-diffusion, n={n}, BDF to t={T_END}, rtol={TOL['rtol']}, "
          f"atol={TOL['atol']}:")  # fmt: skip
    for name, sol in sols.items():
        diff = np.max(np.abs(sol.y[:, -1] - ref))
        print(f"  {name:24s} {times[name] * 1e3:9.1f} ms  nfev {sol.nfev:6d}  njev {sol.njev:3d}"
              f"  nlu {sol.nlu:3d}  max |u(T) - jac_sparsity's| {diff:.1e}")  # fmt: skip
    mine = times["dualdiff exact sparse"]
    speedup = times["scipy default"] / mine
    ratios = _paired_ratios(runs["scipy jac_sparsity"], runs["dualdiff exact sparse"],
                            rounds=max(5, 3 * repeat))  # fmt: skip
    vs_sparsity = float(np.median(ratios))
    print(f"  speed-up over SciPy's default: {speedup:.1f}x (target >= 5x); over jac_sparsity: "
          f"{times['scipy jac_sparsity'] / mine:.2f}x best times, median of {len(ratios)} paired "
          f"rounds {vs_sparsity:.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}; target >= 1)")
    return speedup, vs_sparsity, mine


def _paired_ratios(theirs, ours, rounds):
    """``theirs / ours`` wall times of back-to-back calls, the order alternating per round: a
    close ratio under a shared machine's noise, read as a median."""
    ratios = []
    for i in range(rounds):
        pair = (theirs, ours) if i % 2 == 0 else (ours, theirs)
        seconds = []
        for fn in pair:
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
        a, b = seconds if i % 2 == 0 else seconds[::-1]
        ratios.append(a / b)
    return ratios


def report_adjoint(n, repeat, one_solve):
    rhs, u0, k = system(n)

    def loss(k):
        u = solve_ivp(rhs, (0, T_END), u0, "BDF", t_eval=[T_END], args=(k,), **TOL).y[:, 0]
        return np.sum(u**2)

    grad = dd.grad(loss)
    seconds = best_time(lambda: grad(k), min_total=1.0, repeat=repeat)
    ratio = seconds / one_solve
    print(f"2. Gradient of sum(u(T)^2) in the {n} rates by the adjoint: {seconds * 1e3:.1f} ms, "
          f"{ratio:.1f}x one solve (target <= 10x)")  # fmt: skip
    rel = _adjoint_vs_forward(12)
    print(f"  small case (n=12, rtol 1e-10): adjoint vs forward sensitivities, max relative "
          f"difference {rel:.1e} (target <= 1e-6)")  # fmt: skip
    return ratio, rel


def _adjoint_vs_forward(n):
    rhs, u0, k = system(n)

    def loss(k):
        u = solve_ivp(rhs, (0, 0.2), u0, "BDF", t_eval=[0.1, 0.2], args=(k,), rtol=1e-10,
                      atol=1e-12).y  # fmt: skip
        return np.sum(u**2)

    reverse = dd.grad(loss)(k)
    forward = dd.jacfwd(loss)(k)
    return float(np.max(np.abs(reverse - forward)) / np.max(np.abs(forward)))


def report_fits(quick, rounds):
    """Each fit ``rounds`` times, dualdiff's and SciPy's interleaved; the best wall time of each
    (the machine's noise only adds time), the evaluations and costs of the last round."""
    from examples.fit_ode import fit, problems

    print(f"3. Fits (examples/fit_ode.py): exact sensitivities vs SciPy's finite differences, "
          f"best of {rounds} interleaved rounds")  # fmt: skip
    print(f"  {'':44s} {'nfev':>5s} {'njev':>5s} {'seconds':>8s} {'cost':>11s}  (njev: iterations)")
    ratios = {}
    for prob in problems(quick):
        best = {}
        for _ in range(rounds):
            rows = fit(prob)
            for who, _res, seconds in rows:
                best[who] = min(best.get(who, np.inf), seconds)
        for who, res, _ in rows:
            print(f"  {prob['name'] + ', ' + who:44s} {res.nfev:5d} "
                  f"{res.njev or 0:5d} {best[who]:8.3f} {res.cost:11.5e}")  # fmt: skip
        exact, fd = (best[who] for who, _, _ in rows)
        ratios[prob["name"]] = exact / fd
        print(f"  {'':44s} exact / finite differences: {exact / fd:.2f}x the wall time")
    return ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=200, one repeat (smoke test)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n, repeat = (200, 1) if args.quick else (args.n, args.repeat)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"load average {load} (times: best of {repeat} interleaved runs)")  # fmt: skip
    start = time.perf_counter()
    speedup, vs_sparsity, one_solve = report_jacobians(n, repeat)
    ratio, rel = report_adjoint(n, repeat, one_solve)
    fits = report_fits(args.quick, repeat)
    shown = ", ".join(f"{name.split()[0]} {r:.2f}x" for name, r in fits.items())
    print(f"Summary: BDF {speedup:.1f}x SciPy's default, {vs_sparsity:.2f}x jac_sparsity; "
          f"adjoint gradient {ratio:.1f}x one solve; adjoint vs forward {rel:.1e}; fits' wall "
          f"time over SciPy's finite differences: {shown}; "
          f"{time.perf_counter() - start:.0f} s in all")  # fmt: skip


if __name__ == "__main__":
    main()
