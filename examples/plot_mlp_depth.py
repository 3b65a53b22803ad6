"""
==========================
Training deep networks
==========================

Batch normalization was proposed to make deep networks trainable: each
layer's input keeps a stable distribution while the layers below it change.
This example trains networks of 2, 10 and 20 hidden layers on the digits,
each with and without batch normalization, with the same optimizer and the
same number of epochs. Which of them train, and what happens to the inputs of
a deep layer's activations while they do?
"""

# %%
# Setup
# -----
# The digits are split into a training set of 1347 images and a test set of
# 450, and standardized. Every network has 64 ReLU units per hidden layer and
# is trained by SGD with Nesterov momentum 0.9, learning rate 0.01, in
# mini-batches of 64, for 30 epochs. BLAS is kept to one thread: the
# matrices are small.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_bn import BatchNorm, BatchNormMLPClassifier

threadpool_limits(limits=1)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

depths = [2, 10, 20]
n_epochs = 30
classes = np.unique(y)


# %%
# Looking inside: the pre-activations of a hidden layer
# ------------------------------------------------------
# The fitted attributes are enough to recompute what a hidden layer feeds its
# activation function, in inference mode: ``z = a @ W``, then either
# batch normalization with the running statistics, or the bias.
def pre_activations(mlp, X, layer):
    """The input of the activation of hidden layer ``layer`` (counted from 1)."""
    a = X
    for i in range(layer):
        z = a @ mlp.coefs_[i]
        if mlp.bn_gammas_ is not None:
            # batch_norm=True is BatchNorm(), whose epsilon is 1e-5.
            z = (z - mlp.bn_running_means_[i]) / np.sqrt(
                mlp.bn_running_vars_[i] + BatchNorm().epsilon
            )
            z = mlp.bn_gammas_[i] * z + mlp.bn_betas_[i]
        else:
            z = z + mlp.intercepts_[i]
        a = np.maximum(z, 0)
    return z


# %%
# Training, one epoch at a time
# -----------------------------
# :meth:`~sklearn_bn.BatchNormMLPClassifier.partial_fit` runs one epoch per
# call, so the test accuracy and the pre-activations of the middle hidden
# layer can be recorded after each one. A ``RandomState`` instance (rather
# than an int) gives each epoch a new shuffle.
percentiles = [15, 50, 85]
history = {}
for depth in depths:
    for batch_norm in [True, False]:
        mlp = BatchNormMLPClassifier(
            hidden_layer_sizes=(64,) * depth,
            solver="sgd",
            learning_rate_init=0.01,
            momentum=0.9,
            batch_size=64,
            batch_norm=batch_norm,
            random_state=np.random.RandomState(0),
        )
        accuracy, spread = [], []
        for _ in range(n_epochs):
            mlp.partial_fit(X_train, y_train, classes=classes)
            accuracy.append(mlp.score(X_test, y_test))
            z = pre_activations(mlp, X_test, layer=depth // 2)
            spread.append(np.percentile(z[:, 0], percentiles))
        history[depth, batch_norm] = dict(
            loss=mlp.loss_curve_, accuracy=accuracy, spread=np.array(spread)
        )

# %%
# Loss and test accuracy
# ----------------------
# Solid lines are networks with batch norm, dashed lines without.
epochs = np.arange(1, n_epochs + 1)
colors = dict(zip(depths, ["tab:green", "tab:blue", "tab:red"], strict=True))
fig, (ax_loss, ax_accuracy) = plt.subplots(1, 2, figsize=(10, 4))
for (depth, batch_norm), record in history.items():
    style = dict(
        color=colors[depth],
        linestyle="-" if batch_norm else "--",
        label=f"{depth} layers, {'with' if batch_norm else 'without'} BN",
    )
    ax_loss.plot(epochs, record["loss"], **style)
    ax_accuracy.plot(epochs, record["accuracy"], **style)
ax_loss.set_yscale("log")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss (loss_curve_)")
ax_accuracy.set_xlabel("epoch")
ax_accuracy.set_ylabel("test accuracy")
ax_accuracy.set_ylim(0, 1)
ax_accuracy.legend(loc="lower right", fontsize="small")
fig.tight_layout()

# %%
# The final test accuracies:
final = {key: record["accuracy"][-1] for key, record in history.items()}
print("hidden layers | with batch norm | without")
for depth in depths:
    print(f"{depth:13d} | {final[depth, True]:15.3f} | {final[depth, False]:.3f}")

# %%
# A deep layer's pre-activations over training
# --------------------------------------------
# The paper's Figure 1 follows the 15th, 50th and 85th percentiles of one
# unit's input over training. Here: the first unit of hidden layer 5 of the
# 10-layer networks, over the 450 test images, after each epoch. With batch
# normalization the distribution is set by the unit's ``gamma`` and ``beta``:
# it has unit scale from the first epoch on. Without it, it is whatever the
# layers below make of the data: at first the signal has faded through them,
# so the unit sees almost the same input for every image, and the
# distribution changes as they learn.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, batch_norm in zip(axes, [True, False], strict=True):
    spread = history[10, batch_norm]["spread"]
    ax.fill_between(epochs, spread[:, 0], spread[:, 2], alpha=0.3, label="15-85%")
    ax.plot(epochs, spread[:, 1], label="median")
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.set_title(f"10 layers, {'with' if batch_norm else 'without'} batch norm")
    ax.set_xlabel("epoch")
axes[0].set_ylabel("pre-activation of unit 1, layer 5")
axes[0].legend()
fig.tight_layout()

# %%
# The width of the 15-85% range measures the scale of the unit's input:
for batch_norm in [True, False]:
    spread = history[10, batch_norm]["spread"]
    width = spread[:, 2] - spread[:, 0]
    print(
        f"{'with' if batch_norm else 'without'} batch norm: width "
        f"{width[0]:.2f} after epoch 1, {width[-1]:.2f} after epoch {n_epochs}, "
        f"between {width.min():.2f} and {width.max():.2f} "
        f"(a factor {width.max() / width.min():.1f})"
    )

# %%
# Result
# ------
# With batch normalization all three depths train: after 30 epochs the test
# accuracy is 97.3% with 2 hidden layers, 96.7% with 10 and 96.0% with 20.
# Without it the 2-layer network trains as well (96.7%), the 10-layer one
# needs about six epochs before its loss starts to fall (95.1% at the end),
# and the 20-layer one does not train at all: its loss stays at
# ``log(10) = 2.30`` and its accuracy at chance, 10.2%.
#
# Inside the 10-layer networks, the input of a unit of layer 5 keeps a
# 15-85% range about 2 wide throughout training with batch norm (within a
# factor 1.2). Without it the range starts at 0.19, the signal having almost
# vanished on its way up, and grows tenfold as the lower layers learn: the
# moving target that batch normalization removes.
