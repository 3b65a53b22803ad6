"""The package's layout keeps the promises of the contributor guide.

No import circle (imports inside functions count), no module over 800 lines,
and no passage of docstring text kept twice.
"""

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_bn"

pytestmark = pytest.mark.skipif(
    not (PACKAGE.parent / "setup.py").is_file(), reason="needs the source tree"
)

MAX_LINES = 800


def _modules():
    """Module name -> path, for every Python file of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name, path, modules):
    """The package's modules that module ``name`` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in modules)
    found.discard(name)
    return found


def test_the_import_graph_has_no_circle():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # A package's __init__ importing its own submodules is how it re-exports
    # them; a circle through it counts only if a submodule imports it back.
    for name in graph:
        graph[name] -= {other for other in graph[name] if other.startswith(name + ".")}
    state, path = {}, []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                circle = path[path.index(other) :] + [other]
                pytest.fail("import circle: " + " -> ".join(circle))
            if other not in state:
                visit(other)
        path.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize(
    "path",
    sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.c"), *PACKAGE.rglob("*.h")]),
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_no_module_is_over_800_lines(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, f"{path.name} has {n_lines} lines"


def _docstring_passages():
    """Every paragraph of every docstring of the package, whitespace folded."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        nodes = [tree] + [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        for node in nodes:
            docstring = ast.get_docstring(node) or ""
            for paragraph in re.split(r"\n\s*\n", docstring):
                text = " ".join(paragraph.split())
                # Short passages (a parameter's type line, "Returns ... self")
                # are the vocabulary of numpydoc, not text kept twice.
                if len(text) >= 160 and not text.startswith(">>>"):
                    yield path.relative_to(PACKAGE), text


def test_no_docstring_passage_is_kept_twice():
    passages = list(_docstring_passages())
    counts = Counter(text for _, text in passages)
    twice = {
        text[:80]: sorted(str(path) for path, other in passages if other == text)
        for text, count in counts.items()
        if count > 1
    }
    assert not twice, twice
