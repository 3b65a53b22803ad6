"""``python -m sklearn_bn``: the package's two claims, measured.

Prints a table of iterations, fit time and accuracy of LogisticRegression on
raw features, behind BatchNormScaler and behind StandardScaler, on
scikit-learn's bundled datasets; then a table of the test accuracy of a deep
MLP on the digits against its learning rate, with and without batch
normalization in its hidden layers. ``--plot FILE.png`` also writes the
training loss of LogisticRegression per iteration.
"""

import argparse
import os
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_bn",
        description=(
            "Compare LogisticRegression iterations on raw features and behind "
            "BatchNormScaler, on scikit-learn's bundled datasets, and the range "
            "of learning rates that train a deep MLP on the digits, with and "
            "without batch norm."
        ),
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="write the training-loss-per-iteration curves (needs matplotlib)",
    )
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from ._main_job import (
        compare,
        format_sweep_table,
        format_table,
        learning_rate_sweep,
        plot_loss_curves,
        summarize_sweep,
    )

    start = time.perf_counter()
    # Small fits: one BLAS thread is faster than a pool fighting for 2 cores.
    with threadpool_limits(limits=1):
        rows = compare()
        print(format_table(rows))
        by_key = {(r["dataset"], r["solver"], r["scaler"]): r for r in rows}
        raw = by_key["breast_cancer", "lbfgs", "raw"]["n_iter"]
        normalized = by_key["breast_cancer", "lbfgs", "BatchNormScaler"]["n_iter"]
        print(
            f"\nbreast_cancer, lbfgs: {raw} iterations on raw features, "
            f"{normalized} behind BatchNormScaler ({raw / normalized:.0f}x fewer)."
        )
        sweep = learning_rate_sweep()
        print("\n" + format_sweep_table(sweep))
        print("\n" + summarize_sweep(sweep))
        if args.plot:
            plot_loss_curves(rows, args.plot)
            print(f"Wrote the loss curves to {os.path.abspath(args.plot)}.")
    print(f"Done in {time.perf_counter() - start:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
