"""Benchmark BatchNormMLPClassifier against scikit-learn's MLPClassifier and torch.

Three questions, on the digits data (1797 samples, 64 features), in one process
with one BLAS and one torch thread:

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

The configurations run interleaved (one run of each per repeat, in an order
that rotates), and the table reports medians over the repeats: of the times,
and of the ratios of the runs of each repeat.

Usage::

    python benchmarks/bench_mlp.py [--repeats 7] [--epochs 5] [--rst PATH]
        [--only {predict,rollback}]
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import copy  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from _report import machine, rst_list_table  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from sklearn_bn import BatchNormMLPClassifier  # noqa: E402

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


def time_sklearn_style(estimator, X, y, epochs):
    """Seconds per epoch of fit, initialization included."""
    estimator.set_params(max_iter=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        elapsed = time.perf_counter() - start
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
    loss_curve = []
    for _ in range(epochs):
        order = torch.randperm(X_t.shape[0])
        accumulated = 0.0
        for batch_start in range(0, X_t.shape[0], BATCH_SIZE):
            batch = order[batch_start : batch_start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(network(X_t[batch]), y_t[batch])
            loss.backward()
            optimizer.step()
            accumulated += loss.item() * batch.shape[0]
        loss_curve.append(accumulated / X_t.shape[0])
    return (time.perf_counter() - start) / epochs


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


def machine_description(torch):
    versions = [
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"scikit-learn {sklearn.__version__}",
        f"torch {torch.__version__}" if torch is not None else "torch not installed",
    ]
    return f"{machine(versions)}; one BLAS thread and one torch thread"


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--rst", help="also write the tables as reStructuredText")
    parser.add_argument(
        "--only",
        choices=["predict", "rollback"],
        help="run one question only, print it and write no rst",
    )
    args = parser.parse_args()

    threadpool_limits(limits=1)
    torch = _import_torch()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0

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
