"""Builds the C kernels, sklearn_bn/preprocessing/_kernels.c (the scaler's)
and sklearn_bn/neural_network/_kernels.c (the networks'); the rest is in
pyproject.toml.

The kernels are limited-API (abi3) modules: a wheel built on CPython 3.11
serves every CPython from 3.11 up on its platform.

Without a C compiler a source install goes on: the numpy code paths do the
same work, more slowly, the wheel is tagged ``py3-none-any`` (it holds no
compiled code) and ``sklearn_bn.show_versions()`` says the kernels are not
built. A release build must not ship that by accident, so under cibuildwheel,
or with ``SKLEARN_BN_REQUIRE_KERNELS=1``, a kernel that does not compile
fails the build.
"""

import os
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError

# The limited API has the buffer protocol the kernels use from 3.11 on. A
# free-threaded CPython has no limited API: there the module is built for
# that interpreter alone.
LIMITED_API = not sysconfig.get_config_var("Py_GIL_DISABLED")


def _kernels_required():
    return any(
        os.environ.get(name, "0") not in ("", "0")
        for name in ("SKLEARN_BN_REQUIRE_KERNELS", "CIBUILDWHEEL")
    )


class build_ext_or_fall_back(build_ext):
    """Builds the kernels; without them, fails or warns (see the module doc)."""

    def run(self):
        self.distribution.kernels_built = False
        try:
            super().run()
        except (CCompilerError, BaseError, OSError) as error:
            if _kernels_required():
                raise BaseError(
                    "sklearn-bn's C kernels did not compile, and this "
                    "build requires it (SKLEARN_BN_REQUIRE_KERNELS or CIBUILDWHEEL "
                    "is set): "
                    f"{error}"
                ) from error
            sys.stderr.write(
                "\n*** WARNING: sklearn-bn's C kernels did not compile "
                f"({error}).\n*** sklearn-bn will run its numpy code paths, "
                "which are slower; sklearn_bn.show_versions() shows this.\n\n"
            )
            return
        self.distribution.kernels_built = True


class bdist_wheel_tagged(bdist_wheel):
    """Tags the wheel for what it holds: abi3 kernels, or no compiled code."""

    def run(self):
        self.run_command("build")
        if not getattr(self.distribution, "kernels_built", False):
            # A pure wheel: its files go to purelib, its tag is py3-none-any.
            self.distribution.ext_modules = []
            self.root_is_pure = True
        super().run()

    def get_tag(self):
        if self.root_is_pure:
            return "py3", "none", "any"
        return super().get_tag()


# MSVC knows C99's restrict only in C11 mode (not built by CI).
C11 = ["/std:c11"] if sys.platform == "win32" else []
# The scaler's kernels sum every column in row order with each product
# rounded, on every processor: no product and sum contracted into a fused
# multiply-add, which the AVX-512 path would otherwise get.
UNCONTRACTED = C11 if sys.platform == "win32" else ["-ffp-contract=off"]
# The networks' kernels compute what numpy computes, to the bit: no product
# and sum contracted into a fused multiply-add. sqrt without errno, and
# arithmetic that may be computed where its result is not used (no trap is
# ever enabled), vectorize.
EXACT = (
    C11
    if sys.platform == "win32"
    else ["-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]
)


def _kernels(name, sources, depends=(), extra_compile_args=()):
    return Extension(
        name,
        sources=sources,
        # setup.py itself: a change of its compiler flags rebuilds the kernels
        # in place (build_ext compares only the sources' times otherwise).
        depends=[*depends, "setup.py"],
        define_macros=[("Py_LIMITED_API", "0x030B0000")] if LIMITED_API else [],
        py_limited_api=LIMITED_API,
        extra_compile_args=list(extra_compile_args),
    )


setup(
    ext_modules=[
        _kernels(
            "sklearn_bn.preprocessing._kernels",
            ["sklearn_bn/preprocessing/_kernels.c"],
            depends=[
                "sklearn_bn/preprocessing/_dense_kernels.h",
                "sklearn_bn/preprocessing/_sparse_kernels.h",
                "sklearn_bn/utils/_kernel_boundary.h",
            ],
            extra_compile_args=UNCONTRACTED,
        ),
        _kernels(
            "sklearn_bn.neural_network._kernels",
            ["sklearn_bn/neural_network/_kernels.c"],
            depends=[
                "sklearn_bn/neural_network/_network_kernels.h",
                "sklearn_bn/utils/_kernel_boundary.h",
            ],
            extra_compile_args=EXACT,
        ),
    ],
    cmdclass={"build_ext": build_ext_or_fall_back, "bdist_wheel": bdist_wheel_tagged},
    options={"bdist_wheel": {"py_limited_api": "cp311"}} if LIMITED_API else {},
)
