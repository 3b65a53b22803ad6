"""The networks' fused kernels (``neural_network/_kernels.c``) give the bits
of the numpy code they replace (``neural_network/_fused.py``), and refuse
what they cannot take."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits, make_regression

from sklearn_bn import (
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)
from sklearn_bn.neural_network import _fused
from sklearn_bn.neural_network._base import ACTIVATIONS

kernels = _fused.kernels
needs_kernels = pytest.mark.skipif(kernels is None, reason="kernels not built")

DTYPES = [np.float32, np.float64]


def _values(dtype, shape):
    """Finite values of every size, and the non-finite ones, in ``dtype``."""
    return hnp.arrays(
        dtype,
        shape,
        elements=st.floats(
            allow_nan=True,
            allow_infinity=True,
            width=np.dtype(dtype).itemsize * 8,
        ),
    )


def _both(function, arrays, *scalars):
    """``function`` run on copies of ``arrays`` with the kernels and without:
    the two sets of arrays after the call, and the two results."""
    with_kernels = [a.copy() for a in arrays]
    without = [a.copy() for a in arrays]
    result = function(*with_kernels, *scalars)
    saved, _fused.kernels = _fused.kernels, None
    try:
        reference = function(*without, *scalars)
    finally:
        _fused.kernels = saved
    return with_kernels, without, result, reference


shapes = st.tuples(st.integers(1, 9), st.integers(1, 21))


@needs_kernels
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), n=st.integers(1, 70))
def test_optimizer_steps_give_the_bits_of_numpy(data, dtype, n):
    params, grads, m, v = (data.draw(_values(dtype, n)) for _ in range(4))
    v = np.abs(v)  # Adam's second moment is never negative
    lr = data.draw(st.floats(1e-6, 10))
    beta_1, beta_2 = data.draw(st.floats(0, 0.999)), data.draw(st.floats(0, 0.9999))
    eps = data.draw(st.floats(1e-12, 1e-3))
    # The gradient's finishing: the penalty on a prefix, the division by the
    # samples' number or their weights' sum (in the arrays' dtype).
    n_decayed = data.draw(st.integers(0, n))
    alpha = data.draw(st.sampled_from([0.0, 1e-4, 0.37]))
    n_samples = data.draw(st.integers(1, 300) | st.floats(0.01, 1e4).map(dtype))
    finish = (n_decayed, alpha, n_samples)
    with np.errstate(all="ignore"):
        after, reference, _, _ = _both(
            _fused.adam_step, [params, grads, m, v], lr, beta_1, beta_2, eps, *finish
        )
    for a, b in zip(after[:1] + after[2:], reference[:1] + reference[2:], strict=True):
        assert_array_equal(a, b, strict=True)
    momentum, nesterov = data.draw(st.floats(0, 1)), data.draw(st.booleans())
    with np.errstate(all="ignore"):
        after, reference, _, _ = _both(
            _fused.sgd_step, [params, grads, m], lr, momentum, nesterov, *finish
        )
    assert_array_equal(after[0], reference[0], strict=True)
    assert_array_equal(after[2], reference[2], strict=True)


@needs_kernels
@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    n=st.integers(0, 21),
    n_steps=st.integers(0, 5),
)
def test_running_moments_steps_give_the_bits_of_numpy_and_of_one_step_each(
    data, dtype, n, n_steps
):
    mean, var = (data.draw(_values(dtype, n)) for _ in range(2))
    batch_mean, batch_var = (data.draw(_values(dtype, (n_steps, n))) for _ in range(2))
    scalars = st.floats(0.0, 1.0) | st.floats(allow_nan=True, allow_infinity=True)
    keep, momentum = (
        data.draw(st.lists(scalars, min_size=n_steps, max_size=n_steps))
        for _ in range(2)
    )
    unbiased = data.draw(
        st.lists(st.floats(1.0, 3.0), min_size=n_steps, max_size=n_steps)
    )
    steps = (keep, momentum, unbiased)
    with np.errstate(all="ignore"):
        after, reference, out, out_reference = _both(
            _fused.running_moments, [mean, var, batch_mean, batch_var], *steps
        )
        # The inputs are read, never written.
        for got, given in zip(
            after + reference, 2 * [mean, var, batch_mean, batch_var], strict=True
        ):
            assert_array_equal(got, given, strict=True)
        for got, expected in zip(out, out_reference, strict=True):
            assert_array_equal(got, expected, strict=True)
        # One call per step, each from the last one's result: the same bits.
        one_by_one = (mean, var)
        for t in range(n_steps):
            one_by_one = _fused.running_moments(
                *one_by_one,
                batch_mean[t : t + 1],
                batch_var[t : t + 1],
                *([values[t]] for values in steps),
            )
        for got, expected in zip(out, one_by_one, strict=True):
            assert_array_equal(got, expected, strict=True)
            assert got.dtype == dtype


@needs_kernels
@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    shape=shapes,
    activation=st.sampled_from(["identity", "relu", "tanh", "logistic"]),
)
def test_layer_passes_give_the_bits_of_numpy(data, dtype, shape, activation):
    z, centered = (data.draw(_values(dtype, shape)) for _ in range(2))
    a, b, s = (data.draw(_values(dtype, shape[1])) for _ in range(3))
    with np.errstate(all="ignore"):
        after, reference, _, _ = _both(_fused.shift_activate, [z, a], activation)
        assert_array_equal(after[0], reference[0], strict=True)
        _, _, out, out_reference = _both(_fused.affine_activate, [z, a, b], activation)
        assert_array_equal(out, out_reference, strict=True)
        after, reference, _, _ = _both(_fused.softmax, [z])
        expected = z.copy()
        ACTIVATIONS["softmax"](expected)
        assert_array_equal(after[0], reference[0], strict=True)
        assert_array_equal(after[0], expected, strict=True)
        rows = [data.draw(_values(dtype, shape[0])) for _ in range(3)]
        after, reference, _, _ = _both(_fused.subtract_columns, [z, rows[0]])
        assert_array_equal(after[0], reference[0], strict=True)
        beta = data.draw(st.none() | st.just(b))
        after, reference, out, out_reference = _both(
            lambda x, factor, gamma: _fused.normalize_rows(
                x, factor, gamma, beta, activation
            ),
            [z, rows[0], a],
        )
        assert_array_equal(after[0], reference[0], strict=True)
        assert_array_equal(out, out_reference, strict=True)
        m = data.draw(st.none() | st.just(rows[1]))
        after, reference, _, _ = _both(
            lambda g, x_hat, s, inv: _fused.row_norm_input(g, x_hat, s, m, inv),
            [z, centered, rows[0], rows[2]],
        )
        assert_array_equal(after[0], reference[0], strict=True)
        after, reference, _, _ = _both(_fused.relu_backward, [centered, z])
        assert_array_equal(after[1], reference[1], strict=True)


@needs_kernels
@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    groups=st.integers(1, 4),
    size=st.integers(1, 5),
    cols=st.integers(1, 13),
    activation=st.sampled_from(["identity", "relu", "tanh"]),
)
def test_grouped_passes_give_the_bits_of_numpy(
    data, dtype, groups, size, cols, activation
):
    # Ghost batch norm's virtual batches: a vector per block of rows.
    x, grad = (data.draw(_values(dtype, (groups * size, cols))) for _ in range(2))
    a = data.draw(_values(dtype, groups * cols))
    shift, gamma = (data.draw(_values(dtype, cols)) for _ in range(2))
    with np.errstate(all="ignore"):
        _, _, out, out_reference = _both(
            lambda x, scale, shift: _fused.affine_activate(
                x, scale, shift, activation, groups
            ),
            [x, a, shift],
        )
        assert_array_equal(out, out_reference, strict=True)
    # Batch norm's statistics and gradients, weighted or not, in place or not:
    # sums over the rows, in their order, with NaN, infinities and zeros of
    # both signs among the values.
    share = data.draw(st.none() | _values(dtype, groups * size))
    gamma = data.draw(st.none() | st.just(gamma))
    epsilon = data.draw(st.sampled_from([1e-5, 1e-3, 0.5]))
    in_place = data.draw(st.booleans())

    def moments(x, centered, *share):
        target = x if in_place else centered
        return _fused.column_moments(x, target, epsilon, *share, groups=groups)

    arrays = [x, np.empty_like(x)] + ([] if share is None else [share])
    with np.errstate(all="ignore"):
        after, reference, result, result_reference = _both(moments, arrays)
    for got, expected in zip(result, result_reference, strict=True):
        assert_array_equal(got, expected, strict=True)
    written = 0 if in_place else 1
    assert_array_equal(after[written], reference[written], strict=True)
    inv_std = result[2]

    # The derivative of the activation after the normalization first, the
    # ReLU's in the kernel's pass.
    output = data.draw(_values(dtype, x.shape))
    fused = data.draw(st.none() | st.just((activation, output)))

    def gradients(grad, centered, *share):
        share = share[0] if share else None
        return _fused.batch_norm_gradients(
            grad, centered, inv_std, gamma, share, groups, fused
        )

    arrays = [grad, after[written]] + ([] if share is None else [share])
    with np.errstate(all="ignore"):
        after, reference, result, result_reference = _both(gradients, arrays)
    for got, expected in zip(result, result_reference, strict=True):
        assert_array_equal(got, expected, strict=True)
    assert_array_equal(after[0], reference[0], strict=True)


@needs_kernels
@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    shape=shapes,
    activation=st.sampled_from(["identity", "relu", "tanh", "logistic"]),
    in_place=st.booleans(),
)
def test_batch_norm_output_gives_the_bits_of_its_two_passes(
    data, dtype, shape, activation, in_place
):
    # One call: the statistics of column_moments, then affine_activate with
    # gamma * inv_std, with NaN, infinities and signed zeros among the values.
    x = data.draw(_values(dtype, shape))
    gamma, beta = (data.draw(_values(dtype, shape[1])) for _ in range(2))
    share = data.draw(st.none() | _values(dtype, shape[0]))
    epsilon = data.draw(st.sampled_from([1e-5, 1e-3, 0.5]))

    def fused(x, centered, *share):
        target = x if in_place else centered
        return _fused.batch_norm_output(
            x, target, epsilon, gamma, beta, activation, *share
        )

    arrays = [x, np.empty_like(x)] + ([] if share is None else [share])
    with np.errstate(all="ignore"):
        after, reference, result, result_reference = _both(fused, arrays)
        centered = x.copy() if in_place else np.empty_like(x)
        moments = _fused.column_moments(x.copy(), centered, epsilon, share)
        out = _fused.affine_activate(centered, gamma * moments[2], beta, activation)
    written = 0 if in_place else 1
    assert_array_equal(after[written], reference[written], strict=True)
    assert_array_equal(after[written], centered, strict=True)
    for got, expected, two_passes in zip(
        result, result_reference, (out, *moments), strict=True
    ):
        assert_array_equal(got, expected, strict=True)
        assert_array_equal(got, two_passes, strict=True)


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 1), (130, 1), (5, 3), (300, 2)])
def test_batch_norm_sums_run_over_the_rows_in_order(dtype, shape):
    # The sum over the rows that both the kernels and numpy's reference give:
    # the running sum, row after row (numpy's own sum of one contiguous column
    # is pairwise, and would differ).
    x = np.random.default_rng(0).lognormal(0, 4, shape).astype(dtype)
    mean, _, _ = _fused.column_moments(x, np.empty_like(x), 1e-5)
    running = x[0].copy()
    for row in x[1:]:
        running = running + row
    assert_array_equal(mean, running / shape[0], strict=True)


FIT_KINDS = [
    False,
    True,
    BatchNorm(position="after_activation"),
    BatchNorm(affine=False),
    GhostBatchNorm(16),
    BatchRenorm(),
    LayerNorm(),
    RMSNorm(),
]


@needs_kernels
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_norm", FIT_KINDS, ids=repr)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_fit_gives_the_same_bits_with_the_kernels_and_without(
    monkeypatch, dtype, batch_norm, solver, activation
):
    X, y = load_digits(return_X_y=True)
    X, y = (X[:300] / 16).astype(dtype), y[:300]
    weight = np.random.default_rng(0).uniform(0.5, 2, size=300)
    params = dict(
        solver=solver,
        activation=activation,
        batch_size=40,
        max_iter=3,
        random_state=0,
    )
    fits = []
    for switch in (kernels, None):
        monkeypatch.setattr(_fused, "kernels", switch)
        clf = BatchNormMLPClassifier((24, 16), batch_norm=batch_norm, **params)
        fits.append(clf.fit(X, y, sample_weight=None if solver == "adam" else weight))
    fitted, reference = fits
    for name in ["coefs_", "intercepts_", *fitted._normalization.attribute_names]:
        for a, b in zip(getattr(fitted, name), getattr(reference, name), strict=True):
            assert_array_equal(a, b, strict=True)
    assert fitted.loss_curve_ == reference.loss_curve_


@needs_kernels
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_of_the_regressor_gives_the_same_bits(monkeypatch):
    X, y = make_regression(200, 10, n_targets=2, random_state=0)
    fits = []
    for switch in (kernels, None):
        monkeypatch.setattr(_fused, "kernels", switch)
        reg = BatchNormMLPRegressor((16,), activation="relu", random_state=0)
        for start in range(0, 200, 50):
            reg.partial_fit(X[start : start + 50], y[start : start + 50])
        fits.append(reg)
    for a, b in zip(fits[0].coefs_, fits[1].coefs_, strict=True):
        assert_array_equal(a, b, strict=True)


@needs_kernels
def test_the_kernels_refuse_what_they_cannot_take():
    ones = np.ones(4)
    adam = (0.1, 0.9, 0.9, 1e-8, 4, 1e-4, 10.0)
    sgd = (0.1, 0.9, True, 4, 1e-4, 10.0)
    with pytest.raises(ValueError, match="m must have 4 items"):
        kernels.adam(ones.copy(), ones, np.ones(3), ones.copy(), *adam)
    with pytest.raises(ValueError, match="all float32 or all float64"):
        kernels.sgd(ones.copy(), ones.astype(np.float32), ones.copy(), *sgd)
    with pytest.raises(ValueError, match="C-contiguous, writable"):
        kernels.sgd(np.ones(8)[::2], ones, ones.copy(), *sgd)
    read_only = np.ones(4)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="params must be a C-contiguous, writable"):
        kernels.adam(read_only, ones, ones.copy(), ones.copy(), *adam)
    with pytest.raises(ValueError, match=r"n_decayed must be in \[0, 4\], not 5"):
        kernels.adam(ones.copy(), ones, ones.copy(), ones.copy(), *adam[:4], 5, 0, 1)
    with pytest.raises(ValueError, match="n_samples must be positive"):
        kernels.sgd(ones.copy(), ones, ones.copy(), *sgd[:-1], 0.0)
    with pytest.raises(ValueError, match="z must be a 2-D"):
        kernels.shift_activate(ones.copy(), ones, 1)
    with pytest.raises(ValueError, match="activation must be 0"):
        kernels.shift_activate(np.ones((2, 4)), ones, 2)
    with pytest.raises(ValueError, match="shift must have 4 items, not 3"):
        kernels.affine_activate(np.ones((2, 4)), np.ones((2, 4)), ones, np.ones(3), 1)
    with pytest.raises(ValueError, match="same shape"):
        kernels.relu_backward(np.ones((2, 4)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="groups must divide the 2 rows, not be 3"):
        kernels.affine_activate(np.ones((2, 4)), np.ones((2, 4)), ones, ones, 1, 3)
    with pytest.raises(ValueError, match="v must have 2 items"):
        kernels.subtract_columns(np.ones((2, 4)), ones)
    x = np.ones((2, 4))
    with pytest.raises(ValueError, match="out must not be x"):
        kernels.normalize_rows(x, x, np.ones(2), ones, None, 1)
    with pytest.raises(ValueError, match="factor must have 2 items"):
        kernels.normalize_rows(x, np.ones((2, 4)), ones, ones, None, 1)
    with pytest.raises(ValueError, match="inv must have 2 items"):
        kernels.row_norm_input(x, np.ones((2, 4)), np.ones(2), None, ones)
    two = np.ones((2, 4))
    moments = (two, two.copy(), ones.copy(), ones.copy(), ones.copy())
    with pytest.raises(ValueError, match="mean must have 8 items, not 4"):
        kernels.column_moments(*moments, None, 1e-5, 2)
    with pytest.raises(ValueError, match="share must have 2 items"):
        kernels.column_moments(*moments, np.ones(3), 1e-5)
    with pytest.raises(ValueError, match="x must have at least one row"):
        kernels.column_moments(np.ones((0, 4)), np.ones((0, 4)), *moments[2:], None, 1)
    with pytest.raises(ValueError, match="centered must be a C-contiguous, writable"):
        kernels.column_moments(two, np.ones((4, 2)).T, *moments[2:], None, 1e-5)
    output = (two, two.copy(), two.copy(), ones.copy(), ones.copy(), ones.copy())
    with pytest.raises(ValueError, match="out must not be x or centered"):
        kernels.batch_norm_output(two, two, two, *output[3:], ones, ones, None, 0.1, 1)
    with pytest.raises(ValueError, match="beta must have 4 items, not 3"):
        kernels.batch_norm_output(*output, ones, np.ones(3), None, 0.1, 1)
    with pytest.raises(ValueError, match="mean must have 4 items, not 3"):
        kernels.batch_norm_output(
            two,
            two.copy(),
            two.copy(),
            np.ones(3),
            *output[4:],
            ones,
            ones,
            None,
            0.1,
            0,
        )
    with pytest.raises(ValueError, match="activation must be 0"):
        kernels.batch_norm_output(*output, ones, ones, None, 0.1, 2)
    gradients = (two, two.copy(), None, ones.copy(), ones.copy(), ones)
    with pytest.raises(ValueError, match="centered and relu_out must not be grad"):
        kernels.batch_norm_gradients(two, two, *gradients[2:], None, None)
    with pytest.raises(ValueError, match="centered and relu_out must not be grad"):
        kernels.batch_norm_gradients(two, two.copy(), two, *gradients[3:], None, None)
    with pytest.raises(ValueError, match="relu_out must have the same shape"):
        kernels.batch_norm_gradients(
            *gradients[:2], x.T.copy(), *gradients[3:], None, None
        )
    with pytest.raises(ValueError, match="gamma must have 4 items, not 8"):
        kernels.batch_norm_gradients(
            *gradients[:3], *[np.ones(8)] * 4, None, 2
        )  # fmt: skip
    with pytest.raises(ValueError, match="share must have 2 items"):
        kernels.batch_norm_gradients(*gradients, None, ones)
    with pytest.raises(ValueError, match="float32 or float64"):
        kernels.relu_backward(np.ones((2, 2), dtype=int), np.ones((2, 2)))
    # Nothing was written by a call that was refused.
    target = np.ones(4)
    with pytest.raises(ValueError):
        kernels.sgd(target, ones, np.ones(5), *sgd)
    assert_array_equal(target, ones)


# The networks' kernels' entry points, each with the arguments of a valid
# call for ``rows`` x ``cols`` arrays in ``groups`` blocks of rows (``a(shape)``
# an array, ``o(shape)`` an array or None).
_FUZZ_SCRIPT = """
import warnings

import numpy as np
from sklearn_bn.neural_network import _kernels

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
n_cases = {n_cases}


def values(shape, dtype):
    with np.errstate(all="ignore"):
        scaled = rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 40, shape)
        scaled[rng.random(shape) < 0.05] = np.nan
        return np.asarray(scaled).astype(dtype)


def valid(name, r, c, g, dtype):
    a = lambda *shape: values(shape, dtype)
    o = lambda *shape: None if rng.random() < 0.3 else a(*shape)
    n = r * c
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    x = a(r, c)
    # Only the arguments of kernel ``name`` are drawn.
    calls = {{
        "adam": lambda: [a(n), a(n), a(n), np.abs(a(n)), lr, b1, b2, eps,
                         int(rng.integers(0, n + 1)), 1e-4, 3.0],
        "sgd": lambda: [a(n), a(n), a(n), lr, 0.9, True,
                        int(rng.integers(0, n + 1)), 1e-4, 3.0],
        "shift_activate": lambda: [x, a(c), int(rng.integers(0, 2))],
        "affine_activate": lambda: [x, a(r, c), a(g * c), a(c), 1, g],
        "running_moments": lambda: [a(c), a(c), a(g, c), a(g, c), a(2, c),
                                    values((3, g), "float64")],
        "subtract_row_max": lambda: [x],
        "subtract_columns": lambda: [x, a(r)],
        "normalize_rows": lambda: [x, a(r, c), a(r), a(c), o(c), 1],
        "row_norm_input": lambda: [x, a(r, c), a(r), o(r), a(r)],
        "relu_backward": lambda: [a(r, c), x],
        "column_moments": lambda: [x, x if rng.random() < 0.5 else a(r, c),
                                   a(g * c), a(g * c), a(g * c), o(r), 1e-5, g],
        "batch_norm_output": lambda: [x, x if rng.random() < 0.5 else a(r, c),
                                      a(r, c), a(c), a(c), a(c), a(c), a(c),
                                      o(r), 1e-5, int(rng.integers(0, 2))],
        "batch_norm_gradients": lambda: [x, a(r, c), o(r, c), a(g * c),
                                         a(g * c), a(g * c), o(c), o(r), g],
    }}
    return calls[name]()


def wrong(arg):
    # Another argument in its place: a wrong shape, dtype or layout, a read-only
    # or empty array, None, a list, an odd number.
    choice = rng.integers(9)
    if isinstance(arg, (bool, int, float)) or choice == 0:
        return [-1, 0, 2**40, np.nan, np.inf, 0.5, None, "x"][rng.integers(8)]
    if arg is None or choice == 1:
        return values((int(rng.integers(0, 5)),), "float64")
    arg = np.asarray(arg)
    if arg.dtype.kind not in "biufc":  # an earlier replacement's string
        return None
    if choice == 2:
        return arg.astype(["float16", "int64", "complex128", ">f8"][rng.integers(4)])
    if choice == 3 and arg.ndim:
        return arg[::2]
    if choice == 4:
        return arg.T
    if choice == 5:
        arg = arg.copy()
        arg.flags.writeable = False
        return arg
    if choice == 6:
        return arg.reshape(-1)[: max(arg.size - 1, 0)]
    if choice == 7:
        return arg.tolist()
    return None


names = ["adam", "sgd", "shift_activate", "affine_activate", "running_moments",
         "subtract_row_max", "subtract_columns", "normalize_rows",
         "row_norm_input", "relu_backward", "column_moments", "batch_norm_output",
         "batch_norm_gradients"]
# Every entry point of the module, and nothing else.
assert sorted(names) == sorted(n for n in dir(_kernels) if not n.startswith("_"))
succeeded = 0
for case in range(n_cases):
    name = names[case % len(names)]
    g = int(rng.integers(1, 4))
    r, c = g * int(rng.integers(0, 6)), int(rng.integers(0, 9))
    dtype = ["float32", "float64"][case % 2]
    args = valid(name, r, c, g, dtype)
    for _ in range(int(rng.choice([0, 0, 1, 2]))):
        k = int(rng.integers(len(args)))
        args[k] = wrong(args[k])
    try:
        getattr(_kernels, name)(*args)
        succeeded += 1
    except (ValueError, TypeError, OverflowError):
        pass
print("done", n_cases, succeeded)
"""


@needs_kernels
def test_the_kernels_never_crash_on_any_arguments():
    # Valid calls of every entry point (empty arrays, NaN and extreme values
    # among them), and calls with one or two arguments replaced by a wrong
    # shape, dtype or layout, a read-only array, None, a list or an odd
    # number: a result or a ValueError or TypeError, never a crash of the
    # interpreter (the calls run in a subprocess).
    n_cases = 50 * int(os.environ.get("SKLEARN_BN_FUZZ_EXAMPLES", "60"))
    script = _FUZZ_SCRIPT.format(n_cases=n_cases)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    done, cases, succeeded = result.stdout.split()
    assert (done, int(cases)) == ("done", n_cases)
    # Many calls were valid and ran to the end.
    assert int(succeeded) > n_cases // 4
