"""scikit-learn's estimator checks, on the default and non-default settings."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bn import BatchNormScaler

ESTIMATORS = [
    BatchNormScaler(),
    BatchNormScaler(gamma=2.0, beta=-1.0, epsilon=0.0),
    BatchNormScaler(momentum=0.1),
    BatchNormScaler(momentum=0.5, ddof=1),
    BatchNormScaler(with_mean=False),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
