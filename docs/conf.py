"""Sphinx configuration for the sklearn-bn documentation.

Build it offline and strictly with::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import os
import sys
from pathlib import Path

# The gallery runs every example; on small data, BLAS threads fighting over a
# few cores make the fits many times slower. Set before numpy is imported.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
os.environ["MPLBACKEND"] = "Agg"

sys.path.insert(0, str(Path(__file__).parent / "sphinxext"))

import sklearn_bn  # noqa: E402

project = "sklearn-bn"
author = "sklearn-bn developers"
copyright = "sklearn-bn developers, BSD-3-Clause"
version = release = sklearn_bn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.extlinks",
    "sphinx.ext.mathjax",
    # MathJax from the package, copied into _static: the pages render offline.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sphinxext"]
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc ------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# The methods in the order the source defines them; the set_*_request methods
# that scikit-learn generates for metadata routing come last.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
# numpydoc would list the class members a second time after autodoc's.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# The roles scikit-learn's docstrings use for references, e.g.
# :arxiv:`Title <1502.03167>`. Links only: nothing is fetched at build time.
extlinks = {
    "arxiv": ("https://arxiv.org/abs/%s", "arXiv:%s"),
    "doi": ("https://doi.org/%s", "doi:%s"),
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-bn {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# Pages without subpages need no left sidebar.
_PAGES_WITHOUT_SUBPAGES = [
    "index",
    "install",
    "user_guide",
    "deploying",
    "benchmarks",
    "glossary",
]
html_sidebars = {page: [] for page in _PAGES_WITHOUT_SUBPAGES}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
# "fit()" rather than "BatchNormScaler.fit()" in the page contents.
toc_object_entries_show_parents = "hide"
html_show_sourcelink = False

# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sklearn_bn",),
    "reference_url": {"sklearn_bn": None},
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "download_all_examples": True,
    # The execution-times pages load jQuery and DataTables from CDNs: without
    # a network they break, and CI forbids any page that loads from one. Each
    # example page still ends with its own running time.
    "write_computation_times": False,
}
