"""The README's example runs and says what it claims."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 2
    return blocks


def test_readme_example_runs_and_finds_a_good_model(capsys):
    namespace = {}
    exec(_blocks()[0], namespace)
    assert namespace["search"].best_score_ > 0.95
    assert "batchnormscaler__gamma" in capsys.readouterr().out


def test_readme_search_over_normalizations_runs_and_compares_them(capsys):
    namespace = {}
    exec(_blocks()[1], namespace)
    search = namespace["search"]
    assert len(search.cv_results_["params"]) == 6
    assert search.best_score_ > 0.9
    assert "batch_norm" in capsys.readouterr().out
