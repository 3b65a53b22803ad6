"""Fitted estimators leaving Python: ONNX graphs (``sklearn_bn.onnx``),
PyTorch modules (``to_torch``, ``from_torch``).

Each exporter reads the fitted state through one view: the scaler's
inference map (``BatchNormScaler._inference_map``), and a network's inference
layers (``neural_network._inference.inference_layers``), folded for ONNX and
unfolded for torch. A new export target reads these and builds nothing else.
"""

from ._torch import from_torch, to_torch

__all__ = ["from_torch", "to_torch"]
