"""The mode-comparison benchmark behind ``python -m dualdiff bench``.

For a grid of (n inputs, m outputs) shapes and several function families, it times one NumPy
evaluation of f and the Jacobian by forward mode, reverse mode and the dispatcher's auto mode,
and reports each as a multiple of f (ratios measured in one run, since the machines are
shared and noisy), plus the dispatcher's regret: auto time / best fixed mode time.
"""

import argparse
import math
import sys
import timeit
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from dualdiff import dispatch
from dualdiff.transforms import jacobian

SHAPES_QUICK = [(10, 100), (100, 10)]
SHAPES_DEFAULT = [(10, 1000), (1000, 10), (100, 100), (1000, 1000)]
MODES = ("forward", "reverse", "auto")


def _elementwise(A):
    def f(x):
        u = A @ x
        for _ in range(5):
            u = np.tanh(u) * 0.9 + np.sin(u) ** 2 - 0.1 * np.exp(-(u**2))
        return u

    return f


def _matmul(A):
    return lambda x: np.tanh(A @ np.sin(x))


def _reductions(A):
    c = np.linspace(-1.0, 1.0, 8)  # each output reduces a row of 8 values built from A @ x

    def f(x):
        u = (A @ x)[:, None] * c
        return np.sum(np.sin(u), axis=1) + np.max(u, axis=1) + np.log(np.sum(np.exp(u), axis=1))

    return f


def _mlp(A):
    m, n = A.shape
    rng = np.random.default_rng(1)
    W1, b1 = rng.standard_normal((64, n)) / math.sqrt(n), rng.standard_normal(64)
    W2 = rng.standard_normal((m, 64)) / 8.0
    return lambda x: W2 @ np.tanh(W1 @ x + b1)


FAMILIES = {
    "elementwise": _elementwise,
    "matmul": _matmul,
    "reductions": _reductions,
    "mlp": _mlp,
}


@dataclass
class Row:
    """One grid point: times as multiples of one f evaluation."""

    family: str
    n: int
    m: int
    f_seconds: float
    ratios: dict
    plan: "dispatch.JacobianPlan"

    @property
    def regret(self):
        best = min(self.ratios["forward"], self.ratios["reverse"])
        return self.ratios["auto"] / best


def best_times(fns, budget=0.05, rounds=3):
    """Best seconds per call of each callable, timed in interleaved rounds.

    Interleaving puts every candidate under the same machine load, so their ratios hold up
    on a shared, noisy machine; each round runs a callable for about ``budget / rounds``.
    """
    numbers = {}
    for name, fn in fns.items():
        fn()  # warm up: imports, caches, the dispatcher's plan
        number, t = 1, timeit.timeit(fn, number=1)
        while t < budget / rounds and number < 2**16:
            number *= 2
            t = timeit.timeit(fn, number=number)
        numbers[name] = number
    best = {name: math.inf for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], timeit.timeit(fn, number=numbers[name]) / numbers[name])
    return best


def problem(family, n, m, seed=0):
    """The function of a family at shape (n, m) and its evaluation point."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / math.sqrt(n)
    return FAMILIES[family](A), rng.uniform(-1.0, 1.0, n)


def measure(family, n, m, budget):
    f, x = problem(family, n, m)
    fns = {"f": lambda: f(x)}
    for mode in MODES:
        jac = jacobian(f, mode=mode)
        fns[mode] = lambda jac=jac: jac(x)
    t = best_times(fns, budget)
    ratios = {mode: t[mode] / t["f"] for mode in MODES}
    return Row(family, n, m, t["f"], ratios, dispatch.plan_jacobian(f, x))


def peer_jacobians(f_of_xp, x):
    """Jacobian callables of the installed peers (autograd, jax, torch.func)."""
    out = {}
    try:
        import autograd
        import autograd.numpy as anp

        out["autograd"] = lambda: autograd.jacobian(f_of_xp(anp))(x)
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        fj = f_of_xp(jnp)
        for name, jac in (("jax jacfwd", jax.jacfwd), ("jax jacrev", jax.jacrev)):
            out[name] = lambda jac=jac: jac(fj)(x).block_until_ready()
            jitted = jax.jit(jac(fj))
            out[name + " jit"] = lambda jitted=jitted: jitted(x).block_until_ready()
    except ImportError:
        pass
    try:
        import torch
        import torch.func

        torch.set_num_threads(1)
        ft = f_of_xp(torch)
        xt = torch.from_numpy(x)
        out["torch.func jacfwd"] = lambda: torch.func.jacfwd(ft)(xt)
        out["torch.func jacrev"] = lambda: torch.func.jacrev(ft)(xt)
    except ImportError:
        pass
    return out


def _matmul_family_for(xp, A):
    At = xp.asarray(A) if xp.__name__ != "torch" else xp.from_numpy(A)
    return lambda x: xp.tanh(At @ xp.sin(x))


def measure_peers(n, m, budget):
    """Peers on the matmul family (``tanh(A @ sin(x))``), as multiples of one NumPy f."""
    f, x = problem("matmul", n, m)
    A = np.random.default_rng(0).standard_normal((m, n)) / math.sqrt(n)
    peers = peer_jacobians(lambda xp: _matmul_family_for(xp, A), x)
    t = best_times({"f": lambda: f(x), **peers}, budget)
    return {name: t[name] / t["f"] for name in peers}


def _progress(items, quiet):
    """A progress bar on stderr: tqdm's when installed (the bench extra), else a plain one."""
    if quiet:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return _plain_progress(items)
    return tqdm(items, desc="dualdiff bench", unit="point", file=sys.stderr)


def _plain_progress(items, width=30):
    for done, item in enumerate(items):
        filled = width * done // len(items)
        bar = "#" * filled + "." * (width - filled)
        print(f"\rdualdiff bench [{bar}] {done}/{len(items)}", end="", file=sys.stderr)
        yield item
    print(f"\rdualdiff bench [{'#' * width}] {len(items)}/{len(items)}", file=sys.stderr)


def fit_constants(rows):
    """Least-squares fit of the cost model's constants to the measured times (seconds)."""
    fits = {}
    for mode, directions in (("forward", "n"), ("reverse", "m")):
        design, target = [], []
        for r in rows:
            p = r.plan
            dirs = getattr(r, directions)
            k = min(p.chunk_size, max(dirs, 1))
            passes = math.ceil(dirs / k)
            per_op = passes * p.ops if mode == "forward" else p.ops * (1 + passes)
            design.append([per_op, dirs * p.work])
            target.append(r.ratios[mode] * r.f_seconds)
        coef, *_ = np.linalg.lstsq(np.array(design, float), np.array(target), rcond=None)
        fits[mode] = coef
    return fits


def fit_report(rows):
    """The fitted constants next to those ``dualdiff.dispatch`` uses (the fit has one per-op
    term for a reverse pass and the recording alike: their mean is shown)."""
    in_use = {
        "forward": (dispatch.OP_FORWARD, dispatch.ELEMENT_FORWARD),
        "reverse": ((dispatch.OP_RECORD + dispatch.OP_REVERSE) / 2, dispatch.ELEMENT_REVERSE),
    }
    lines = []
    for mode, (per_op, per_element) in fit_constants(rows).items():
        op, element = in_use[mode]
        lines.append(
            f"fitted {mode}: {per_op:.3g} s per op-pass, {per_element:.3g} s per element "
            f"(in use: {op:.3g} and {element:.3g})"
        )
    return "\n".join(lines)


def table(rows):
    lines = [
        f"{'family':12s} {'n':>5s} {'m':>5s} {'forward':>9s} {'reverse':>9s} {'auto':>9s} "
        f"{'regret':>7s}  auto chose"
    ]
    for r in rows:
        lines.append(
            f"{r.family:12s} {r.n:5d} {r.m:5d} "
            + " ".join(f"{r.ratios[k]:8.1f}x" for k in MODES)
            + f" {r.regret:7.2f}  {r.plan.mode}"
        )
    return "\n".join(lines)


def _pyplot():
    """matplotlib's pyplot (headless), or a clear exit naming the extra that installs it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit(
            "--plot needs matplotlib: pip install 'dualdiff[bench]' (or pip install matplotlib)"
        ) from None
    return plt


def plot(rows, path):
    plt = _pyplot()
    families = sorted({r.family for r in rows})
    fig, axes = plt.subplots(1, len(families), figsize=(4 * len(families), 3.6), squeeze=False)
    for ax, family in zip(axes[0], families):
        sub = [r for r in rows if r.family == family]
        labels = [f"{r.n}x{r.m}" for r in sub]
        for mode, marker in zip(MODES, "o^s"):
            ax.plot(labels, [r.ratios[mode] for r in sub], marker=marker, label=mode)
        ax.set_yscale("log")
        ax.set_title(family)
        ax.set_xlabel("shape n x m")
        ax.set_ylabel("Jacobian time / f time")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def one_blas_thread():
    """Limit BLAS to one thread (steadier ratios on a shared machine; a small batched matmul
    under many BLAS threads on a loaded machine is timed mostly waiting), and print what was
    pinned."""
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    found = ", ".join(f"{i['internal_api']} ({i['num_threads']} threads)" for i in blas)
    print(f"BLAS pinned to one thread: {found or 'no BLAS library found'}")
    return threadpool_limits(1, user_api="blas")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m dualdiff bench",
        description="Forward vs reverse vs auto Jacobians, as multiples of one f evaluation.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny grid, for smoke tests")
    parser.add_argument("--peers", action="store_true", help="also time installed peers")
    parser.add_argument("--plot", metavar="FILE.png", help="draw time vs shape per mode")
    parser.add_argument("--fit", action="store_true", help="print fitted cost-model constants")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    with one_blas_thread():
        return _run(args)


def _run(args):
    if args.plot:
        _pyplot()  # fail before a minute of timing, not after
    shapes = SHAPES_QUICK if args.quick else SHAPES_DEFAULT
    budget = 0.01 if args.quick else 0.05
    points = [(fam, n, m) for fam in FAMILIES for n, m in shapes]
    rows = [measure(fam, n, m, budget) for fam, n, m in _progress(points, args.quiet)]
    print(table(rows))
    print(f"worst regret: {max(r.regret for r in rows):.2f} (target <= 1.15)")
    if args.fit:
        print(fit_report(rows))
    if args.peers:
        print("\npeers on tanh(A @ sin(x)), Jacobian time / numpy f time:")
        for n, m in shapes[:2]:
            ours = next(r for r in rows if r.family == "matmul" and (r.n, r.m) == (n, m))
            print(f"  (n, m) = ({n}, {m}): dualdiff auto {ours.ratios['auto']:.1f}x")
            for name, ratio in measure_peers(n, m, budget).items():
                print(f"    {name:22s} {ratio:9.1f}x")
    if args.plot:
        print(f"plot written to {plot(rows, args.plot)}")
    return rows
