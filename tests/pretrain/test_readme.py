"""The README's pretrained-model section: its commands parse (and, with -m slow, run in a fresh
folder), and what it says about the shipped checkpoint is true of this checkout."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsloop.cli.main import build_parser
from tsloop.cli.main import main as tsloop_main
from tsloop.query.pretrained import shipped_path

README = Path(__file__).resolve().parents[2] / "README.md"
LONG_RUN = "--out outputs/pretrain "  # the shipped model's pretraining: minutes, left to the slow-test reader's judgement


def section() -> str:
    text = README.read_text()
    start = text.index("## Pretrained model")
    return text[start : text.index("\n## ", start + 1)]


def commands() -> list[list[str]]:
    block = re.search(r"```bash\n(.*?)```", section(), re.DOTALL).group(1).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def runner(argv: list[str]):
    """(main function, its arguments) of one README command line."""
    if argv[0] == "tsloop":
        return tsloop_main, argv[1:]
    assert argv[:2] == ["python", "-m"] and argv[2].startswith("pipelines.pretrain."), argv
    return importlib.import_module(argv[2]).main, argv[3:]


def test_when_the_readme_shows_pretrained_commands_then_each_parses():
    lines = commands()
    assert len(lines) >= 5
    for argv in lines:
        if argv[0] == "tsloop":
            build_parser().parse_args(argv[1:])
        else:
            importlib.import_module(argv[2]).build_parser().parse_args(argv[3:])


def test_when_the_readme_speaks_of_the_shipped_checkpoint_then_it_is_true():
    says_none = "No pretrained checkpoint is shipped yet" in section()
    assert says_none == (not shipped_path().is_file())


@pytest.mark.slow
def test_when_the_readme_commands_run_in_a_fresh_folder_then_each_exits_0(tmp_path, monkeypatch, shared_root):
    """About a minute on 2 CPU cores: the default corpus, 20 tiny pretraining steps, a forecast, 50 fine-tuning steps."""
    monkeypatch.chdir(tmp_path)
    n = 400
    pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=n, freq="h"),
                  "load": 50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 24)}).to_csv("my.csv", index=False)
    for argv in commands():
        if LONG_RUN in " ".join(argv):
            continue
        run, args = runner(argv)
        assert run([*args, "--no-progress-bar"] if "pipelines.pretrain.train" in argv else args) == 0, argv
    assert pd.read_csv("fc.csv")["step"].max() == 24
    assert Path("outputs/my-load/model.pt").is_file()
