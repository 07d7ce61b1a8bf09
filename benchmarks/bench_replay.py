"""dd.replay: the cost of a replayed derivative, as ratios measured in one run beside JAX's jit.

    python -m benchmarks.bench_replay [--quick]

Rows: the 100-op chain at n = 10 (microseconds per op of grad), Rosenbrock grad / f at n = 10
and 1000, SciPy's L-BFGS-B and Newton-CG on Rosenbrock n = 1000 with replayed derivatives
against SciPy's analytic ones, an MLP 32-64-tanh-1 training step (a step function of the
parameters, replayed) against the hand-written NumPy step, and a branch that flips every 10th
call (exact answers; the re-record rate). Each block is timed in interleaved rounds, best
round of each (``dualdiff.bench.best_times``); BLAS runs on one thread.
"""

import argparse
import time

import numpy as np
import scipy.optimize as so
from scipy.optimize import rosen_der, rosen_hess_prod
from threadpoolctl import threadpool_limits

import dualdiff as dd
from benchmarks._timing import optional
from benchmarks.bench_engine import CHAIN_OPS, chain, rosen
from benchmarks.bench_training import LR, initial_weights, make_batches, numpy_step
from dualdiff.bench import best_times
from dualdiff.replay import replay_derivatives


def _jax():
    jax = optional("jax")
    if jax is None:
        return None, None
    jax.config.update("jax_enable_x64", True)
    return jax, optional("jax.numpy")


def chain_report(budget):
    x = np.linspace(0.0, 1.0, 10)
    g = dd.grad(chain)
    fast = dd.replay(g)
    assert np.array_equal(fast(x), g(x))
    fns = {
        "numpy f": lambda: chain(x),
        "dualdiff grad": lambda: g(x),
        "replay grad": lambda: fast(x),
    }
    jax, jnp = _jax()
    if jax is not None:
        jg = jax.jit(jax.grad(lambda x: chain(x, jnp)))
        fns["jax jit grad"] = lambda: jg(x).block_until_ready()
    t = best_times(fns, budget=budget, rounds=7)
    print("100-op chain, n = 10: us per op (target: replay grad <= 1.0 us/op)")
    for name, s in t.items():
        print(f"  {name:16s} {s / CHAIN_OPS * 1e6:6.2f} us/op  {s / t['numpy f']:5.2f}x numpy f")


def rosen_report(sizes, budget):
    print("Rosenbrock grad / f (target: replay <= 3x at n = 1000)")
    jax, jnp = _jax()
    jg = jax.jit(jax.grad(lambda x: rosen(x, jnp))) if jax is not None else None
    for n in sizes:
        x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
        g = dd.grad(rosen)
        fast = dd.replay(g)
        assert np.array_equal(fast(x), g(x))
        np.testing.assert_allclose(fast(x), rosen_der(x), rtol=1e-12)
        fns = {"f": lambda x=x: rosen(x), "dualdiff grad": lambda x=x, g=g: g(x)}
        fns["replay grad"] = lambda x=x, fast=fast: fast(x)
        fns["rosen_der (hand)"] = lambda x=x: rosen_der(x)
        if jg is not None:
            fns["jax jit grad"] = lambda x=x: jg(x).block_until_ready()
        t = best_times(fns, budget=budget, rounds=7)
        row = "  ".join(f"{k} {v / t['f']:.2f}x" for k, v in t.items() if k != "f")
        print(f"  n={n:<5d} f {t['f'] * 1e6:.1f} us  {row}")


def _min_time(fn, rounds):
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def optimize_report(n, rounds):
    """SciPy's own loop with replayed derivatives (what ``replay=True`` hands it) against
    SciPy's analytic ones: whole runs, interleaved, best of ``rounds``."""
    x0 = np.full(n, -0.5)
    d = replay_derivatives(rosen)
    jax, jnp = _jax()
    runs = {
        "L-BFGS-B analytic": lambda: so.minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B"),
        "L-BFGS-B replay": lambda: so.minimize(d.value_and_grad, x0, jac=True, method="L-BFGS-B"),
        "Newton-CG analytic": lambda: so.minimize(
            rosen, x0, jac=rosen_der, hessp=rosen_hess_prod, method="Newton-CG"
        ),
        "Newton-CG replay": lambda: so.minimize(
            d.value_and_grad, x0, jac=True, hessp=d.hessp, method="Newton-CG"
        ),
    }
    if jax is not None:
        jvg = jax.jit(jax.value_and_grad(lambda x: rosen(x, jnp)))
        jgr = jax.grad(lambda x: rosen(x, jnp))
        jhvp = jax.jit(lambda x, v: jax.jvp(jgr, (x,), (v,))[1])

        def vg(x):
            v, g = jvg(x)
            return float(v), np.asarray(g)

        runs["L-BFGS-B jax jit"] = lambda: so.minimize(vg, x0, jac=True, method="L-BFGS-B")
        runs["Newton-CG jax jit"] = lambda: so.minimize(
            vg, x0, jac=True, hessp=lambda x, p: np.asarray(jhvp(x, p)), method="Newton-CG"
        )
    results = {name: run() for name, run in runs.items()}
    for name, res in results.items():  # derivatives that round differently: other iterations
        assert res.success, name
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], _min_time(run, 1))
    print(f"SciPy on Rosenbrock n = {n} (targets: L-BFGS-B <= 1.3x, Newton-CG <= 1.8x analytic)")
    for name, s in best.items():
        method = name.split()[0]
        ratio = s / best[f"{method} analytic"]
        nit = results[name].nit
        print(f"  {name:22s} {s * 1e3:8.2f} ms  {ratio:5.2f}x analytic  ({nit} iterations)")


def training_report(budget):
    batches, weights = make_batches(), initial_weights()
    by_hand, _ = numpy_step(batches, weights)

    def loss(params, x, y):
        w1, b1, w2, b2 = params
        d = np.tanh(x @ w1.T + b1) @ w2.T + b2 - y
        return np.mean(d * d)

    gradient = dd.grad(loss)

    def step(params, x, y):
        return [p - LR * g for p, g in zip(params, gradient(params, x, y))]

    fast = dd.replay(step)
    state = {"replay": [w.copy() for w in weights], "dualdiff": [w.copy() for w in weights]}
    cursor = {"i": 0}

    def run(name, fn):
        def go():
            x, y = batches[cursor["i"] % len(batches)]
            cursor["i"] += 1
            state[name] = fn(state[name], x, y)

        return go

    check = [w.copy() for w in weights]
    for x, y in batches[:5]:
        a, b = fast(check, x, y), step(check, x, y)
        assert all(np.array_equal(p, q) for p, q in zip(a, b))
        check = a
    fns = {"numpy (by hand)": by_hand, "dualdiff grad": run("dualdiff", step)}
    fns["replay step"] = run("replay", fast)
    jax, jnp = _jax()
    if jax is not None:

        @jax.jit
        def jstep(params, x, y):
            grads = jax.grad(lambda p: _jloss(jnp, p, x, y))(params)
            return [p - LR * g for p, g in zip(params, grads)]

        state["jax"] = [jnp.asarray(w) for w in weights]

        def jgo():
            x, y = batches[cursor["i"] % len(batches)]
            cursor["i"] += 1
            state["jax"] = jstep(state["jax"], x, y)
            state["jax"][0].block_until_ready()

        fns["jax jit step"] = jgo
    t = best_times(fns, budget=budget, rounds=7)
    print("MLP 32-64-tanh-1 training step, batch 64, SGD (target: replay <= 1.3x numpy by hand)")
    for name, s in t.items():
        print(f"  {name:16s} {s * 1e6:7.1f} us  {s / t['numpy (by hand)']:5.2f}x numpy by hand")


def _jloss(jnp, params, x, y):
    w1, b1, w2, b2 = params
    d = jnp.tanh(x @ w1.T + b1) @ w2.T + b2 - y
    return jnp.mean(d * d)


def branch_report(calls):
    def f(x):
        return np.sum(x**2) if np.sum(x) > 0 else np.sum(np.sin(x) * x)

    direct = dd.value_and_grad(f)
    fast = dd.replay(direct)
    rng = np.random.default_rng(0)
    points = [np.abs(rng.standard_normal(100)) for _ in range(calls)]
    for i in range(9, calls, 10):
        points[i] = -points[i]  # every 10th call takes the other branch
    exact = 0
    for x in points:
        value, g = fast(x)
        want_value, want_g = direct(x)
        exact += bool(value == want_value and np.array_equal(g, want_g))
    s = fast.stats()
    t = best_times(
        {"direct": lambda: [direct(x) for x in points[:50]],
         "replay": lambda: [fast(x) for x in points[:50]]},
        budget=1.0, rounds=5,
    )  # fmt: skip
    print(f"Branch flipping every 10th call, {calls} calls: {exact}/{calls} exact")
    print(
        f"  recordings {s['recordings']} (re-record rate {s['recordings'] / s['calls']:.4f}), "
        f"failed guards {s['misses']} ({s['misses'] / s['calls']:.2f} per call), "
        f"replay {t['replay'] / t['direct']:.2f}x the direct transform's time"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short budgets, for smoke tests")
    args = parser.parse_args(argv)
    budget = 0.3 if args.quick else 2.0
    with threadpool_limits(1, user_api="blas"):
        chain_report(budget)
        rosen_report([10, 1000], budget)
        optimize_report(1000, 2 if args.quick else 5)
        training_report(budget)
        branch_report(100 if args.quick else 1000)


if __name__ == "__main__":
    main()
