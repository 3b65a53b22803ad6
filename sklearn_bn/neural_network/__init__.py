"""The batch-norm networks: multi-layer perceptrons whose hidden layers are
normalized, and the normalizations they take."""

from ._multilayer_perceptron import BatchNormMLPClassifier, BatchNormMLPRegressor
from ._normalization import BatchNorm, BatchRenorm, GhostBatchNorm, LayerNorm, RMSNorm

__all__ = [
    "BatchNorm",
    "BatchNormMLPClassifier",
    "BatchNormMLPRegressor",
    "BatchRenorm",
    "GhostBatchNorm",
    "LayerNorm",
    "RMSNorm",
]
