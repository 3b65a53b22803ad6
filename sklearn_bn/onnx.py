"""Export fitted sklearn-bn estimators to ONNX with skl2onnx.

Importing this module registers skl2onnx converters for
:class:`~sklearn_bn.BatchNormScaler`, :class:`~sklearn_bn.BatchNormMLPClassifier`
and :class:`~sklearn_bn.BatchNormMLPRegressor`. After that,
``skl2onnx.to_onnx`` converts each of them, alone or inside a ``Pipeline`` or
a ``ColumnTransformer`` with scikit-learn's own estimators. It needs the
``onnx`` extra: ``pip install "sklearn-bn[onnx]"``.

The graphs compute what ``transform``, ``predict`` and ``predict_proba``
compute, from the fitted state: parameters changed with ``set_params`` since
the fit change the graph no more than they change those methods. They
compute in the dtype of the input, float32 or float64. Every constant is
taken in float64 from the fitted attributes first (the scaler's ``mean_``,
``multiplier_`` and the ``beta`` of the fit, a network's layers with their
normalization folded into the weights where it folds, as ``predict`` folds
it) and then cast to that dtype. Where float32 cannot hold a constant (a
``multiplier_`` above 3.4e38, for data whose spread is below float32's
smallest normal number), a float32 graph computes that step in float64:
``Cast`` to double, the step, ``Cast`` back. The graphs use only ``Sub``,
``Mul``, ``Add``, ``MatMul``, those ``Cast`` nodes and the activations, and
for a network with :class:`~sklearn_bn.LayerNorm` or
:class:`~sklearn_bn.RMSNorm` ``ReduceMean``, ``Sqrt`` and ``Reciprocal``.
Two ONNX operators that look like the natural choice are avoided on purpose:
``ai.onnx.ml.Scaler`` computes in float32 whatever its input, and
``BatchNormalization`` stores ``epsilon`` as a float32, a relative error of
about 1.4e-8 in float64 (``LayerNormalization`` and ``RMSNormalization`` too).

The scaler maps each feature to ``(x - mean_) * multiplier_ + beta`` (``x *
multiplier_ + beta`` when ``with_mean=False``), the centered form that keeps
full precision wherever the mean lies far from zero; NaN stays NaN, as in
``transform``. A network becomes ``MatMul`` by the folded weights and
``Add`` of the folded shift, then the activation, layer after layer, and the
output activation of ``predict``: ``exp`` for a regressor fitted with
``loss='poisson'``. Every kind of batch normalization
(:class:`~sklearn_bn.BatchNorm` before or after the activation,
:class:`~sklearn_bn.GhostBatchNorm`, :class:`~sklearn_bn.BatchRenorm`)
folds into the weights with its inference statistics, one after the
activation into the next layer's. A layer or RMS normalization does not
fold: it is computed after ``Add``, before the activation, in the graph's
dtype as ``predict`` computes it in the network's:
``(z - mean) * (1 / sqrt(var + epsilon)) * gamma + beta`` over each row
(``ReduceMean``, ``Sub``, ``Mul``, ``Add``, ``Sqrt``, ``Reciprocal``) and
``z * (1 / sqrt(mean(z ** 2) + epsilon)) * gamma``. A network whose
normalization the converter has no nodes for is refused with a
``ValueError``, not exported without it. A classifier has
skl2onnx's two outputs, the labels and the probabilities, and takes
skl2onnx's options ``zipmap`` (True, False or ``"columns"``) and ``nocl``
(labels as class indices); a regressor has one output of shape
``(n_samples, n_outputs)``. A classifier fitted on one class gives, as
``predict_proba`` does, two probability columns (the class and its
complement) and always that class as its label; ZipMap cannot name two
columns with one class, so it takes ``zipmap=False``.

Examples
--------
Register the converters, convert a fitted pipeline and run it in
onnxruntime:

>>> import numpy as np
>>> import onnxruntime as ort
>>> from skl2onnx import to_onnx
>>> from sklearn.datasets import load_iris
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> import sklearn_bn.onnx  # registers the converters
>>> from sklearn_bn import BatchNormScaler
>>> X, y = load_iris(return_X_y=True)
>>> model = make_pipeline(BatchNormScaler(), LogisticRegression()).fit(X, y)
>>> onx = to_onnx(model, X[:1], options={"zipmap": False})
>>> session = ort.InferenceSession(
...     onx.SerializeToString(), providers=["CPUExecutionProvider"]
... )
>>> labels, proba = session.run(None, {"X": X})
>>> bool((labels == model.predict(X)).all())
True
>>> bool(np.abs(proba - model.predict_proba(X)).max() < 1e-11)
True

What cannot be exported says so, starting with an estimator that was never
fitted:

>>> to_onnx(BatchNormScaler(), X[:1])
Traceback (most recent call last):
...
sklearn.exceptions.NotFittedError: This BatchNormScaler instance is not fitted yet...
"""

# The converters live in sklearn_bn.export._onnx; importing it registers them.
from .export import _onnx  # noqa: F401

__all__: list = []
