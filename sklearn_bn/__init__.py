"""Batch normalization for scikit-learn."""

from ._mlp import BatchNormMLPClassifier, BatchNormMLPRegressor
from ._scaler import BatchNormScaler
from ._show_versions import show_versions

__version__ = "0.1.0"

__all__ = [
    "BatchNormMLPClassifier",
    "BatchNormMLPRegressor",
    "BatchNormScaler",
    "__version__",
    "show_versions",
]
