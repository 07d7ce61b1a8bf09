"""Engine overhead and gradient cost, as ratios measured in one run.

    python -m benchmarks.bench_engine [--quick]

Reports microseconds per op of a 100-op elementwise chain on a length-10 array (forward
``jvp`` and reverse ``grad``) beside plain NumPy, the ratio grad / f for vectorized Rosenbrock
at n = 1e3 and 1e6, and hvp / f at n = 1e5. Peers (autograd, torch, jax) are timed when
installed. The large Rosenbrock runs are then repeated in a fresh process without peers (see
``alone_report``: the ratio to f depends on how f's own temporaries are allocated).
"""

import argparse
import os
import subprocess
import sys

import numpy as np
from scipy.optimize import rosen_der, rosen_hess_prod

import dualdiff as dd
from benchmarks._timing import optional
from dualdiff.bench import best_times

CHAIN_OPS = 100


def chain(x, xp=np):
    for _ in range(CHAIN_OPS // 4):
        x = xp.sin(x)
        x = x * 1.1
        x = x + 0.5
        x = xp.tanh(x)
    return xp.sum(x)


def rosen(x, xp=np):
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def peer_grads(fn):
    """Gradient callables of the installed peers for ``fn(x, xp)``."""
    out = {}
    ag = optional("autograd")
    if ag is not None:
        anp = optional("autograd.numpy")
        g = ag.grad(lambda x: fn(x, anp))
        out["autograd"] = lambda x: g(x)
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)

        def tgrad(x):
            t = torch.from_numpy(x).requires_grad_(True)
            fn(t, torch).backward()
            return t.grad.numpy()

        out["torch"] = tgrad
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = optional("jax.numpy")
        jg = jax.jit(jax.grad(lambda x: fn(x, jnp)))
        out["jax jit"] = lambda x: jg(x).block_until_ready()
    return out


def peer_hvps(fn):
    """Hessian-vector product callables ``(x, v)`` of the installed peers for ``fn(x, xp)``."""
    out = {}
    ag = optional("autograd")
    if ag is not None:
        anp = optional("autograd.numpy")
        out["autograd"] = ag.hessian_vector_product(lambda x: fn(x, anp))
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)

        def thvp(x, v):  # double backward, as eager PyTorch code does it
            t = torch.from_numpy(x).requires_grad_(True)
            (g,) = torch.autograd.grad(fn(t, torch), t, create_graph=True)
            (hv,) = torch.autograd.grad(g, t, grad_outputs=torch.from_numpy(v))
            return hv.numpy()

        out["torch"] = thvp
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = optional("jax.numpy")
        jg = jax.grad(lambda x: fn(x, jnp))
        jh = jax.jit(lambda x, v: jax.jvp(jg, (x,), (v,))[1])
        out["jax jit"] = lambda x, v: jh(x, v).block_until_ready()
    return out


def chain_report():
    x = np.linspace(0.0, 1.0, 10)
    g = dd.grad(chain)
    fns = {
        "numpy f": lambda: chain(x),
        "dualdiff jvp (forward)": lambda: dd.jvp(chain, (x,), (x,)),
        "dualdiff grad (reverse)": lambda: g(x),
    }
    fns.update({f"{name} grad": lambda pg=pg: pg(x) for name, pg in peer_grads(chain).items()})
    t = best_times(fns, budget=1.0, rounds=5)  # interleaved: every row under the same load
    print("100-op elementwise chain, n = 10 (targets: grad <= 3 us/op, jvp <= 2.5 us/op)")
    for name, seconds in t.items():
        per_op = seconds / CHAIN_OPS
        ratio = seconds / t["numpy f"]
        print(f"  {name:28s} {per_op * 1e6:7.2f} us/op   {ratio:6.1f}x numpy")


def rosen_report(sizes, hvp_n):
    print("Rosenbrock: grad time / f time (targets: <= 10x at 1e3, <= 2.5x at 1e6)")
    for n in sizes:
        x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
        g = dd.grad(rosen)
        np.testing.assert_allclose(g(x), rosen_der(x), rtol=1e-10)
        fns = {"f": lambda x=x: rosen(x), "dualdiff grad": lambda x=x, g=g: g(x)}
        fns["scipy rosen_der (by hand)"] = lambda x=x: rosen_der(x)
        for name, pg in peer_grads(rosen).items():
            fns[f"{name} grad"] = lambda pg=pg, x=x: pg(x)
        t = best_times(fns, budget=2.0, rounds=5)
        print(f"  n={n:<8d} {'f (numpy)':28s} {'':8s} {t['f'] * 1e3:9.3f} ms")
        for name, seconds in t.items():
            if name != "f":
                print(f"  n={n:<8d} {name:28s} {seconds / t['f']:6.2f}x f {seconds * 1e3:9.3f} ms")
    x = np.random.default_rng(1).uniform(-1.0, 1.0, hvp_n)
    v = np.ones(hvp_n)
    np.testing.assert_allclose(dd.hvp(rosen, x, v), rosen_hess_prod(x, v), rtol=1e-10)
    fns = {"f": lambda: rosen(x), "dualdiff hvp": lambda: dd.hvp(rosen, x, v)}
    fns["scipy rosen_hess_prod (by hand)"] = lambda: rosen_hess_prod(x, v)
    for name, ph in peer_hvps(rosen).items():
        fns[f"{name} hvp"] = lambda ph=ph: ph(x, v)
    t = best_times(fns, budget=2.0, rounds=5)
    print("Rosenbrock: hvp time / f time (target: <= 5x at 1e5)")
    print(f"  n={hvp_n:<8d} {'f (numpy)':32s} {'':8s} {t['f'] * 1e3:9.3f} ms")
    for name, seconds in t.items():
        if name != "f":
            print(f"  n={hvp_n:<8d} {name:32s} {seconds / t['f']:6.2f}x f {seconds * 1e3:9.3f} ms")


def alone_report(what, n, who="dualdiff"):
    """Rosenbrock grad or hvp / f in a process that runs nothing else (no other size, and
    only one of dualdiff (with SciPy's hand-written derivative) or a peer).

    How NumPy's own temporaries are allocated depends on the process's history: once glibc has
    raised its mmap threshold (large blocks freed before, as the peers' and other sizes' runs
    do), f's temporaries come from reused memory; in a process that ran only f, each large
    temporary is mapped and page-faulted afresh at every call. dualdiff's large buffers come
    from its pool either way, so the ratio to f differs between the two."""
    x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
    v = np.ones(n)
    fns = {"f": lambda: rosen(x)}
    if who == "dualdiff" and what == "grad":
        g = dd.grad(rosen)
        fns.update({who: lambda: g(x), "by hand": lambda: rosen_der(x)})
    elif who == "dualdiff":
        fns.update({who: lambda: dd.hvp(rosen, x, v), "by hand": lambda: rosen_hess_prod(x, v)})
    elif what == "grad":
        pg = peer_grads(rosen)[who]
        fns[who] = lambda: pg(x)
    else:
        ph = peer_hvps(rosen)[who]
        fns[who] = lambda: ph(x, v)
    t = best_times(fns, budget=2.0, rounds=5)
    hand = f"; SciPy's by hand {t['by hand'] / t['f']:.2f}x f" if "by hand" in t else ""
    print(
        f"  n={n:<8d} {what} {who + ':':10s} {t[who] / t['f']:6.2f}x f ({t[who] * 1e3:.3f} ms, "
        f"f {t['f'] * 1e3:.3f} ms{hand})",
        flush=True,
    )


PEER_NAMES = ("autograd", "torch", "jax jit")


def _installed_peers():
    return [name for name in ("autograd", "torch", "jax") if optional(name) is not None]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument("--alone", choices=("grad", "hvp"), help="one Rosenbrock run, alone")
    parser.add_argument("--n", type=int, default=1000, help="size for --alone")
    parser.add_argument("--who", default="dualdiff", help="for --alone: dualdiff or a peer")
    args = parser.parse_args(argv)
    if args.alone:
        alone_report(args.alone, args.n, args.who)
        return
    print(f"numpy {np.__version__}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    chain_report()
    if args.quick:
        rosen_report([1000], 1000)
    else:
        rosen_report([1000, 1_000_000], 100_000)
    print("The same, each in a fresh process that runs nothing else (see alone_report):")
    runs = [("grad", 1000), ("hvp", 1000)] if args.quick else [("grad", 10**6), ("hvp", 10**5)]
    installed = _installed_peers()
    peers = [] if args.quick else [p for p in PEER_NAMES if p.split()[0] in installed]
    for what, n in runs:
        for who in ["dualdiff", *peers]:
            command = [sys.executable, "-m", "benchmarks.bench_engine", "--alone", what]
            subprocess.run(command + ["--n", str(n), "--who", who], check=True)


if __name__ == "__main__":
    main()
