"""
=======================================================
Streaming data: exact statistics or running statistics?
=======================================================

When data arrive in batches, :meth:`~sklearn_bn.BatchNormScaler.partial_fit`
updates the scaler one batch at a time. It can keep two kinds of statistics:
exact statistics of everything seen so far (``momentum=None``, the default),
or running statistics that forget old batches at a rate set by ``momentum``,
as a network's batch-normalization layer does. Which should you use when the
distribution of the data drifts?
"""

# %%
# A drifting stream
# -----------------
# One feature arrives in 300 batches of 32 samples. Its mean climbs steadily,
# then jumps at batch 200; its standard deviation grows from 1 to 2.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_bn import BatchNormScaler

rng = np.random.default_rng(0)
n_batches, batch_size = 300, 32
t = np.arange(n_batches)
true_mean = 0.03 * t + np.where(t >= 200, -8.0, 0.0)
true_std = 1 + t / n_batches
batches = [
    rng.normal(mean, std, size=(batch_size, 1))
    for mean, std in zip(true_mean, true_std, strict=True)
]

# %%
# Three scalers follow the stream
# -------------------------------
# With ``momentum`` set, the first batch sets the statistics and each later
# batch moves them a fraction ``momentum`` of the way to its own:
#
# .. math::
#
#     \hat\mu \leftarrow (1 - m)\,\hat\mu + m\,\mu_{\mathrm{batch}}, \qquad
#     \hat\sigma^2 \leftarrow (1 - m)\,\hat\sigma^2 + m\,\sigma^2_{\mathrm{batch}}.
#
# A batch seen ``k`` updates ago keeps weight :math:`m (1 - m)^k`, so the
# statistics mostly reflect the last :math:`1 / m` batches. Before each update
# we also transform the incoming batch with the statistics learned so far, as
# a deployed model would, and record the mean and the standard deviation of the
# output, which should stay near 0 and 1.
scalers = {
    "exact (momentum=None)": BatchNormScaler(),
    "running, momentum=0.1": BatchNormScaler(momentum=0.1),
    "running, momentum=0.01": BatchNormScaler(momentum=0.01),
}
history = {
    name: {"mean": [], "var": [], "out_mean": [], "out_std": []} for name in scalers
}
for i, batch in enumerate(batches):
    for name, scaler in scalers.items():
        if i > 0:
            output = scaler.transform(batch)
            history[name]["out_mean"].append(output.mean())
            history[name]["out_std"].append(output.std())
        scaler.partial_fit(batch)
        history[name]["mean"].append(scaler.mean_[0])
        history[name]["var"].append(scaler.var_[0])

# %%
# The exact statistics are those of all the data
# ----------------------------------------------
# With ``momentum=None``, any sequence of ``partial_fit`` calls gives the
# statistics one ``fit`` on all the data would give, up to rounding.
one_fit = BatchNormScaler().fit(np.vstack(batches))
exact = scalers["exact (momentum=None)"]
print(f"|mean_ difference| with one fit: {abs(exact.mean_ - one_fit.mean_)[0]:.1e}")
print(f"|var_ difference| with one fit:  {abs(exact.var_ - one_fit.var_)[0]:.1e}")

# %%
# Tracking the drift
# ------------------
colors = {
    "exact (momentum=None)": "tab:red",
    "running, momentum=0.1": "tab:blue",
    "running, momentum=0.01": "tab:green",
}
batch_means = [batch.mean() for batch in batches]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
axes[0].plot(t, batch_means, ".", color="0.7", ms=3, label="batch mean")
axes[0].plot(t, true_mean, "k--", lw=1, label="true mean")
axes[1].plot(t, true_std**2, "k--", lw=1, label="true variance")
axes[2].axhline(0, color="k", ls="--", lw=1)
for name, record in history.items():
    axes[0].plot(t, record["mean"], color=colors[name], label=name)
    axes[1].plot(t, record["var"], color=colors[name], label=name)
    axes[2].plot(t[1:], record["out_mean"], color=colors[name], lw=1, label=name)
axes[0].set_title("mean_")
axes[1].set_title("var_")
axes[2].set_title("mean of the transformed next batch")
for ax in axes:
    ax.set_xlabel("batch")
axes[0].legend(fontsize=8)
axes[1].legend(fontsize=8)

# %%
# Errors in numbers
# -----------------
# Averaged over the whole stream: how far is ``mean_`` from the true mean, and
# how far from 0 and 1 are the mean and standard deviation of each new batch
# once transformed?
for name, record in history.items():
    mean_error = np.abs(np.array(record["mean"]) - true_mean).mean()
    out_mean = np.abs(record["out_mean"]).mean()
    out_std = np.abs(np.array(record["out_std"]) - 1).mean()
    print(
        f"{name:>24}: |mean_ - true mean| {mean_error:5.2f}, "
        f"|output mean| {out_mean:5.2f}, |output std - 1| {out_std:4.2f}"
    )

# %%
# Conclusion
# ----------
# The exact statistics are the right choice when the batches are pieces of one
# fixed data set, for example data too large for memory: they equal the
# statistics of a single ``fit``, as the printed differences show. On a
# drifting stream they average over the whole past, so ``mean_`` lags further
# and further behind, ``var_`` absorbs the drift itself as spread, and new
# batches come out neither centered nor of unit variance. Running statistics
# follow the drift, at a speed set by ``momentum``: with 0.1 they recover from
# the jump within a few dozen batches; with 0.01 they are smoother but lag
# about ten times further behind, and on this stream do no better than
# the exact statistics. The printed errors put numbers on this trade-off: pick
# ``momentum`` so that ``1 / momentum`` batches is about the time over which
# the distribution stays put.
