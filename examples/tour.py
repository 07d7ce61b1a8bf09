"""A tour of dualdiff: derivatives of plain NumPy code in both modes.

Run: python examples/tour.py
"""

import numpy as np

import dualdiff as dd


def loss(w, x, y):
    """Least-squares loss of a tiny tanh model, written in plain NumPy."""
    return np.mean((np.tanh(x @ w) - y) ** 2)


def main():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((8, 3)), rng.standard_normal(3)
    y = np.tanh(x @ np.array([1.0, -2.0, 0.5]))

    value, g = dd.value_and_grad(loss)(w, x, y)  # reverse mode, one sweep
    print("loss", round(float(value), 6), "gradient", np.round(g, 6))

    f = lambda v: np.sin(v) * v**2  # noqa: E731
    v = np.array([0.5, 1.0, 2.0])
    out, tangent = dd.jvp(f, (v,), (np.ones(3),))  # forward mode, one direction
    print("jvp", np.round(tangent, 6))
    print("jacobian (forward == reverse):", np.allclose(dd.jacfwd(f)(v), dd.jacrev(f)(v)))

    H = dd.hessian(loss)(w, x, y)  # forward over reverse
    print("hessian symmetric:", np.allclose(H, H.T), "shape", H.shape)
    print("4th derivative of sin at 0.3:", float(dd.grad(dd.grad(dd.grad(dd.grad(np.sin))))(0.3)))

    dd.testing.check_grads(loss, w, x, y, order=2)  # FD, dot-product, batched, 2nd order
    print("check_grads passed")


if __name__ == "__main__":
    main()
