"""The docstrings of the two networks, kept once.

The classifier and the regressor share all but a few passages of their
docstrings: the text is one template here, and each class fills in its own
passages, as skorch builds ``NeuralNetClassifier.__doc__`` from
``NeuralNet.__doc__``.
"""

# A passage to fill in is written {{name}}; the rest is common.
_TEMPLATE = """{{what}} batch-normalized hidden layers.

    Each hidden layer computes, on a mini-batch ``B`` in training,

    .. code-block:: text

        z       = a_prev @ W
        z_tilde = gamma * (z - mean_B(z)) / sqrt(var_B(z) + epsilon) + beta
        a       = activation(z_tilde)

    (Ioffe and Szegedy, 2015). The gradient goes through ``mean_B`` and
    ``var_B``. Prediction replaces them by running averages kept during
    training. ``beta`` plays the part of the bias, so a normalized layer has
    none. That is ``batch_norm=True``, the same as ``BatchNorm()``; the
    parameter also takes the other ways of normalizing activations, each an
    object with its own parameters: :class:`~sklearn_bn.BatchNorm` after the
    activation, with population statistics or torch's cumulative average,
    :class:`~sklearn_bn.BatchRenorm`, :class:`~sklearn_bn.GhostBatchNorm`,
    :class:`~sklearn_bn.LayerNorm` and :class:`~sklearn_bn.RMSNorm`. With
    ``batch_norm=False`` the same network has biases and no normalization,
    {{sklearn_class}} that a grid search can compare them all.

{{output_layer}}

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The number of units of each hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        The activation of the hidden layers: ``x``, ``1 / (1 + exp(-x))``,
{{loss_parameter}} : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The optimizer: scipy's L-BFGS-B on the full batch, stochastic
        gradient descent with ``momentum``, or Adam (Kingma and Ba, 2014).
        With 'lbfgs' and batch normalization, training normalizes with the
        statistics of the whole training set, and prediction with the same
        statistics at the final parameters (see ``bn_running_vars_``).
        'lbfgs' refuses :class:`~sklearn_bn.GhostBatchNorm` and
        :class:`~sklearn_bn.BatchRenorm`, whose training on one full batch
        prediction could not reproduce. :meth:`partial_fit` exists only for
        'sgd' and 'adam'.

    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights ``W`` (not on biases,
        ``gamma`` or ``beta``).

    batch_size : int or 'auto', default='auto'
        Size of the training mini-batches; 'auto' is ``min(200, n_samples)``.
        With a normalization by batch statistics (batch norm, renorm and
        ghost batch norm) it must be at least 2, and the last
        mini-batch of an epoch, which holds the samples left over, is merged
        into the one before it when it would hold fewer than
        ``max(2, batch_size / 2)`` samples: no sample is dropped, and no
        mini-batch is too small for its statistics (see Notes).

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule of the 'sgd' solver: constant, divided by
        ``t ** power_t`` after each epoch (``t`` the number of samples seen),
        or divided by 5 each time the loss stalls (see ``n_iter_no_change``).

    learning_rate_init : float, default=0.001
        The initial learning rate.

    power_t : float, default=0.5
        The exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        The maximum number of epochs (passes over the training data).

    shuffle : bool, default=True
        Whether to shuffle the samples before each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, the shuffling and the early-stopping
        split. Pass an int for reproducible results.

    tol : float, default=1e-4
        Training stops when the loss (or the validation score, with early
        stopping) has not improved by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs.

    verbose : bool, default=False
        Whether to print the loss and the time of each epoch.

    warm_start : bool, default=False
        If True, :meth:`fit` starts from the previous solution (the same
        network must fit the data) instead of a fresh initialization.

    momentum : float, default=0.9
        Momentum of the 'sgd' solver, in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether the 'sgd' solver uses Nesterov's momentum.

    early_stopping : bool, default=False
{{early_stopping}}
        ``validation_scores_``, a ConvergenceWarning is given and the best
        epoch's parameters are kept (as scikit-learn does since its issue
        #29504). Without early stopping a non-finite loss raises
        ``ValueError("Solver produced non-finite parameter weights...")``
        and leaves the estimator as it was. Ignored by 'lbfgs'.

    validation_fraction : float, default=0.1
        The share of the training data held out for early stopping.

    beta_1 : float, default=0.9
        Decay rate of Adam's first-moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Decay rate of Adam's second-moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Adam's term for numerical stability. The normalization's epsilon is
        its own parameter (``batch_norm=BatchNorm(epsilon=...)``).

    n_iter_no_change : int, default=10
        The number of epochs without an improvement of ``tol`` that stop
        training.

    max_fun : int, default=15000
        The maximum number of loss evaluations of the 'lbfgs' solver; it
        stops at ``max_iter`` iterations or ``max_fun`` evaluations, and
        ``tol`` is its gradient tolerance, as in scikit-learn's MLPs.

    batch_norm : bool or normalization object, default=True
        How the hidden layers are normalized: True is ``BatchNorm()``, batch
        normalization of ``z`` before the activation; False gives the same
        network with a bias per hidden layer and no normalization; or one of
        :class:`~sklearn_bn.BatchNorm`, :class:`~sklearn_bn.BatchRenorm`,
        :class:`~sklearn_bn.GhostBatchNorm`, :class:`~sklearn_bn.LayerNorm`
        and :class:`~sklearn_bn.RMSNorm`, with its parameters. A grid search
        can search over them and into them (``batch_norm__momentum``). The
        network is trained with a copy; changing the parameter after
        :meth:`fit` changes nothing until the next fit, and
        ``warm_start`` and :meth:`partial_fit` need the same kind, position
        and ``affine`` (other parameters may change).

    bn_momentum : float in (0, 1], default="deprecated"
        Deprecated in 0.1, removed in 0.3: use ``batch_norm=BatchNorm(momentum=...)``.
        With ``batch_norm=True``, the weight of each mini-batch in the running
        statistics (0.1 when unset); refused with a normalization object.

    bn_epsilon : float, default="deprecated"
        Deprecated in 0.1, removed in 0.3: use ``batch_norm=BatchNorm(epsilon=...)``.
        With ``batch_norm=True``, added to the variance inside the square
        root (1e-5 when unset); refused with a normalization object.

    dropout : float in [0, 1), default=0.0
        The rate of (inverted) dropout (Srivastava et al., 2014) on each
        hidden layer's output, after its activation (and after a
        normalization placed after the activation): in training, each output
        is set to 0 with probability ``dropout`` and the others are divided
        by ``1 - dropout``, with a fresh mask for every mini-batch and every
        layer, drawn from ``random_state``; prediction uses every unit, and
        needs no rescaling. 0 drops nothing. It needs a stochastic solver
        ('sgd' or 'adam').

    Attributes
    ----------
{{classes_attribute}}
        The training loss of the last epoch.

    best_loss_ : float or None
        The smallest training loss reached; None with early stopping.

    loss_curve_ : list of float
        The training loss of each epoch: the mean over its samples (each
        mini-batch's loss weighted by its size). 'lbfgs' adds nothing to it;
        its final loss is ``loss_``.

    validation_scores_ : list of float or None
{{validation_scores}}

    best_validation_score_ : float or None
        The best of ``validation_scores_``; None without early stopping.

    t_ : int
        The number of training samples seen.

    coefs_ : list of ndarray
        ``coefs_[i]`` is the weight matrix of layer ``i + 1``, of shape
        (units of layer ``i``, units of layer ``i + 1``).

    intercepts_ : list of ndarray
        The biases. Where the normalization replaces them (batch norm,
        renorm and ghost batch norm before the activation) only the output
        layer has one, and the list holds it alone; otherwise
        ``intercepts_[i]`` is the bias of layer ``i + 1``.
        ``intercepts_[-1]`` is always the output layer's.

    bn_gammas_, bn_betas_ : list of ndarray or None
        The learned scale and shift of each hidden layer's batch norm,
        renorm or ghost batch norm; None with another normalization or with
        ``affine=False``.

    bn_running_means_, bn_running_vars_ : list of ndarray or None
        The running mean and unbiased variance of each hidden layer's
        normalized input (``z``, or the activation's output with
        ``position="after_activation"``), used for prediction, with
        :class:`~sklearn_bn.BatchNorm` and
        :class:`~sklearn_bn.GhostBatchNorm`; None otherwise. They start at 0
        and 1, as in PyTorch. With ``solver='lbfgs'`` they are the mean and
        the biased variance of the whole training set (weighted by
        ``sample_weight``) at the final parameters: exactly the statistics
        L-BFGS trained with; with ``statistics="population"``, those of the
        whole training set at the end of :meth:`fit`.

    bn_num_batches_tracked_ : list of ndarray or None
        The number of (virtual) mini-batches each layer's running statistics
        have seen, as PyTorch's ``num_batches_tracked``: ``momentum=None``
        weighs the k-th by ``1 / k``.

    bn_running_stds_, bn_renorm_means_, bn_renorm_stds_ : list of ndarray or None
        With :class:`~sklearn_bn.BatchRenorm`: the moving standard deviation
        (prediction divides by ``sqrt(max(std ** 2 - epsilon, 0) +
        epsilon)``) and the averages that give ``r`` and ``d``, as Keras keeps
        them; None otherwise.

    ln_gammas_, ln_betas_, rms_gammas_ : list of ndarray or None
        The scales and shifts of :class:`~sklearn_bn.LayerNorm` and
        :class:`~sklearn_bn.RMSNorm`; None otherwise.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    n_iter_ : int
        The number of epochs (L-BFGS iterations with 'lbfgs') run by the last
        call to :meth:`fit` (1 after :meth:`partial_fit`).

    n_layers_ : int
        The number of layers, input and output included.

    n_outputs_ : int
{{n_outputs}}

    out_activation_ : str
{{out_activation}}

    See Also
    --------
{{see_also}}
    BatchNormScaler : Batch normalization of the input features.

    Notes
    -----
    Training normalizes with the statistics of each mini-batch, so a sample's
{{prediction_note}} :class:`torch.nn.BatchNorm1d`: the
    variance kept is the unbiased one, ``n / (n - 1)`` times the batch
    variance used for normalization.

{{small_batch_note}}
    Prediction folds each batch norm into the weights and biases of its
    layer, ``W * scale`` and ``beta - running_mean * scale`` with ``scale =
    gamma / sqrt(running_var + epsilon)`` (the epsilon of the fit, which the
    exports use too), computed in float64 once per fit: a batch-normalized
    network predicts as fast as one without normalization. A batch norm
    after the activation folds into the next layer's weights, and renorm and
    ghost batch norm fold as batch norm does. Layer norm and RMS norm depend
    on each sample alone, in training as in prediction, and cannot fold:
    prediction computes them.

    Float32 input trains in float32, float64 input in float64.

    References
    ----------
    :arxiv:`Ioffe, Sergey, and Christian Szegedy (2015). "Batch normalization:
    Accelerating deep network training by reducing internal covariate shift."
    <1502.03167>`

{{examples}}"""

CLASSIFIER_PASSAGES = {
    "what": """\
Multi-layer perceptron classifier with""",
    "sklearn_class": """\
like :class:`~sklearn.neural_network.MLPClassifier`, so""",
    "output_layer": """\
    The output layer is ``a_prev @ W + b`` followed by the softmax
    (multiclass) or the logistic function (binary and multilabel), trained on
    the cross-entropy plus ``alpha / 2 * sum(||W||**2) / n_samples``.""",
    "loss_parameter": """\
        ``tanh(x)`` or ``max(0, x)``.

    solver""",
    "early_stopping": """\
        Whether to hold out ``validation_fraction`` of the training data
        (stratified for binary targets, as MLPClassifier does) and stop when
        its accuracy stalls; the parameters of the best epoch are kept. If
        the loss becomes non-finite, training stops, NaN is recorded in""",
    "classes_attribute": """\
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    loss_ : float""",
    "validation_scores": """\
        The accuracy on the held-out set after each epoch, with early
        stopping; None otherwise.""",
    "n_outputs": """\
        The number of output units.""",
    "out_activation": """\
        The output activation: 'softmax' or 'logistic'.""",
    "see_also": """\
    BatchNormMLPRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : The network without normalization.""",
    "prediction_note": """\
    output in training depends on the other samples of its batch; prediction
    does not, and gives each sample the same output whatever it is predicted
    with. The running statistics follow""",
    "small_batch_note": """\
    The statistics of a very small mini-batch are noise: normalizing 3 samples
    gives outputs of about +-1 whatever their values. A small left-over
    batch at the end of each epoch is enough to stop a deep network from
    training (20 hidden layers on the digits with ``batch_size=64`` and
    1347 training samples, which leave 3 over), which is why it is merged
    into the previous mini-batch. PyTorch users drop it (``drop_last=True``).
""",
    "examples": """\
    Examples
    --------
    A network of three batch-normalized hidden layers on the digits:

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn_bn import BatchNormMLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    >>> clf = BatchNormMLPClassifier((64, 64, 64), random_state=0)
    >>> clf = clf.fit(X_train, y_train)
    >>> [gamma.shape for gamma in clf.bn_gammas_]
    [(64,), (64,), (64,)]
    >>> clf.score(X_test, y_test) > 0.95
    True

    A single sample cannot be batch-normalized in training:

    >>> clf.partial_fit(X_train[:1], y_train[:1])
    Traceback (most recent call last):
    ...
    ValueError: batch_norm=BatchNorm() normalizes with the statistics of each ...
    """,
}

REGRESSOR_PASSAGES = {
    "what": """\
Multi-layer perceptron regressor with""",
    "sklearn_class": """\
like :class:`~sklearn.neural_network.MLPRegressor`, so""",
    "output_layer": """\
    The output layer is linear, ``a_prev @ W + b``, trained on half the
    squared error summed over outputs and averaged over samples, plus
    ``alpha / 2 * sum(||W||**2) / n_samples``; with ``loss='poisson'`` it is
    ``exp(a_prev @ W + b)``, trained on half the Poisson deviance.""",
    "loss_parameter": """\
        ``tanh(x)`` or ``max(0, x)``.

    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss of the output layer: half the squared error with an identity
        output, or half the Poisson deviance with an exponential output (a log
        link; the targets must be non-negative), as in MLPRegressor.

    solver""",
    "early_stopping": """\
        Whether to hold out ``validation_fraction`` of the training data and
        stop when its R² stalls; the parameters of the best epoch are kept.
        If the loss becomes non-finite, training stops, NaN is recorded in""",
    "classes_attribute": """\
    loss_ : float""",
    "validation_scores": """\
        The R² on the held-out set after each epoch, with early stopping;
        None otherwise.""",
    "n_outputs": """\
        The number of outputs.""",
    "out_activation": """\
        The output activation: 'identity', or 'exp' with ``loss='poisson'``.""",
    "see_also": """\
    BatchNormMLPClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : The network without normalization.""",
    "prediction_note": """\
    output in training depends on the other samples of its batch; prediction
    does not. The running statistics follow""",
    "small_batch_note": """\
    The statistics of a very small mini-batch are noise, so with batch
    normalization a small left-over batch at the end of an epoch is merged
    into the previous mini-batch (see ``batch_size``); PyTorch users drop it
    (``drop_last=True``).

    With several outputs, the loss is summed over them; MLPRegressor reports
    their mean in ``loss_curve_`` while following the gradient of the sum.
""",
    "examples": """\
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_bn import BatchNormMLPRegressor
    >>> X, y = make_regression(n_samples=400, n_features=10, noise=1, random_state=0)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y / 100, random_state=0)
    >>> reg = make_pipeline(
    ...     StandardScaler(),
    ...     BatchNormMLPRegressor((32, 32), learning_rate_init=0.01, random_state=0),
    ... )
    >>> reg = reg.fit(X_train, y_train)
    >>> reg.score(X_test, y_test) > 0.9
    True
    """,
}


def network_docstring(passages):
    """The template with each ``{{name}}`` replaced by ``passages[name]``."""
    text = _TEMPLATE
    for name, passage in passages.items():
        marker = "{{" + name + "}}"
        if text.count(marker) != 1:
            raise ValueError(f"the docstring template has no single {marker}")
        text = text.replace(marker, passage)
    return text
