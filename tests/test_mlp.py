"""Tests of BatchNormMLPClassifier and BatchNormMLPRegressor."""

import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bn import BatchNorm, BatchNormMLPClassifier, BatchNormMLPRegressor
from sklearn_bn.neural_network._training import TrainingMixin

ESTIMATORS = [
    BatchNormMLPClassifier(),
    BatchNormMLPRegressor(),
    BatchNormMLPClassifier(
        (16, 16), solver="sgd", learning_rate_init=0.1, max_iter=50, random_state=0
    ),
    BatchNormMLPRegressor(
        (16,), activation="tanh", learning_rate_init=0.01, max_iter=50
    ),
    BatchNormMLPClassifier(
        (16,), batch_norm=False, learning_rate_init=0.01, max_iter=50
    ),
    BatchNormMLPRegressor(
        (16,), batch_norm=False, learning_rate_init=0.01, max_iter=50
    ),
    BatchNormMLPClassifier((8,), solver="lbfgs", max_iter=50),
    BatchNormMLPRegressor((8,), solver="lbfgs", max_iter=50),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# Dropout draws a mask per row: a row of weight 2 gets one mask where its two
# copies would get two, so sample weights cannot equal repeated rows (as for
# scikit-learn's own estimators that draw per sample). Every other check holds.
_DROPOUT_WEIGHTS_ARE_NOT_REPETITIONS = {
    check: "dropout draws one mask per row, not per repetition of the row"
    for check in (
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    )
}


@parametrize_with_checks(
    [
        BatchNormMLPClassifier(
            (16,), dropout=0.2, learning_rate_init=0.01, max_iter=50, random_state=0
        ),
        BatchNormMLPRegressor(
            (16,), dropout=0.2, learning_rate_init=0.01, max_iter=50, random_state=0
        ),
    ],
    expected_failed_checks=lambda estimator: _DROPOUT_WEIGHTS_ARE_NOT_REPETITIONS,
)
def test_sklearn_compatible_estimator_with_dropout(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# Helpers ---------------------------------------------------------------------


def _quiet_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _tiny_problem(kind, n_samples=12, n_features=5, random_state=0):
    """Data, and the targets as the network sees them, for each output kind."""
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(n_samples, n_features))
    if kind == "multiclass":
        return X, np.arange(n_samples) % 3
    if kind == "binary":
        return X, np.arange(n_samples) % 2
    return X, rng.normal(size=(n_samples, 2))


def _make_estimator(kind, **params):
    if kind == "regression":
        return BatchNormMLPRegressor(**params)
    return BatchNormMLPClassifier(**params)


def _network_targets(estimator, y):
    """y in the form _backprop takes it: label indicators, or a 2-d array."""
    if hasattr(estimator, "classes_"):
        return estimator._label_binarizer.transform(y).astype(bool)
    return y.reshape(len(y), -1)


def _tiny_network(kind, batch_norm=True, activation="tanh", alpha=0.3):
    """A fitted float64 network with its parameters moved off their initial values.

    gamma and beta start at 1 and 0, where some gradient terms vanish; one
    epoch at a large learning rate moves every parameter.
    """
    X, y = _tiny_problem(kind)
    estimator = _make_estimator(
        kind,
        hidden_layer_sizes=(4, 3),
        activation=activation,
        alpha=alpha,
        batch_norm=batch_norm,
        learning_rate_init=0.1,
        max_iter=1,
        random_state=0,
    )
    _quiet_fit(estimator, X, y)
    return estimator, X, _network_targets(estimator, y)


# The exact gradient -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_gradient_of_every_parameter_matches_finite_differences(
    kind, activation, batch_norm
):
    estimator, X, Y = _tiny_network(kind, batch_norm, activation)
    _assert_gradient_matches_finite_differences(estimator, X, Y)


def _assert_gradient_matches_finite_differences(estimator, X, Y, seed=None):
    """Every parameter's gradient against central differences; with a seed,
    each evaluation draws the same dropout masks."""

    def loss_and_grads():
        random_state = None if seed is None else np.random.RandomState(seed)
        loss, grads, _ = estimator._backprop(X, Y, None, random_state)
        return loss, grads

    _, grads = loss_and_grads()
    step = 1e-6
    for param, grad in zip(estimator._trained(), grads, strict=True):
        numerical = np.empty_like(param)
        for index in np.ndindex(param.shape):
            original = param[index]
            param[index] = original + step
            loss_plus = loss_and_grads()[0]
            param[index] = original - step
            loss_minus = loss_and_grads()[0]
            param[index] = original
            numerical[index] = (loss_plus - loss_minus) / (2 * step)
        assert_allclose(grad, numerical, rtol=1e-5, atol=1e-8)


def test_gradients_cover_every_parameter():
    estimator, X, Y = _tiny_network("multiclass")
    params = estimator._trained()
    n_hidden = len(estimator.hidden_layer_sizes)
    # W of every layer, the output bias, then gamma and beta of each hidden layer.
    assert len(params) == (n_hidden + 1) + 1 + 2 * n_hidden
    _, grads, _ = estimator._backprop(X, Y)
    assert [g.shape for g in grads] == [p.shape for p in params]


# Reference: scikit-learn's MLP, for the network without batch norm ------------


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize(
    "ours, theirs",
    [(BatchNormMLPClassifier, MLPClassifier), (BatchNormMLPRegressor, MLPRegressor)],
)
def test_without_batch_norm_trains_like_sklearn_mlp(solver, ours, theirs):
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    y = y[:300] if ours is BatchNormMLPClassifier else y[:300] / 9.0
    params = dict(
        hidden_layer_sizes=(20, 10),
        solver=solver,
        learning_rate_init=0.01,
        batch_size=64,
        max_iter=4,
        random_state=0,
    )
    mine = _quiet_fit(ours(batch_norm=False, **params), X, y)
    reference = _quiet_fit(theirs(**params), X, y)
    assert_allclose(mine.loss_curve_, reference.loss_curve_, rtol=1e-10)
    for a, b in zip(
        mine.coefs_ + mine.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    ):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_allclose(mine.predict(X), reference.predict(X))


# Reference: PyTorch, for the network with batch norm ----------------------------


def _torch_network(estimator):
    """A torch.nn.Sequential with the estimator's float64 parameters and statistics."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    activations = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "logistic": nn.Sigmoid,
        "identity": nn.Identity,
    }
    batch_norm = estimator.bn_gammas_ is not None
    layers = []
    for i, coef in enumerate(estimator.coefs_):
        is_output = i == len(estimator.coefs_) - 1
        linear = nn.Linear(*coef.shape, bias=is_output or not batch_norm)
        linear = linear.double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(coef.T.copy()))
            if is_output:
                linear.bias.copy_(torch.from_numpy(estimator.intercepts_[-1]))
            elif not batch_norm:
                linear.bias.copy_(torch.from_numpy(estimator.intercepts_[i]))
        layers.append(linear)
        if is_output:
            break
        if batch_norm:
            bn = nn.BatchNorm1d(
                coef.shape[1],
                eps=estimator._normalization.epsilon,
                momentum=estimator._normalization.momentum,
            ).double()
            with torch.no_grad():
                bn.weight.copy_(torch.from_numpy(estimator.bn_gammas_[i]))
                bn.bias.copy_(torch.from_numpy(estimator.bn_betas_[i]))
                bn.running_mean.copy_(torch.from_numpy(estimator.bn_running_means_[i]))
                bn.running_var.copy_(torch.from_numpy(estimator.bn_running_vars_[i]))
            layers.append(bn)
        layers.append(activations[estimator.activation]())
    return nn.Sequential(*layers)


def _torch_loss(estimator, network, X, Y):
    """The estimator's objective, written with torch's own losses."""
    import torch

    out = network(torch.from_numpy(X))
    if estimator.out_activation_ == "softmax":
        data_loss = torch.nn.functional.cross_entropy(
            out, torch.from_numpy(Y.argmax(axis=1))
        )
    else:
        target = torch.from_numpy(Y.astype(np.float64))
        data_loss = 0.5 * ((out - target) ** 2).sum(dim=1).mean()
    linears = [m for m in network if isinstance(m, torch.nn.Linear)]
    squared_norm = sum((m.weight**2).sum() for m in linears)
    return out, data_loss + 0.5 * estimator.alpha * squared_norm / X.shape[0]


def _torch_params(network):
    """torch's parameters in the estimator's order: W, output bias, gamma, beta."""
    import torch

    linears = [m for m in network if isinstance(m, torch.nn.Linear)]
    norms = [m for m in network if isinstance(m, torch.nn.BatchNorm1d)]
    return (
        [m.weight for m in linears]
        + [m.bias for m in linears if m.bias is not None]
        + [m.weight for m in norms]
        + [m.bias for m in norms]
    )


def _as_estimator_layout(tensor, like):
    array = tensor.detach().numpy()
    return array.T if array.ndim == 2 and array.T.shape == like.shape else array


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_training_outputs_loss_and_gradients_equal_torch(kind, activation):
    torch = pytest.importorskip("torch")
    estimator, X, Y = _tiny_network(kind, activation=activation)
    network = _torch_network(estimator).train()
    out, loss = _torch_loss(estimator, network, X, Y)
    loss.backward()
    if kind == "multiclass":
        out = torch.softmax(out, dim=1)

    our_out = estimator._forward_train(X)[0][-1]
    assert_allclose(our_out, out.detach().numpy(), rtol=1e-12, atol=1e-15)
    our_loss, grads, _ = estimator._backprop(X, Y)
    assert our_loss == pytest.approx(loss.item(), rel=1e-12)
    for grad, param in zip(grads, _torch_params(network), strict=True):
        assert_allclose(
            grad, _as_estimator_layout(param.grad, grad), rtol=1e-10, atol=1e-13
        )


def test_prediction_equals_torch_in_eval_mode():
    torch = pytest.importorskip("torch")
    estimator, X, _ = _tiny_network("multiclass", activation="relu")
    network = _torch_network(estimator).eval()
    with torch.no_grad():
        expected = torch.softmax(network(torch.from_numpy(X)), dim=1).numpy()
    assert_allclose(estimator.predict_proba(X), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_one_epoch_of_sgd_equals_torch(kind):
    """Parameters and running statistics after an epoch of SGD with momentum."""
    torch = pytest.importorskip("torch")
    X, y = _tiny_problem(kind, n_samples=40)
    params = dict(
        hidden_layer_sizes=(6, 5),
        solver="sgd",
        learning_rate_init=0.05,
        momentum=0.9,
        nesterovs_momentum=True,
        alpha=0.0,
        batch_size=10,
        shuffle=False,
        batch_norm=BatchNorm(momentum=0.3),
        random_state=0,
    )
    estimator = _make_estimator(kind, **params)
    # Start both from the same initial weights: one partial_fit at a learning
    # rate too small to move them initializes the estimator.
    estimator.set_params(learning_rate_init=1e-300)
    estimator.partial_fit(
        X, y, **({"classes": [0, 1, 2]} if kind != "regression" else {})
    )
    estimator.set_params(learning_rate_init=0.05)
    for mean, var in zip(
        estimator.bn_running_means_, estimator.bn_running_vars_, strict=True
    ):
        mean[...] = 0.0
        var[...] = 1.0
    network = _torch_network(estimator).train()
    Y = _network_targets(estimator, y)

    estimator.set_params(warm_start=True, max_iter=1)
    _quiet_fit(estimator, X, y)

    optimizer = torch.optim.SGD(
        network.parameters(), lr=0.05, momentum=0.9, nesterov=True
    )
    for start in range(0, 40, 10):
        optimizer.zero_grad()
        _, loss = _torch_loss(
            estimator, network, X[start : start + 10], Y[start : start + 10]
        )
        loss.backward()
        optimizer.step()

    for ours, theirs in zip(estimator._trained(), _torch_params(network), strict=True):
        assert_allclose(
            ours, _as_estimator_layout(theirs, ours), rtol=1e-10, atol=1e-12
        )
    norms = [m for m in network if isinstance(m, torch.nn.BatchNorm1d)]
    for i, bn in enumerate(norms):
        assert_allclose(
            estimator.bn_running_means_[i], bn.running_mean.numpy(), rtol=1e-12
        )
        assert_allclose(
            estimator.bn_running_vars_[i], bn.running_var.numpy(), rtol=1e-12
        )


# Running statistics and mini-batches ----------------------------------------------


def _first_layer_z(estimator, X):
    return X @ estimator.coefs_[0]


def _frozen_fit(X, y, **params):
    """Fit at a learning rate too small to move the weights: z is then known."""
    estimator = BatchNormMLPClassifier(
        (3,),
        solver="sgd",
        learning_rate_init=1e-300,
        shuffle=False,
        max_iter=1,
        random_state=0,
        **params,
    )
    return _quiet_fit(estimator, X, y)


def test_running_variance_is_the_unbiased_batch_variance():
    X, y = _tiny_problem("multiclass", n_samples=10)
    estimator = _frozen_fit(X, y, batch_norm=BatchNorm(momentum=1.0))
    z = _first_layer_z(estimator, X)
    assert_allclose(estimator.bn_running_means_[0], z.mean(axis=0), rtol=1e-12)
    assert_allclose(estimator.bn_running_vars_[0], z.var(axis=0, ddof=1), rtol=1e-12)


def test_running_statistics_follow_the_pytorch_momentum_rule():
    X, y = _tiny_problem("multiclass", n_samples=10)
    estimator = _frozen_fit(X, y, batch_norm=BatchNorm(momentum=0.25))
    z = _first_layer_z(estimator, X)
    # One batch from the initial running mean 0 and variance 1.
    assert_allclose(estimator.bn_running_means_[0], 0.25 * z.mean(axis=0), rtol=1e-12)
    assert_allclose(
        estimator.bn_running_vars_[0], 0.75 + 0.25 * z.var(axis=0, ddof=1), rtol=1e-12
    )


@pytest.mark.parametrize("n_samples, batch_size", [(11, 5), (12, 5), (13, 2)])
def test_last_batch_under_half_a_batch_is_merged_into_the_previous_one(
    n_samples, batch_size
):
    X, y = _tiny_problem("multiclass", n_samples=n_samples)
    # Left over: 1 and 2 samples of a batch of 5, 1 sample of a batch of 2.
    estimator = _frozen_fit(
        X, y, batch_size=batch_size, batch_norm=BatchNorm(momentum=1.0)
    )
    last_batch_start = (n_samples // batch_size - 1) * batch_size
    z = _first_layer_z(estimator, X[last_batch_start:])
    assert_allclose(estimator.bn_running_means_[0], z.mean(axis=0), rtol=1e-12)
    assert_allclose(estimator.bn_running_vars_[0], z.var(axis=0, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("n_samples, batch_size", [(13, 5), (15, 6)])
def test_last_batch_of_half_a_batch_or_more_is_kept(n_samples, batch_size):
    X, y = _tiny_problem("multiclass", n_samples=n_samples)
    estimator = _frozen_fit(
        X, y, batch_size=batch_size, batch_norm=BatchNorm(momentum=1.0)
    )
    last_batch_start = (n_samples // batch_size) * batch_size
    z = _first_layer_z(estimator, X[last_batch_start:])
    assert_allclose(estimator.bn_running_means_[0], z.mean(axis=0), rtol=1e-12)


def test_last_batch_is_not_merged_without_batch_norm():
    """Without batch norm the mini-batches are MLPClassifier's, even a last one of 1."""
    X, y = _tiny_problem("multiclass", n_samples=11)
    estimator = _quiet_fit(
        BatchNormMLPClassifier((3,), batch_norm=False, batch_size=5, max_iter=1), X, y
    )
    assert estimator._batch_slices(11)[-1] == slice(10, 11)


@pytest.mark.parametrize("Estimator", [BatchNormMLPClassifier, BatchNormMLPRegressor])
def test_training_on_one_sample_is_an_error(Estimator):
    X, y = [[1.0, 2.0]], [1]
    with pytest.raises(ValueError, match="at least 2 samples.*n_samples=1"):
        Estimator(max_iter=1).fit(X, y)


def test_batch_size_one_with_batch_norm_is_an_error():
    X, y = _tiny_problem("multiclass")
    with pytest.raises(ValueError, match="at least 2 samples.*batch_size=1"):
        BatchNormMLPClassifier(batch_size=1, max_iter=1).fit(X, y)


def test_batch_size_one_without_batch_norm_trains():
    X, y = _tiny_problem("multiclass")
    estimator = _quiet_fit(
        BatchNormMLPClassifier(batch_size=1, batch_norm=False, max_iter=1), X, y
    )
    assert estimator.n_iter_ == 1


def test_prediction_of_a_sample_does_not_depend_on_its_batch():
    X, y = _tiny_problem("multiclass", n_samples=30)
    estimator = _quiet_fit(
        BatchNormMLPClassifier((8,), max_iter=5, random_state=0), X, y
    )
    one_at_a_time = np.vstack(
        [estimator.predict_proba(X[i : i + 1]) for i in range(30)]
    )
    assert_allclose(one_at_a_time, estimator.predict_proba(X), rtol=1e-12)


@settings(deadline=None, max_examples=25)
@given(scale=st.floats(0.1, 10.0))
def test_training_output_is_invariant_to_the_scale_of_normalized_weights(scale):
    """BN(c * z) = BN(z) for c > 0: the law that frees the learning rate."""
    X, y = _tiny_problem("multiclass")
    estimator = _quiet_fit(
        BatchNormMLPClassifier(
            (4, 3),
            batch_norm=BatchNorm(epsilon=1e-300),
            learning_rate_init=0.1,
            max_iter=1,
            random_state=0,
        ),
        X,
        y,
    )
    Y = _network_targets(estimator, y)
    out = estimator._forward_train(X)[0][-1]
    estimator.coefs_[0] *= scale
    estimator.coefs_[1] *= scale
    assert_allclose(estimator._forward_train(X)[0][-1], out, rtol=1e-9)
    # The loss without the penalty is unchanged; the gradient scales as 1 / c.
    estimator.set_params(alpha=0.0)
    _, grads, _ = estimator._backprop(X, Y)
    estimator.coefs_[0] /= scale
    _, reference, _ = estimator._backprop(X, Y)
    assert_allclose(grads[0] * scale, reference[0], rtol=1e-7, atol=1e-12)


# dtypes ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_training_keeps_the_float_dtype_of_the_input(dtype, solver):
    X, y = _tiny_problem("multiclass", n_samples=40)
    estimator = _quiet_fit(
        BatchNormMLPClassifier((8, 8), solver=solver, max_iter=3, random_state=0),
        X.astype(dtype),
        y,
    )
    state = (
        estimator.coefs_
        + estimator.intercepts_
        + estimator.bn_gammas_
        + estimator.bn_betas_
        + estimator.bn_running_means_
        + estimator.bn_running_vars_
    )
    assert {array.dtype for array in state} == {np.dtype(dtype)}
    assert estimator.predict_proba(X.astype(dtype)).dtype == dtype


def test_float32_training_follows_float64_training():
    X, y = _tiny_problem("multiclass", n_samples=60)
    params = dict(hidden_layer_sizes=(8, 8), max_iter=5, random_state=0)
    single = _quiet_fit(BatchNormMLPClassifier(**params), X.astype(np.float32), y)
    double = _quiet_fit(BatchNormMLPClassifier(**params), X, y)
    assert_allclose(single.loss_curve_, double.loss_curve_, rtol=1e-4)
    assert_allclose(single.predict_proba(X), double.predict_proba(X), atol=1e-4)


# The estimator API ----------------------------------------------------------------


@pytest.mark.parametrize("batch_norm", [True, False])
def test_fitted_attributes_describe_the_network(batch_norm):
    X, y = _tiny_problem("multiclass")
    estimator = _quiet_fit(
        BatchNormMLPClassifier((7, 6), batch_norm=batch_norm, max_iter=2), X, y
    )
    assert [c.shape for c in estimator.coefs_] == [(5, 7), (7, 6), (6, 3)]
    assert estimator.n_layers_ == 4
    assert estimator.out_activation_ == "softmax"
    if batch_norm:
        assert [b.shape for b in estimator.intercepts_] == [(3,)]
        for name in [
            "bn_gammas_",
            "bn_betas_",
            "bn_running_means_",
            "bn_running_vars_",
        ]:
            assert [a.shape for a in getattr(estimator, name)] == [(7,), (6,)]
    else:
        assert [b.shape for b in estimator.intercepts_] == [(7,), (6,), (3,)]
        assert estimator.bn_gammas_ is None
        assert estimator.bn_running_vars_ is None


def test_fit_is_deterministic_with_random_state():
    X, y = _tiny_problem("multiclass", n_samples=50)
    params = dict(
        hidden_layer_sizes=(8,), max_iter=3, random_state=3, early_stopping=True
    )
    first = _quiet_fit(BatchNormMLPClassifier(**params), X, y)
    second = _quiet_fit(BatchNormMLPClassifier(**params), X, y)
    assert first.loss_curve_ == second.loss_curve_
    for a, b in zip(first._state(), second._state(), strict=True):
        assert_array_equal(a, b)


def test_repeated_partial_fit_equals_fit_for_as_many_epochs():
    X, y = _tiny_problem("regression", n_samples=30)
    params = dict(hidden_layer_sizes=(8,), shuffle=False, random_state=0, batch_size=8)
    fitted = _quiet_fit(BatchNormMLPRegressor(max_iter=4, **params), X, y)
    incremental = BatchNormMLPRegressor(**params)
    for _ in range(4):
        incremental.partial_fit(X, y)
    assert incremental.t_ == fitted.t_ == 4 * 30
    assert_allclose(incremental.loss_curve_, fitted.loss_curve_, rtol=1e-12)
    for a, b in zip(incremental._state(), fitted._state(), strict=True):
        assert_allclose(a, b, rtol=1e-12)


def test_partial_fit_with_early_stopping_is_an_error():
    X, y = _tiny_problem("multiclass")
    with pytest.raises(ValueError, match="early_stopping"):
        BatchNormMLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_warm_start_with_another_network_is_an_error():
    X, y = _tiny_problem("multiclass")
    estimator = _quiet_fit(BatchNormMLPClassifier((4,), max_iter=1), X, y)
    estimator.set_params(warm_start=True, batch_norm=False)
    with pytest.raises(ValueError, match=r"fitted with batch_norm=BatchNorm\(\)"):
        estimator.fit(X, y)
    estimator.set_params(batch_norm=True, hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="layer sizes"):
        estimator.fit(X, y)


def test_warm_start_continues_from_the_fitted_parameters():
    X, y = _tiny_problem("multiclass", n_samples=40)
    estimator = _quiet_fit(
        BatchNormMLPClassifier((8,), max_iter=5, random_state=0), X, y
    )
    loss_after_first_fit = estimator.loss_curve_[-1]
    estimator.set_params(warm_start=True)
    _quiet_fit(estimator, X, y)
    assert len(estimator.loss_curve_) == 10
    assert estimator.t_ == 10 * 40
    assert estimator.loss_curve_[5] < estimator.loss_curve_[0]
    assert estimator.loss_curve_[5] == pytest.approx(loss_after_first_fit, rel=0.2)


def test_early_stopping_keeps_the_best_validation_epoch(monkeypatch):
    X, y = make_classification(n_samples=200, n_informative=5, random_state=0)
    held_out = {}
    split = TrainingMixin._split_validation

    def spy(*args):
        train, validation = split(*args)
        held_out.update(X=validation.X, y=validation.y)
        return train, validation

    monkeypatch.setattr(TrainingMixin, "_split_validation", spy)
    estimator = _quiet_fit(
        BatchNormMLPClassifier(
            (16,),
            early_stopping=True,
            n_iter_no_change=3,
            max_iter=40,
            learning_rate_init=0.05,
            random_state=2,
        ),
        X,
        y,
    )
    assert len(estimator.validation_scores_) == estimator.n_iter_
    assert estimator.best_validation_score_ == max(estimator.validation_scores_)
    assert estimator.best_loss_ is None
    # The kept parameters are those of the best epoch, not of the last one:
    # they score best_validation_score_ on the held-out set again.
    assert estimator.validation_scores_[-1] < estimator.best_validation_score_
    score = estimator.score(held_out["X"], held_out["y"])
    assert score == estimator.best_validation_score_


@pytest.mark.parametrize("switch_to", [True, False])
def test_early_stopping_can_be_switched_between_fits(switch_to):
    X, y = make_classification(n_samples=200, random_state=0)
    estimator = BatchNormMLPClassifier(
        (8,), early_stopping=not switch_to, max_iter=5, warm_start=True, random_state=0
    )
    _quiet_fit(estimator, X, y)
    estimator.set_params(early_stopping=switch_to)
    _quiet_fit(estimator, X, y)
    assert (estimator.validation_scores_ is not None) == switch_to
    if not switch_to:
        estimator.partial_fit(X, y)
        assert np.isfinite(estimator.best_loss_)


def test_failed_fit_leaves_a_fitted_network_as_it_was():
    X, y = make_classification(n_samples=60, random_state=0)
    estimator = _quiet_fit(
        BatchNormMLPClassifier((8,), max_iter=5, random_state=0), X, y
    )
    coefs = [coef.copy() for coef in estimator.coefs_]
    estimator.set_params(batch_size=1)
    with pytest.raises(ValueError, match="at least 2 samples"):
        estimator.fit(X, y)
    for before, after in zip(coefs, estimator.coefs_, strict=True):
        np.testing.assert_array_equal(before, after)
    assert estimator.n_iter_ == 5


def test_failed_first_partial_fit_leaves_the_network_unfitted():
    X, y = make_classification(n_samples=60, random_state=0)
    estimator = BatchNormMLPClassifier((8,), random_state=0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        estimator.partial_fit(X[:1], y[:1], classes=[0, 1])
    assert not hasattr(estimator, "coefs_")
    assert not hasattr(estimator, "classes_")


def test_boolean_hidden_layer_sizes_are_rejected():
    X, y = make_classification(n_samples=60, random_state=0)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a positive"):
        BatchNormMLPClassifier(hidden_layer_sizes=(True,)).fit(X, y)


def test_verbose_prints_the_loss_and_time_of_each_epoch(capsys):
    X, y = _tiny_problem("multiclass")
    _quiet_fit(BatchNormMLPClassifier((4,), max_iter=3, verbose=True), X, y)
    lines = capsys.readouterr().out.splitlines()
    pattern = r"Iteration (\d), loss = \d+\.\d{8}, time = \d+\.\d+s"
    assert [re.fullmatch(pattern, line).group(1) for line in lines] == ["1", "2", "3"]


def test_sparse_input_trains_like_dense_input():
    X, y = _tiny_problem("multiclass", n_samples=40)
    X[X < 0.5] = 0.0
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    dense = _quiet_fit(BatchNormMLPClassifier(**params), X, y)
    sparse_fit = _quiet_fit(BatchNormMLPClassifier(**params), sparse.csr_matrix(X), y)
    assert_allclose(sparse_fit.loss_curve_, dense.loss_curve_, rtol=1e-10)
    assert_allclose(sparse_fit.predict_proba(X), dense.predict_proba(X), rtol=1e-10)


def test_multilabel_targets_use_logistic_outputs():
    X, y = _tiny_problem("multiclass", n_samples=40)
    Y = np.column_stack([y == 0, y == 1, y != 2]).astype(int)
    estimator = _quiet_fit(BatchNormMLPClassifier((8,), max_iter=3), X, Y)
    assert estimator.out_activation_ == "logistic"
    assert estimator.predict(X).shape == Y.shape


def test_hidden_layer_sizes_must_be_positive_integers():
    X, y = _tiny_problem("multiclass")
    with pytest.raises(ValueError, match=r"hidden_layer_sizes .* got \(4, 0\)"):
        BatchNormMLPClassifier((4, 0)).fit(X, y)


def test_batch_norm_is_a_grid_search_parameter_inside_a_pipeline():
    X, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(
        StandardScaler(),
        BatchNormMLPClassifier(
            (16,), batch_size=32, learning_rate_init=0.01, max_iter=10, random_state=0
        ),
    )
    search = GridSearchCV(
        pipeline, {"batchnormmlpclassifier__batch_norm": [True, False]}, cv=2
    )
    _quiet_fit(search, X[:400], y[:400])
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert search.best_score_ > 0.8


# Dropout ------------------------------------------------------------------------


def _masked(estimator, X, seed):
    """The forward pass in training mode with the dropout masks of ``seed``."""
    return estimator._forward_train(X, None, np.random.RandomState(seed))


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_dropout_gradient_matches_finite_differences(batch_norm, activation):
    estimator, X, Y = _tiny_network("multiclass", batch_norm, activation)
    estimator.set_params(dropout=0.4)
    _assert_gradient_matches_finite_differences(estimator, X, Y, seed=3)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_dropout_outputs_loss_and_gradients_equal_torch_with_the_same_masks(kind):
    torch = pytest.importorskip("torch")
    estimator, X, Y = _tiny_network(kind, activation="tanh")
    estimator.set_params(dropout=0.3)
    masks = [cache.mask for cache in _masked(estimator, X, seed=5)[1]]
    assert all(mask is not None for mask in masks)

    class Mask(torch.nn.Module):
        def __init__(self, mask):
            super().__init__()
            self.mask = torch.from_numpy(mask)

        def forward(self, input):
            return input * self.mask

    layers, masks_left = [], list(masks)
    for module in _torch_network(estimator):
        layers.append(module)
        if not isinstance(module, torch.nn.Linear | torch.nn.BatchNorm1d):
            layers.append(Mask(masks_left.pop(0)))  # after each hidden activation
    network = torch.nn.Sequential(*layers).train()
    out, loss = _torch_loss(estimator, network, X, Y)
    loss.backward()
    our_loss, grads, _ = estimator._backprop(X, Y, None, np.random.RandomState(5))
    assert our_loss == pytest.approx(loss.item(), rel=1e-12)
    for grad, param in zip(grads, _torch_params(network), strict=True):
        assert_allclose(
            grad, _as_estimator_layout(param.grad, grad), rtol=1e-10, atol=1e-13
        )


def test_dropout_masks_are_fresh_for_every_layer_and_mini_batch():
    estimator, X, _ = _tiny_network("multiclass", activation="relu")
    estimator.set_params(dropout=0.5, hidden_layer_sizes=(4, 4))
    rng = np.random.RandomState(0)
    first = [cache.mask for cache in estimator._forward_train(X, None, rng)[1]]
    second = [cache.mask for cache in estimator._forward_train(X, None, rng)[1]]
    for mask in first + second:
        assert set(np.unique(mask)) <= {0.0, 2.0}
    assert not np.array_equal(first[0], second[0])
    assert not np.array_equal(first[0][:, :3], first[1][:, :3])


def test_dropout_keeps_the_expected_activation():
    # Inverted dropout: E[mask] = 1, so each unit's mean output is kept, and
    # the share of dropped outputs is the rate. A fixed seed, 20000 rows.
    X = np.random.default_rng(0).normal(size=(20000, 5))
    estimator = BatchNormMLPClassifier((6,), dropout=0.3, random_state=0)
    estimator.partial_fit(X[:50], np.arange(50) % 2, classes=[0, 1])
    activations, caches, _ = _masked(estimator, X, seed=1)
    dropped, kept = activations[1], caches[0].activation
    assert abs((caches[0].mask == 0).mean() - 0.3) < 0.005
    difference = dropped - kept
    standard_error = difference.std(axis=0) / np.sqrt(len(X))
    assert (np.abs(difference.mean(axis=0)) < 4 * standard_error).all()
    assert not np.allclose(dropped, kept)


def test_dropout_inference_is_deterministic_and_uses_every_unit():
    X, y = load_digits(return_X_y=True)
    mlp = _quiet_fit(
        BatchNormMLPClassifier((32,), dropout=0.5, max_iter=5, random_state=0),
        X / 16,
        y,
    )
    proba = mlp.predict_proba(X / 16)
    assert_array_equal(mlp.predict_proba(X / 16), proba)
    # Prediction does not depend on the rate: it drops nothing.
    assert_array_equal(mlp.set_params(dropout=0.0).predict_proba(X / 16), proba)


def test_same_random_state_gives_the_same_model_with_dropout():
    X, y = make_classification(n_samples=200, random_state=0)

    def fitted(dropout, random_state):
        mlp = BatchNormMLPClassifier(
            (8, 8), dropout=dropout, max_iter=3, random_state=random_state
        )
        return _quiet_fit(mlp, X, y)

    first, again = fitted(0.3, 0), fitted(0.3, 0)
    for a, b in zip(first._state(), again._state(), strict=True):
        assert_array_equal(a, b)
    assert not np.array_equal(first.coefs_[0], fitted(0.3, 1).coefs_[0])
    assert not np.array_equal(first.coefs_[0], fitted(0.0, 0).coefs_[0])


@pytest.mark.parametrize("Estimator", [BatchNormMLPClassifier, BatchNormMLPRegressor])
def test_dropout_with_lbfgs_is_an_error(Estimator):
    X, y = make_classification(n_samples=30, random_state=0)
    mlp = Estimator(solver="lbfgs", dropout=0.1)
    with pytest.raises(ValueError, match=r"dropout=0\.1 needs a stochastic solver"):
        mlp.fit(X, y)
    assert not hasattr(mlp, "coefs_")


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_dropout_out_of_range_is_an_error(dropout):
    X, y = make_classification(n_samples=30, random_state=0)
    with pytest.raises(ValueError, match="'dropout' parameter"):
        BatchNormMLPClassifier(dropout=dropout).fit(X, y)
