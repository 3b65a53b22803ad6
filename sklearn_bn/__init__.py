"""Batch normalization for scikit-learn."""

from .export import from_torch, to_torch
from .neural_network import (
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)
from .preprocessing._scaler import BatchNormScaler
from .utils._show_versions import show_versions

__version__ = "0.1.0"

#: The types that ``skops.io.loads`` must trust to load a fitted sklearn-bn
#: estimator: the public estimator and normalization classes, by the names
#: skops gives them.
SKOPS_TRUSTED_TYPES = [
    f"{cls.__module__}.{cls.__qualname__}"
    for cls in (
        BatchNormMLPClassifier,
        BatchNormMLPRegressor,
        BatchNormScaler,
        BatchNorm,
        BatchRenorm,
        GhostBatchNorm,
        LayerNorm,
        RMSNorm,
    )
]

__all__ = [
    "BatchNorm",
    "BatchNormMLPClassifier",
    "BatchNormMLPRegressor",
    "BatchNormScaler",
    "BatchRenorm",
    "GhostBatchNorm",
    "LayerNorm",
    "RMSNorm",
    "SKOPS_TRUSTED_TYPES",
    "__version__",
    "from_torch",
    "show_versions",
    "to_torch",
]
