"""
========================================
Deploying a fitted model: ONNX and torch
========================================

A model fitted in scikit-learn has to leave the Python process that fitted it:
to run in a service, on a phone or in a browser, or to be trained on in
PyTorch. Can a pipeline with :class:`~sklearn_bn.BatchNormScaler` be exported
to ONNX and give the same predictions in onnxruntime? And can a
batch-normalized network go on training in PyTorch from where scikit-learn
left it?
"""

# %%
# A pipeline exported to ONNX
# ---------------------------
# Importing :mod:`sklearn_bn.onnx` registers the converters with skl2onnx;
# after that ``skl2onnx.to_onnx`` converts a pipeline that holds a
# BatchNormScaler like any scikit-learn pipeline. The example row ``X[:1]``
# sets the input's dtype: float64 here, float32 in the second graph.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import sklearn_bn.onnx  # noqa: F401  (registers the converters)
from sklearn_bn import BatchNormMLPClassifier, BatchNormScaler, to_torch

X, y = load_breast_cancer(return_X_y=True)
pipe = make_pipeline(BatchNormScaler(), LogisticRegression()).fit(X, y)

errors = {}
for dtype in (np.float64, np.float32):
    X_typed = X.astype(dtype)
    onx = to_onnx(pipe, X_typed[:1], options={"zipmap": False})
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    labels, proba = session.run(None, {"X": X_typed})
    errors[dtype.__name__] = np.abs(proba - pipe.predict_proba(X_typed)).max(axis=1)
    same = (labels == pipe.predict(X_typed)).mean()
    print(
        f"{dtype.__name__}: largest difference in predict_proba "
        f"{errors[dtype.__name__].max():.1e}, same label for {same:.0%} of samples"
    )

# %%
# The graph is plain arithmetic: the scaler becomes ``Sub``, ``Mul`` and
# ``Add`` with constants folded in float64, then cast to the input's dtype,
# so float64 input keeps float64 precision throughout.
print([node.op_type for node in to_onnx(pipe, X[:1]).graph.node][:3])

# %%
# A network continued in PyTorch
# ------------------------------
# :func:`~sklearn_bn.to_torch` turns a fitted BatchNormMLPClassifier into a
# ``torch.nn.Sequential`` of ``Linear``, ``BatchNorm1d`` and ``ReLU`` layers
# carrying its weights, its ``gamma`` and ``beta`` and its running
# statistics. The module outputs the logits; their softmax is
# ``predict_proba``.
import torch  # noqa: E402

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
clf = BatchNormMLPClassifier((64,), max_iter=20, random_state=0)
with warnings.catch_warnings():  # 20 epochs on purpose: training goes on below
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X_train, y_train)
net = to_torch(clf)
print(net)

with torch.no_grad():
    proba = torch.softmax(net(torch.from_numpy(X_test)), dim=1).numpy()
difference = np.abs(proba - clf.predict_proba(X_test)).max()
print(f"softmax of the logits vs predict_proba: {difference:.1e}")

# %%
# One more epoch, in torch: mini-batches of 64 samples, the cross-entropy on
# the logits and Adam. ``net.train()`` normalizes each mini-batch with its
# own statistics and updates the running ones, as scikit-learn's training did.
torch.manual_seed(0)
inputs, targets = torch.from_numpy(X_train), torch.from_numpy(y_train)
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
net.train()
batch_losses = []
start = time.perf_counter()
for batch in torch.randperm(len(inputs)).split(64):
    if len(batch) < 2:  # a batch of one sample cannot be normalized
        continue
    optimizer.zero_grad()
    loss = loss_fn(net(inputs[batch]), targets[batch])
    loss.backward()
    optimizer.step()
    batch_losses.append(loss.item())
net.eval()
with torch.no_grad():
    accuracy = (net(torch.from_numpy(X_test)).argmax(dim=1).numpy() == y_test).mean()
print(
    f"test accuracy: {clf.score(X_test, y_test):.3f} after scikit-learn's 20 "
    f"epochs, {accuracy:.3f} after one more in torch "
    f"({time.perf_counter() - start:.2f} s)"
)

# %%
# The figure shows, on the left, how far onnxruntime's probabilities lie from
# scikit-learn's for each sample in both dtypes and, on the right, the loss of
# each mini-batch of the epoch run in torch, which starts where
# scikit-learn's last epoch ended.
fig, (ax_onnx, ax_torch) = plt.subplots(1, 2, figsize=(10, 4))
for name, error in errors.items():
    ax_onnx.hist(np.log10(np.maximum(error, 1e-18)), bins=30, alpha=0.7, label=name)
ax_onnx.set_xlabel("log10 |onnxruntime - predict_proba| per sample")
ax_onnx.set_ylabel("samples")
ax_onnx.set_title("Pipeline in onnxruntime (breast cancer)")
ax_onnx.legend()
ax_torch.plot(batch_losses, marker=".")
ax_torch.axhline(clf.loss_curve_[-1], color="gray", linestyle="--")
ax_torch.annotate("last scikit-learn epoch", (0, clf.loss_curve_[-1]), va="bottom")
ax_torch.set_xlabel("mini-batch")
ax_torch.set_ylabel("cross-entropy")
ax_torch.set_title("One more epoch in torch (digits)")
fig.tight_layout()
plt.show()

# %%
# Conclusion
# ----------
# The exported pipeline agrees with scikit-learn to rounding: on the breast
# cancer data the largest difference in ``predict_proba`` was 6.7e-16 in
# float64 and 4.3e-7 in float32, and every label was the same. The network
# moves to torch with its running statistics: the softmax of its logits
# matched ``predict_proba`` to 5.6e-16, and one epoch of training in torch
# took the test accuracy from 0.951 to 0.964. The user guide's page
# :ref:`deploying` also covers loading a model with skops while trusting
# nothing but the package's classes.
