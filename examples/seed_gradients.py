"""The seed post's first snippet on dualdiff: ``x.grad`` of ``sum(3 x + 2)`` is ``[3. 3.]``.

The post's code used ``import torch``, ``torch.tensor`` and ``torch.sum``; here the tensor
comes from dualdiff and the sum is Python's (``np.sum(y)`` works as well).

Run: python examples/seed_gradients.py
"""

import numpy as np

from dualdiff import tensor


def main():
    # -- the post's snippet ------------------------------------------------------------------
    x = tensor([2.0, 3.0], requires_grad=True)
    y = 3 * x + 2

    loss = sum(y)
    loss.backward()

    print(x.grad)
    # -----------------------------------------------------------------------------------------
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])  # d loss / dx_i = 3

    # .grad accumulates across backward() calls until it is cleared, as in PyTorch.
    np.sum(3 * x + 2).backward()
    print("after a second backward():", x.grad)
    x.grad = None

    # A non-linear loss: d/dx sum(x^2 sin x) = 2 x sin x + x^2 cos x.
    loss = np.sum(x**2 * np.sin(x))
    loss.backward()
    v = np.array([2.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * v * np.sin(v) + v**2 * np.cos(v), rtol=1e-14)
    print(f"loss {loss.item():.6f}, gradient {x.grad} (= 2x sin x + x^2 cos x)")


if __name__ == "__main__":
    main()
