"""Benchmark BatchNormMLPClassifier against scikit-learn's MLPClassifier and torch.

Six questions, the first three on the digits data (1797 samples, 64
features), in one process with one BLAS and one torch thread (question 6 also
with two):

1. Without batch norm, is an epoch as fast as MLPClassifier's on the same
   network? (target: at most 1.2 times its time)
2. With batch norm, is an epoch as fast as the same network in torch on the CPU?
   (target: at most 1.5 times its time)
3. How long does a deep network take to reach a test accuracy, with and
   without batch norm?
4. Is predict_proba with batch norm as fast as without, now that each batch
   norm is folded into its layer? (6 hidden layers of 16 units on 50,000 x 20;
   target: at most 1.10 times the time without batch norm)
5. What does the rollback of a failed partial_fit cost on a network of 1.6M
   parameters: the shallow copy of ``__dict__`` it takes now, beside the deep
   copy it took before, and the partial_fit itself?
6. (Run alone, with ``--only kinds``: it takes minutes.) What does an epoch
   cost with each kind of normalization, against the same network without
   one and against the reference implementation of the kind (torch, or
   Keras 3 on the torch backend for batch renorm), on the same threads? On
   50,000 x 100 generated data (10 classes), hidden (256, 256, 256), Adam,
   batches of 256, float32, virtual batches of 32; one epoch is ``fit`` with
   ``max_iter=1``, initialization included, on 1 and on 2 threads (targets:
   at most 1.3 times the epoch without normalization, at most the
   reference's time).

7. (Run alone, with ``--only floor``.) How close is an epoch to its matrix
   products alone, the floor for the network on this machine? On two
   shapes: the digits (1797 x 64, hidden (64, 64), batches of 64) and
   50,000 x 100 generated data (hidden (256, 256, 256), batches of 256);
   Adam, batch norm before each ReLU or none, float32 and float64, 1 and 2
   threads, against the products timed with numpy in the same loop over the
   batches and against the same network in torch (targets: at most 5 times
   the products on the small shape, 1.25 times on the large one).

The configurations of each question run interleaved (one run of each per
repeat, in an order that rotates), and the tables report medians over the
repeats: of the times, and of the ratios of the runs of each repeat.

Usage::

    python benchmarks/bench_mlp.py [--repeats 7] [--epochs 5] [--rst PATH]
        [--only {predict,rollback,kinds,floor}] [--threads 1 2]
        [--kind-samples 50000] [--floor-shapes small large] [--floor-samples N]

``--only kinds`` runs question 6 and, with ``--rst``, writes its table
(``results/bench_mlp_kinds.rst``); ``--only floor`` runs question 7 and
writes ``results/bench_mlp_floor.rst``; ``--only predict`` and ``--only
rollback`` write none.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import copy  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from functools import partial  # noqa: E402
from typing import NamedTuple  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from _report import machine, rst_list_table  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from sklearn_bn import (  # noqa: E402
    BatchNorm,
    BatchNormMLPClassifier,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)

HIDDEN = (256, 256, 256)
BATCH_SIZE = 200
LEARNING_RATE = 1e-3


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


# Per-epoch time ---------------------------------------------------------------


def _never_stop(**params):
    """Parameters that make a scikit-learn style MLP run exactly max_iter epochs."""
    return dict(tol=0.0, n_iter_no_change=np.inf, **params)


def time_sklearn_style(estimator, X, y, epochs, clock=time.perf_counter, clone=False):
    """Seconds per epoch of fit, initialization included (of a clone of
    ``estimator`` where ``clone``)."""
    if clone:
        estimator = sklearn.clone(estimator)
    estimator.set_params(max_iter=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = clock()
        estimator.fit(X, y)
        elapsed = clock() - start
    assert estimator.n_iter_ == epochs
    return elapsed / epochs


def time_torch(torch, X, y, epochs, dtype):
    """Seconds per epoch of the same network in torch: Linear (no bias),
    BatchNorm1d, ReLU per hidden layer, Adam, the mean loss recorded per batch."""
    torch_dtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    start = time.perf_counter()
    layers, fan_in = [], X.shape[1]
    for width in HIDDEN:
        layers += [
            torch.nn.Linear(fan_in, width, bias=False),
            torch.nn.BatchNorm1d(width),
            torch.nn.ReLU(),
        ]
        fan_in = width
    layers.append(torch.nn.Linear(fan_in, int(y.max()) + 1))
    network = torch.nn.Sequential(*layers).to(torch_dtype).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    X_t, y_t = torch.from_numpy(X.astype(dtype)), torch.from_numpy(y)
    for _ in range(epochs):
        torch_epoch(torch, network, optimizer, X_t, y_t, BATCH_SIZE)
    return (time.perf_counter() - start) / epochs


def torch_epoch(torch, network, optimizer, X, y, batch_size):
    """One epoch of ``network`` in torch, in shuffled mini-batches: the mean
    cross-entropy, each mini-batch's loss read after its step."""
    order = torch.randperm(X.shape[0])
    accumulated = 0.0
    for batch_start in range(0, X.shape[0], batch_size):
        batch = order[batch_start : batch_start + batch_size]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(network(X[batch]), y[batch])
        loss.backward()
        optimizer.step()
        accumulated += loss.item() * batch.shape[0]
    return accumulated / X.shape[0]


def epoch_time_configs(torch):
    """name -> (dtype, function of (X, y, epochs) returning seconds per epoch)."""
    configs = {}
    for dtype in (np.float64, np.float32):
        suffix = np.dtype(dtype).name
        common = dict(hidden_layer_sizes=HIDDEN, batch_size=BATCH_SIZE, random_state=0)
        configs[f"sklearn MLPClassifier {suffix}"] = (
            dtype,
            MLPClassifier(**_never_stop(**common)),
        )
        configs[f"ours, batch_norm=False {suffix}"] = (
            dtype,
            BatchNormMLPClassifier(batch_norm=False, **_never_stop(**common)),
        )
        # alpha=0: torch's network has no L2 penalty.
        configs[f"ours, batch_norm=True {suffix}"] = (
            dtype,
            BatchNormMLPClassifier(alpha=0.0, **_never_stop(**common)),
        )
        if torch is not None:
            configs[f"torch BatchNorm1d {suffix}"] = (dtype, "torch")
    return configs


def measure_epoch_times(X, y, epochs, repeats, torch):
    configs = epoch_time_configs(torch)
    names = list(configs)

    def seconds_per_epoch(name, n_epochs):
        dtype, estimator = configs[name]
        X_typed = X.astype(dtype)
        if estimator == "torch":
            return time_torch(torch, X_typed, y, n_epochs, dtype)
        return time_sklearn_style(sklearn.clone(estimator), X_typed, y, n_epochs)

    # One untimed epoch of each first: torch and BLAS set up on first use.
    for name in names:
        seconds_per_epoch(name, 1)
    times = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(seconds_per_epoch(name, epochs))
        print(f"  repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    return {name: np.array(values) for name, values in times.items()}


def epoch_time_rows(times):
    """(comparison, dtype, ours ms, reference ms, median paired ratio, target)."""
    rows = []
    for dtype in ("float64", "float32"):
        pairs = [
            ("no batch norm vs MLPClassifier", "ours, batch_norm=False",
             "sklearn MLPClassifier", "<= 1.2"),
            ("batch norm vs torch (1 thread)", "ours, batch_norm=True",
             "torch BatchNorm1d", "<= 1.5"),
            ("batch norm vs no batch norm", "ours, batch_norm=True",
             "ours, batch_norm=False", ""),
        ]  # fmt: skip
        for label, ours, reference, target in pairs:
            ours, reference = f"{ours} {dtype}", f"{reference} {dtype}"
            if reference not in times:
                continue
            rows.append(
                (
                    label,
                    dtype,
                    1e3 * np.median(times[ours]),
                    1e3 * np.median(times[reference]),
                    np.median(times[ours] / times[reference]),
                    target,
                )
            )
    for name in ("ours, batch_norm=True", "ours, batch_norm=False"):
        single, double = times[f"{name} float32"], times[f"{name} float64"]
        rows.append(
            (
                f"float32 vs float64 ({name.split(', ')[1]})",
                "",
                1e3 * np.median(single),
                1e3 * np.median(double),
                np.median(single / double),
                "",
            )
        )
    return rows


# Time to accuracy ----------------------------------------------------------------

DEEP_HIDDEN = (64,) * 10


def time_to_accuracy(batch_norm, data, target, max_epochs):
    """Epochs and training seconds until the test accuracy reaches target.

    The deep network of the gallery example: 10 hidden layers of 64 ReLU units,
    SGD with Nesterov momentum 0.9, learning rate 0.01, batches of 64. Test
    scoring is not timed.
    """
    X_train, X_test, y_train, y_test = data
    mlp = BatchNormMLPClassifier(
        DEEP_HIDDEN,
        solver="sgd",
        learning_rate_init=0.01,
        batch_size=64,
        batch_norm=batch_norm,
        random_state=np.random.RandomState(0),
    )
    classes = np.unique(y_train)
    seconds = 0.0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        mlp.partial_fit(X_train, y_train, classes=classes)
        seconds += time.perf_counter() - start
        if mlp.score(X_test, y_test) >= target:
            return epoch, seconds
    return None, seconds


def measure_time_to_accuracy(repeats, target, max_epochs):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    data = (scaler.transform(X_train), scaler.transform(X_test), y_train, y_test)
    results = {True: [], False: []}
    for repeat in range(repeats):
        order = [True, False] if repeat % 2 == 0 else [False, True]
        for batch_norm in order:
            results[batch_norm].append(
                time_to_accuracy(batch_norm, data, target, max_epochs)
            )
    rows = []
    for batch_norm in (True, False):
        epochs = {epoch for epoch, _ in results[batch_norm]}
        assert len(epochs) == 1, "the epoch count is deterministic"
        seconds = np.median([s for _, s in results[batch_norm]])
        rows.append((batch_norm, epochs.pop(), seconds))
    return rows


# Report ----------------------------------------------------------------------------


# Inference: folded batch norm -------------------------------------------------

PREDICT_HIDDEN = (16,) * 6
PREDICT_TARGET = "<= 1.10"


def measure_predict_times(repeats):
    """Medians of predict_proba times with and without batch norm, and of ratios."""
    X, y = make_classification(
        n_samples=50_000, n_features=20, n_informative=10, random_state=0
    )
    fitted = {}
    for batch_norm in (True, False):
        estimator = BatchNormMLPClassifier(
            PREDICT_HIDDEN, batch_norm=batch_norm, max_iter=1, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted[batch_norm] = estimator.fit(X, y)
    times = {True: [], False: []}
    for repeat in range(repeats):
        for batch_norm in (True, False) if repeat % 2 else (False, True):
            start = time.perf_counter()
            fitted[batch_norm].predict_proba(X)
            times[batch_norm].append(time.perf_counter() - start)
    bn, plain = np.array(times[True]), np.array(times[False])
    return 1e3 * np.median(bn), 1e3 * np.median(plain), float(np.median(bn / plain))


# Rollback: what a partial_fit pays to be undoable ------------------------------

ROLLBACK_HIDDEN = (1000, 1000, 600)


def measure_rollback_times(X, y, repeats):
    """Median ms of partial_fit on one mini-batch of 200 samples, and of a
    shallow and a deep copy of its state."""
    X, y = X[:200], y[:200]
    estimator = BatchNormMLPClassifier(ROLLBACK_HIDDEN, random_state=0)
    estimator.partial_fit(X, y, classes=np.unique(y))
    n_params = sum(param.size for param in estimator._trained())
    times = {"partial_fit": [], "shallow": [], "deep": []}
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.partial_fit(X, y)
        times["partial_fit"].append(time.perf_counter() - start)
        start = time.perf_counter()
        estimator.__dict__.copy()
        times["shallow"].append(time.perf_counter() - start)
        start = time.perf_counter()
        copy.deepcopy(estimator.__dict__)
        times["deep"].append(time.perf_counter() - start)
    medians = {name: 1e3 * float(np.median(values)) for name, values in times.items()}
    return n_params, medians


# Epoch cost of each normalization kind ---------------------------------------------

KIND_SHAPE = (50_000, 100)
KIND_CLASSES = 10
KIND_HIDDEN = (256, 256, 256)
KIND_BATCH_SIZE = 256
VIRTUAL_BATCH_SIZE = 32
KIND_DROPOUT = 0.1
NONE_TARGET = "<= 1.3"
REFERENCE_TARGET = "<= 1.0"


class KindCase(NamedTuple):
    """One row of question 6: our network's normalization and its reference."""

    label: str
    batch_norm: object
    dropout: float
    # The key of the reference network in _torch_block, and how the table names it.
    reference: str
    reference_label: str


def kind_cases():
    """The kinds of question 6, "none" first: every row's ratio is to it."""
    return [
        KindCase("none", False, 0.0, "none", "torch, no normalization"),
        KindCase("BatchNorm()", BatchNorm(), 0.0, "bn", "torch BatchNorm1d"),
        KindCase(
            'BatchNorm(position="after_activation")',
            BatchNorm(position="after_activation"),
            0.0,
            "bn_after",
            "torch BatchNorm1d after ReLU",
        ),
        KindCase(
            'BatchNorm(statistics="population")',
            BatchNorm(statistics="population"),
            0.0,
            "bn_population",
            "torch BatchNorm1d, then swa_utils.update_bn",
        ),
        KindCase(
            f"GhostBatchNorm(virtual_batch_size={VIRTUAL_BATCH_SIZE})",
            GhostBatchNorm(virtual_batch_size=VIRTUAL_BATCH_SIZE),
            0.0,
            "ghost",
            f"torch BatchNorm1d per chunk of {VIRTUAL_BATCH_SIZE}",
        ),
        KindCase(
            "BatchRenorm()",
            BatchRenorm(),
            0.0,
            "renorm",
            "Keras BatchNormalization(renorm=True), torch backend",
        ),
        KindCase("LayerNorm()", LayerNorm(), 0.0, "layer_norm", "torch LayerNorm"),
        KindCase("RMSNorm()", RMSNorm(), 0.0, "rms_norm", "torch RMSNorm"),
        KindCase(
            f"BatchNorm(), dropout={KIND_DROPOUT}",
            BatchNorm(),
            KIND_DROPOUT,
            "bn_dropout",
            f"torch BatchNorm1d, Dropout({KIND_DROPOUT})",
        ),
    ]


def _import_keras():
    """Keras 3 on the torch backend, or None: its layers are then torch modules."""
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ImportError:
        return None
    return keras if keras.backend.backend() == "torch" else None


def _torch_block(torch, keras, reference, width):
    """``(bias, modules)``: whether the reference's Linear layer has a bias, and
    the modules after it, in the order our network applies them."""
    nn = torch.nn

    class GhostBatchNorm1d(nn.Module):
        """One BatchNorm1d applied to each chunk of rows, as ghost batch norm
        is usually written in torch (TabNet's, for one)."""

        def __init__(self):
            super().__init__()
            self.batch_norm = nn.BatchNorm1d(width)

        def forward(self, x):
            chunks = torch.split(x, VIRTUAL_BATCH_SIZE)
            return torch.cat([self.batch_norm(chunk) for chunk in chunks])

    class KerasTraining(nn.Module):
        """A Keras layer called in training mode: a torch Sequential calls it
        without ``training``, which Keras' batch norm reads as inference."""

        def __init__(self, layer):
            super().__init__()
            layer.build((None, width))
            self.layer = layer

        def forward(self, x):
            return self.layer(x, training=self.training)

    if reference == "none":
        return True, [nn.ReLU()]
    if reference in ("bn", "bn_population"):
        return False, [nn.BatchNorm1d(width), nn.ReLU()]
    if reference == "bn_after":
        return True, [nn.ReLU(), nn.BatchNorm1d(width)]
    if reference == "bn_dropout":
        return False, [nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(KIND_DROPOUT)]
    if reference == "ghost":
        return False, [GhostBatchNorm1d(), nn.ReLU()]
    if reference == "layer_norm":
        return True, [nn.LayerNorm(width, eps=1e-5), nn.ReLU()]
    if reference == "rms_norm":
        return True, [nn.RMSNorm(width, eps=1e-5), nn.ReLU()]
    # BatchRenorm() is Keras' layer with these arguments (see its docstring).
    layer = keras.layers.BatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        renorm=True,
        renorm_clipping={"rmin": 1 / 3.0, "rmax": 3.0, "dmax": 5.0},
        renorm_momentum=0.9,
    )
    return False, [KerasTraining(layer), nn.ReLU()]


def time_torch_kind(torch, keras, reference, X, y, clock):
    """Seconds of one epoch of the reference network, its construction
    included: Adam, the mean loss recorded per batch, as in ``time_torch``;
    for "bn_population", followed by torch's pass that recomputes the batch
    norms' statistics over the training set (``swa_utils.update_bn``)."""
    start = clock()
    layers, fan_in = [], X.shape[1]
    for width in KIND_HIDDEN:
        bias, block = _torch_block(torch, keras, reference, width)
        layers += [torch.nn.Linear(fan_in, width, bias=bias), *block]
        fan_in = width
    layers.append(torch.nn.Linear(fan_in, KIND_CLASSES))
    network = torch.nn.Sequential(*layers).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    torch_epoch(torch, network, optimizer, X, y, KIND_BATCH_SIZE)
    if reference == "bn_population":
        torch.optim.swa_utils.update_bn(torch.split(X, KIND_BATCH_SIZE), network)
    return clock() - start


def kind_data(n_samples):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=KIND_SHAPE[1],
        n_informative=KIND_SHAPE[1] // 2,
        n_classes=KIND_CLASSES,
        random_state=0,
    )
    return X.astype(np.float32), y


CLOCKS = {
    "wall": time.perf_counter,
    # The CPU time of the process's threads: on a shared machine, the time the
    # work took without the waits for a free core; with one thread, the wall
    # time of a quiet machine. (With more, it counts the threads' spinning.)
    "cpu": time.process_time,
}


def measure_kind_times(X, y, repeats, threads, torch, keras, clock):
    """Seconds per epoch of each case of ``kind_cases`` on ``threads`` BLAS and
    torch threads: {(side, label): array over repeats}, side "ours" or "ref"."""
    runs = {}
    if torch is not None:
        X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    for case in kind_cases():
        estimator = BatchNormMLPClassifier(
            KIND_HIDDEN,
            batch_norm=case.batch_norm,
            dropout=case.dropout,
            # torch's networks have no L2 penalty.
            **_never_stop(alpha=0.0, batch_size=KIND_BATCH_SIZE, random_state=0),
        )
        runs["ours", case.label] = lambda estimator=estimator: time_sklearn_style(
            sklearn.clone(estimator), X, y, 1, clock
        )
        if torch is None or (case.reference == "renorm" and keras is None):
            continue
        runs["ref", case.label] = lambda reference=case.reference: time_torch_kind(
            torch, keras, reference, X_t, y_t, clock
        )
    names = list(runs)
    times = {name: [] for name in names}
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        for name in names:  # untimed: first use sets things up
            runs[name]()
        for repeat in range(repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(runs[name]())
            print(
                f"  kinds, {threads} thread(s): repeat {repeat + 1}/{repeats} done",
                file=sys.stderr,
            )
        if torch is not None:
            torch.set_num_threads(1)
    return {name: np.array(values) for name, values in times.items()}


def kind_rows(times, threads):
    """Per case: label, threads, ours ms, none ms, ours / none, reference label,
    reference ms, ours / reference, reference / its no-normalization network
    (None where there is no reference). Ratios: medians of paired runs."""
    none, ref_none = times["ours", "none"], times.get(("ref", "none"))
    rows = []
    for case in kind_cases():
        ours, reference = times["ours", case.label], times.get(("ref", case.label))
        row = [case.label, threads, 1e3 * np.median(ours), 1e3 * np.median(none)]
        row.append(np.median(ours / none))
        if reference is None:
            row += [case.reference_label, None, None, None]
        else:
            row += [
                case.reference_label,
                1e3 * np.median(reference),
                np.median(ours / reference),
                None if ref_none is None else np.median(reference / ref_none),
            ]
        rows.append(row)
    return rows


def _kind_ratio(ratio, target, applies=True):
    """A ratio to three decimals (two would show 1.004 as 1.00, NOT met)."""
    if ratio is None:
        return "n/a"
    if not (applies and target):
        return f"{ratio:.3f}"
    met = ratio <= float(target.split()[-1])
    return f"{ratio:.3f} ({'met' if met else 'NOT met'}: {target})"


def kind_cells(row):
    label, threads, ours, none, to_none, ref_label, ref, to_ref, ref_to_none = row
    is_none = label == "none"
    return [
        label,
        str(threads),
        f"{ours:.0f}",
        f"{none:.0f}",
        _kind_ratio(to_none, NONE_TARGET, not is_none),
        ref_label,
        "n/a" if ref is None else f"{ref:.0f}",
        _kind_ratio(to_ref, REFERENCE_TARGET),
        _kind_ratio(ref_to_none, "", False),
    ]


KIND_HEADER = [
    "Kind",
    "Threads",
    "Ours (ms/epoch)",
    "None (ms/epoch)",
    "Ours / none",
    "Reference",
    "Reference (ms/epoch)",
    "Ours / reference",
    "Reference / its none",
]


def kind_title(args):
    clock = {"wall": "wall-clock time", "cpu": "CPU time of the process"}
    return (
        f"Epoch time ({clock[args.clock]}) per normalization kind, "
        f"{args.kind_samples:,} x {KIND_SHAPE[1]} generated data "
        f"({KIND_CLASSES} classes), hidden {KIND_HIDDEN}, Adam, batches of "
        f"{KIND_BATCH_SIZE}, float32; fit with max_iter=1 (initialization "
        f"included); medians of {args.repeats} interleaved repeats"
    )


def _versions(torch):
    """The versions every table of this script names."""
    return [
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"scikit-learn {sklearn.__version__}",
        f"torch {torch.__version__}" if torch is not None else "torch not installed",
    ]


def kind_machine(torch, keras):
    keras_version = (
        f"keras {keras.__version__}" if keras is not None else "keras not installed"
    )
    return machine([*_versions(torch), keras_version])


def kind_text(rows, args):
    lines = [kind_title(args)]
    widths = [40, 3, 7, 7, 25, 52, 7, 25, 6]
    header = ["kind", "thr", "ours ms", "none ms", "ours/none", "reference"]
    header += ["ref ms", "ours/ref", "ref/its none"]
    lines.append(" ".join(f"{h:{w}}" for h, w in zip(header, widths, strict=True)))
    for row in rows:
        cells = kind_cells(row)
        lines.append(" ".join(f"{c:{w}}" for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def _package_commit():
    """The commit of the checkout the benchmark runs in, or None outside git."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return completed.stdout.strip()


def run_rst(machine_line, title, header, cells):
    """A table of this run, under the machine, the commit, the load and the
    command that made it."""
    commit = COMMIT_AT_START
    return "\n".join(
        [
            f"Measured on {machine_line}"
            + (f"; sklearn-bn at commit {commit}" if commit else "")
            + "; BLAS and torch limited to the threads given in each row; load "
            f"average {LOAD_AT_START:.1f} when the run began.",
            "",
            f"Command: ``python {' '.join(sys.argv)}``",
            "",
            rst_list_table(title, header, cells),
        ]
    )


def kind_rst(rows, args, torch, keras):
    return run_rst(
        kind_machine(torch, keras), kind_title(args), KIND_HEADER, map(kind_cells, rows)
    )


def measure_kinds(args, torch):
    """Question 6 on each thread count of ``args.threads``: (rows, keras)."""
    keras = _import_keras() if torch is not None else None
    X, y = kind_data(args.kind_samples)
    rows = []
    for threads in args.threads:
        times = measure_kind_times(
            X, y, args.repeats, threads, torch, keras, CLOCKS[args.clock]
        )
        rows += kind_rows(times, threads)
    return rows, keras


# Question 7: the epoch against its matrix products ------------------------------

# name -> (rows, features, classes, hidden, batch size); "small" is the digits.
FLOOR_SHAPES = {
    "small": (1797, 64, 10, (64, 64), 64),
    "large": (50_000, 100, 10, (256, 256, 256), 256),
}
FLOOR_TARGETS = {"small": "<= 5", "large": "<= 1.25"}


def floor_data(shape, n_samples=None):
    """The data of a ``FLOOR_SHAPES`` entry, float64; ``n_samples`` cuts the
    large shape's rows (``--floor-samples``, a quick look)."""
    rows, features, classes, _, _ = FLOOR_SHAPES[shape]
    if shape == "small":
        X, y = load_digits(return_X_y=True)
        return X / 16.0, y
    return make_classification(
        n_samples=n_samples or rows,
        n_features=features,
        n_informative=features // 2,
        n_classes=classes,
        random_state=0,
    )


def products_seconds(X, hidden, n_outputs, batch_size, clock):
    """Seconds of an epoch's matrix products alone: per mini-batch, the
    forward products and the backward ones (each layer's weight gradient, and
    the gradient sent back to every layer but the first), with numpy, in
    arrays of X's dtype; no bias, normalization, activation, loss, optimizer
    step or gathering of shuffled rows (the batches are slices of X)."""
    rng = np.random.default_rng(0)
    units = [X.shape[1], *hidden, n_outputs]
    coefs = [
        rng.standard_normal((fan_in, fan_out)).astype(X.dtype)
        for fan_in, fan_out in zip(units[:-1], units[1:], strict=True)
    ]
    start = clock()
    for batch_start in range(0, X.shape[0], batch_size):
        activations = [X[batch_start : batch_start + batch_size]]
        for coef in coefs:
            activations.append(activations[-1] @ coef)
        delta = activations[-1]
        for i in range(len(coefs) - 1, -1, -1):
            activations[i].T @ delta
            if i:
                delta = delta @ coefs[i].T
    return clock() - start


def time_torch_floor(torch, X, y, hidden, batch_size, batch_norm, clock):
    """Seconds of one epoch of the same network in torch (Adam, BatchNorm1d
    before each ReLU or none), its construction included."""
    dtype = {np.float32: torch.float32, np.float64: torch.float64}[X.dtype.type]
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    start = clock()
    layers, fan_in = [], X.shape[1]
    for width in hidden:
        layers.append(torch.nn.Linear(fan_in, width, bias=not batch_norm))
        if batch_norm:
            layers.append(torch.nn.BatchNorm1d(width))
        layers.append(torch.nn.ReLU())
        fan_in = width
    layers.append(torch.nn.Linear(fan_in, int(y.max()) + 1))
    network = torch.nn.Sequential(*layers).to(dtype).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    torch_epoch(torch, network, optimizer, X_t, y_t, batch_size)
    return clock() - start


def measure_floor_times(args, torch):
    """{(threads, shape, dtype, batch_norm, side): seconds over the repeats},
    side "ours", "products" or "torch"; every run of a thread count
    interleaved, in an order that rotates."""
    clock = CLOCKS[args.clock]
    runs = {}
    for shape in args.floor_shapes:
        X, y = floor_data(shape, args.floor_samples)
        _, _, classes, hidden, batch_size = FLOOR_SHAPES[shape]
        for dtype in (np.float32, np.float64):
            X_typed = X.astype(dtype)
            for batch_norm in (True, False):
                key = (shape, np.dtype(dtype).name, batch_norm)
                estimator = BatchNormMLPClassifier(
                    hidden,
                    batch_norm=batch_norm,
                    # torch's networks have no L2 penalty.
                    **_never_stop(alpha=0.0, batch_size=batch_size, random_state=0),
                )
                runs[(*key, "ours")] = partial(
                    time_sklearn_style, estimator, X_typed, y, 1, clock, clone=True
                )
                runs[(*key, "products")] = partial(
                    products_seconds, X_typed, hidden, classes, batch_size, clock
                )
                if torch is not None:
                    runs[(*key, "torch")] = partial(
                        time_torch_floor,
                        torch,
                        X_typed,
                        y,
                        hidden,
                        batch_size,
                        batch_norm,
                        clock,
                    )
    times = {}
    names = list(runs)
    for threads in args.threads:
        with threadpool_limits(limits=threads):
            if torch is not None:
                torch.set_num_threads(threads)
            for name in names:  # untimed: first use sets things up
                runs[name]()
            for name in names:
                times[(threads, *name)] = []
            for repeat in range(args.repeats):
                shift = repeat % len(names)
                for name in names[shift:] + names[:shift]:
                    times[(threads, *name)].append(runs[name]())
                print(
                    f"  floor, {threads} thread(s): repeat {repeat + 1}/"
                    f"{args.repeats} done",
                    file=sys.stderr,
                )
    if torch is not None:
        torch.set_num_threads(1)
    return {name: np.array(values) for name, values in times.items()}


def floor_rows(times, args):
    """Per (shape, threads, dtype, batch_norm): ours ms, products ms, ours /
    products, torch ms, ours / torch; ratios are medians of paired runs."""
    rows = []
    for shape in args.floor_shapes:
        for threads in args.threads:
            for dtype in ("float32", "float64"):
                for batch_norm in (True, False):
                    key = (threads, shape, dtype, batch_norm)
                    ours, products = times[(*key, "ours")], times[(*key, "products")]
                    torch_times = times.get((*key, "torch"))
                    rows.append(
                        [
                            shape,
                            threads,
                            dtype,
                            batch_norm,
                            1e3 * np.median(ours),
                            1e3 * np.median(products),
                            np.median(ours / products),
                            None
                            if torch_times is None
                            else 1e3 * np.median(torch_times),
                            None
                            if torch_times is None
                            else np.median(ours / torch_times),
                        ]
                    )
    return rows


FLOOR_HEADER = [
    "Shape",
    "Threads",
    "dtype",
    "batch_norm",
    "Ours (ms/epoch)",
    "Products alone (ms)",
    "Ours / products",
    "torch (ms/epoch)",
    "Ours / torch",
]


def floor_cells(row):
    shape, threads, dtype, batch_norm, ours, products, to_products, ref, to_ref = row
    return [
        shape,
        str(threads),
        dtype,
        str(batch_norm),
        f"{ours:.1f}",
        f"{products:.1f}",
        _kind_ratio(to_products, FLOOR_TARGETS[shape]),
        "n/a" if ref is None else f"{ref:.1f}",
        _kind_ratio(to_ref, ""),
    ]


def floor_title(args):
    shapes = "; ".join(
        f"{name}: {rows:,} x {features}, hidden {hidden}, batches of {batch}"
        for name, (rows, features, _, hidden, batch) in FLOOR_SHAPES.items()
        if name in args.floor_shapes
    )
    if args.floor_samples:
        shapes += f" (the large shape cut to {args.floor_samples:,} rows)"
    return (
        "Epoch time against the epoch's matrix products alone "
        f"({shapes}); Adam, batch norm before each ReLU or none, alpha=0; "
        "ours is fit with max_iter=1, initialization included; medians of "
        f"{args.repeats} interleaved repeats"
    )


def floor_text(rows, args):
    lines = [floor_title(args)]
    widths = [6, 3, 8, 6, 9, 9, 28, 9, 6]
    header = ["shape", "thr", "dtype", "bn", "ours ms", "prod ms", "ours/products"]
    header += ["torch ms", "ours/torch"]
    lines.append(" ".join(f"{h:{w}}" for h, w in zip(header, widths, strict=True)))
    for row in rows:
        cells = floor_cells(row)
        lines.append(" ".join(f"{c:{w}}" for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def floor_rst(rows, args, torch):
    cells = map(floor_cells, rows)
    return run_rst(machine(_versions(torch)), floor_title(args), FLOOR_HEADER, cells)


def machine_description(torch):
    return f"{machine(_versions(torch))}; one BLAS thread and one torch thread"


def _ratio_text(ratio, target):
    if not target:
        return f"{ratio:.2f}"
    bound = float(target.split()[-1])
    return f"{ratio:.2f} ({'met' if ratio <= bound else 'NOT met'}: {target})"


def predict_text(predict):
    bn_ms, plain_ms, ratio = predict
    return (
        f"predict_proba, 50,000 x 20, hidden {PREDICT_HIDDEN}: batch norm "
        f"{bn_ms:.1f} ms, without {plain_ms:.1f} ms, ratio "
        f"{_ratio_text(ratio, PREDICT_TARGET)}"
    )


def rollback_text(rollback):
    n_params, ms = rollback
    return (
        f"partial_fit of a {n_params / 1e6:.2f}M-parameter network on 200 digits: "
        f"{ms['partial_fit']:.1f} ms; its rollback snapshot (shallow copy of "
        f"__dict__) {ms['shallow']:.3f} ms; the deep copy taken before "
        f"{ms['deep']:.1f} ms"
    )


def format_text(epoch_rows, accuracy_rows, target, max_epochs, args):
    lines = [
        f"Per-epoch time, digits, hidden {HIDDEN}, Adam, batch {BATCH_SIZE}, "
        f"{args.epochs} epochs per run, medians of {args.repeats} repeats",
        f"{'comparison':36} {'dtype':8} {'ours ms':>9} {'ref ms':>9}  ratio",
    ]
    for label, dtype, ours, reference, ratio, bound in epoch_rows:
        lines.append(
            f"{label:36} {dtype:8} {ours:9.1f} {reference:9.1f}  "
            f"{_ratio_text(ratio, bound)}"
        )
    lines.append("")
    lines.append(
        f"Time to {target:.0%} test accuracy, digits, hidden {DEEP_HIDDEN}, SGD"
    )
    for batch_norm, epochs, seconds in accuracy_rows:
        reached = (
            f"{epochs} epochs, {seconds:.2f} s"
            if epochs
            else (f"not reached in {max_epochs} epochs ({seconds:.2f} s)")
        )
        lines.append(f"batch_norm={batch_norm}: {reached}")
    return "\n".join(lines)


def format_rst(epoch_rows, accuracy_rows, target, max_epochs, args, torch):
    command = "python " + " ".join(sys.argv)
    out = [
        f"Measured on {machine_description(torch)}; load average "
        f"{LOAD_AT_START:.1f} when the run began (other work on the machine "
        "slows every configuration, not always equally).",
        "",
        f"Command: ``{command}``",
        "",
        rst_list_table(
            "Per-epoch training time on the digits (1797 samples, 64 features), "
            f"hidden layers {HIDDEN}, Adam, batches of {BATCH_SIZE}; medians of "
            f"{args.repeats} interleaved repeats of {args.epochs} epochs",
            [
                "Comparison",
                "dtype",
                "Ours (ms/epoch)",
                "Reference (ms/epoch)",
                "Ratio ours / reference (median of paired runs)",
            ],
            [
                [
                    label,
                    dtype or "both",
                    f"{ours:.1f}",
                    f"{reference:.1f}",
                    _ratio_text(ratio, bound),
                ]
                for label, dtype, ours, reference, ratio, bound in epoch_rows
            ],
        ),
        "",
        rst_list_table(
            f"Time to {target:.0%} test accuracy on the digits, 10 hidden layers "
            "of 64 ReLU units, SGD (learning rate 0.01, Nesterov momentum 0.9), "
            f"batches of 64; training time only, medians of {args.repeats} repeats",
            ["batch_norm", "Epochs", "Seconds"],
            [
                [
                    str(batch_norm),
                    str(epochs) if epochs else f"not reached in {max_epochs}",
                    f"{seconds:.2f}",
                ]
                for batch_norm, epochs, seconds in accuracy_rows
            ],
        ),
    ]
    return "\n".join(out) + "\n"


LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
COMMIT_AT_START = _package_commit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--rst", help="also write the tables as reStructuredText")
    parser.add_argument(
        "--only",
        choices=["predict", "rollback", "kinds", "floor"],
        help="run one question only and print it; only kinds and floor write --rst",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="the BLAS and torch threads of each run of --only kinds and floor",
    )
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="what --only kinds times: wall-clock time, or the process's CPU time",
    )
    parser.add_argument(
        "--kind-samples",
        type=int,
        default=KIND_SHAPE[0],
        help="the rows of --only kinds' data (fewer for a quick look)",
    )
    parser.add_argument(
        "--floor-shapes",
        nargs="+",
        choices=list(FLOOR_SHAPES),
        default=list(FLOOR_SHAPES),
        help="the shapes of --only floor",
    )
    parser.add_argument(
        "--floor-samples",
        type=int,
        default=None,
        help="the rows of --only floor's large shape (fewer for a quick look)",
    )
    args = parser.parse_args()

    threadpool_limits(limits=1)
    torch = _import_torch()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0

    if args.only == "floor":
        rows = floor_rows(measure_floor_times(args, torch), args)
        print(machine(_versions(torch)))
        print(floor_text(rows, args))
        if args.rst:
            with open(args.rst, "w") as rst:
                rst.write(floor_rst(rows, args, torch))
                rst.write("\n")
        return
    if args.only == "kinds":
        rows, keras = measure_kinds(args, torch)
        print(kind_machine(torch, keras))
        print(kind_text(rows, args))
        if args.rst:
            with open(args.rst, "w") as rst:
                rst.write(kind_rst(rows, args, torch, keras))
                rst.write("\n")
        return
    print(machine_description(torch))
    if args.only == "predict":
        print(predict_text(measure_predict_times(args.repeats)))
        return
    if args.only == "rollback":
        print(rollback_text(measure_rollback_times(X, y, args.repeats)))
        return
    predict = measure_predict_times(args.repeats)
    rollback = measure_rollback_times(X, y, args.repeats)
    times = measure_epoch_times(X, y, args.epochs, args.repeats, torch)
    epoch_rows = epoch_time_rows(times)
    accuracy_rows = measure_time_to_accuracy(args.repeats, args.target, args.max_epochs)
    print(format_text(epoch_rows, accuracy_rows, args.target, args.max_epochs, args))
    print(predict_text(predict))
    print(rollback_text(rollback))
    if args.rst:
        with open(args.rst, "w") as rst:
            rst.write(
                format_rst(
                    epoch_rows, accuracy_rows, args.target, args.max_epochs, args, torch
                )
            )
            rst.write(
                "\n"
                + rst_list_table(
                    "Prediction and rollback (medians of "
                    f"{args.repeats} interleaved repeats)",
                    ["Question", "Measured"],
                    [
                        ["4. predict_proba, batch norm folded", predict_text(predict)],
                        ["5. rollback of partial_fit", rollback_text(rollback)],
                    ],
                )
                + "\n"
            )


if __name__ == "__main__":
    main()
