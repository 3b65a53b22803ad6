"""Configurations of the networks whose results are kept in
``tests/data/mlp_reference.npz``, and the code that computes them.

The file was written by ``python tests/mlp_reference.py`` on the code before
the networks were rebuilt around the normalization registry;
``test_mlp_reference.py`` checks that the code of today gives the same
predictions, coefficients and loss curves. Run it again only for a change
that is meant to alter them, and say so in the commit.
"""

import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification, make_regression

from sklearn_bn import BatchNormMLPClassifier, BatchNormMLPRegressor

PATH = Path(__file__).parent / "data" / "mlp_reference.npz"

_FITTED = (
    "coefs_",
    "intercepts_",
    "bn_gammas_",
    "bn_betas_",
    "bn_running_means_",
    "bn_running_vars_",
)


def _configs():
    """name -> (estimator class, parameters, how to train, dtype, weighted)."""
    configs = {}
    for kind in ("classifier", "regressor"):
        for solver in ("sgd", "adam", "lbfgs"):
            for batch_norm in (True, False):
                for dtype in ("float64", "float32"):
                    name = f"{kind}-{solver}-bn{int(batch_norm)}-{dtype}"
                    params = dict(solver=solver, batch_norm=batch_norm)
                    configs[name] = (kind, params, "fit", dtype, False)
        for solver in ("sgd", "adam"):
            configs[f"{kind}-{solver}-weighted"] = (
                kind, dict(solver=solver), "fit", "float64", True
            )  # fmt: skip
            configs[f"{kind}-{solver}-early-stopping"] = (
                kind,
                dict(
                    solver=solver, early_stopping=True, max_iter=30,
                    learning_rate_init=0.05, n_iter_no_change=3,
                ),
                "fit", "float64", True,
            )  # fmt: skip
            configs[f"{kind}-{solver}-partial-fit"] = (
                kind, dict(solver=solver), "partial_fit", "float64", True
            )  # fmt: skip
            configs[f"{kind}-{solver}-warm-start"] = (
                kind, dict(solver=solver, warm_start=True), "fit_twice", "float64",
                False,
            )  # fmt: skip
        configs[f"{kind}-lbfgs-weighted"] = (
            kind, dict(solver="lbfgs"), "fit", "float64", True
        )  # fmt: skip
        configs[f"{kind}-sgd-tanh-invscaling"] = (
            kind,
            dict(solver="sgd", activation="tanh", learning_rate="invscaling"),
            "fit", "float64", False,
        )  # fmt: skip
        configs[f"{kind}-adam-logistic-deep"] = (
            kind, dict(activation="logistic", hidden_layer_sizes=(7, 6, 5)),
            "fit", "float64", False,
        )  # fmt: skip
        configs[f"{kind}-sgd-diverges"] = (
            kind, dict(solver="sgd", learning_rate_init=1e6, batch_norm=False),
            "fit", "float64", False,
        )  # fmt: skip
    configs["regressor-poisson"] = (
        "regressor", dict(loss="poisson"), "fit", "float64", False
    )  # fmt: skip
    return configs


CONFIGS = _configs()


def _data(kind, dtype):
    if kind == "classifier":
        X, y = make_classification(
            n_samples=150, n_features=6, n_informative=4, n_classes=3,
            random_state=0,
        )  # fmt: skip
    else:
        X, y = make_regression(n_samples=150, n_features=6, random_state=0)
        y = np.abs(y) / 50
    weights = np.random.default_rng(0).uniform(0.2, 2.0, size=len(y))
    return X.astype(dtype), y, weights


def run(name):
    """Train configuration ``name``: its results, or the error it raises."""
    kind, params, how, dtype, weighted = CONFIGS[name]
    Estimator = BatchNormMLPClassifier if kind == "classifier" else (
        BatchNormMLPRegressor
    )  # fmt: skip
    X, y, weights = _data(kind, dtype)
    sample_weight = weights if weighted else None
    params = dict(
        dict(hidden_layer_sizes=(8, 7), batch_size=32, max_iter=6, random_state=0),
        **params,
    )
    estimator = Estimator(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if how == "partial_fit":
                extra = {"classes": np.unique(y)} if kind == "classifier" else {}
                for part in np.array_split(np.arange(len(y)), 3):
                    estimator.partial_fit(
                        X[part], y[part], sample_weight=weights[part], **extra
                    )
            else:
                estimator.fit(X, y, sample_weight=sample_weight)
                if how == "fit_twice":
                    estimator.fit(X[::-1], y[::-1])
        except ValueError as error:
            return {"error": np.array(str(error))}
    results = {
        "loss_curve_": np.array(estimator.loss_curve_, dtype=float),
        "n_iter_": np.array(estimator.n_iter_),
    }
    if estimator.validation_scores_ is not None:
        results["validation_scores_"] = np.array(estimator.validation_scores_)
    output = (
        estimator.predict_proba(X) if kind == "classifier" else estimator.predict(X)
    )
    results["output"] = output
    for attribute in _FITTED:
        arrays = getattr(estimator, attribute)
        for i, array in enumerate(arrays or []):
            results[f"{attribute}{i}"] = array
    return results


def main():
    arrays = {}
    for name in CONFIGS:
        for key, value in run(name).items():
            arrays[f"{name}/{key}"] = value
    PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(PATH, **arrays)
    print(f"{len(CONFIGS)} configurations, {len(arrays)} arrays -> {PATH}")


if __name__ == "__main__":
    main()
