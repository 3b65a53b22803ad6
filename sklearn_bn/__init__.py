"""Batch normalization for scikit-learn."""

from ._scaler import BatchNormScaler

__version__ = "0.1.0"

__all__ = ["BatchNormScaler", "__version__"]
