"""What every kind of normalization of a hidden layer is, and the lack of one.

A kind is a small scikit-learn-style object (``get_params``, ``set_params``,
``clone``, a repr), the value of the networks' ``batch_norm`` parameter.
Its class says which fitted attributes it keeps and where it sits in the
layer; its methods are the numerics, one layer at a time. The network's
passes loop over the hidden layers and call them, and know nothing else of
the kind.

``trained`` is the tuple of a layer's arrays named by ``trained_names``
(learned by gradient descent, in the order of the gradients ``_backward``
returns), ``statistics`` those named by ``statistics_names`` (estimated from
the batches, for inference). Each fitted attribute is a list with one array
per hidden layer, so that skops loads a fitted network trusting only the
package's public classes.
"""

from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator

from ...utils._params import ParamNamesMixin


class BatchStats(NamedTuple):
    """Statistics of one mini-batch: the mean and the biased variance.

    ``count`` is the ``n`` of the unbiased variance's ``n / (n - 1)``: the
    number of samples, or with sample weights :func:`weighted_count`.
    """

    count: float
    mean: np.ndarray
    var: np.ndarray


def weighted_count(sample_weight, weight_sum):
    """The number of samples that weights stand for, in ``n / (n - 1)``.

    The larger of the weights' sum and their effective number ``sum(w) ** 2
    / sum(w ** 2)`` (Kish). Weights of 1 or more are counts, and their sum
    is the larger: an integer weight is that many copies of the row, as
    scikit-learn's estimator checks require. Weights of at most 1 are shares,
    and the effective number is the larger: ``n`` equal weights count as
    ``n`` samples whatever they sum to, so weights normalized to sum to 1
    work, and multiplying such weights by a constant changes nothing.

    Parameters
    ----------
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; None for none.
    weight_sum : float
        Their sum (the number of samples when None).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._normalization import weighted_count
    >>> weights = np.full(20, 1 / 20)
    >>> weighted_count(weights, weights.sum())
    20.0
    >>> weights = np.array([3.0, 0.0, 1.0])
    >>> weighted_count(weights, weights.sum())
    4.0
    """
    if sample_weight is None:
        return weight_sum
    largest = sample_weight.max()
    if not largest > 0:
        return 0.0
    # On the weights divided by their largest, so that none underflows.
    share = sample_weight / largest
    effective = share.sum() ** 2 / (share @ share)
    return float(max(weight_sum, effective))


class Normalization(ParamNamesMixin, BaseEstimator):
    """Base class of the normalizations of a network's hidden layers.

    A subclass sets the class attributes below and implements the methods
    the network calls. Its parameters are its constructor's arguments, as
    for any scikit-learn estimator.

    Attributes
    ----------
    name : str
        Its key in ``NORMALIZATIONS``.
    position : {"before_activation", "after_activation"}
        Where it normalizes: the layer's product ``z`` (before the
        activation) or the activation's output.
    batch_statistics : bool
        Whether it normalizes with statistics over the samples of a batch,
        weighted by the sample weights (which must then be non-negative).
    min_batch : int
        The fewest samples a training mini-batch may hold.
    folds : bool
        Whether inference folds it into the weights (``_affine``).
    computed : bool
        Whether inference computes it (``_infer``) after the layer's product,
        because it does not fold into the weights.
    lbfgs : bool
        Whether L-BFGS can train it: whether inference can compute what
        training on one full batch computed.
    population : bool
        Whether ``fit`` ends by recomputing its statistics over the training
        set (``_population``).
    normalizes : bool
        False for no normalization alone: the network then applies the
        activation in the pass that adds the bias.
    fuses_activation : bool
        Whether ``_forward`` takes ``activation``, the name of the hidden
        activation, and returns the activation of its output (in one pass
        with it where the kernels can), and ``_backward`` takes
        ``activation``, ``(name, output)``, and applies its derivative to
        ``grad_out`` first (in one pass with its own where the kernels can).
        Where False, the network applies both.
    statistics_in_training : bool
        Whether ``_forward`` reads the statistics: they are then stepped
        after each mini-batch, before the next one's forward pass. Otherwise
        the network steps them for up to 64 mini-batches in one call of
        ``_update_many`` (and at the end of each epoch): the same bits, less
        time per mini-batch. A kind whose ``_forward`` reads them and leaves
        this False trains on stale statistics.
    """

    _parameter_constraints: dict = {}

    name = None
    position = "before_activation"
    batch_statistics = False
    min_batch = 1
    folds = False
    computed = False
    lbfgs = True
    population = False
    normalizes = True
    fuses_activation = False
    statistics_in_training = False

    @property
    def trained_names(self):
        """The fitted attributes learned by gradient descent."""
        return ()

    @property
    def statistics_names(self):
        """The fitted attributes estimated from the batches, for inference."""
        return ()

    @property
    def attribute_names(self):
        """All its fitted attributes: the trained ones, then the statistics."""
        return self.trained_names + self.statistics_names

    @property
    def replaces_bias(self):
        """Whether the layers it normalizes have no bias (a shift replaces it)."""
        return False

    #: The role of each fitted attribute (``"gamma"``, ``"running_var"``...):
    #: the names under which the inference view gives a layer's arrays.
    roles: dict = {}

    def describe(self):
        """How the ``batch_norm`` parameter spells it, for messages."""
        return repr(self)

    def by_role(self, names, arrays):
        """``arrays`` of one layer, named by ``names``, keyed by their roles."""
        return {
            self.roles[name]: array for name, array in zip(names, arrays, strict=True)
        }

    def _initialize(self, n_units, dtype):
        """``(trained, statistics)`` of a new layer of ``n_units``."""
        return (), ()

    def _forward(self, z, trained, statistics, sample_weight=None):
        """Normalize in training: ``(out, cache, batch_stats)``; ``statistics``
        are the layer's statistics before this mini-batch. ``z`` is the
        kind's to overwrite where it normalizes before the activation (the
        network reads it no more); after the activation, the backward pass
        reads it."""
        return z, None, None

    def _backward(self, grad_out, cache, trained):
        """``(grad_z, grads)``, the gradients of ``trained`` summed over samples.

        ``grad_out`` and ``cache`` are the kind's to overwrite: the network
        reads neither after the call."""
        return grad_out, ()

    def _check(self, batch_stats):
        """Raise a ValueError for a mini-batch that cannot update the statistics."""

    def _update(self, statistics, batch_stats):
        """One mini-batch's step of the statistics kept for inference."""
        return ()

    def _update_many(self, statistics, batch_stats):
        """The steps of ``_update`` for ``batch_stats``, several mini-batches'
        statistics, in order; a kind may take them at once, to the same bits."""
        for stats in batch_stats:
            statistics = self._update(statistics, stats)
        return statistics

    def _full_batch(self, batch_stats):
        """The statistics that make inference compute what training on the
        full batch computed (L-BFGS)."""
        return ()

    def _affine(self, trained, statistics):
        """The inference form ``z * scale + shift`` (float64), which folds into
        the weights; None for a kind that leaves ``z`` as it is or that is
        ``computed``."""
        return None

    def _infer(self, z, trained, statistics):
        """The normalization in inference, for a kind that does not fold."""
        return z

    def _population(self, z, sample_weight, statistics):
        """The statistics that ``statistics="population"`` sets from the
        normalization's inputs ``z`` over the whole training set, in place of
        ``statistics``."""
        return statistics


class NoNormalization(Normalization):
    """No normalization: the layer keeps its bias, and nothing is computed.

    What ``batch_norm=False`` selects.

    Examples
    --------
    >>> from sklearn_bn.neural_network._normalization import NoNormalization
    >>> NoNormalization().attribute_names
    ()
    """

    name = "none"
    normalizes = False

    def describe(self):
        return "False"
