"""SGD and Adam: trajectories step by step against the formulas written out here (and against
torch.optim when it is installed), state dicts, and the SciPy-method forms."""

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import OptimizeWarning, minimize, rosen, rosen_der

import dualdiff as dd

C = np.array([1.5, -0.5, 2.0, 0.25])
THETA0 = np.array([0.4, -1.0, 0.8, 2.0])
STEPS = 12


def loss_np(theta):
    return np.sum(C * np.sin(theta)) + 0.25 * np.sum(theta**4)


def grad_np(theta):
    return C * np.cos(theta) + theta**3


# -- the reference formulas, written out independently of dualdiff.optim ----------------------


def reference_sgd(
    lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False
):
    theta, buf, out = THETA0.copy(), None, []
    for _ in range(STEPS):
        d = grad_np(theta) * (-1.0 if maximize else 1.0) + weight_decay * theta
        if momentum != 0:
            buf = d if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        theta = theta - lr * d
        out.append(theta)
    return np.array(out)


def reference_adam(
    lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False
):
    b1, b2 = betas
    theta, m, v, v_max, out = THETA0.copy(), 0.0, 0.0, 0.0, []
    for t in range(1, STEPS + 1):
        d = grad_np(theta) * (-1.0 if maximize else 1.0) + weight_decay * theta
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - b2**t)
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return np.array(out)


def run_ours(make, **options):
    theta = dd.tensor(THETA0, requires_grad=True)
    opt = make([theta], **options)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = np.sum(dd.tensor(C) * np.sin(theta)) + 0.25 * np.sum(theta**4)
        loss.backward()
        opt.step()
        out.append(theta.detach().numpy().copy())
    return np.array(out)


def run_torch(torch, make, **options):
    theta = torch.tensor(THETA0, requires_grad=True)
    opt = make([theta], **options)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch.sum(torch.from_numpy(C) * torch.sin(theta)) + 0.25 * torch.sum(theta**4)
        loss.backward()
        opt.step()
        out.append(theta.detach().numpy().copy())
    return np.array(out)


def assert_same(ours, expected, rtol, atol=1e-15):
    assert np.all(np.isfinite(expected)), "the reference diverged: the case tests nothing"
    np.testing.assert_allclose(ours, expected, rtol=rtol, atol=atol, equal_nan=False)


SGD_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.02, momentum=0.5, weight_decay=0.1, maximize=True),
]
ADAM_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, betas=(0.8, 0.99)),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, amsgrad=True),
    dict(lr=0.05, amsgrad=True, weight_decay=0.05, maximize=True),
    dict(lr=0.1, eps=1e-3),
]


@pytest.mark.parametrize("options", SGD_CASES, ids=str)
def test_sgd_trajectory_matches_the_formulas(options):
    assert_same(run_ours(dd.optim.SGD, **options), reference_sgd(**options), rtol=1e-13)


@pytest.mark.parametrize("options", ADAM_CASES, ids=str)
def test_adam_trajectory_matches_the_formulas(options):
    assert_same(run_ours(dd.optim.Adam, **options), reference_adam(**options), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    lr=st.floats(1e-3, 0.05),
    momentum=st.floats(0.0, 0.99),
    dampening=st.floats(0.0, 1.0),
    weight_decay=st.floats(0.0, 0.5),
    maximize=st.booleans(),
    nesterov=st.booleans(),
)
def test_sgd_matches_the_formulas_for_any_options(
    lr, momentum, dampening, weight_decay, maximize, nesterov
):
    if nesterov:
        momentum, dampening = max(momentum, 0.1), 0.0
    options = dict(
        lr=lr,
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=weight_decay,
        maximize=maximize,
    )
    with np.errstate(all="ignore"):  # maximizing the quartic may diverge, in both runs
        expected = reference_sgd(**options)
        ours = run_ours(dd.optim.SGD, **options)
    # a diverging run is compared only while its cubed steps stay far from overflow: at the
    # brink (|theta| ~ 1e102, theta**3 ~ 1e306) the order of an update's sums decides inf or not
    assume(np.all(np.abs(expected) < 1e100))
    assert_same(ours, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("options", SGD_CASES, ids=str)
def test_sgd_matches_torch(options):
    torch = pytest.importorskip("torch")
    expected = run_torch(torch, torch.optim.SGD, **options)
    assert_same(run_ours(dd.optim.SGD, **options), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("options", ADAM_CASES, ids=str)
def test_adam_matches_torch(options):
    torch = pytest.importorskip("torch")
    expected = run_torch(torch, torch.optim.Adam, **options)
    assert_same(run_ours(dd.optim.Adam, **options), expected, rtol=1e-12, atol=1e-14)


# -- the stateful API ----------------------------------------------------------------------------


def _steps(opt, theta, n):
    out = []
    for _ in range(n):
        opt.zero_grad()
        (np.sum(dd.tensor(C) * np.sin(theta)) + 0.25 * np.sum(theta**4)).backward()
        opt.step()
        out.append(theta.detach().numpy().copy())
    return np.array(out)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: dd.optim.SGD(p, lr=0.05, momentum=0.9),
        lambda p: dd.optim.Adam(p, lr=0.05, amsgrad=True),
    ],
)
def test_state_dict_round_trip_resumes_the_same_trajectory(make):
    theta = dd.tensor(THETA0, requires_grad=True)
    opt = make([theta])
    _steps(opt, theta, 5)
    saved, at = opt.state_dict(), theta.detach().numpy().copy()
    straight = _steps(opt, theta, 5)
    resumed_theta = dd.tensor(at, requires_grad=True)
    resumed = make([resumed_theta])
    resumed.load_state_dict(saved)
    np.testing.assert_array_equal(_steps(resumed, resumed_theta, 5), straight)
    assert saved["param_groups"][0]["params"] == [0] and 0 in saved["state"]


def test_load_state_dict_restores_options_and_checks_groups():
    a = dd.tensor(THETA0, requires_grad=True)
    opt = dd.optim.SGD([a], lr=0.5)
    other = dd.optim.SGD([dd.tensor(THETA0, requires_grad=True)], lr=0.01)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.5
    two = dd.optim.SGD([a, dd.tensor(THETA0, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="does not match"):
        two.load_state_dict(opt.state_dict())


def test_param_groups_use_their_own_options():
    a, b = dd.tensor([1.0], requires_grad=True), dd.tensor([1.0], requires_grad=True)
    opt = dd.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    np.sum(a * a + b * b).backward()
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [1 - 0.1 * 2, 1 - 0.5 * 2])


def test_zero_grad_modes_and_closure():
    a = dd.tensor([1.0, 2.0], requires_grad=True)
    opt = dd.optim.SGD([a], lr=0.1)
    np.sum(a * a).backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])

    def closure():
        opt.zero_grad()
        loss = np.sum(a * a)
        loss.backward()
        return loss

    assert opt.step(closure).item() == 5.0
    np.testing.assert_allclose(a.detach().numpy(), [0.8, 1.6])


def test_step_between_forward_and_backward_is_detected():
    a = dd.tensor([1.0, 2.0], requires_grad=True)
    opt = dd.optim.SGD([a], lr=0.1)
    np.sum(a * a).backward()
    loss = np.sum(a * a)
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_invalid_options_are_refused():
    p = [dd.tensor([1.0], requires_grad=True)]
    for make in (
        lambda: dd.optim.SGD(p, lr=0.1, nesterov=True),
        lambda: dd.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
        lambda: dd.optim.SGD(p, lr=-0.1),
        lambda: dd.optim.Adam(p, betas=(1.0, 0.9)),
        lambda: dd.optim.Adam(p, eps=-1.0),
        lambda: dd.optim.SGD([], lr=0.1),
        lambda: dd.optim.SGD([p[0] * 2], lr=0.1),
        lambda: dd.optim.SGD([{"params": p}, {"params": p}], lr=0.1),
    ):
        with pytest.raises(ValueError):
            make()


# -- the SciPy methods ---------------------------------------------------------------------------


def _scipy_trajectory(method, jac, **options):
    seen = []
    res = minimize(
        loss_np,
        THETA0,
        jac=jac,
        method=method,
        callback=lambda xk: seen.append(xk),
        options={"maxiter": STEPS, "gtol": 0.0, **options},
    )
    return res, np.array(seen)


@pytest.mark.parametrize("options", SGD_CASES[:4], ids=str)
def test_scipy_sgd_follows_the_formulas(options):
    res, seen = _scipy_trajectory(dd.optim.sgd, grad_np, **options)
    np.testing.assert_allclose(seen, reference_sgd(**options), rtol=1e-13, atol=1e-15)
    assert (res.nit, res.nfev, res.njev, res.status, res.success) == (
        STEPS,
        STEPS + 1,
        STEPS + 1,
        1,
        False,
    )
    assert res.fun == pytest.approx(loss_np(res.x)) and np.allclose(res.jac, grad_np(res.x))


@pytest.mark.parametrize("options", ADAM_CASES[:4], ids=str)
def test_scipy_adam_follows_the_formulas(options):
    _, seen = _scipy_trajectory(dd.optim.adam, grad_np, **options)
    np.testing.assert_allclose(seen, reference_adam(**options), rtol=1e-12, atol=1e-15)


def test_scipy_method_differentiates_fun_itself_or_takes_jac_true():
    _, by_hand = _scipy_trajectory(dd.optim.sgd, grad_np, lr=0.05, momentum=0.9)
    _, automatic = _scipy_trajectory(dd.optim.sgd, None, lr=0.05, momentum=0.9)
    np.testing.assert_allclose(automatic, by_hand, rtol=1e-13)
    seen = []
    minimize(
        lambda x: (loss_np(x), grad_np(x)),
        THETA0,
        jac=True,
        method=dd.optim.sgd,
        callback=seen.append,
        options={"lr": 0.05, "momentum": 0.9, "maxiter": STEPS},
    )
    np.testing.assert_allclose(np.array(seen), by_hand, rtol=1e-13)


def test_scipy_adam_solves_rosenbrock():
    res = minimize(
        rosen,
        np.array([-1.2, 1.0]),
        jac=rosen_der,
        method=dd.optim.adam,
        options={"lr": 0.02, "maxiter": 20000, "gtol": 1e-6},
    )
    assert res.success and res.status == 0 and res.nit < 20000
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-5)


def test_scipy_callbacks_stop_iteration_and_intermediate_result():
    def stop_after_three(intermediate_result):
        if intermediate_result.nit == 3:
            raise StopIteration
        assert intermediate_result.fun == pytest.approx(loss_np(intermediate_result.x))

    res = minimize(
        loss_np,
        THETA0,
        jac=grad_np,
        method=dd.optim.sgd,
        callback=stop_after_three,
        options={"lr": 0.05},
    )
    assert (res.nit, res.status, res.success) == (3, 99, False)
    np.testing.assert_allclose(res.x, reference_sgd(lr=0.05)[2], rtol=1e-14)


def test_scipy_options_are_checked():
    with pytest.warns(OptimizeWarning, match="learning_rate"):
        minimize(
            loss_np,
            THETA0,
            jac=grad_np,
            method=dd.optim.sgd,
            options={"learning_rate": 0.1, "maxiter": 1},
        )
    with pytest.raises(ValueError, match="bounds"):
        minimize(loss_np, THETA0, jac=grad_np, method=dd.optim.sgd, bounds=[(0, 1)] * 4)
    with pytest.raises(ValueError, match="Nesterov"):
        minimize(loss_np, THETA0, jac=grad_np, method=dd.optim.sgd, options={"nesterov": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minimize(loss_np, THETA0, jac=grad_np, method=dd.optim.adam, options={"maxiter": 1})
