"""BatchNormScaler: batch normalization of the input features, with one home
per kind of input (numpy with C kernels, sparse, array API, dask)."""

from ._scaler import BatchNormScaler

__all__ = ["BatchNormScaler"]
