"""The order of the examples in the gallery: the package's story first."""

from pathlib import Path

FIRST = [
    "plot_logistic_convergence.py",
    "plot_loss_surface.py",
    "plot_gamma_beta.py",
    "plot_grid_search.py",
    "plot_streaming.py",
    "plot_dask.py",
    "plot_mlp_learning_rate.py",
    "plot_mlp_depth.py",
    "plot_normalization_batch_size.py",
    "plot_normalization_statistics.py",
    "plot_normalization_position.py",
    "plot_normalization_dropout.py",
]


class ExampleOrder:
    """Sort key: the examples in FIRST in that order, then the rest by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        if name in FIRST:
            return (0, FIRST.index(name), name)
        return (1, 0, name)

    def __repr__(self):
        return f"{type(self).__name__}()"
