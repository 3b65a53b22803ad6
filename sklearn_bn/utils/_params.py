"""The names of an estimator's parameters, read once per class."""

# Where a class keeps its names: in its own __dict__, so that a subclass with
# other parameters never reads its parent's.
_CACHE = "_sklearn_bn_param_names"


class ParamNamesMixin:
    """Read the names of ``__init__``'s parameters once per class.

    scikit-learn's ``BaseEstimator._get_param_names`` reads them with
    :func:`inspect.signature` on every ``get_params``. A fit calls it to
    validate the parameters (a network twice: its normalization's too), and
    on a small network those calls were a tenth of the fit's fixed costs,
    more on a cold cache. The names are the same as scikit-learn's, read the
    same way, once per class: a subclass with parameters of its own reads its
    own. A class whose ``__init__`` is replaced after its first
    ``get_params`` keeps the names it read.
    """

    @classmethod
    def _get_param_names(cls):
        names = cls.__dict__.get(_CACHE)
        if names is None:
            names = tuple(super()._get_param_names())
            setattr(cls, _CACHE, names)
        return list(names)
