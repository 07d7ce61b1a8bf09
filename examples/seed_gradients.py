"""The seed post's first snippet on dualdiff: ``x.grad`` of ``sum(3 x + 2)`` is ``[3. 3.]``.

The post's code runs with only its import changed: ``import dualdiff as torch``.

Run: python examples/seed_gradients.py
"""

import numpy as np

import dualdiff as torch
from dualdiff import tensor


def main():
    # -- the post's snippet, with only the import changed ------------------------------------
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    y = 3 * x + 2

    loss = torch.sum(y)
    loss.backward()

    print(x.grad)
    # -----------------------------------------------------------------------------------------
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])  # d loss / dx_i = 3

    # .grad accumulates across backward() calls until it is cleared, as in PyTorch.
    sum(3 * x + 2).backward()  # Python's sum works too
    assert isinstance(x, torch.Tensor) and x is not tensor
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
