"""The batch-norm networks: multi-layer perceptrons whose hidden layers are
normalized."""

from ._multilayer_perceptron import BatchNormMLPClassifier, BatchNormMLPRegressor

__all__ = ["BatchNormMLPClassifier", "BatchNormMLPRegressor"]
