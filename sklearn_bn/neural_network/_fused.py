"""The fused passes of a training step: the C kernels, and numpy where they
cannot serve.

Each function here computes, in one pass of ``_kernels.c``, what the numpy
code beside it computes in several, with the same operations in the same
order and rounding: the results are the same bits either way (the tests
compare the two). The numpy code runs where the kernels were not built, for
arrays they do not take (not C-contiguous, of mixed dtypes) and for the
activations they do not fuse (tanh and the logistic, whose numpy versions
the C library does not reproduce to the bit).

``kernels`` is the one switch, read at call time: a test runs the numpy code
with ``monkeypatch.setattr(sklearn_bn.neural_network._fused, "kernels",
None)``.
"""

import numpy as np

from ._base import ACTIVATIONS, DERIVATIVES

try:
    from . import _kernels as kernels
except ImportError:  # built without a C compiler: the numpy code serves
    kernels = None

# The activations the kernels apply, by their code in _kernels.c.
_KERNEL_ACTIVATIONS = {"identity": 0, "relu": 1}


def _run(kernel, *args):
    """Run ``kernel``; False, with nothing written, where it is not built or
    does not take the arguments (arrays not C-contiguous, of mixed or other
    dtypes; a scalar that is an array), which it checks before it writes
    anything."""
    if kernels is None:
        return False
    try:
        getattr(kernels, kernel)(*args)
    except (ValueError, TypeError):
        return False
    return True


def _finish_gradient(params, grads, n_decayed, alpha, n_samples):
    """``grads`` from the backward pass's sums, in place: ``(grads + alpha *
    params) / n_samples`` for the first ``n_decayed`` values (the weights,
    which the L2 penalty decays), ``grads / n_samples`` for the others."""
    if n_decayed:
        grads[:n_decayed] += alpha * params[:n_decayed]
    grads /= n_samples


def adam_step(
    params,
    grads,
    m,
    v,
    learning_rate,
    beta_1,
    beta_2,
    epsilon,
    n_decayed=0,
    alpha=0.0,
    n_samples=1,
):
    """One Adam step in place over flat arrays (``grads`` is overwritten).

    The gradient ``g`` is first finished from the backward pass's sums:
    ``(grads + alpha * params) / n_samples`` for the first ``n_decayed``
    values, ``grads / n_samples`` for the others. Then ``m = beta_1 * m + (1
    - beta_1) * g``, ``v = beta_2 * v + g**2 * (1 - beta_2)``, ``params +=
    -learning_rate * m / (sqrt(v) + epsilon)``, each Python float rounded to
    the arrays' dtype, as numpy rounds it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import adam_step
    >>> params, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
    >>> adam_step(params, np.array([1.0, -1.0]), m, v, 0.1, 0.5, 0.5, 0.0)
    >>> params
    array([-0.07071068,  0.07071068])
    """
    if _run(
        "adam",
        params,
        grads,
        m,
        v,
        learning_rate,
        beta_1,
        beta_2,
        epsilon,
        n_decayed,
        alpha,
        n_samples,
    ):
        return
    _finish_gradient(params, grads, n_decayed, alpha, n_samples)
    m *= beta_1
    m += (1 - beta_1) * grads
    v *= beta_2
    np.square(grads, out=grads)
    grads *= 1 - beta_2
    v += grads
    step = np.sqrt(v, out=grads)
    step += epsilon
    np.divide(-learning_rate * m, step, out=step)
    params += step


def sgd_step(
    params,
    grads,
    velocities,
    learning_rate,
    momentum,
    nesterov,
    n_decayed=0,
    alpha=0.0,
    n_samples=1,
):
    """One step of SGD with momentum in place over flat arrays (``grads`` is
    overwritten), the gradient ``g`` finished as in :func:`adam_step`:
    ``velocities = momentum * velocities - learning_rate * g``, then ``params
    += velocities``, or with Nesterov's momentum ``params += momentum *
    velocities - learning_rate * g``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import sgd_step
    >>> params, velocities = np.zeros(1), np.ones(1)
    >>> sgd_step(params, np.array([2.0]), velocities, 0.5, 0.9, nesterov=False)
    >>> params, velocities
    (array([-0.1]), array([-0.1]))
    """
    if _run(
        "sgd",
        params,
        grads,
        velocities,
        learning_rate,
        momentum,
        nesterov,
        n_decayed,
        alpha,
        n_samples,
    ):
        return
    _finish_gradient(params, grads, n_decayed, alpha, n_samples)
    grads *= -learning_rate
    velocities *= momentum
    velocities += grads
    if nesterov:
        grads += momentum * velocities
        params += grads
    else:
        params += velocities


def shift_activate(z, shift, activation):
    """``z = activation(z + shift)`` in place, ``shift`` added to each row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import shift_activate
    >>> z = np.array([[1.0, -3.0]])
    >>> shift_activate(z, np.array([1.0, 1.0]), "relu")
    >>> z
    array([[2., 0.]])
    """
    code = _KERNEL_ACTIVATIONS.get(activation)
    if code is not None and _run("shift_activate", z, shift, code):
        return
    z += shift
    ACTIVATIONS[activation](z)


def running_moments(mean, var, batch_mean, batch_var, keep, momentum, unbiased):
    """The running statistics' steps, one per mini-batch, as two new arrays
    (the rows of one).

    From ``mean`` and ``var``, step ``t`` takes ``mean = keep[t] * mean +
    momentum[t] * batch_mean[t]`` and ``var = keep[t] * var + momentum[t] *
    (batch_var[t] * unbiased[t])``: ``batch_mean`` and ``batch_var`` hold a
    row per mini-batch, and ``keep``, ``momentum`` and ``unbiased`` a Python
    float each, rounded to the arrays' dtype as numpy rounds it. The steps of
    several mini-batches in one call give the bits of one call per
    mini-batch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import running_moments
    >>> running_moments(np.ones(1), np.ones(1), np.full((1, 1), 2.0),
    ...                 np.full((1, 1), 4.0), [0.5], [0.5], [2.0])
    (array([1.5]), array([4.5]))
    """
    out = np.empty((2, mean.shape[0]), dtype=mean.dtype)
    steps = np.array([keep, momentum, unbiased], dtype=np.float64)
    args = (mean, var, batch_mean, batch_var, out, steps)
    if not _run("running_moments", *args):
        out[0], out[1] = mean, var
        # Each number as a scalar of the dtype of the array it multiplies:
        # the rounding of a Python float there (NEP 50) whatever the numpy.
        keep_as, mean_as, var_as = (
            out.dtype.type,
            batch_mean.dtype.type,
            batch_var.dtype.type,
        )
        for t, (k, m, u) in enumerate(steps.T.tolist()):
            np.add(keep_as(k) * out[0], mean_as(m) * batch_mean[t], out=out[0])
            np.add(
                keep_as(k) * out[1], var_as(m) * (batch_var[t] * var_as(u)), out=out[1]
            )
    return out[0], out[1]


def _blocks(array, groups):
    """A 2-D array as ``groups`` equal blocks of its rows (a 3-D view), and
    a vector of ``groups`` per-column vectors as one row per block: ghost
    batch norm's virtual batches, each with its own vector (one block for
    batch norm)."""
    if array.ndim == 2:
        return array.reshape(groups, -1, array.shape[1])
    return array.reshape(groups, 1, -1)


def softmax(z):
    """The softmax of each row in place, as ``ACTIVATIONS["softmax"]``, the
    row maximum subtracted in one pass (numpy reduces short rows slowly).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import softmax
    >>> z = np.log(np.array([[1.0, 3.0]]))
    >>> softmax(z)
    >>> z
    array([[0.25, 0.75]])
    """
    if not _run("subtract_row_max", z):
        z -= np.maximum.reduce(z, axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= np.add.reduce(z, axis=1, keepdims=True)


def subtract_columns(x, v):
    """``x -= v[:, None]`` in place: ``v[i]`` subtracted from row ``i``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import subtract_columns
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> subtract_columns(x, np.array([1.0, 3.0]))
    >>> x
    array([[0., 1.],
           [0., 1.]])
    """
    if not _run("subtract_columns", x, v):
        x -= v[:, np.newaxis]


def normalize_rows(x, factor, gamma, beta, activation):
    """``x *= factor[:, None]`` in place (the normalized rows), and
    ``activation(x * gamma + beta)`` per column in a new array (``beta`` None
    for none): layer and RMS norm's last passes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import normalize_rows
    >>> x = np.array([[2.0, -4.0]])
    >>> normalize_rows(x, np.array([0.5]), np.full(2, 3.0), None, "relu")
    array([[3., 0.]])
    >>> x
    array([[ 1., -2.]])
    """
    code = _KERNEL_ACTIVATIONS.get(activation)
    if code is not None:
        out = np.empty_like(x)
        if _run("normalize_rows", x, out, factor, gamma, beta, code):
            return out
    # (einsum's loop is a third faster than broadcasting.)
    np.einsum("ij,i->ij", x, factor, out=x)
    out = x * gamma
    if beta is not None:
        out += beta
    ACTIVATIONS[activation](out)
    return out


def row_norm_input(g, x_hat, s, m, inv):
    """``g = (g - (x_hat * s + m)) * inv`` in place, ``s``, ``m`` and ``inv``
    per row (``m`` None for none): layer and RMS norm's gradient with
    respect to their input. ``x_hat`` may be overwritten.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import row_norm_input
    >>> g = np.array([[3.0, 5.0]])
    >>> row_norm_input(g, np.array([[1.0, -1.0]]), np.ones(1), np.ones(1),
    ...                np.full(1, 2.0))
    >>> g
    array([[ 2., 10.]])
    """
    if _run("row_norm_input", g, x_hat, s, m, inv):
        return
    np.einsum("ij,i->ij", x_hat, s, out=x_hat)
    if m is not None:
        x_hat += m[:, np.newaxis]
    g -= x_hat
    np.einsum("ij,i->ij", g, inv, out=g)


def affine_activate(x, scale, shift, activation, groups=1, out=None):
    """``activation(x * scale + shift)``, per column, in ``out`` (a new array
    where None), ``scale`` per block of rows with ``groups`` (equal blocks
    of rows, one vector each, end to end: ghost batch norm's virtual
    batches).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import affine_activate
    >>> affine_activate(np.array([[1.0, -1.0]]), np.full(2, 2.0), np.ones(2), "relu")
    array([[3., 0.]])
    """
    if out is None:
        out = np.empty_like(x)
    code = _KERNEL_ACTIVATIONS.get(activation)
    if code is not None and _run("affine_activate", x, out, scale, shift, code, groups):
        return out
    np.multiply(_blocks(x, groups), _blocks(scale, groups), out=_blocks(out, groups))
    out += shift
    ACTIVATIONS[activation](out)
    return out


def relu_backward(a, delta):
    """``delta *= (a > 0)`` in place: the ReLU's derivative, ``a`` its output.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import relu_backward
    >>> delta = np.array([[1.0, 1.0]])
    >>> relu_backward(np.array([[0.5, 0.0]]), delta)
    >>> delta
    array([[1., 0.]])
    """
    if _run("relu_backward", a, delta):
        return
    delta *= a > 0


def activation_backward(name, a, delta):
    """Multiply ``delta`` by the derivative of activation ``name`` at its
    output ``a``, in place (the ReLU's in one pass).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import activation_backward
    >>> delta = np.ones((1, 2))
    >>> activation_backward("tanh", np.array([[0.0, 0.5]]), delta)
    >>> delta
    array([[1.  , 0.75]])
    """
    if name == "relu":
        relu_backward(a, delta)
    else:
        DERIVATIVES[name](a, delta)


def _sum_rows(x):
    """The sum of each column of each block of ``x`` (shape (groups, rows,
    cols)) over its rows, row after row from the first, as the kernels sum:
    numpy's sum over axis 1 does so, but for one column, which is contiguous
    and which it sums pairwise (a running sum's last row is then the sum)."""
    if x.shape[2] == 1:
        return np.cumsum(x, axis=1)[:, -1]
    return np.add.reduce(x, axis=1)


def column_moments(x, centered, epsilon, share=None, groups=1):
    """Batch normalization's statistics: ``mean``, the biased ``var`` and
    ``inv_std = 1 / sqrt(var + epsilon)`` of each column, with ``centered =
    x - mean`` written (``centered`` may be ``x``).

    With ``share``, each row's share of its block's total weight, the mean
    and variance are weighted. With ``groups``, the rows are that many equal
    blocks (as for :func:`affine_activate`), each with its statistics; the
    results then hold one vector per block, end to end. Each sum runs over
    the rows in order (numpy's matrix-vector products, which BLAS sums in
    an order of its own, would not give the kernels' bits).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import column_moments
    >>> x = np.array([[1.0, 0.0], [3.0, 4.0]])
    >>> mean, var, inv_std = column_moments(x, x, 0.0)
    >>> mean, var, inv_std
    (array([2., 2.]), array([1., 4.]), array([1. , 0.5]))
    >>> x
    array([[-1., -2.],
           [ 1.,  2.]])
    """
    mean, var, inv_std = np.empty((3, groups * x.shape[1]), dtype=x.dtype)
    if _run("column_moments", x, centered, mean, var, inv_std, share, epsilon, groups):
        return mean, var, inv_std
    x, centered = _blocks(x, groups), _blocks(centered, groups)
    weights = None if share is None else _blocks(share[:, np.newaxis], groups)
    size = x.shape[1]
    if weights is None:
        mean[...] = (_sum_rows(x) / size).ravel()
    else:
        mean[...] = _sum_rows(weights * x).ravel()
    np.subtract(x, _blocks(mean, groups), out=centered)
    squares = centered * centered
    if weights is None:
        var[...] = (_sum_rows(squares) / size).ravel()
    else:
        var[...] = _sum_rows(weights * squares).ravel()
    np.divide(1.0, np.sqrt(var + epsilon), out=inv_std)
    return mean, var, inv_std


def batch_norm_output(x, centered, epsilon, gamma, beta, activation, share=None):
    """Batch normalization's forward pass in training: :func:`column_moments`
    (``centered`` written, and may be ``x``), then ``out =
    activation(centered * (gamma * inv_std) + beta)`` as
    :func:`affine_activate` computes it, in one call of the kernels.

    Returns ``out``, a new array, and ``mean``, ``var`` and ``inv_std``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import batch_norm_output
    >>> x = np.array([[1.0], [3.0]])
    >>> out, mean, var, inv_std = batch_norm_output(
    ...     x, x, 0.0, np.full(1, 2.0), np.full(1, 0.5), "relu"
    ... )
    >>> out.ravel(), mean, var, x.ravel()
    (array([0. , 2.5]), array([2.]), array([1.]), array([-1.,  1.]))
    """
    out = np.empty_like(x)
    mean, var, inv_std = np.empty((3, x.shape[1]), dtype=x.dtype)
    code = _KERNEL_ACTIVATIONS.get(activation)
    args = (x, centered, out, mean, var, inv_std, gamma, beta, share, epsilon)
    if code is not None and _run("batch_norm_output", *args, code):
        return out, mean, var, inv_std
    mean, var, inv_std = column_moments(x, centered, epsilon, share)
    affine_activate(centered, gamma * inv_std, beta, activation, out=out)
    return out, mean, var, inv_std


def batch_norm_gradients(
    grad, centered, inv_std, gamma, share=None, groups=1, activation=None
):
    """Batch normalization's gradients: ``dgamma`` and ``dbeta`` returned, the
    gradient with respect to the input written in ``grad``.

    With ``activation``, ``(name, output)`` of the activation that follows
    the normalization, ``grad`` is first multiplied by its derivative at
    ``output`` (in the same pass for the ReLU). Then ``dbeta = sum(grad)``
    and ``dgamma = sum(grad * centered) * inv_std`` over the rows of each
    block, and ``grad = (grad - (centered * a + b) * share) * s`` (without
    ``share`` where it is None), with ``a = inv_std * dgamma / n``, ``b =
    dbeta / n`` (``n`` the block's rows; undivided with ``share``, the rows'
    weights) and ``s = gamma * inv_std`` (``inv_std`` where ``gamma`` is
    None). ``groups`` and ``share`` are as for :func:`column_moments`;
    ``centered`` may be overwritten.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._fused import batch_norm_gradients
    >>> grad = np.array([[1.0], [3.0]])
    >>> dgamma, dbeta = batch_norm_gradients(
    ...     grad, np.array([[-1.0], [1.0]]), np.ones(1), np.full(1, 2.0)
    ... )
    >>> dgamma, dbeta, grad.ravel()
    (array([2.]), array([4.]), array([0., 0.]))
    """
    if activation is not None and activation[0] != "relu":
        activation_backward(*activation, grad)
        activation = None
    relu_out = None if activation is None else activation[1]
    dgamma, dbeta = np.empty((2, inv_std.shape[0]), dtype=grad.dtype)
    if _run(
        "batch_norm_gradients",
        grad, centered, relu_out, dgamma, dbeta, inv_std, gamma, share, groups,
    ):  # fmt: skip
        return dgamma, dbeta
    if relu_out is not None:
        relu_backward(relu_out, grad)
    blocks, centered_blocks = _blocks(grad, groups), _blocks(centered, groups)
    dbeta[...] = _sum_rows(blocks).ravel()
    dgamma[...] = _sum_rows(blocks * centered_blocks).ravel()
    dgamma *= inv_std
    if share is None:
        size = blocks.shape[1]
        a, b = inv_std * dgamma / size, dbeta / size
    else:
        a, b = inv_std * dgamma, dbeta
    s = inv_std if gamma is None else np.tile(gamma, groups) * inv_std
    # grad = (grad - (centered * a + b) * share) * s, ``centered`` as scratch.
    centered_blocks *= _blocks(a, groups)
    centered_blocks += _blocks(b, groups)
    if share is not None:
        centered_blocks *= _blocks(share[:, np.newaxis], groups)
    blocks -= centered_blocks
    blocks *= _blocks(s, groups)
    return dgamma, dbeta
