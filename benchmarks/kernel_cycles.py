"""Cycles per value of the fit kernel, in a C harness, with X in cache and in memory.

Run ``python benchmarks/kernel_cycles.py`` (x86-64 with GCC or clang). It
compiles ``kernel_cycles.c`` with the compiler and flags Python's extensions
are built with, around the fit kernel of ``_dense_kernels.h`` exactly as the
package builds it (the same clones, from ``_kernels.c``), and times one pass
of the unweighted shifted sums (``shifted_sums_f64`` and ``_f32``, in blocks
as ``py_shifted_sums`` cuts them) against a plain sum of the same values
(one read in eight lanes, as ``X.sum()`` reads):

- for 10, 100 and 1000 columns (10 columns reach the kernel as rows of 70:
  the fit passes seven rows as one), float64 and float32;
- with X in the core's L2 cache (1 MiB: the cost of the arithmetic), and in
  memory (1 GiB: beyond the caches), on one thread and on two, each thread
  summing its half of the rows.

Cycles are ticks of the time stamp counter (``rdtsc``), which runs at the
processor's nominal frequency whatever the core's clock; GB/s follow from
that frequency, the one in the model name or else /proc/cpuinfo's "cpu MHz".

Narrow rows take the kernels' AVX-512 path where the processor has it, as in
the package; ``SKLEARN_BN_NO_AVX512=1`` measures the AVX2 clone instead.

``--define NAME=VALUE`` measures a candidate: each ``#define NAME`` of the
header takes VALUE (``PREFETCH_BYTES=2048``, ``SEGMENT=512``), and
``--header`` and ``--clones`` take another kernel file or other clones.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from _report import cpu_model

HERE = Path(__file__).resolve().parent
KERNELS = HERE.parent / "sklearn_bn" / "preprocessing"
BOUNDARY = HERE.parent / "sklearn_bn" / "utils" / "_kernel_boundary.h"
CASES = [(10, 70), (100, 100), (1000, 1000)]  # columns, as the kernel sees them
PLACES = [("L2", 2**20, 1), ("memory", 2**30, 1), ("memory", 2**30, 2)]


def nominal_ghz():
    """The processor's nominal frequency, at which the time stamp counter runs."""
    found = re.search(r"@\s*([\d.]+)\s*GHz", cpu_model())
    if found:
        return float(found.group(1))
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    raise SystemExit("no frequency in /proc/cpuinfo: the GB/s need one")


def avx512_narrow_rows(binary):
    """Whether the kernels take their AVX-512 path for narrow rows here, as
    the harness (and so the package) decides it."""
    out = subprocess.run([binary, "avx512"], check=True, capture_output=True)
    if int(out.stdout) == 1:
        return "yes"
    if os.environ.get("SKLEARN_BN_NO_AVX512"):
        return "no (SKLEARN_BN_NO_AVX512 is set)"
    return "no (not on this CPU)"


def package_clones():
    """The target_clones of the kernels, as their shared header spells them."""
    source = BOUNDARY.read_text()
    return re.search(r"target_clones\(([^)]*)\)", source).group(1)


def build(folder, header, defines, clones):
    """The harness, compiled around ``header`` with ``defines`` applied."""
    text = header.read_text()
    for name, value in defines:
        text, n = re.subn(
            rf"^#define {re.escape(name)}(?!\w).*$",
            f"#define {name} {value}",
            text,
            flags=re.M,
        )
        if n == 0:
            raise SystemExit(f"--define {name}: no such #define in {header}")
    copy = Path(folder) / "kernels.h"
    copy.write_text(text)
    binary = Path(folder) / "kernel_cycles"
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    flags = shlex.split(sysconfig.get_config_var("CFLAGS") or "-O3")
    command = [
        *compiler,
        *flags,
        "-pthread",
        "-Wno-unused-function",
        "-ffp-contract=off",  # as setup.py builds the kernels
        f"-I{folder}",
        f"-DCLONES={clones}",
        str(HERE / "kernel_cycles.c"),
        "-o",
        str(binary),
    ]
    subprocess.run(command, check=True)
    return binary


def measure(binary, width, dtype, size, threads, repeats):
    """Ticks per value: the kernel's minimum and median, the plain sum's."""
    out = subprocess.run(
        [binary, str(width), dtype, str(size), str(threads), str(repeats)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [float(v) for v in out.split()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="per case")
    parser.add_argument("--define", action="append", default=[], metavar="N=V")
    parser.add_argument("--header", type=Path, default=KERNELS / "_dense_kernels.h")
    parser.add_argument("--clones", default=package_clones())
    parser.add_argument("--only", choices=[p[0] for p in PLACES], default=None)
    args = parser.parse_args(argv)
    defines = [tuple(d.split("=", 1)) for d in args.define]
    ghz = nominal_ghz()
    with tempfile.TemporaryDirectory() as folder:
        binary = build(folder, args.header, defines, args.clones)
        print(
            f"{cpu_model()}, {os.cpu_count()} cores, time stamp counter at "
            f"{ghz:.2f} GHz; clones {args.clones}; AVX-512 for narrow rows: "
            f"{avx512_narrow_rows(binary)}; {args.header.name}"
            + "".join(f", {n}={v}" for n, v in defines)
        )
        print(
            "Ticks per value (min / median of the repeats): the fit kernel, a "
            "plain sum of the same values, and the kernel's GB/s (min).\n"
        )
        header = ["X in", "threads", "columns", "dtype", "kernel", "plain sum"]
        header += ["kernel / sum", "kernel GB/s"]
        print("| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|")
        for place, size, threads in PLACES:
            if args.only and place != args.only:
                continue
            repeats = args.repeats or (201 if place == "L2" else 7)
            for columns, width in CASES:
                for dtype, item in [("f64", 8), ("f32", 4)]:
                    k_min, k_med, s_min, s_med = measure(
                        binary, width, dtype, size, threads, repeats
                    )
                    cells = [
                        place,
                        str(threads),
                        str(columns) if columns == width else f"{columns} ({width})",
                        {"f64": "float64", "f32": "float32"}[dtype],
                        f"{k_min:.3f} / {k_med:.3f}",
                        f"{s_min:.3f} / {s_med:.3f}",
                        f"{k_min / s_min:.2f}x",
                        f"{item * ghz / k_min:.1f}",
                    ]
                    print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
