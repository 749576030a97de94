"""Every example in the library's docstrings runs and shows what it says.

``>>>`` examples run as doctests; the command lines of the CLI modules' ``Examples::`` blocks run
through ``tsloop.cli.main.main``; every other command line the CLI shows must at least parse.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tsloop.cli.main import build_parser, main
from tsloop.data.paths import SHARED_PREFIX, data_root

PACKAGE = Path(__file__).resolve().parents[1] / "tsloop"
REPO = PACKAGE.parent
# module name of every file that shows an example; pyfunc_model.py is left out: it is MLflow's
# models-from-code entry, and importing it registers a model
WITH_EXAMPLES = sorted(
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if p.name != "pyfunc_model.py" and ">>>" in p.read_text()
)


def docstrings(path: Path) -> list[tuple[str, str]]:
    """(where, docstring) of the module and of every class and function in the file."""
    tree = ast.parse(path.read_text())
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)))]
    return [(f"{path.relative_to(REPO)}:{getattr(n, 'name', 'module')}", ast.get_docstring(n))
            for n in nodes if ast.get_docstring(n)]


def module_docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def example_blocks(doc: str) -> list[str]:
    """The indented blocks after a paragraph that starts with 'Example' and ends with '::'."""
    blocks, lines = [], doc.splitlines()
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        start = i
        while start > 0 and lines[start - 1].strip() and not lines[start - 1].startswith(" "):
            start -= 1  # back to the paragraph's first line
        if not lines[start].startswith("Example"):
            continue
        body = []
        for following in lines[i + 1 :]:
            if following.strip() and not following.startswith(" "):
                break
            body.append(following)
        blocks.append("\n".join(body).strip("\n"))
    return blocks


def command_lines(block: str) -> list[list[str]]:
    """Each ``tsloop ...`` line of a block (backslash continuations joined) as argv without 'tsloop'."""
    text = block.replace("\\\n", " ")
    return [shlex.split(line, comments=True)[1:] for line in text.splitlines() if line.strip().startswith("tsloop ")]


CLI_EXAMPLES = [
    (f"{path.stem}-{i}", argv)
    for path in sorted((PACKAGE / "cli").glob("*.py"))
    for i, argv in enumerate(argv for block in example_blocks(module_docstring(path)) for argv in command_lines(block))
]
# inputs of an example that no example of its command writes: made first, the way its docstring says
INPUTS = {"plant.parquet": ["simulate", "plant", "--series", "2", "--steps", "2000", "--out", "plant.parquet"]}


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_when_a_docstring_example_runs_then_it_prints_what_it_shows(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example writes into folders it makes itself, never where it is run
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(module, name)
    assert any(t.examples for t in tests), f"{name} shows '>>>' but doctest finds no example"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"
    assert list(tmp_path.iterdir()) == [], f"the examples of {name} wrote into the working directory"


def test_when_a_docstring_shows_an_example_block_then_it_runs():
    """An ``Example::`` block is a doctest, or (in a CLI module) command lines that the next test runs."""
    silent = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for where, doc in docstrings(path):
            for block in example_blocks(doc):
                lines = [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
                commands = path.parent.name == "cli" and all(line.startswith("tsloop ") for line in lines)
                if ">>>" not in block and not commands:
                    silent.append(where)
    assert not silent, "example blocks that nothing runs (make them '>>>' doctests):\n  " + "\n  ".join(silent)


def _shared_data_missing(argv: list[str]) -> bool:
    """True when a task file of the checkout named in ``argv`` reads a shared dataset that is absent."""
    for arg in argv:
        if arg.startswith("tasks/"):
            data = str(yaml.safe_load((REPO / arg).read_text()).get("data", ""))
            if data.startswith(SHARED_PREFIX) and not (data_root() / data.removeprefix(SHARED_PREFIX)).is_file():
                return True
    return False


@pytest.mark.parametrize("argv", [argv for _, argv in CLI_EXAMPLES], ids=[name for name, _ in CLI_EXAMPLES])
def test_when_a_cli_example_runs_in_a_fresh_folder_then_it_exits_0(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks").symlink_to(REPO / "tasks")  # the examples name the checkout's task files
    if _shared_data_missing(argv):
        pytest.skip("the shared datasets are not present")
    for name, make in INPUTS.items():
        if name in argv:
            assert main(make) == 0
    assert main(argv) == 0, capsys.readouterr().err
    if argv[0] == "simulate":  # its docstring: `tsloop data check --task <out stem>.task.yaml` works on it
        out = Path(argv[argv.index("--out") + 1])
        assert main(["data", "check", "--task", str(out.with_name(f"{out.stem}.task.yaml"))]) == 0


def test_when_the_cli_shows_a_command_line_then_it_parses():
    """The command lines of ``tsloop --help`` (main.py's docstring) and of each command's help
    epilog name files of the user's own, so they are not run; their flags must exist."""
    shown = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        text = path.read_text()
        epilog = re.search(r'EXAMPLES = """(.*?)"""', text, re.DOTALL)
        for block in [module_docstring(path), epilog.group(1).replace("\\\\\n", "\\\n") if epilog else ""]:
            shown += [argv for argv in command_lines(block) if "..." not in " ".join(argv)]
    assert len(shown) > 20
    parser = build_parser()
    for argv in shown:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"the CLI shows `tsloop {' '.join(argv)}`, which does not parse")


def test_when_the_package_is_imported_then_the_forecaster_is_at_its_top():
    import tsloop
    from tsloop import Forecaster

    assert Forecaster.__module__ == "tsloop.forecaster" and "Forecaster" in tsloop.__all__
