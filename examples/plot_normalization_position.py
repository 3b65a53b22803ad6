"""
=========================================
Batch norm before or after the activation
=========================================

Ioffe and Szegedy (2015) put batch normalization between a layer's linear
map and its nonlinearity, ``z = BN(x @ W)``, ``a = relu(z)``, arguing that
the linear map's output is "more likely to have a symmetric, non-sparse
distribution". Many later networks normalize after the nonlinearity instead,
``a = BN(relu(x @ W + b))``, and the question of which is better has no
settled answer. :class:`~sklearn_bn.BatchNorm` offers both through
``position``.

This example asks, on the digits: does the position change the best accuracy,
or the range of learning rates that train well, with SGD and with Adam?
"""

# %%
# Setup
# -----
# 1024 of the 1797 digits train and 773 test, standardized. The networks have
# four hidden layers of 64 ReLU units and train for 10 epochs in mini-batches
# of 64 (160 updates), at 9 learning rates from 0.001 to 10, three seeds each.
# SGD uses Nesterov momentum 0.9; Adam its default betas. A fit whose loss
# becomes non-finite raises an error and is recorded as diverged.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from joblib import Parallel, delayed
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_bn import BatchNorm, BatchNormMLPClassifier

threadpool_limits(limits=1)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=1024, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)


def test_accuracy(position, solver, learning_rate, seed):
    """Test accuracy after 10 epochs; NaN if the training diverged."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow while diverging
    mlp = BatchNormMLPClassifier(
        hidden_layer_sizes=(64,) * 4,
        solver=solver,
        momentum=0.9,
        learning_rate_init=learning_rate,
        batch_size=64,
        max_iter=10,
        tol=0,
        n_iter_no_change=10,
        batch_norm=BatchNorm(position=position),
        random_state=seed,
    )
    try:
        mlp.fit(X_train, y_train)
    except ValueError:
        return np.nan
    return mlp.score(X_test, y_test)


positions = ["before_activation", "after_activation"]
solvers = ["sgd", "adam"]
learning_rates = np.logspace(-3, 1, 9)
seeds = [0, 1, 2]
scores = Parallel(n_jobs=2)(
    delayed(test_accuracy)(position, solver, learning_rate, seed)
    for solver in solvers
    for position in positions
    for learning_rate in learning_rates
    for seed in seeds
)
scores = np.array(scores).reshape(len(solvers), len(positions), -1, len(seeds))

# %%
# Accuracy against the learning rate
# ----------------------------------
# The lines are the mean of the seeds that did not diverge, the shading their
# range; a cross at the bottom marks a learning rate at which at least one
# seed diverged.
colors = {"before_activation": "tab:blue", "after_activation": "tab:orange"}
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, solver, solver_scores in zip(axes, solvers, scores, strict=True):
    for position, position_scores in zip(positions, solver_scores, strict=True):
        color = colors[position]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all seeds diverged
            mean = np.nanmean(position_scores, axis=1)
            low = np.nanmin(position_scores, axis=1)
            high = np.nanmax(position_scores, axis=1)
        ax.plot(learning_rates, mean, "o-", color=color, label=f'"{position}"')
        ax.fill_between(learning_rates, low, high, color=color, alpha=0.2)
        diverged = np.isnan(position_scores).any(axis=1)
        ax.plot(
            learning_rates[diverged], np.full(diverged.sum(), 0.03), "x", color=color
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"learning_rate_init ({solver})")
    ax.set_title(f"solver={solver!r}")
axes[0].set_ylabel("test accuracy (mean of 3 seeds)")
axes[0].legend(title="BatchNorm(position=...)", loc="lower left")
fig.suptitle("Digits, 4 hidden layers of 64 units, 10 epochs")
fig.tight_layout()

# %%
# The best mean accuracy of each position, and the learning rates at which
# every seed reaches 95%:
for solver, solver_scores in zip(solvers, scores, strict=True):
    for position, position_scores in zip(positions, solver_scores, strict=True):
        good = np.nan_to_num(position_scores, nan=0.0).min(axis=1) >= 0.95
        mean = np.nan_to_num(position_scores, nan=0.0).mean(axis=1)
        rates = ", ".join(f"{rate:.2g}" for rate in learning_rates[good])
        print(
            f"{solver}, {position}: best {mean.max():.3f} at "
            f"{learning_rates[mean.argmax()]:.2g}; 95% at {rates or 'none'}; "
            f"diverged at {np.isnan(position_scores).any(axis=1).sum()} rates"
        )


def mean_or_diverged(seed_scores):
    if np.isnan(seed_scores).all():
        return "diverged"
    return f"{np.nanmean(seed_scores):.3f}"


for solver, solver_scores in zip(solvers, scores, strict=True):
    print(f"{solver}: learning rate | before | after")
    for rate, before, after in zip(learning_rates, *solver_scores, strict=True):
        print(f"  {rate:8.3g} | {mean_or_diverged(before)} | {mean_or_diverged(after)}")


# %%
# Why does Adam's large learning rate break one position only? The fitted
# attributes give each hidden layer's output in inference mode; a unit that
# outputs 0 for every test image is dead (its ReLU never fires). The first
# seed, at a learning rate of 1:
def batch_norm_inference(mlp, layer, v):
    """Hidden layer ``layer``'s batch norm in inference mode: affine per unit."""
    scale = np.sqrt(mlp.bn_running_vars_[layer] + mlp.batch_norm.epsilon)
    centered = (v - mlp.bn_running_means_[layer]) / scale
    return mlp.bn_gammas_[layer] * centered + mlp.bn_betas_[layer]


def dead_units(mlp, X):
    """The fraction of dead units of each hidden layer, in inference mode.

    Before the activation, the linear map has no bias (batch norm's beta
    replaces it) and ``intercepts_`` holds the output layer's only.
    """
    fractions, a = [], X
    for layer, coef in enumerate(mlp.coefs_[:-1]):
        if mlp.batch_norm.position == "before_activation":
            a = relu = np.maximum(batch_norm_inference(mlp, layer, a @ coef), 0)
        else:
            relu = np.maximum(a @ coef + mlp.intercepts_[layer], 0)
            a = batch_norm_inference(mlp, layer, relu)
        fractions.append(np.mean(relu.max(axis=0) == 0))
    return fractions


for position in positions:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = BatchNormMLPClassifier(
            hidden_layer_sizes=(64,) * 4,
            solver="adam",
            learning_rate_init=1.0,
            batch_size=64,
            max_iter=10,
            tol=0,
            n_iter_no_change=10,
            batch_norm=BatchNorm(position=position),
            random_state=0,
        ).fit(X_train, y_train)
    dead = ", ".join(f"{fraction:.0%}" for fraction in dead_units(mlp, X_test))
    print(f"adam, {position}: dead units by layer {dead}")


# %%
# Result
# ------
# Over the learning rates that train well, the position makes little
# difference. With SGD both positions reach 95% on every seed from 0.01 to
# 0.32, and their best mean accuracies are 96.8% (before, at 0.032) and 96.6%
# (after, at 0.1); after the activation is ahead at the smallest rate (86.6%
# against 82.4% at 0.001) and at 1 (95.0% against 93.5%), but diverges from
# 3.2 on, where before the activation stays finite at chance. With Adam,
# before the activation is slightly better at good rates (best 96.5% against
# 95.8%, both at 0.0032, and 0.7 to 2.5 points ahead from 0.001 to 0.32), but
# it collapses to chance from a learning rate of 1 (37.3% at 1, 10.3% at 10),
# where after the activation keeps 82% to 86%. (At a learning rate of 1, a
# look at the first seed's hidden units shows why: with batch norm before the
# ReLU, 31% to 73% of each layer's units output 0 for every test image; after
# it, at most 5%.) The default, ``"before_activation"``, is the paper's and is
# as good as any here; ``"after_activation"`` is the more forgiving of a
# learning rate that is far too large for Adam.
