"""Fail if a built page shows raw LaTeX: each formula must be typeset by MathJax.

Usage: ``python docs/check_math_rendered.py docs/_build/html [chromium]``.
Opens every page holding math (``class="math"``, as Sphinx writes it) from
the file system in headless Chromium, lets its scripts run, and compares the
number of formulas with the number of ``<mjx-container>`` elements MathJax
made of them. With the network off, as in CI, a MathJax loaded from a CDN
typesets nothing and the page fails. Exits 1 if a page falls short.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

_MATH = re.compile(r"""<(?:span|div) class=["']math\b""")
_TYPESET = re.compile(r"<mjx-container\b")
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Time for MathJax's scripts to load and typeset before the DOM is read.
    "--virtual-time-budget=15000",
]


def rendered_dom(chromium, page, profile):
    command = [chromium, *_FLAGS, f"--user-data-dir={profile}", "--dump-dom"]
    result = subprocess.run(
        [*command, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def main(argv):
    if len(argv) not in (2, 3) or not Path(argv[1]).is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    chromium = argv[2] if len(argv) == 3 else "chromium"
    failures, n_formulas, n_pages = 0, 0, 0
    with tempfile.TemporaryDirectory() as profile:
        for page in sorted(Path(argv[1]).rglob("*.html")):
            expected = len(_MATH.findall(page.read_text(encoding="utf-8")))
            if not expected:
                continue
            typeset = len(_TYPESET.findall(rendered_dom(chromium, page, profile)))
            n_formulas, n_pages = n_formulas + expected, n_pages + 1
            if typeset < expected:
                failures += 1
                print(f"{page}: {typeset} of {expected} formulas typeset")
    if failures:
        print(f"{failures} page(s) show raw LaTeX.", file=sys.stderr)
        return 1
    if not n_pages:
        print("no page holds math: nothing was checked", file=sys.stderr)
        return 1
    print(f"{n_formulas} formulas on {n_pages} pages, all typeset by MathJax.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
