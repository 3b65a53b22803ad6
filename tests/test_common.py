"""scikit-learn's estimator checks for BatchNormScaler, on default and other
settings (the MLPs' checks open tests/test_mlp.py)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bn import BatchNormScaler
from sklearn_bn.utils._compat import SKLEARN_VERSION

ESTIMATORS = [
    BatchNormScaler(),
    BatchNormScaler(gamma=2.0, beta=-1.0, epsilon=0.0),
    BatchNormScaler(momentum=0.1),
    BatchNormScaler(momentum=0.5, ddof=1),
    BatchNormScaler(with_mean=False),
]


def _expected_failed_checks(estimator):
    # scikit-learn 1.6 runs this check on estimators that refuse sparse input
    # too, and accepts only a TypeError from them (scikit-learn issue #30139);
    # with_mean=True refuses with a ValueError, as StandardScaler does. Later
    # releases run it only where the tags allow sparse input.
    refuses_sparse = not estimator.__sklearn_tags__().input_tags.sparse
    if SKLEARN_VERSION.release[:2] < (1, 7) and refuses_sparse:
        return {"check_sample_weight_equivalence_on_sparse_data": "sklearn #30139"}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
