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
ROUNDS = 7  # timing rounds per candidate; the best counts (fewer let load show as regret)


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


def best_times(fns, budget=0.05, rounds=ROUNDS):
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
    jacs = {mode: jacobian(f, mode=mode) for mode in MODES}
    for mode, jac in jacs.items():
        fns[mode] = lambda jac=jac: jac(x)
    t = best_times(fns, budget)
    ratios = {mode: t[mode] / t["f"] for mode in MODES}
    return Row(family, n, m, t["f"], ratios, jacs["auto"].plan(x))  # what its calls settled on


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


TARGET_REGRET = 1.15


def header(rounds=ROUNDS):
    """What the table's numbers are, printed above it."""
    return (
        "Jacobians of f: R^n -> R^m by forward mode, reverse mode and mode='auto'.\n"
        "Each time is a multiple of one NumPy evaluation of f at the same point, both timed in\n"
        f"this run: per call, best of {rounds} interleaved rounds of repeated calls.\n"
        "regret = auto / best of (forward, reverse). auto runs one of those two modes, so a\n"
        "regret below 1 means auto was timed faster than that same work: timing noise."
    )


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


def meets_target(regret):
    """Judged on the regret as printed (two decimals), so a printed 1.15 is never a miss."""
    return round(regret, 2) <= TARGET_REGRET


def worst_regret(rows):
    """The last line: the worst regret, where, and whether it meets the target."""
    w = max(rows, key=lambda r: r.regret)
    verdict = "met" if meets_target(w.regret) else "MISSED"
    return (
        f"worst regret: {w.regret:.2f} ({w.family}, n={w.n}, m={w.m}); "
        f"target <= {TARGET_REGRET}: {verdict}"
    )


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
    """Save :func:`figure` of the rows to ``path``."""
    fig = figure(rows)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def figure(rows):
    """Grouped bars: one group per problem (family, n x m), a bar per mode, regret on top."""
    plt = _pyplot()
    from matplotlib.ticker import LogFormatter

    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 1.5), 4.8))
    for i, mode in enumerate(MODES):
        ax.bar(x + (i - 1) * 0.27, [r.ratios[mode] for r in rows], 0.27, label=mode)
    for xi, r in zip(x, rows):
        color = "black" if meets_target(r.regret) else "red"
        top = 1.08 * max(r.ratios.values())
        ax.text(xi, top, f"{r.regret:.2f}", ha="center", va="bottom", fontsize=8, color=color)
    ax.set_yscale("log")
    ax.margins(y=0.12)
    ax.yaxis.set_major_formatter(LogFormatter())  # 10, 100: plain multiples of f
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    ax.set_ylabel("Jacobian time / one evaluation of f")
    ax.set_xticks(x, [f"{r.family}\n{r.n} x {r.m}" for r in rows], fontsize=8)
    ax.set_xlabel(
        "problem: family, n inputs x m outputs\n"
        f"above each group: regret = auto / best mode (target <= {TARGET_REGRET}; red: missed)"
    )
    ax.legend(ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def one_blas_thread():
    """Limit BLAS to one thread (steadier ratios on a shared machine; a small batched matmul
    under many BLAS threads on a loaded machine is timed mostly waiting), and print what was
    pinned, as threadpoolctl reads it back after the limit."""
    before = [i for i in threadpool_info() if i["user_api"] == "blas"]
    limits = threadpool_limits(1, user_api="blas")
    after = [i for i in threadpool_info() if i["user_api"] == "blas"]
    print(blas_report(before, after))
    return limits


def blas_report(before, after):
    """One line: each BLAS library, its threads before and after the limit."""
    if not after:
        return "BLAS threads: threadpoolctl found no BLAS library; nothing pinned"
    was = (
        f"{a['internal_api']} {a['version']} (was {b['num_threads']})"
        for b, a in zip(before, after)
    )
    libs = ", ".join(was)
    if all(a["num_threads"] == 1 for a in after):
        return f"BLAS pinned to 1 thread via threadpoolctl: {libs}"
    now = ", ".join(str(a["num_threads"]) for a in after)
    return f"BLAS NOT pinned: threadpoolctl asked for 1 thread, the libraries report {now}: {libs}"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m dualdiff bench",
        description="Forward vs reverse vs auto Jacobians, as multiples of one f evaluation.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny grid, for smoke tests")
    parser.add_argument("--peers", action="store_true", help="also time installed peers")
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="save a bar chart: grouped per problem, regret on top",
    )
    parser.add_argument("--fit", action="store_true", help="print fitted cost-model constants")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    with one_blas_thread():
        return _run(args)


def _run(args):
    if args.plot:
        _pyplot()  # fail before a minute of timing, not after
    shapes = SHAPES_QUICK if args.quick else SHAPES_DEFAULT
    budget = 0.02 if args.quick else 0.1
    points = [(fam, n, m) for fam in FAMILIES for n, m in shapes]
    rows = [measure(fam, n, m, budget) for fam, n, m in _progress(points, args.quiet)]
    print(header())
    print(table(rows))
    print(worst_regret(rows))
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
