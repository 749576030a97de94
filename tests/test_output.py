"""Output files appear whole or not at all: killed writers (SIGKILL, mid-write), full disks; and the
package and the pipelines write no file except through these writers."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import CONTEXT, HORIZON
from tsloop import output
from tsloop.errors import TsloopError

# runs the CLI; the KILL_AT-th table write (to_parquet/to_json/to_csv) writes half a file and SIGKILLs the process
DIES_MID_WRITE = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd
    from tsloop.cli.main import main

    calls = []

    def dying(real):
        def write(self, path, *args, **kwargs):
            calls.append(path)
            if len(calls) < int(os.environ["KILL_AT"]):
                return real(self, path, *args, **kwargs)
            with open(path, "wb") as f:
                f.write(b"half a table")
            os.kill(os.getpid(), signal.SIGKILL)
        return write

    for name in ("to_parquet", "to_json", "to_csv"):
        setattr(pd.DataFrame, name, dying(getattr(pd.DataFrame, name)))
    sys.exit(main(sys.argv[1:]))
""")


def _run_killed(kill_at: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DIES_MID_WRITE, *args], env={**os.environ, "KILL_AT": str(kill_at)},
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def inputs(trained, tmp_path):
    """History and two plan files for the tiny trained model."""
    groups = [g for _, g in trained.task.frame.groupby("series", sort=True)]
    pd.concat([g.iloc[800 - CONTEXT : 800] for g in groups]).to_csv(tmp_path / "h.csv", index=False)
    future = pd.concat([g.iloc[800 : 800 + HORIZON] for g in groups])
    future.to_csv(tmp_path / "f.csv", index=False)
    keep = ["timestamp", "series", "temp_forecast", "hour_sin", "hour_cos", "dow_sin", "dow_cos",
            "replicas", "cooling_setpoint", "rate_limit"]
    future[keep].to_csv(tmp_path / "a.csv", index=False)
    future[keep].assign(replicas=future["replicas"].clip(upper=12) + 1).to_csv(tmp_path / "b.csv", index=False)
    return tmp_path


def _visible(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_when_forecast_is_killed_while_writing_then_no_output_exists_and_the_next_run_clears_the_debris(
    trained, inputs
):
    out = inputs / "out" / "fc.parquet"
    args = ["forecast", "--model", str(trained.model), "--history", str(inputs / "h.csv"),
            "--future", str(inputs / "f.csv"), "--samples", "8", "--out", str(out)]
    killed = _run_killed(1, *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert _visible(out.parent) == []  # the half-written table is only a hidden temporary file
    [debris] = list(out.parent.iterdir())
    assert debris.read_bytes() == b"half a table"

    done = subprocess.run([sys.executable, "-m", "tsloop.cli.main", *args], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [p.name for p in out.parent.iterdir()] == ["fc.parquet"]  # the dead writer's file is gone
    assert len(pd.read_parquet(out)) > 0


def test_when_whatif_is_killed_while_writing_its_second_file_then_neither_file_exists(trained, inputs):
    out = inputs / "out" / "w.json"
    killed = _run_killed(2, "whatif", "--model", str(trained.model), "--history",
                         str(inputs / "h.csv"), "--plan", str(inputs / "a.csv"), "--plan", str(inputs / "b.csv"),
                         "--samples", "8", "--out", str(out))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # the first table was complete before the second was started, and is not in place either
    assert _visible(out.parent) == []
    assert sorted(p.name.split(".")[1] for p in out.parent.iterdir()) == ["w", "w_plans"]


def test_when_the_second_of_two_tables_fails_to_write_then_neither_is_left(tmp_path, monkeypatch):
    def broken(self, path, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_json", broken)
    with pytest.raises(TsloopError, match="writing .*b.json failed: No space left on device"):
        output.write_tables([(pd.DataFrame({"a": [1]}), tmp_path / "a.parquet"),
                             (pd.DataFrame({"a": [1]}), tmp_path / "b.json")])
    assert list(tmp_path.iterdir()) == []


def test_when_a_temporary_file_belongs_to_a_live_writer_then_it_is_kept(tmp_path):
    live = tmp_path / f".t.csv.{os.getpid()}.abc.tmp"  # as if this process were still writing it
    live.write_text("")
    output.write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "t.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "t.csv"])


def test_a_new_output_gets_a_new_file_s_permissions_and_a_replaced_one_keeps_its_own(tmp_path):
    new = output.write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "new.csv")
    assert new.stat().st_mode & 0o777 == 0o666 & ~output.UMASK  # not mkstemp's owner-only 0o600
    kept = tmp_path / "kept.csv"
    kept.write_text("a\n0\n")  # a test fixture, not output of the package
    kept.chmod(0o640)
    output.write_table(pd.DataFrame({"a": [1.0]}), kept)
    assert kept.stat().st_mode & 0o777 == 0o640 and "1.0" in kept.read_text()


ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("tsloop", "pipelines")
WRITES = {"savefig", "to_csv", "to_parquet", "to_json", "write_text", "write_bytes", "ParquetWriter"}
OWNED_WRITES = {("torch", "save"), ("np", "save"), ("np", "savez"), ("np", "savez_compressed"), ("pq", "write_table")}
RETURNS_TEXT = {"to_csv", "to_json"}  # without a path these return the text and write nothing
# atomic by other means: output.py is the writer itself,
# store.py opens a lock file that is no output
OWN_WAY = {"tsloop/output.py", "tsloop/tracking/store.py"}


def _writes(tree: ast.AST):
    """Each call that writes a file, with the ``with`` statements around it."""
    def visit(node, withs):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
            opens_to_write = name == "open" and any("w" in m for m in modes)
            to_text = name in RETURNS_TEXT and not node.args and not any(k.arg == "path_or_buf" for k in node.keywords)
            if (name in WRITES and not to_text) or (owner, name) in OWNED_WRITES or opens_to_write:
                yield node, withs
        inner = withs + [node] if isinstance(node, ast.With) else withs
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(tree, [])


def _atomic(with_node: ast.With) -> bool:
    calls = [item.context_expr for item in with_node.items if isinstance(item.context_expr, ast.Call)]
    return any(getattr(c.func, "id", getattr(c.func, "attr", "")) == "atomic_path" for c in calls)


def _direct_writes(source: str) -> list[int]:
    """Lines of the writes in ``source`` that no ``with atomic_path(...)`` encloses."""
    return [call.lineno for call, withs in _writes(ast.parse(source)) if not any(_atomic(w) for w in withs)]


@pytest.mark.parametrize("source", [
    "path.write_text(text)",
    "frame.to_csv(path, index=False)",
    "frame.to_json(path_or_buf=path)",
    "np.savez_compressed(path, **arrays)",
    "torch.save(state, path)",
    "fig.savefig(path, dpi=80)",
    "writer = pq.ParquetWriter(path, schema)",
    "with open(path, 'w') as f:\n    json.dump(payload, f)",
    "with atomic_path(a) as tmp:\n    pass\npath.write_text(text)",
])
def test_when_a_write_is_not_inside_atomic_path_then_the_scan_finds_it(source):
    assert _direct_writes(source)


@pytest.mark.parametrize("source", [
    "with atomic_path(path) as tmp:\n    tmp.write_text(text)",
    "with atomic_path(path) as tmp, open(tmp, 'wb') as f:\n    np.savez_compressed(f, **arrays)",
    "with output.atomic_path(path) as tmp:\n    for x in xs:\n        torch.save(x, tmp)",
    "body = frame.to_json(orient='split')",
    "with open(path) as f:\n    text = f.read()",
])
def test_when_a_write_is_inside_atomic_path_or_writes_no_file_then_the_scan_passes_it(source):
    assert not _direct_writes(source)


def test_when_the_package_or_a_pipeline_writes_a_file_then_it_writes_a_temporary_of_atomic_path():
    direct = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name not in OWN_WAY:
                direct += [f"{name}:{line}" for line in _direct_writes(path.read_text())]
    shown = "\n  ".join(direct)
    assert not direct, f"written in place (use tsloop.output: atomic_path, write_table(s), write_json):\n  {shown}"
