"""Every ``>>>`` example in the library's docstrings runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tsloop"
# module name of every file that shows an example; pyfunc_model.py is left out: it is MLflow's
# models-from-code entry, and importing it registers a model
WITH_EXAMPLES = sorted(
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if p.name != "pyfunc_model.py" and ">>>" in p.read_text()
)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_when_a_docstring_example_runs_then_it_prints_what_it_shows(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(module, name)
    assert any(t.examples for t in tests), f"{name} shows '>>>' but doctest finds no example"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"


def test_when_the_package_is_imported_then_the_forecaster_is_at_its_top():
    import tsloop
    from tsloop import Forecaster

    assert Forecaster.__module__ == "tsloop.forecaster" and "Forecaster" in tsloop.__all__
