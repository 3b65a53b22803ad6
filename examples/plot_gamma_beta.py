"""
===================================
What gamma and beta do to a feature
===================================

After normalizing a feature to zero mean and unit variance,
:class:`~sklearn_bn.BatchNormScaler` multiplies it by ``gamma`` and adds
``beta``. What does that do to the distribution of the feature, and why would
anyone want it? This example follows one real, skewed feature through four
settings, including the one that undoes the normalization entirely.
"""

# %%
# One skewed feature
# ------------------
# The "mean area" of the cell nuclei in the breast cancer data: positive, in
# the hundreds, with a long right tail.
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import skew
from sklearn.datasets import load_breast_cancer

from sklearn_bn import BatchNormScaler

data = load_breast_cancer()
column = list(data.feature_names).index("mean area")
x = data.data[:, [column]]
print(f"mean area: mean {x.mean():.1f}, std {x.std():.1f}, skewness {skew(x)[0]:.2f}")

# %%
# Four settings of gamma and beta
# -------------------------------
# The transform is
#
# .. math::
#
#     y = \gamma \, \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta,
#
# so the output has mean :math:`\beta` and standard deviation
# :math:`|\gamma| \, \sigma / \sqrt{\sigma^2 + \epsilon}`, which is
# :math:`|\gamma|` up to ``epsilon``. Choosing
# :math:`\gamma = \sqrt{\sigma^2 + \epsilon}` and :math:`\beta = \mu` gives
# back :math:`y = x`: this is why a network's batch-normalization layer learns
# ``gamma`` and ``beta``, so that normalizing never takes away something the
# next layer needs. With a scaler fitted first, those values are
# ``sqrt(var_ + epsilon)`` and ``mean_``.
fitted = BatchNormScaler().fit(x)
settings = {
    "gamma=1, beta=0 (normalized)": BatchNormScaler(),
    "gamma=2, beta=3": BatchNormScaler(gamma=2.0, beta=3.0),
    "gamma=-0.5, beta=-1": BatchNormScaler(gamma=-0.5, beta=-1.0),
    "gamma=sqrt(var_ + eps), beta=mean_": BatchNormScaler(
        gamma=np.sqrt(fitted.var_ + fitted.epsilon), beta=fitted.mean_
    ),
}
outputs = {name: scaler.fit_transform(x) for name, scaler in settings.items()}
for name, y in outputs.items():
    print(
        f"{name:>36}: mean {y.mean():8.3f}, std {y.std():8.3f}, "
        f"skewness {skew(y)[0]:.2f}"
    )
identity = outputs["gamma=sqrt(var_ + eps), beta=mean_"]
print(f"largest |y - x| in the identity case: {np.abs(identity - x).max():.1e}")

# %%
# The histograms
# --------------
# The left panel draws the first three outputs on one axis: ``beta`` moves the
# distribution, ``gamma`` stretches it, and a negative ``gamma`` mirrors it, but
# none of them changes its shape: an affine map does not make a feature
# symmetric or Gaussian. The right panel overlays the raw feature (black
# outline) on the output of the identity setting.
fig, (left, right) = plt.subplots(
    1, 2, figsize=(13, 4.2), width_ratios=[2, 1], layout="constrained"
)
colors = ["tab:blue", "tab:orange", "tab:green"]
bins = np.linspace(-4, 14, 120)
for (name, y), color in zip(list(outputs.items())[:3], colors, strict=True):
    left.hist(
        y[:, 0], bins=bins, histtype="stepfilled", alpha=0.45, color=color, label=name
    )
    left.axvline(y.mean(), color=color, ls="--", lw=1)
left.set_xlabel("output value (dashed: mean = beta)")
left.set_ylabel("samples")
left.set_title("gamma stretches (and mirrors), beta shifts")
left.legend()
right.hist(
    identity[:, 0],
    bins=40,
    color="tab:purple",
    alpha=0.6,
    label="gamma=sqrt(var_ + eps),\nbeta=mean_",
)
right.hist(x[:, 0], bins=40, histtype="step", color="k", lw=1.5, label="raw x")
right.set_xlabel("mean area")
right.set_title("the identity case")
right.legend()
fig.suptitle("BatchNormScaler output for the 'mean area' feature")

# %%
# Per-feature gamma and beta
# --------------------------
# ``gamma`` and ``beta`` also accept one value per feature. Here the first two
# features of the data keep unit variance and zero mean, and are then given
# the standard deviations 1 and 3 and the means -2 and 2:
two = data.data[:, :2]
scaled = BatchNormScaler(gamma=[1.0, 3.0], beta=[-2.0, 2.0]).fit_transform(two)
print(f"per-feature output means {scaled.mean(axis=0).round(3)}")
print(f"per-feature output stds  {scaled.std(axis=0).round(3)}")

# %%
# Conclusion
# ----------
# The printed moments show each output has mean ``beta`` and standard
# deviation ``|gamma|`` (to within ``epsilon``), while the skewness changes
# only its sign, with the sign of ``gamma``. With ``gamma = sqrt(var_ +
# epsilon)`` and ``beta = mean_`` the scaler returns its input to within
# rounding, so batch normalization can always represent "no change". In a
# scikit-learn pipeline ``gamma`` and ``beta`` are fixed hyperparameters rather
# than learned weights; see :ref:`sphx_glr_auto_examples_plot_grid_search.py`
# for when tuning them changes a model.
