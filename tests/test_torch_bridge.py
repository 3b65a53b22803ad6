"""to_torch and from_torch, checked against torch's own modules.

float64 within 1e-10 and float32 within 2e-5 of the scikit-learn outputs
(absolute where the output is at most 1 in size, relative beyond).
With ``SKLEARN_BN_EXPORT_ERRORS=path`` set, the largest error of each kind is
appended to that file as JSON lines, with the test case that gave it.
"""

import copy
import pickle

import numpy as np
import pytest
import sklearn
import torch
from export_errors import (
    CLASSIFIER_TARGETS,
    NORMALIZATIONS,
    REGRESSOR_LOSSES,
    case_id,
    fit_quietly,
    fitted_classifier,
    fitted_regressor,
    make_data,
    network_cases,
    regression,
    report_errors,
)
from export_errors import assert_close as export_assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_bn import (
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchNormScaler,
    from_torch,
    to_torch,
)
from sklearn_bn.neural_network._inference import inference_layers

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-10}
DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
_report_errors = pytest.fixture(scope="module", autouse=True)(report_errors)


def assert_close(actual, desired, dtype, what):
    """The export's output against the estimator's, within TOLERANCE."""
    export_assert_close(actual, desired, dtype, what, TOLERANCE)


def forward(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


# to_torch: BatchNormScaler -----------------------------------------------------


def _momentum_scaler(X):
    scaler = BatchNormScaler(momentum=0.1, ddof=1)
    for batch in np.array_split(X, 5):
        scaler.partial_fit(batch)
    return scaler


def _constant_feature_scaler(X):
    X = X.copy()
    X[:, 2] = 7.0
    return BatchNormScaler(epsilon=0.0, beta=1.0).fit(X)


SCALERS = {
    "default": lambda X: BatchNormScaler().fit(X),
    "with_mean=False": lambda X: BatchNormScaler(with_mean=False, beta=0.5).fit(X),
    "per-feature gamma and beta": lambda X: BatchNormScaler(
        gamma=[0.5, 2.0, 3.0, 1.0, -1.0, 0.0], beta=[0.0, 1.0, -1.0, 2.0, 0.5, -2.0]
    ).fit(X),
    "momentum statistics": _momentum_scaler,
    "epsilon=0, a constant feature": _constant_feature_scaler,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", SCALERS)
def test_scaler_becomes_batch_norm_equal_to_transform(config, dtype):
    X, _ = make_data()
    scaler = SCALERS[config](X)
    module = to_torch(scaler, dtype=TORCH_DTYPE[dtype])
    assert type(module) is torch.nn.BatchNorm1d
    assert not module.training
    assert module.running_mean.dtype == TORCH_DTYPE[dtype]
    assert module.eps == scaler.epsilon and module.momentum == scaler.momentum
    X = X.astype(dtype)
    X[::9, 1] = np.nan
    assert_close(forward(module, X), scaler.transform(X), dtype, "to_torch(scaler)")


def test_scaler_fitted_on_torch_tensors():
    from sklearn import config_context

    try:
        with config_context(array_api_dispatch=True):
            pass
    except ImportError as error:  # scikit-learn 1.6 with scipy < 1.14
        pytest.skip(f"array API mode unavailable: {error}")
    # With array API dispatch the fitted statistics are torch tensors.
    X = torch.from_numpy(make_data()[0])
    with sklearn.config_context(array_api_dispatch=True):
        scaler = BatchNormScaler(gamma=2.0, beta=1.0).fit(X)
        expected = scaler.transform(X).numpy()
    assert isinstance(scaler.mean_, torch.Tensor)
    output = forward(to_torch(scaler), X.numpy())
    assert_close(output, expected, np.float64, "to_torch(scaler)")


def test_scaler_module_is_float64_by_default():
    X, _ = make_data()
    assert to_torch(BatchNormScaler().fit(X)).weight.dtype == torch.float64


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    gamma=st.floats(-5, 5),
    beta=st.floats(-5, 5),
    epsilon=st.sampled_from([0.0, 1e-5, 0.1]),
    with_mean=st.booleans(),
    loc=st.floats(-1e4, 1e4),
    scale=st.floats(1e-2, 1e3),
)
def test_scaler_module_equals_transform_law(
    seed, gamma, beta, epsilon, with_mean, loc, scale
):
    X = np.random.default_rng(seed).normal(loc, scale, size=(40, 3))
    scaler = BatchNormScaler(
        gamma=gamma, beta=beta, epsilon=epsilon, with_mean=with_mean
    ).fit(X)
    expected = scaler.transform(X)
    # In units of the output's size: torch computes (x - mean) / sqrt(var + eps),
    # the scaler x * multiplier_ + offset_ or a centered form of it.
    size = 1 + np.abs(expected).max() + abs(gamma) * np.abs(X).max() / scale
    assert_allclose(forward(to_torch(scaler), X) / size, expected / size, atol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "params",
    [{"gamma": 2.0, "beta": 5.0}, {"epsilon": 10.0}, {"gamma": [3.0] * 6}],
    ids=case_id,
)
@pytest.mark.parametrize("config", ["default", "epsilon=0, a constant feature"])
def test_scaler_module_reads_the_fitted_state(config, params, dtype):
    # set_params without a new fit leaves transform as it was; the module too.
    X, _ = make_data()
    scaler = SCALERS[config](X)
    expected = scaler.transform(X.astype(dtype))
    scaler.set_params(**params)
    module = to_torch(scaler, dtype=TORCH_DTYPE[dtype])
    assert module.eps == scaler.epsilon
    output = forward(module, X.astype(dtype))
    assert_close(output, expected, dtype, "to_torch(scaler)")


def test_scaler_module_weight_is_gamma_when_unchanged():
    X, _ = make_data()
    gamma = [0.5, 2.0, 3.0, 1.0, -1.0, 0.0]
    scaler = BatchNormScaler(gamma=gamma, beta=1.0).fit(X)
    module = to_torch(scaler)
    assert_array_equal(module.weight.detach().numpy(), gamma)
    assert_array_equal(module.bias.detach().numpy(), 1.0)


def test_float32_module_that_cannot_hold_a_constant_is_an_error():
    # Data whose spread is below float32's smallest normal number: the
    # variance rounds to zero in float32, and with epsilon=0 the module would
    # divide by it.
    X = np.array([[1e-40, 1.0], [2e-40, 2.0], [3e-40, 4.0]], np.float32)
    scaler = BatchNormScaler(epsilon=0.0).fit(X)
    with pytest.raises(ValueError, match=r"to_torch .* float32 .*dtype=torch\.float64"):
        to_torch(scaler, dtype=torch.float32)
    # float64 holds it; its float32 output is transform's.
    output = forward(to_torch(scaler), X.astype(np.float64)).astype(np.float32)
    assert_close(output, scaler.transform(X), np.float32, "to_torch(scaler)")


def test_float32_network_module_that_cannot_hold_a_weight_is_an_error():
    clf, _ = _classifier("relu", 3, np.float64, batch_norm=False)
    clf.coefs_[-1] = clf.coefs_[-1] * 1e39
    with pytest.raises(ValueError, match=r"coefs_\[2\], .*dtype=torch\.float64"):
        to_torch(clf, dtype=torch.float32)
    to_torch(clf, dtype=torch.float64)


@pytest.mark.parametrize(
    "kind, attribute, what",
    [
        ("BatchNorm(after_activation)", "bn_betas_", "beta"),
        ("GhostBatchNorm", "bn_running_means_", "running_mean"),
        ("BatchRenorm", "bn_renorm_stds_", "renorm_std"),
        ("BatchRenorm", "bn_running_stds_", "running_std"),
        ("LayerNorm", "ln_betas_", "beta"),
        ("RMSNorm", "rms_gammas_", "gamma"),
    ],
)
def test_float32_module_that_cannot_hold_a_normalization_constant_is_an_error(
    kind, attribute, what
):
    clf, _ = fitted_classifier("multiclass", "relu", kind)
    clf = copy.deepcopy(clf)
    values = getattr(clf, attribute)
    values[1] = values[1] * 1e45  # beyond float32's largest
    match = f"normalization {what} of layer 1, .*dtype=torch\\.float64"
    with pytest.raises(ValueError, match=match):
        to_torch(clf, dtype=torch.float32)
    to_torch(clf, dtype=torch.float64)


# to_torch: the networks ----------------------------------------------------------


def _classifier(activation, n_classes, dtype, **params):
    X, y = make_data(n_classes=n_classes)
    X = StandardScaler().fit_transform(X).astype(dtype)
    clf = BatchNormMLPClassifier(
        (8, 6), activation=activation, max_iter=15, random_state=0, **params
    )
    return fit_quietly(clf, X, y), X


def _proba_from_logits(logits):
    """predict_proba from the module's output: softmax, or one sigmoid column."""
    logits = torch.from_numpy(logits)
    if logits.shape[1] > 1:
        return torch.softmax(logits, dim=1).numpy()
    positive = torch.sigmoid(logits).numpy()
    return np.hstack([1 - positive, positive])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "target, kind, activation",
    network_cases([(target,) for target in CLASSIFIER_TARGETS], [("multiclass",)]),
)
def test_classifier_logits_give_predict_proba(target, kind, activation, dtype):
    clf, X = fitted_classifier(target, activation, kind, dtype)
    net = to_torch(clf)
    assert isinstance(net, torch.nn.Sequential) and not net.training
    logits = forward(net, X)
    n_columns = 3 if target == "multiclass" else 1
    assert logits.shape == (X.shape[0], n_columns)
    what = "to_torch(classifier), predict_proba"
    assert_close(_proba_from_logits(logits), clf.predict_proba(X), dtype, what)


def test_network_layers_in_order():
    clf, _ = _classifier("tanh", 3, np.float64)
    kinds = [type(layer).__name__ for layer in to_torch(clf)]
    assert kinds == [
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Linear",
    ]
    net = to_torch(clf)
    assert net[0].bias is None and net[1].momentum == clf._normalization.momentum
    assert net[1].eps == clf._normalization.epsilon
    assert_array_equal(net[1].running_var.numpy(), clf.bn_running_vars_[0])


# Each kind's module (after the first Linear or its activation), and whether
# the Linear before it has a bias.
NORMALIZATION_MODULES = {
    "BatchNorm(after_activation)": ("BatchNorm1d", True),
    "BatchNorm(affine=False)": ("BatchNorm1d", False),
    "BatchNorm(momentum=None)": ("BatchNorm1d", False),
    "BatchNorm(population)": ("BatchNorm1d", False),
    "GhostBatchNorm": ("GhostBatchNorm1d", False),
    "BatchRenorm": ("BatchRenorm1d", False),
    "LayerNorm": ("LayerNorm", True),
    "LayerNorm(affine=False)": ("LayerNorm", True),
    "RMSNorm": ("RMSNorm", True),
    "RMSNorm(affine=False)": ("RMSNorm", True),
}


@pytest.mark.parametrize("kind", NORMALIZATION_MODULES)
def test_each_normalization_becomes_its_module(kind):
    clf, _ = fitted_classifier("multiclass", "relu", kind)
    normalization = clf._normalization
    net = to_torch(clf)
    module_name, has_bias = NORMALIZATION_MODULES[kind]
    after = kind == "BatchNorm(after_activation)"
    hidden = (
        ["Linear", "ReLU", module_name] if after else ["Linear", module_name, "ReLU"]
    )
    assert [type(layer).__name__ for layer in net] == [*hidden, *hidden, "Linear"]
    assert (net[0].bias is not None) == has_bias
    module = net[2] if after else net[1]
    affine = getattr(normalization, "affine", True)
    inner = getattr(module, "batch_norm", module)
    assert inner.eps == normalization.epsilon
    if module_name in ("LayerNorm", "RMSNorm"):
        assert module.elementwise_affine == affine
        assert module.normalized_shape == (8,)
        return
    assert inner.affine == affine and inner.momentum == normalization.momentum
    assert_array_equal(inner.running_mean.numpy(), clf.bn_running_means_[0])
    if module_name == "BatchRenorm1d":
        assert (module.renorm_momentum, module.r_max, module.d_max) == (0.1, 1.5, 0.5)
        assert_array_equal(module.renorm_std.numpy(), clf.bn_renorm_stds_[0])
        running_var = np.maximum(clf.bn_running_stds_[0] ** 2 - 1e-5, 0)
        assert_allclose(inner.running_var.numpy(), running_var, rtol=1e-15)
        return
    assert_array_equal(inner.running_var.numpy(), clf.bn_running_vars_[0])
    assert int(inner.num_batches_tracked) == clf.bn_num_batches_tracked_[0] > 0
    if module_name == "GhostBatchNorm1d":
        assert module.virtual_batch_size == 16


@pytest.mark.parametrize("dtype", DTYPES)
def test_network_without_batch_norm(dtype):
    clf, X = _classifier("relu", 3, dtype, batch_norm=False)
    net = to_torch(clf)
    assert [type(layer).__name__ for layer in net] == [
        "Linear",
        "ReLU",
        "Linear",
        "ReLU",
        "Linear",
    ]
    proba = torch.softmax(torch.from_numpy(forward(net, X)), dim=1).numpy()
    what = "to_torch(classifier), predict_proba"
    assert_close(proba, clf.predict_proba(X), dtype, what)


def test_multilabel_classifier_sigmoid_gives_predict_proba():
    X, y = make_data()
    Y = np.column_stack([y == 0, y == 1, y != 1]).astype(int)
    X = StandardScaler().fit_transform(X)
    clf = fit_quietly(BatchNormMLPClassifier((8,), max_iter=10, random_state=0), X, Y)
    proba = torch.sigmoid(torch.from_numpy(forward(to_torch(clf), X))).numpy()
    assert_close(
        proba, clf.predict_proba(X), np.float64, "to_torch(classifier), predict_proba"
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "loss, n_outputs, kind, activation",
    network_cases(
        [(loss, n_outputs) for loss in REGRESSOR_LOSSES for n_outputs in (1, 2)],
        [(loss, 1) for loss in REGRESSOR_LOSSES],
    ),
)
def test_regressor_output_equals_predict(loss, n_outputs, kind, activation, dtype):
    reg, X = fitted_regressor(loss, n_outputs, activation, kind, dtype)
    output = forward(to_torch(reg), X)
    expected = reg.predict(X).reshape(-1, n_outputs)
    assert_close(output, expected, dtype, "to_torch(regressor), predict")


def test_poisson_regressor_module_ends_with_exp_and_pickles():
    reg, X = fitted_regressor("poisson", 1, "relu", "BatchNorm")
    net = to_torch(reg)
    assert type(net[-1]).__name__ == "Exp"
    # The Exp layer is made when torch is there, and found again by pickle.
    loaded = pickle.loads(pickle.dumps(net))
    assert_array_equal(forward(loaded, X), forward(net, X))
    # torch's Poisson loss on the module's output (the mean) fine-tunes it.
    y = torch.from_numpy(reg.predict(X).reshape(-1, 1))
    loss = torch.nn.PoissonNLLLoss(log_input=False)(net.train()(torch.from_numpy(X)), y)
    loss.backward()
    assert net[0].weight.grad is not None


# Changed after the fit: predict goes on with the fitted state, except the
# hidden activation, which it reads at each call as scikit-learn's MLPs do.
NETWORK_CHANGES = {
    "regressor": [
        {"loss": "squared_error"},
        {"batch_norm": False},
        {"activation": "tanh"},
    ],
    "classifier": [{"batch_norm": False}, {"activation": "tanh"}],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kind, params",
    [(kind, params) for kind, changes in NETWORK_CHANGES.items() for params in changes],
    ids=case_id,
)
def test_network_module_computes_predict_after_set_params(kind, params, dtype):
    if kind == "regressor":
        X, y = regression("poisson", 1, dtype)
        model = BatchNormMLPRegressor((8, 6), loss="poisson", random_state=0)
    else:
        X, y = make_data()
        X = StandardScaler().fit_transform(X).astype(dtype)
        model = BatchNormMLPClassifier((8, 6), random_state=0)
    fit_quietly(model.set_params(max_iter=15), X, y)
    model.set_params(**params)
    output = forward(to_torch(model), X)
    if kind == "regressor":
        expected, what = model.predict(X).reshape(-1, 1), "to_torch(regressor), predict"
    else:
        output, expected = _proba_from_logits(output), model.predict_proba(X)
        what = "to_torch(classifier), predict_proba"
    assert_close(output, expected, dtype, what)


@pytest.mark.parametrize("param", ["epsilon", "momentum"])
def test_network_module_has_the_bn_settings_of_the_fit(param):
    # predict keeps the batch normalization of the fit, with its epsilon;
    # the module is built with the settings of the fit, not those of now.
    clf, X = _classifier("relu", 3, np.float64)
    clf.set_params(batch_norm=BatchNorm(**{param: 0.5}))
    net = to_torch(clf)
    assert (net[1].eps, net[1].momentum) == (1e-5, 0.1)
    proba = _proba_from_logits(forward(net, X))
    assert_close(
        proba, clf.predict_proba(X), np.float64, "to_torch(classifier), predict_proba"
    )


def test_float64_network_as_float32_module():
    clf, X = _classifier("relu", 3, np.float64)
    net = to_torch(clf, dtype="float32")
    assert net[0].weight.dtype == torch.float32
    proba = torch.softmax(torch.from_numpy(forward(net, X.astype(np.float32))), dim=1)
    assert_allclose(proba.numpy(), clf.predict_proba(X), atol=2e-5)


@pytest.mark.parametrize(
    "kind", ["BatchNorm", "GhostBatchNorm", "BatchRenorm", "LayerNorm", "RMSNorm"]
)
def test_network_can_be_fine_tuned_with_a_torch_loss(kind):
    clf, X = fitted_classifier("multiclass", "relu", kind)
    y = clf.predict(X)
    net = to_torch(clf).train()
    assert all(p.requires_grad for p in net.parameters())
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = loss_fn(net(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    if kind in ("BatchNorm", "GhostBatchNorm", "BatchRenorm"):
        # Training mode updated the running statistics.
        running_mean = getattr(net[1], "batch_norm", net[1]).running_mean
        assert not np.allclose(running_mean.numpy(), clf.bn_running_means_[0])


def _statistics_by_role(module):
    """A normalization module's statistics, by their roles in the inference
    view (``InferenceLayer.statistics``)."""
    if isinstance(module, torch.nn.BatchNorm1d):
        return {
            "running_mean": module.running_mean,
            "running_var": module.running_var,
            "num_batches_tracked": module.num_batches_tracked,
        }
    if type(module).__name__ == "GhostBatchNorm1d":
        return _statistics_by_role(module.batch_norm)
    if type(module).__name__ == "BatchRenorm1d":
        return {
            "running_mean": module.batch_norm.running_mean,
            "running_std": module.running_std,
            "renorm_mean": module.renorm_mean,
            "renorm_std": module.renorm_std,
        }
    return {}


@pytest.mark.parametrize("kind", [kind for kind in NORMALIZATIONS if kind != "none"])
def test_a_training_step_of_the_module_is_the_networks(kind):
    # The module in train mode computes what the network's training computes
    # on a batch: the output, the gradient of the first layer's weights (r
    # and d of the renormalization held constant) and the statistics.
    reg, X = fitted_regressor("squared_error", 1, "relu", kind)
    # 65 rows: virtual batches of 16 rows, the last, of one row, joined to the
    # one before; shifted and scaled, so that the renormalization clips.
    batch = X[:65] * 1.5 + 0.5
    target = np.sin(batch[:, :1])
    net = pickle.loads(pickle.dumps(to_torch(reg))).train()
    output = net(torch.from_numpy(batch))
    output.backward((output.detach() - torch.from_numpy(target)) / len(batch))

    activations, _, batch_stats = reg._forward_train(batch)
    _, grads, _ = reg._backprop(batch, target)
    coef_grad = grads[0] - reg.alpha * reg.coefs_[0] / len(batch)
    normalization = reg._normalization
    expected = [activations[-1].ravel(), coef_grad.ravel()]
    actual = [output.detach().numpy().ravel(), net[0].weight.grad.numpy().T.ravel()]
    modules = [m for m in net if _statistics_by_role(m)]
    layers = inference_layers(reg)[:-1]
    assert len(modules) == (len(layers) if normalization.batch_statistics else 0)
    for module, layer, stats in zip(modules, layers, batch_stats, strict=False):
        before = tuple(layer.statistics.values())
        after = normalization._update(before, stats)
        updated = normalization.by_role(normalization.statistics_names, after)
        by_role = _statistics_by_role(module)
        assert by_role.keys() == updated.keys()
        for role, values in updated.items():
            expected.append(np.ravel(values))
            actual.append(by_role[role].detach().numpy().ravel())
    what = "to_torch(network), a training step"
    assert_close(np.concatenate(actual), np.concatenate(expected), np.float64, what)
    if kind == "GhostBatchNorm":
        assert int(net[1].batch_norm.num_batches_tracked) == (
            reg.bn_num_batches_tracked_[0] + 4
        )
    if kind == "BatchRenorm":
        # Some r and d of the first layer beyond r_max = 1.5 and d_max = 0.5.
        z = batch @ reg.coefs_[0]
        sigma = np.sqrt(z.var(axis=0) + 1e-5)
        r = sigma / reg.bn_renorm_stds_[0]
        d = (z.mean(axis=0) - reg.bn_renorm_means_[0]) / reg.bn_renorm_stds_[0]
        assert (np.abs(np.log(r)) > np.log(1.5)).any() and (np.abs(d) > 0.5).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_network_with_dropout_has_dropout_modules_that_eval_ignores(dtype):
    clf, X = _classifier("relu", 3, dtype, dropout=0.25)
    net = to_torch(clf)
    dropouts = [m for m in net if isinstance(m, torch.nn.Dropout)]
    assert [m.p for m in dropouts] == [0.25, 0.25]
    # After each hidden activation, none after the output layer.
    assert isinstance(net[-1], torch.nn.Linear)
    proba = _proba_from_logits(forward(net, X))
    assert_close(
        proba, clf.predict_proba(X), dtype, "to_torch(classifier), predict_proba"
    )
    with torch.no_grad():
        trained = net.train()(torch.from_numpy(X)).numpy()
    assert not np.allclose(trained, forward(net.eval(), X))


def test_dropout_follows_a_batch_norm_after_the_activation():
    batch_norm = BatchNorm(position="after_activation")
    clf, X = _classifier("relu", 3, np.float64, batch_norm=batch_norm, dropout=0.25)
    net = to_torch(clf)
    hidden = ["Linear", "ReLU", "BatchNorm1d", "Dropout"]
    assert [type(layer).__name__ for layer in net] == [*hidden, *hidden, "Linear"]
    proba = _proba_from_logits(forward(net, X))
    what = "to_torch(classifier), predict_proba"
    assert_close(proba, clf.predict_proba(X), np.float64, what)


@pytest.mark.parametrize(
    "kind", ["BatchNorm", "GhostBatchNorm", "BatchRenorm", "LayerNorm", "RMSNorm"]
)
def test_network_whose_normalization_has_no_torch_module_is_an_error(kind, monkeypatch):
    # A kind added to the normalization table but not to to_torch's own table
    # would be left out of the module, which would then compute something else.
    from sklearn_bn.export import _torch as bridge

    clf, _ = fitted_classifier("multiclass", "relu", kind)
    monkeypatch.delitem(bridge._TORCH_NORMALIZATIONS, clf._normalization.name)
    with pytest.raises(ValueError, match="no torch module for the normalization"):
        to_torch(clf)


# from_torch -------------------------------------------------------------------------


def _trained_batch_norm(dtype, momentum=0.1, affine=True, n_batches=4, seed=0):
    torch.manual_seed(seed)
    module = torch.nn.BatchNorm1d(
        4, momentum=momentum, affine=affine, dtype=TORCH_DTYPE[dtype]
    )
    if affine:
        with torch.no_grad():
            module.weight.copy_(torch.tensor([0.5, 2.0, -1.0, 1.5]))
            module.bias.copy_(torch.tensor([1.0, -1.0, 0.0, 3.0]))
    scale = torch.tensor([1.0, 10.0, 0.1, 100.0], dtype=TORCH_DTYPE[dtype])
    for _ in range(n_batches):
        module(torch.randn(32, 4, dtype=TORCH_DTYPE[dtype]) * scale + 5)
    return module.eval()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
def test_from_torch_transform_equals_module_in_eval_mode(affine, momentum, dtype):
    module = _trained_batch_norm(dtype, momentum, affine)
    scaler = from_torch(module)
    assert scaler.momentum == momentum and scaler.ddof == 1
    assert scaler.epsilon == module.eps
    scale = [1.0, 10.0, 0.1, 100.0]
    X = np.random.default_rng(1).normal(5, 1, size=(50, 4)) * scale
    X = X.astype(dtype)
    X[3, 2] = np.nan
    assert_close(
        scaler.transform(X), forward(module, X), dtype, "from_torch(BatchNorm1d)"
    )


def test_from_torch_partial_fit_continues_as_torch_training():
    module = _trained_batch_norm(np.float64, momentum=0.2)
    scaler = from_torch(module)
    for seed in range(3):
        batch = np.random.default_rng(seed).normal(3, 4, size=(16, 4))
        module.train()(torch.from_numpy(batch))
        scaler.partial_fit(batch)
    assert_allclose(scaler.mean_, module.running_mean.numpy(), rtol=1e-13)
    assert_allclose(scaler.var_, module.running_var.numpy(), rtol=1e-13)


@pytest.mark.parametrize("momentum", [None, 0.1])
@pytest.mark.parametrize("torch_dtype", [torch.float16, torch.bfloat16])
def test_from_torch_any_floating_dtype(torch_dtype, momentum):
    # numpy has no bfloat16; the statistics are widened to float64 exactly.
    torch.manual_seed(0)
    module = torch.nn.BatchNorm1d(3, momentum=momentum, dtype=torch_dtype)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
        module.bias.copy_(torch.tensor([1.0, -1.0, 0.0]))
    for _ in range(3):
        module(torch.randn(32, 3, dtype=torch_dtype) * 4 + 2)
    scaler = from_torch(module.eval())
    assert scaler.mean_.dtype == np.float64
    assert_array_equal(scaler.mean_, module.running_mean.double().numpy())
    assert_array_equal(scaler.var_, module.running_var.double().numpy())
    assert_array_equal(scaler.gamma, [0.5, 2.0, -1.0])
    # The module's own parameters, in float64, compute what the scaler does.
    X = np.random.default_rng(1).normal(2, 4, size=(20, 3))
    expected = forward(module.to(torch.float64), X)
    what = "from_torch(BatchNorm1d)"
    assert_close(scaler.transform(X), expected, np.float64, what)


def test_from_torch_partial_fit_with_momentum_none_pools_exactly():
    # The documented update: the module's statistics count as n_samples_seen_
    # samples (the number of batches by default), pooled exactly with the
    # batch; torch's cumulative average weighs batches equally instead.
    module = _trained_batch_norm(np.float64, momentum=None, n_batches=2)
    scaler = from_torch(module)
    n, mean, var = scaler.n_samples_seen_, scaler.mean_.copy(), scaler.var_.copy()
    assert n == 2
    batch = np.random.default_rng(0).normal(3, 4, size=(32, 4))
    scaler.partial_fit(batch)
    m, batch_mean, batch_var = 32, batch.mean(axis=0), batch.var(axis=0, ddof=1)
    pooled_mean = (n * mean + m * batch_mean) / (n + m)
    between = n * m / (n + m) * (mean - batch_mean) ** 2
    pooled_var = ((n - 1) * var + (m - 1) * batch_var + between) / (n + m - 1)
    assert scaler.n_samples_seen_ == n + m
    assert_allclose(scaler.mean_, pooled_mean, rtol=1e-13)
    assert_allclose(scaler.var_, pooled_var, rtol=1e-13)
    module.train()(torch.from_numpy(batch))
    assert not np.allclose(scaler.mean_, module.running_mean.numpy(), rtol=1e-3)


def test_from_torch_n_samples_seen():
    module = _trained_batch_norm(np.float64, n_batches=3)
    assert from_torch(module).n_samples_seen_ == 3
    scaler = from_torch(module, n_samples_seen=96)
    assert scaler.n_samples_seen_ == 96
    # With exact statistics, the count weighs the module's statistics
    # against the next batch.
    exact = from_torch(_trained_batch_norm(np.float64, momentum=None))
    exact.n_samples_seen_ = 96
    mean = exact.mean_.copy()
    batch = np.random.default_rng(0).normal(size=(32, 4))
    exact.partial_fit(batch)
    assert_allclose(exact.mean_, (96 * mean + 32 * batch.mean(axis=0)) / 128)


def test_from_torch_leaves_the_module_unchanged():
    module = _trained_batch_norm(np.float64)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    from_torch(module).partial_fit(np.ones((4, 4)))
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key])


@pytest.mark.parametrize("config", SCALERS)
def test_round_trip_through_torch(config):
    X, _ = make_data()
    scaler = SCALERS[config](X)
    back = from_torch(to_torch(scaler))
    what = "from_torch(to_torch(scaler))"
    assert_close(back.transform(X), scaler.transform(X), np.float64, what)


# Errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator", [BatchNormScaler(), BatchNormMLPClassifier(), BatchNormMLPRegressor()]
)
def test_to_torch_unfitted_is_an_error(estimator):
    with pytest.raises(NotFittedError):
        to_torch(estimator)


def test_to_torch_other_estimator_is_an_error():
    with pytest.raises(TypeError, match="got an instance of LogisticRegression"):
        to_torch(LogisticRegression())


def test_to_torch_bad_dtype_is_an_error():
    X, _ = make_data()
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        to_torch(BatchNormScaler().fit(X), dtype=torch.int64)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        to_torch(BatchNormScaler().fit(X), dtype="float16")


def test_from_torch_other_module_is_an_error():
    with pytest.raises(TypeError, match="got an instance of Linear"):
        from_torch(torch.nn.Linear(2, 2))


def test_from_torch_without_running_statistics_is_an_error():
    module = torch.nn.BatchNorm1d(3, track_running_stats=False)
    with pytest.raises(ValueError, match="track_running_stats=False"):
        from_torch(module)


def test_from_torch_zero_momentum_is_an_error():
    with pytest.raises(ValueError, match=r"momentum must be in \(0, 1\]"):
        from_torch(torch.nn.BatchNorm1d(3, momentum=0.0))
