"""docs/check_offline.py finds every way a page could load from the network.

CI runs the checker on the built site; these tests make sure that a page
loading from a CDN, as the default MathJax and sphinx-gallery's execution-times
page do, would fail it.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

CHECKER = Path(__file__).resolve().parents[1] / "docs" / "check_offline.py"

pytestmark = pytest.mark.skipif(not CHECKER.is_file(), reason="needs the source tree")


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location("check_offline", CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# What sphinx.ext.mathjax writes by default, and sphinx-gallery's
# execution-times page (its stylesheet links sit inside <style>).
MATHJAX_CDN = (
    '<script defer="defer" '
    'src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
)
GALLERY_TIMES = """
<style scoped>
<link href="https://cdn.datatables.net/1.13.6/css/dataTables.bootstrap5.min.css" />
@import url("https://fonts.example.org/font.css");
</style>
<script src="https://code.jquery.com/jquery-3.7.0.js"></script>
"""


def test_a_cdn_script_is_found(checker):
    assert checker.remote_loads_in_html(MATHJAX_CDN) == [
        "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    ]


def test_scripts_and_imports_of_the_execution_times_page_are_found(checker):
    assert checker.remote_loads_in_html(GALLERY_TIMES) == [
        "https://fonts.example.org/font.css",
        "https://code.jquery.com/jquery-3.7.0.js",
    ]


@pytest.mark.parametrize(
    "page, expected",
    [
        ('<link rel="stylesheet" href="//cdn.example.org/a.css">', 1),
        ('<link rel="preload" href="https://cdn.example.org/f.woff2">', 1),
        ('<link rel="stylesheet" href="_static/a.css">', 0),
        ('<script src="../_static/mathjax/tex-chtml.js"></script>', 0),
        # Links a reader follows load nothing by themselves.
        ('<a href="https://arxiv.org/abs/1502.03167">paper</a>', 0),
        ('<link rel="canonical" href="https://example.org/page.html">', 0),
    ],
)
def test_only_loads_count(checker, page, expected):
    assert len(checker.remote_loads_in_html(page)) == expected


def test_remote_fonts_in_a_stylesheet_are_found(checker):
    css = (
        "@font-face { src: url(https://fonts.example.org/a.woff2) } "
        "@font-face { src: url('../fonts/b.woff2'), url(data:font/woff2;base64,AA) }"
    )
    assert checker.remote_loads_in_css(css) == ["https://fonts.example.org/a.woff2"]


def test_the_checker_fails_a_site_that_loads_from_the_network(tmp_path):
    (tmp_path / "index.html").write_text('<script src="_static/a.js"></script>')
    run = [sys.executable, str(CHECKER), str(tmp_path)]
    assert subprocess.run(run, capture_output=True).returncode == 0
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.html").write_text(MATHJAX_CDN)
    result = subprocess.run(run, capture_output=True, text=True)
    assert result.returncode == 1
    assert "page.html: loads https://cdn.jsdelivr.net" in result.stdout
