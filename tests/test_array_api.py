"""BatchNormScaler on array API namespaces: torch and array-api-strict."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import config_context

from sklearn_bn import BatchNormScaler
from sklearn_bn.utils._compat import _convert_to_numpy, get_namespace_and_device


def _dispatch_unavailable():
    """Why scikit-learn cannot dispatch to array API namespaces here, or "".

    scikit-learn 1.6 needs array-api-compat and SciPy 1.14 for it (the
    array-api extra brings both); the oldest SciPy declared, 1.10, has no
    array API support.
    """
    try:
        with config_context(array_api_dispatch=True):
            return ""
    except ImportError as error:
        return str(error)


pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.skipif(bool(_dispatch_unavailable()), reason=_dispatch_unavailable()),
]


def _namespaces():
    params = []
    for name, devices in [("array_api_strict", [None]), ("torch", ["cpu", "cuda"])]:
        for device in devices:
            params.append(pytest.param(name, device, id=f"{name}-{device}"))
    return params


def _xp_and_device(name, device):
    xp = pytest.importorskip(name)
    if name == "torch" and device == "cuda" and not xp.cuda.is_available():
        pytest.skip("no CUDA device")
    if name == "array_api_strict":
        device = xp.Device("CPU_DEVICE")
    return xp, device


def _data(n_samples=60, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_samples, n_features)) * [1.0, 10.0, 0.1] + [5, -3, 0]


def _numpy(array):
    xp, _, _ = get_namespace_and_device(array)
    return _convert_to_numpy(array, xp)


@pytest.mark.parametrize("name, device", _namespaces())
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_transform_match_numpy_and_stay_on_the_device(name, device, dtype):
    xp, device = _xp_and_device(name, device)
    X = _data().astype(dtype)
    X[4, 1] = np.nan
    X_xp = xp.asarray(X, device=device)
    params = dict(gamma=[0.5, 2.0, 1.0], beta=[1.0, 0.0, -1.0], momentum=None)
    reference = BatchNormScaler(**params).fit(X)
    with config_context(array_api_dispatch=True):
        scaler = BatchNormScaler(**params).fit(X_xp)
        Xt = scaler.transform(X_xp)
        back = scaler.inverse_transform(Xt)
    for attribute in ["mean_", "var_", "multiplier_", "offset_"]:
        value = getattr(scaler, attribute)
        assert get_namespace_and_device(value)[2] == get_namespace_and_device(X_xp)[2]
        assert_allclose(_numpy(value), getattr(reference, attribute), rtol=1e-12)
    assert Xt.dtype == X_xp.dtype
    assert get_namespace_and_device(Xt)[0] is get_namespace_and_device(X_xp)[0]
    rtol = 1e-5 if dtype == "float32" else 1e-12
    assert_allclose(_numpy(Xt), reference.transform(X), rtol=rtol, atol=rtol)
    assert_allclose(_numpy(back), X, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name, device", _namespaces())
@pytest.mark.parametrize("momentum", [None, 0.3])
def test_partial_fit_and_weights_match_numpy(name, device, momentum):
    xp, device = _xp_and_device(name, device)
    batches = [_data(seed=seed) for seed in range(3)]
    weights = [np.linspace(0.5, 2.0, len(b)) for b in batches]
    reference = BatchNormScaler(momentum=momentum, ddof=1)
    scaler = BatchNormScaler(momentum=momentum, ddof=1)
    with config_context(array_api_dispatch=True):
        for batch, weight in zip(batches, weights, strict=True):
            reference.partial_fit(batch, sample_weight=weight)
            scaler.partial_fit(
                xp.asarray(batch, device=device),
                sample_weight=xp.asarray(weight, device=device),
            )
    assert_allclose(_numpy(scaler.mean_), reference.mean_, rtol=1e-12)
    assert_allclose(_numpy(scaler.var_), reference.var_, rtol=1e-12)
    assert scaler.n_samples_seen_ == pytest.approx(reference.n_samples_seen_)


def test_transform_with_another_namespace_is_a_clear_error():
    xp, device = _xp_and_device("array_api_strict", None)
    X = _data()
    with config_context(array_api_dispatch=True):
        scaler = BatchNormScaler().fit(xp.asarray(X, device=device))
        for method in ["transform", "inverse_transform"]:
            with pytest.raises(ValueError, match=rf"BatchNormScaler.{method}\(\) must"):
                getattr(scaler, method)(X)


def test_torch_float32_stays_float32():
    torch = pytest.importorskip("torch")
    X = torch.asarray(_data(), dtype=torch.float32)
    with config_context(array_api_dispatch=True):
        out = BatchNormScaler().fit_transform(X)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
