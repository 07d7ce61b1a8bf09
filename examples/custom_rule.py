"""Give dualdiff a rule for your own function: ``primitive`` + ``defjvp`` / ``defvjp``.

Run: python examples/custom_rule.py
"""

import numpy as np

import dualdiff as dd


@dd.primitive
def softplus(x):
    """log(1 + exp(x)), computed stably; dualdiff treats it as one opaque op."""
    return np.logaddexp(0.0, x)


# Forward and reverse rules sit side by side; t and g carry a leading batch axis.
@dd.defjvp(softplus)
def softplus_jvp(t, ans, x):
    return t * (1.0 / (1.0 + np.exp(-x)))


@dd.defvjp(softplus)
def softplus_vjp(g, ans, x):
    return g * (1.0 / (1.0 + np.exp(-x)))


def main():
    x = np.linspace(-3.0, 3.0, 5)
    print("grad of sum(softplus):", np.round(dd.grad(lambda x: np.sum(softplus(x)))(x), 6))
    dd.testing.check_grads(softplus, x, order=2)  # the rules are differentiable again
    print("check_grads passed (forward, reverse, batched, second order)")


if __name__ == "__main__":
    main()
