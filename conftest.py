"""Set before scipy is imported: scikit-learn runs its array API estimator
checks only when scipy is in array API mode."""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
