"""SGD and Adam with PyTorch's update formulas, written once as functions over arrays.

:func:`sgd_update` and :func:`adam_update` change a parameter array in place and return the
optimizer state. Two front ends share them:

* :class:`SGD` and :class:`Adam` step the ``.grad`` of tensors, as ``torch.optim`` does
  (``zero_grad``, ``step``, ``state_dict``, ``load_state_dict``, parameter groups);
* :func:`sgd` and :func:`adam` are SciPy methods: ``scipy.optimize.minimize(fun, x0,
  jac=..., method=dd.optim.adam, options={"lr": 0.1, "maxiter": 500})`` runs full-batch
  descent and returns an ``OptimizeResult``. Without ``jac``, dualdiff differentiates ``fun``.
"""

import copy
import inspect
import warnings
from collections.abc import Callable, Iterable

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning

from dualdiff.tensor import Tensor
from dualdiff.transforms import value_and_grad

__all__ = ["SGD", "Adam", "Optimizer", "adam", "adam_update", "sgd", "sgd_update"]


# -- the update math, once --------------------------------------------------------------------


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: np.ndarray | None = None,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> np.ndarray | None:
    """One SGD step on ``param`` (in place); returns the new momentum buffer.

    PyTorch's formulas: ``d = -g if maximize else g``, ``d += weight_decay * param``; with
    momentum ``b = d`` at the first step, else ``b = momentum * b + (1 - dampening) * d``, and
    ``d = d + momentum * b`` (Nesterov) or ``d = b``; finally ``param -= lr * d``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.optim import sgd_update
    >>> p = np.array([1.0, 2.0])
    >>> buf = sgd_update(p, np.array([1.0, 1.0]), None, lr=0.1, momentum=0.9)
    >>> p, buf
    (array([0.9, 1.9]), array([1., 1.]))
    """
    d = -grad if maximize else grad
    if weight_decay:
        d = d + weight_decay * param
    if momentum:
        if momentum_buffer is None:
            momentum_buffer = np.array(d, copy=True)
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1.0 - dampening) * d
        d = d + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * d
    return momentum_buffer


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: dict | None = None,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
) -> dict:
    """One Adam step on ``param`` (in place); returns the state ``{step, exp_avg, exp_avg_sq}``.

    PyTorch's formulas (L2 weight decay added to the gradient): ``m = b1 m + (1 - b1) d``,
    ``v = b2 v + (1 - b2) d**2``, ``param -= lr / (1 - b1**t) * m / (sqrt(v_hat) + eps)``
    with ``v_hat = v / (1 - b2**t)``, and with ``amsgrad`` the running maximum of ``v`` in
    place of ``v``. ``state`` is None at the first step.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.optim import adam_update
    >>> p = np.array([1.0, -1.0])
    >>> state = adam_update(p, np.array([0.5, -2.0]), None, lr=0.1)
    >>> p.round(6), state["step"]
    (array([ 0.9, -0.9]), 1)
    """
    beta1, beta2 = betas
    d = -grad if maximize else grad
    if weight_decay:
        d = d + weight_decay * param
    if state is None:
        state = {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(param)
    state["step"] = t = state["step"] + 1
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m *= beta1
    m += (1.0 - beta1) * d
    v *= beta2
    v += (1.0 - beta2) * (d * d)
    if amsgrad:
        np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        v = state["max_exp_avg_sq"]
    denom = np.sqrt(v) / np.sqrt(1.0 - beta2**t) + eps
    param -= (lr / (1.0 - beta1**t)) * (m / denom)
    return state


def _check_sgd(lr, momentum, dampening, nesterov, weight_decay, **_):
    _check_nonnegative(lr=lr, momentum=momentum, weight_decay=weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")


def _check_adam(lr, betas, eps, weight_decay, **_):
    _check_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
    if not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"betas must lie in [0, 1), got {betas}")


def _check_nonnegative(**values):
    for name, v in values.items():
        if v < 0:
            raise ValueError(f"invalid {name}: {v} (must be >= 0)")


# -- stateful optimizers over tensors ---------------------------------------------------------


class Optimizer:
    """Base of :class:`SGD` and :class:`Adam`: parameter groups, state, and ``zero_grad``.

    ``params`` is an iterable of tensors, or of dicts ``{"params": [...], **options}`` whose
    options override the defaults for that group.
    """

    def __init__(self, params: Iterable, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise ValueError("the optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor) or not p.is_leaf:
                raise ValueError("an optimizer can only update leaf tensors")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check(**group)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in group["params"]):
            raise ValueError("a parameter appears in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear ``.grad`` of every parameter (set it to None, or zero it in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p._grad is None:
                    p._grad = None
                else:
                    p._grad.zero_()

    def step(self, closure: Callable | None = None):
        """Update every parameter that has a ``.grad``; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            loss = closure()
        for group in self.param_groups:
            hyper = {k: group[k] for k in self.defaults}  # groups may carry extra keys
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                self.state[p] = self._update(p.value, g.value, self.state.get(p), hyper)
                p._version[0] += 1  # the values changed in place: graphs that saved them know
        return loss

    def state_dict(self) -> dict:
        """A copy of the state: ``{"state": {index: {...}}, "param_groups": [...]}``."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {
            index[id(p)]: copy.deepcopy(s)
            for group in self.param_groups
            for p in group["params"]
            if (s := self.state.get(p)) is not None
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a :meth:`state_dict` taken from an optimizer over same-shaped parameters."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups) or any(
            len(s["params"]) != len(g["params"]) for s, g in zip(saved, self.param_groups)
        ):
            raise ValueError("the state dict does not match this optimizer's parameter groups")
        for s, group in zip(saved, self.param_groups):
            for i, p in zip(s["params"], group["params"]):
                _check_state_shapes(state_dict["state"].get(i, {}), i, p)
        self.state = {}
        for s, group in zip(saved, self.param_groups):
            for i, p in zip(s["params"], group["params"]):
                if i in state_dict["state"]:
                    self.state[p] = copy.deepcopy(state_dict["state"][i])
            group.update({k: v for k, v in s.items() if k != "params"})

    def __repr__(self):
        opts = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({opts})"


def _check_state_shapes(state, index, param):
    """Refuse, at load, per-parameter state (momentum, moments) shaped unlike its parameter."""
    for key, value in state.items():
        shape = np.shape(value)
        if isinstance(value, np.ndarray | Tensor) and shape != param.shape:
            raise ValueError(
                f"loaded optimizer state {key!r} of parameter {index} has shape {shape}, but "
                f"the parameter has shape {param.shape}; load the state dict of an optimizer "
                "over parameters of the same shapes, in the same order."
            )


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's momentum convention (see :func:`sgd_update`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> w = dd.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = dd.optim.SGD([w], lr=0.1)
    >>> opt.zero_grad(); np.sum(w * w).backward(); opt.step()
    >>> w
    tensor([ 0.8, -1.6], requires_grad=True)
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    _check = staticmethod(_check_sgd)

    @staticmethod
    def _update(p, g, state, hyper):
        buf = sgd_update(p, g, None if state is None else state["momentum_buffer"], **hyper)
        return None if buf is None else {"momentum_buffer": buf}


class Adam(Optimizer):
    """Adam (and AMSGrad) with PyTorch's formulas (see :func:`adam_update`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> w = dd.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = dd.optim.Adam([w], lr=0.1)
    >>> opt.zero_grad(); np.sum(w * w).backward(); opt.step()
    >>> w
    tensor([ 0.9, -1.9], requires_grad=True)
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    _check = staticmethod(_check_adam)

    @staticmethod
    def _update(p, g, state, hyper):
        return adam_update(p, g, state, **hyper)


# -- the same updates as SciPy methods ---------------------------------------------------------


def sgd(
    fun: Callable,
    x0,
    args: tuple = (),
    *,
    jac=None,
    callback: Callable | None = None,
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
    maxiter: int = 1000,
    gtol: float = 1e-5,
    disp: bool = False,
    **unused,
) -> OptimizeResult:
    """Full-batch SGD as a ``scipy.optimize.minimize`` method (the updates of :class:`SGD`).

    Iterates ``maxiter`` steps, or until the largest gradient component is at most ``gtol``.
    ``jac`` may be a callable, True (``fun`` returns ``(f, g)``), or None: dualdiff then
    differentiates ``fun`` itself. ``callback(xk)`` (or ``callback(intermediate_result)``)
    runs after each step and may raise ``StopIteration`` to stop.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> import dualdiff as dd
    >>> res = minimize(lambda x: np.sum((x - 3.0) ** 2), np.zeros(2), method=dd.optim.sgd,
    ...                options={"lr": 0.1, "momentum": 0.5, "maxiter": 200})
    >>> res.success, res.x.round(4)
    (True, array([3., 3.]))
    """
    hyper = dict(
        lr=lr,
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=weight_decay,
        maximize=maximize,
    )
    _check_sgd(**hyper)

    def step(x, g, buf):
        return sgd_update(x, g, buf, **hyper)

    return _descend(step, fun, x0, args, jac, callback, maxiter, gtol, disp, unused)


def adam(
    fun: Callable,
    x0,
    args: tuple = (),
    *,
    jac=None,
    callback: Callable | None = None,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    maxiter: int = 1000,
    gtol: float = 1e-5,
    disp: bool = False,
    **unused,
) -> OptimizeResult:
    """Full-batch Adam as a ``scipy.optimize.minimize`` method (the updates of :class:`Adam`).

    Options and stopping rule as in :func:`sgd`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> import dualdiff as dd
    >>> res = minimize(lambda x: np.sum((x - 3.0) ** 2), np.zeros(2), method=dd.optim.adam,
    ...                options={"lr": 0.1, "maxiter": 2000})
    >>> res.success, res.x.round(4)
    (True, array([3., 3.]))
    """
    hyper = dict(
        lr=lr,
        betas=tuple(betas),
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
    )
    _check_adam(**hyper)

    def step(x, g, state):
        return adam_update(x, g, state, **hyper)

    return _descend(step, fun, x0, args, jac, callback, maxiter, gtol, disp, unused)


_MESSAGES = {
    0: "Optimization terminated successfully: the gradient is below gtol.",
    1: "Maximum number of iterations has been exceeded.",
    99: "`callback` raised `StopIteration`.",
}


def _descend(step, fun, x0, args, jac, callback, maxiter, gtol, disp, unused):
    """The loop both SciPy methods share: evaluate, test, update in place, report."""
    _check_scipy_extras(unused)
    evaluate = _objective(fun, jac, args)
    notify = _notifier(callback)
    x = np.array(x0, dtype=np.float64)
    f, g = evaluate(x)
    nit, state, status = 0, None, None
    while status is None:
        if np.max(np.abs(g), initial=0.0) <= gtol:
            status = 0
        elif nit >= maxiter:
            status = 1
        else:
            state = step(x, g, state)
            nit += 1
            f, g = evaluate(x)
            status = notify(x, f, g, nit)
    if disp:
        print(
            f"{_MESSAGES[status]}\n         Current function value: {f:.6g}\n"
            f"         Iterations: {nit}"
        )
    return OptimizeResult(
        x=x,
        fun=f,
        jac=g,
        nit=nit,
        nfev=nit + 1,
        njev=nit + 1,
        status=status,
        success=status == 0,
        message=_MESSAGES[status],
    )


def _check_scipy_extras(unused):
    for key in ("bounds", "constraints"):
        if unused.pop(key, None):
            raise ValueError(f"dualdiff's sgd/adam methods do not support {key}")
    unused.pop("hess", None)
    unused.pop("hessp", None)
    if unused:
        warnings.warn(f"Unknown solver options: {', '.join(unused)}", OptimizeWarning, stacklevel=4)


def _objective(fun, jac, args):
    """``x -> (f, g)`` in float64 from ``fun`` and SciPy's ``jac`` convention."""
    if callable(jac):
        return lambda x: (float(fun(x, *args)), np.asarray(jac(x, *args), dtype=np.float64))
    if jac is True:

        def split(x):
            f, g = fun(x, *args)
            return float(f), np.asarray(g, dtype=np.float64)

        return split
    if jac is None or jac is False:
        vg = value_and_grad(lambda x: fun(x, *args))

        def differentiate(x):
            f, g = vg(x)
            return float(f), np.asarray(g, dtype=np.float64)

        return differentiate
    raise ValueError(f"jac must be a callable, True or None for dualdiff's methods, not {jac!r}")


def _notifier(callback):
    """``(x, f, g, nit) -> status or None``, calling ``callback`` as SciPy would."""
    if callback is None:
        return lambda x, f, g, nit: None
    wants_result = set(inspect.signature(callback).parameters) == {"intermediate_result"}

    def notify(x, f, g, nit):
        try:
            if wants_result:
                callback(intermediate_result=OptimizeResult(x=x.copy(), fun=f, jac=g, nit=nit))
            else:
                callback(x.copy())
        except StopIteration:
            return 99
        return None

    return notify
