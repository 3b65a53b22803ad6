"""The compiled kernels, and whether an array can go to them.

``kernels`` is the module built from ``_kernels.c``, or None where the package
was built without a C compiler: then the numpy code does the same work, more
slowly. It is the one switch for the kernels: code that uses them reads
``_native.kernels`` at call time, so a test or a benchmark runs the numpy code
with ``monkeypatch.setattr(sklearn_bn.preprocessing._native, "kernels", None)``.
"""

import numpy as np

try:
    from . import _kernels as kernels
except ImportError:  # built without a C compiler: the numpy paths serve
    kernels = None


def kernel_ready(*arrays):
    """Whether the compiled kernels can take these numpy arrays as they are:
    C-contiguous float32 or float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.preprocessing import _native
    >>> _native.kernel_ready(np.ones((2, 2))) == (_native.kernels is not None)
    True
    >>> _native.kernel_ready(np.ones((2, 2), dtype=int))
    False
    """
    return kernels is not None and all(
        a.flags.c_contiguous and a.dtype in (np.float32, np.float64) for a in arrays
    )
