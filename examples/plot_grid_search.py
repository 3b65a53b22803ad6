"""
=================================================
Tuning gamma, beta and epsilon with a grid search
=================================================

:class:`~sklearn_bn.BatchNormScaler` has three hyperparameters beyond the
statistics it learns: the scale ``gamma``, the shift ``beta`` and the
``epsilon`` added to each variance. Because it is an ordinary scikit-learn
transformer, they can be tuned with ``GridSearchCV`` in a ``Pipeline`` like
any other parameter. Which of them matter in front of a logistic regression,
and why?
"""

# %%
# A pipeline and a grid
# ---------------------
# Parameters of a pipeline step are addressed as ``<step>__<parameter>``. We
# search 7 values of ``gamma``, 3 of ``beta`` and 6 of ``epsilon``, with
# 5-fold cross-validation on the breast cancer data.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from sklearn_bn import BatchNormScaler

X, y = load_breast_cancer(return_X_y=True)
pipeline = Pipeline(
    [("scaler", BatchNormScaler()), ("clf", LogisticRegression(max_iter=5000))]
)
gammas = np.geomspace(0.01, 10, 7)
betas = [-5.0, 0.0, 5.0]
epsilons = np.geomspace(1e-8, 1e2, 6)
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
search = GridSearchCV(
    pipeline,
    {"scaler__gamma": gammas, "scaler__beta": betas, "scaler__epsilon": epsilons},
    cv=cv,
)
search.fit(X, y)
print(f"best cross-validated accuracy: {search.best_score_:.3f}")
print("best parameters:", {k: float(v) for k, v in search.best_params_.items()})

# %%
# The scores as heatmaps
# ----------------------
# One heatmap of mean accuracy per value of ``beta``, with ``gamma`` down the
# rows and ``epsilon`` across the columns.
scores = search.cv_results_["mean_test_score"].reshape(
    len(betas), len(epsilons), len(gammas)
)  # the grid is ordered by parameter name: beta, epsilon, gamma
fig, axes = plt.subplots(
    1, len(betas), figsize=(13, 4.8), sharey=True, layout="constrained"
)
for ax, beta, table in zip(axes, betas, scores, strict=True):
    image = ax.imshow(table.T, vmin=0.6, vmax=1.0, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(table.T):
        color = "black" if value > 0.85 else "white"
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(
        range(len(epsilons)), [f"$10^{{{np.log10(e):.0f}}}$" for e in epsilons]
    )
    ax.set_yticks(range(len(gammas)), [f"{g:.2g}" for g in gammas])
    ax.set_xlabel("epsilon")
    ax.set_title(f"beta = {beta:g}")
axes[0].set_ylabel("gamma")
fig.colorbar(image, ax=axes, label="mean cross-validated accuracy", shrink=0.9)
fig.suptitle("BatchNormScaler + LogisticRegression(C=1), breast cancer data")

# %%
# ``beta`` does nothing here
# --------------------------
# The three heatmaps look the same. ``beta`` adds the same constant to a
# feature for every sample, and the logistic regression's intercept, which is
# not penalized, absorbs it. The largest difference across ``beta`` in any cell
# is at the level of the solver's tolerance (one more sample right in one of
# the five folds moves the mean accuracy by about 0.0018), and the "best"
# ``beta`` is only the first of a tie.
spread = np.ptp(scores, axis=0).max()
print(f"largest change of accuracy across beta in any cell: {spread:.4f}")

# %%
# ``gamma`` is the penalty in disguise
# ------------------------------------
# A logistic regression fitted on :math:`\gamma z` instead of :math:`z` can
# reach the same predictions with coefficients :math:`w / \gamma`, whose L2
# penalty is :math:`\lVert w \rVert^2 / \gamma^2`. Minimizing
# :math:`C \cdot \mathrm{loss} + \tfrac{1}{2} \lVert w \rVert^2 / \gamma^2` is
# the same as minimizing it with :math:`C \gamma^2` and :math:`\gamma = 1`: a
# larger ``gamma`` means weaker regularization. We check this equivalence on
# two settings, with a tight tolerance so that both fits reach the optimum.


def tight(C):
    return LogisticRegression(C=C, tol=1e-10, max_iter=100_000)


for gamma in [0.1, 10.0]:
    scaled = Pipeline([("scaler", BatchNormScaler(gamma=gamma)), ("clf", tight(C=1.0))])
    penalized = Pipeline([("scaler", BatchNormScaler()), ("clf", tight(C=gamma**2))])
    a = cross_val_score(scaled, X, y, cv=cv).mean()
    b = cross_val_score(penalized, X, y, cv=cv).mean()
    print(f"gamma={gamma:g}, C=1: {a:.3f}    gamma=1, C={gamma**2:g}: {b:.3f}")

# %%
# ``epsilon`` shrinks low-variance features
# -----------------------------------------
# A feature of variance :math:`\sigma^2` is multiplied by
# :math:`\gamma / \sqrt{\sigma^2 + \epsilon}`. While :math:`\epsilon \ll
# \sigma^2` this is the usual :math:`\gamma / \sigma`; once
# :math:`\epsilon` passes :math:`\sigma^2` the feature is scaled down
# instead, and penalized more. The breast cancer data has features with
# variances from about :math:`10^{-5}` to :math:`10^{5}`: the accuracy holds
# while ``epsilon`` passes only a few of them and falls as it passes more.
variances = np.sort(X.var(axis=0))
gamma_one = np.flatnonzero(gammas == 1.0)[0]
print(f"feature variances range from {variances[0]:.1e} to {variances[-1]:.1e}")
for k, epsilon in enumerate(epsilons):
    affected = np.mean(variances < epsilon)
    print(
        f"epsilon={epsilon:.0e}: {affected:4.0%} of features have a smaller "
        f"variance; accuracy at gamma=1: {scores[betas.index(0.0), k, gamma_one]:.3f}"
    )

# %%
# Conclusion
# ----------
# In front of a linear model with an unpenalized intercept, only ``gamma``
# and ``epsilon`` change the result, and both act as regularization:
# ``gamma`` as an overall strength (it trades off exactly with ``C``, as the
# matching pairs of scores above show), ``epsilon`` as an extra penalty on the
# features whose variance it exceeds. So tune ``C`` rather than ``gamma``,
# and keep ``epsilon`` below the smallest variance that carries signal. The
# shift ``beta`` matters only where a constant offset is not free: a model
# without an intercept, or a nonlinearity after the scaler, as in a network's
# batch-normalization layer.
