"""Training-step cost of the seed post's workflow, and memory over a long run.

    python -m benchmarks.bench_training [--steps N] [--quick]

An MLP 32 -> 64 -> tanh -> 1 on mini-batches of 64, MSELoss, SGD with lr 0.01, float64, one
thread. Microseconds per training step (zero_grad, forward, backward, step) of dualdiff's
tensor layer beside hand-written NumPy backprop and, when installed, PyTorch eager and
autograd, measured in one run (interleaved rounds, best round of each) and reported as ratios
to NumPy. Then ``--steps`` training steps (default 100,000) with the resident memory sampled
along the way, and as many forward passes that are never backpropagated: the graph of each
step must die with its tensors, so neither run may grow.
"""

import argparse
import gc
import itertools
import os
import time

import numpy as np

import dualdiff as dd
from benchmarks._timing import optional
from dualdiff.tensor import _Node

N_IN, N_HIDDEN, BATCH, LR = 32, 64, 64, 0.01


def make_batches(n_batches=32, seed=0):
    """Mini-batches of a noisy regression problem (the loss plateaus: no denormal gradients)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_batches, BATCH, N_IN))
    y = np.sin(x[..., :1]) + 0.3 * rng.normal(size=(n_batches, BATCH, 1))
    return list(zip(x, y))


def initial_weights(seed=0):
    """PyTorch's default initialisation of the two layers: (W1, b1, W2, b2)."""
    dd.nn.manual_seed(seed)
    layers = dd.nn.Linear(N_IN, N_HIDDEN), dd.nn.Linear(N_HIDDEN, 1)
    return [p.detach().numpy().copy() for layer in layers for p in layer.parameters()]


def dualdiff_step(batches, weights):
    """The post's loop body on dualdiff tensors."""
    model = dd.nn.Sequential(dd.nn.Linear(N_IN, N_HIDDEN), dd.nn.Tanh(), dd.nn.Linear(N_HIDDEN, 1))
    with dd.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(w)
    criterion = dd.nn.MSELoss()
    optimizer = dd.optim.SGD(model.parameters(), lr=LR)
    data = itertools.cycle([(dd.tensor(x), dd.tensor(y)) for x, y in batches])

    def step():
        input, target = next(data)
        optimizer.zero_grad()
        loss = criterion(model(input), target)
        loss.backward()
        optimizer.step()
        return loss

    return step, lambda: [p.detach().numpy() for p in model.parameters()]


def numpy_step(batches, weights):
    """Backpropagation written by hand for this network."""
    params = [w.copy() for w in weights]
    w1, b1, w2, b2 = params
    data = itertools.cycle(batches)

    def step():
        x, y = next(data)
        h = np.tanh(x @ w1.T + b1)
        d = h @ w2.T + b2 - y
        loss = np.mean(d * d)
        g_out = (2.0 / d.size) * d
        g_h = (g_out @ w2) * (1.0 - h * h)
        grads = (g_h.T @ x, g_h.sum(axis=0), g_out.T @ h, g_out.sum(axis=0))
        for p, g in zip(params, grads):
            p -= LR * g
        return loss

    return step, lambda: params


def torch_step(torch, batches, weights):
    torch.set_num_threads(1)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(N_IN, N_HIDDEN), nn.Tanh(), nn.Linear(N_HIDDEN, 1)).double()
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.from_numpy(w))
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    data = itertools.cycle([(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches])

    def step():
        input, target = next(data)
        optimizer.zero_grad()
        loss = criterion(model(input), target)
        loss.backward()
        optimizer.step()
        return loss

    return step, lambda: [p.detach().numpy() for p in model.parameters()]


def autograd_step(autograd, anp, batches, weights):
    params = [w.copy() for w in weights]
    data = itertools.cycle(batches)

    def loss(params, x, y):
        w1, b1, w2, b2 = params
        d = anp.tanh(x @ w1.T + b1) @ w2.T + b2 - y
        return anp.mean(d * d)

    gradient = autograd.grad(loss)

    def step():
        x, y = next(data)
        for p, g in zip(params, gradient(params, x, y)):
            p -= LR * g

    return step, lambda: params


def contenders(batches, weights):
    """``{name: (step, parameters)}`` for dualdiff, NumPy and the installed peers."""
    out = {
        "numpy (by hand)": numpy_step(batches, weights),
        "dualdiff": dualdiff_step(batches, weights),
    }
    torch = optional("torch")
    if torch is not None:
        out["torch eager"] = torch_step(torch, batches, weights)
    autograd = optional("autograd")
    if autograd is not None:
        out["autograd"] = autograd_step(autograd, optional("autograd.numpy"), batches, weights)
    return out


def check_same_training(batches, weights, steps=20):
    """Every contender follows the same parameter trajectory (so the timings compare alike)."""
    reference = None
    for name, (step, params) in contenders(batches, weights).items():
        for _ in range(steps):
            step()
        got = [np.array(p) for p in params()]
        if reference is None:
            reference = got
            continue
        for a, b in zip(got, reference):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)


def time_steps(runs, rounds, seconds_per_block):
    """Best microseconds per step of each contender over interleaved rounds."""
    calibrate = runs["numpy (by hand)"][0]
    t0 = time.perf_counter()
    for _ in range(200):
        calibrate()
    n = max(50, int(seconds_per_block / ((time.perf_counter() - t0) / 200) / 3))
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, (step, _) in runs.items():
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    return best


def step_report(rounds, seconds_per_block):
    batches, weights = make_batches(), initial_weights()
    check_same_training(batches, weights)
    runs = contenders(batches, weights)
    for step, _ in runs.values():  # warm up: allocator, BLAS, caches
        for _ in range(200):
            step()
    best = time_steps(runs, rounds, seconds_per_block)
    base = best["numpy (by hand)"]
    print(
        f"training step, MLP {N_IN}->{N_HIDDEN}->tanh->1, batch {BATCH}, MSELoss, SGD "
        f"lr {LR}, float64, 1 thread"
    )
    print("  (target: dualdiff <= 120 us where NumPy by hand takes 52 us, i.e. <= 2.3x numpy)")
    for name, t in best.items():
        print(f"  {name:18s} {t * 1e6:8.1f} us/step   {t / base:5.2f}x numpy")
    if "torch eager" in best:
        print(f"  dualdiff / torch eager: {best['dualdiff'] / best['torch eager']:.2f}")


def rss_bytes():
    """Resident set size now: psutil, else /proc, else the peak from getrusage."""
    psutil = optional("psutil")
    if psutil is not None:
        return psutil.Process().memory_info().rss
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, in KiB


def live_nodes():
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is _Node)


def memory_report(steps):
    step, _ = dualdiff_step(make_batches(), initial_weights())
    model_forward = _forward_only(make_batches(), initial_weights())
    for name, fn in [("training steps", step), ("forward passes, no backward", model_forward)]:
        for _ in range(min(1000, steps)):  # warm up: allocator pools settle
            fn()
        samples = [rss_bytes()]
        chunk = max(1, steps // 10)
        for done in range(0, steps, chunk):
            for _ in range(min(chunk, steps - done)):
                fn()
            samples.append(rss_bytes())
        mib = [s / 2**20 for s in samples]
        print(
            f"  {steps:,} {name}: RSS {mib[0]:.1f} -> {mib[-1]:.1f} MiB "
            f"(growth {mib[-1] - mib[0]:+.2f} MiB, max {max(mib):.1f}), "
            f"graph nodes alive after: {live_nodes()}"
        )


def _forward_only(batches, weights):
    model = dd.nn.Sequential(dd.nn.Linear(N_IN, N_HIDDEN), dd.nn.Tanh(), dd.nn.Linear(N_HIDDEN, 1))
    with dd.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(w)
    criterion = dd.nn.MSELoss()
    data = itertools.cycle([(dd.tensor(x), dd.tensor(y)) for x, y in batches])

    def forward():
        input, target = next(data)
        return criterion(model(input), target)  # recorded, then dropped

    return forward


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="length of the memory run")
    parser.add_argument("--quick", action="store_true", help="short runs, for smoke tests")
    args = parser.parse_args(argv)
    steps = min(args.steps, 2000) if args.quick else args.steps
    step_report(rounds=3 if args.quick else 9, seconds_per_block=0.03 if args.quick else 0.15)
    print("memory over a long run (the graph of each step is freed after step())")
    memory_report(steps)


if __name__ == "__main__":
    main()
