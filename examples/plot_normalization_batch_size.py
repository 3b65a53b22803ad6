"""
=============================================
Which normalization for which mini-batch size
=============================================

Batch normalization estimates each unit's mean and variance from the
mini-batch. Ioffe (2017) writes that its "effectiveness diminishes when the
training minibatches are small", and proposes batch renormalization, which
corrects the batch statistics towards the running ones
(:class:`~sklearn_bn.BatchRenorm`). Layer normalization
(:class:`~sklearn_bn.LayerNorm`) normalizes each row over its units and does
not depend on the batch at all. At the other end, Hoffer et al. (2017) write
that large mini-batches generalize worse mostly because they make fewer
updates, and propose ghost batch normalization
(:class:`~sklearn_bn.GhostBatchNorm`): normalizing small "virtual" batches
inside the large one.

This example asks, on the digits: how does the test accuracy of each
normalization change with the mini-batch size, from 2 to 256 rows? And does
a large batch generalize as well as a small one once it makes as many
updates, with ghost batches or without?
"""

# %%
# Setup
# -----
# 1024 of the 1797 digits train and the other 773 test (stratified),
# standardized. 1024 rows split into whole mini-batches of every size below,
# so that every mini-batch of a run has the size it is labelled with (with
# 898 rows the networks would join a small last mini-batch to the one before
# it, and one mini-batch of each epoch would be larger). Every network has two hidden
# layers of 64 ReLU units and is trained by SGD with Nesterov momentum 0.9 and
# learning rate 0.01, for a fixed number of epochs: ``tol=0`` and
# ``n_iter_no_change=epochs`` stop it only at ``max_iter``. The fits run two
# at a time, one per core, with one BLAS thread each.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from joblib import Parallel, delayed
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_bn import (
    BatchNorm,
    BatchNormMLPClassifier,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
)

threadpool_limits(limits=1)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=1024, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)


def fit_and_score(batch_norm, batch_size, epochs, learning_rate, seed):
    """Train and test accuracy and the last epoch's training loss.

    A fit whose loss becomes non-finite raises; it scores NaN.
    """
    warnings.simplefilter("ignore", ConvergenceWarning)
    mlp = BatchNormMLPClassifier(
        hidden_layer_sizes=(64, 64),
        solver="sgd",
        momentum=0.9,
        learning_rate_init=learning_rate,
        batch_size=batch_size,
        max_iter=epochs,
        tol=0,
        n_iter_no_change=epochs,
        batch_norm=batch_norm,
        random_state=seed,
    )
    try:
        mlp.fit(X_train, y_train)
    except ValueError:
        return np.nan, np.nan, np.nan
    return mlp.score(X_train, y_train), mlp.score(X_test, y_test), mlp.loss_curve_[-1]


# %%
# Small mini-batches
# ------------------
# Every normalization trains for 10 epochs at every batch size, so a smaller
# batch makes more updates (512 per epoch with 2 rows, 4 with 256). Three
# seeds (initialization and shuffling) per setting; the figure shows their
# mean and, shaded, their range. ``batch_norm=False`` is the network without
# normalization.
normalizations = {
    "BatchNorm()": BatchNorm(),
    "BatchRenorm()": BatchRenorm(),
    "LayerNorm()": LayerNorm(),
    "none": False,
}
batch_sizes = [2, 4, 8, 16, 32, 64, 128, 256]
seeds = [0, 1, 2]
settings = [
    (name, batch_size, seed)
    for name in normalizations
    for batch_size in batch_sizes
    for seed in seeds
]
results = Parallel(n_jobs=2)(
    delayed(fit_and_score)(normalizations[name], batch_size, 10, 0.01, seed)
    for name, batch_size, seed in settings
)
results = np.array(results).reshape(len(normalizations), len(batch_sizes), -1, 3)
test_accuracy = results[..., 1]
train_loss = results[..., 2]

# %%
# The left panel is the test accuracy; the right one the training loss of the
# last epoch (``loss_curve_``), which is computed in training mode, with the
# batch statistics: it tells whether the network failed to *learn* or only
# failed to *predict* with its running statistics.
colors = ["tab:blue", "tab:green", "tab:purple", "tab:gray"]
fig, (ax_accuracy, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
for name, accuracy, loss, color in zip(
    normalizations, test_accuracy, train_loss, colors, strict=True
):
    ax_accuracy.plot(batch_sizes, np.nanmean(accuracy, axis=1), "o-", color=color)
    ax_accuracy.fill_between(
        batch_sizes,
        np.nanmin(accuracy, axis=1),
        np.nanmax(accuracy, axis=1),
        color=color,
        alpha=0.2,
    )
    ax_loss.plot(batch_sizes, np.nanmean(loss, axis=1), "o-", color=color, label=name)
for ax in (ax_accuracy, ax_loss):
    ax.set_xscale("log", base=2)
    ax.set_xticks(batch_sizes, [str(size) for size in batch_sizes])
    ax.set_xlabel("batch_size (10 epochs)")
ax_accuracy.set_ylim(0, 1)
ax_accuracy.set_ylabel("test accuracy (mean of 3 seeds)")
ax_loss.set_yscale("log")
ax_loss.set_ylabel("training loss of the last epoch")
ax_loss.legend(title="batch_norm=")
fig.suptitle("Digits, 2 hidden layers of 64 units, SGD")
fig.tight_layout()

# %%
# The mean test accuracy of the three seeds:
print("batch_size | " + " | ".join(f"{name:>13}" for name in normalizations))
for j, batch_size in enumerate(batch_sizes):
    row = np.nanmean(test_accuracy[:, j], axis=1)
    print(f"{batch_size:10d} | " + " | ".join(f"{value:13.3f}" for value in row))
for name, loss in zip(normalizations, train_loss, strict=True):
    print(f"{name}: training loss {np.nanmean(loss[0]):.3f} with batches of 2")

# %%
# Large mini-batches
# ------------------
# Hoffer et al. compare a large batch with a small one under two budgets: the
# same number of epochs, where the large batch makes far fewer updates, and
# the same number of *updates*, where it trains for more epochs ("train
# longer"). Here the small batch has 32 rows and the large one 256. An epoch
# of the 1024 training rows is 32 updates with 32 rows and 4 with 256, so 10
# epochs of the small batch (320 updates) are matched by 80 epochs of the
# large one. As in the paper, the large batch's learning rate
# is the small one's times the square root of the ratio of the batch sizes
# (0.01 times 2.83), and the ghost batches are as large as the small batch:
# ``GhostBatchNorm(virtual_batch_size=32)``. Five seeds per arm.
small, large = 32, 256
updates_per_epoch = {size: len(X_train) // size for size in (small, large)}
small_epochs = 10
large_epochs = small_epochs * updates_per_epoch[small] // updates_per_epoch[large]
large_rate = 0.01 * np.sqrt(large / small)
arms = {
    "small batch (32)\nBatchNorm": (BatchNorm(), small, small_epochs, 0.01),
    "large (256)\nBatchNorm\nsame epochs": (
        BatchNorm(),
        large,
        small_epochs,
        large_rate,
    ),
    "large (256)\nGhostBatchNorm(32)\nsame epochs": (
        GhostBatchNorm(virtual_batch_size=small),
        large,
        small_epochs,
        large_rate,
    ),
    "large (256)\nBatchNorm\nsame updates": (
        BatchNorm(),
        large,
        large_epochs,
        large_rate,
    ),
    "large (256)\nGhostBatchNorm(32)\nsame updates": (
        GhostBatchNorm(virtual_batch_size=small),
        large,
        large_epochs,
        large_rate,
    ),
}
large_seeds = [0, 1, 2, 3, 4]
large_results = Parallel(n_jobs=2)(
    delayed(fit_and_score)(*arm, seed) for arm in arms.values() for seed in large_seeds
)
large_results = np.array(large_results).reshape(len(arms), len(large_seeds), 3)
print(
    f"updates: {small_epochs * updates_per_epoch[small]} with the small batch, "
    f"{small_epochs * updates_per_epoch[large]} or "
    f"{large_epochs * updates_per_epoch[large]} with the large one"
)

# %%
# Each point is the mean test accuracy of the five seeds, with its standard
# deviation; the number beside it is the generalization gap, training minus
# test accuracy.
train, test = large_results[..., 0], large_results[..., 1]
fig, ax = plt.subplots(figsize=(9, 4))
positions = np.arange(len(arms))
arm_colors = ["tab:blue", "tab:orange", "tab:red", "tab:orange", "tab:red"]
for position, accuracy, spread, gap, color in zip(
    positions,
    test.mean(axis=1),
    test.std(axis=1),
    (train - test).mean(axis=1),
    arm_colors,
    strict=True,
):
    ax.errorbar(position, accuracy, yerr=spread, fmt="o", color=color, capsize=4)
    ax.annotate(
        f"gap {gap:.3f}",
        (position, accuracy),
        xytext=(8, 0),
        textcoords="offset points",
        va="center",
    )
ax.set_xticks(positions, list(arms), fontsize="small")
ax.set_xlim(-0.5, len(arms) - 0.2)
ax.set_ylabel("test accuracy (mean of 5 seeds)")
ax.set_title("Large batches: fewer updates, or worse generalization?")
fig.tight_layout()

# %%
for name, train_accuracy, test_accuracy_ in zip(arms, train, test, strict=True):
    print(
        f"{name.replace(chr(10), ' ')}: test {test_accuracy_.mean():.3f} "
        f"(std {test_accuracy_.std():.3f}), train {train_accuracy.mean():.3f}, "
        f"gap {(train_accuracy - test_accuracy_).mean():.3f}"
    )

# %%
# Result
# ------
# **Small batches.** From 8 to 32 rows all four reach 96-97% test accuracy
# after 10 epochs; beyond, the accuracy of all of them falls with the number
# of updates (40 at 256 rows), the network without normalization's the most.
# With 4 rows batch norm is 2 points behind (94.4% against 96.5% for layer
# norm and 96.9% without normalization), and with 2 rows it fails: 49.8% test
# accuracy, and a training loss of about 3000, so the network did not even
# learn the training set: with two rows, each normalized unit is -1 or +1
# whatever the input. Batch renormalization recovers part of this, as Ioffe
# (2017) reports, but only part: 68.0% with 2 rows (training loss 12.2). With
# 4 rows its 95.3% against batch norm's 94.4% is within the seeds' spread
# (``benchmarks/bench_normalizations.py``, with ten seeds: 95.3% for both).
# Layer normalization does not see the batch and is unaffected: 96.6%
# with 2 rows. The network without normalization is unstable at 2 rows with
# this learning rate (58.7% on average, its seeds far apart in the shaded
# range). Three seeds per point: the differences of a point or less between 8
# and 64 rows are within their spread.
#
# **Large batches.** For the same 10 epochs, batches of 256 rows reach 94.0%
# against 96.6% for batches of 32; with ghost batches of 32, 94.1%. Given
# the same 320 updates (80 epochs) the large batch reaches 97.2%, and 97.3%
# with ghost batches: the whole deficit was the number of updates, as Hoffer
# et al. (2017) argue. Ghost batch normalization made no measurable
# difference here (0.1 point, against a standard deviation of 0.3 over the 5
# seeds), nor did the generalization gap (train minus test) change much: 2.7
# to 3.5 points in every arm. (``benchmarks/bench_normalizations.py``, with
# ten seeds and batches of 256 and 512, finds ghost batches of 8 to 32 ahead
# of plain batch norm by 0.2 to 0.4 point at the same number of updates: the
# paper's direction, at the edge of the noise.) The gaps Hoffer et al. close
# with ghost batches are at batches of thousands of images; at this scale,
# the part of their claim that clearly reproduces is "train longer".
