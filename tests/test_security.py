"""Security: no code runs from a model file, checkpoint or task file, and task paths stay in their folder."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import torch
import yaml

from tsloop.bundle import Bundle
from tsloop.data.spec import TaskSpec
from tsloop.errors import CheckpointError, SpecError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tsloop"
# the library and the pipelines that compose it: a benchmark loading a pickle is as unsafe as the library doing it
SOURCES = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "pipelines").rglob("*.py"))


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_when_the_source_is_audited_then_no_call_can_run_code_from_user_data(path):
    tree = ast.parse(path.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}, path
    for call, name in _calls(tree):
        assert name not in ("eval", "exec", "compile", "__import__"), (path, call.lineno, name)
        assert name not in ("yaml.load", "yaml.unsafe_load", "yaml.full_load", "np.load", "numpy.load"), (path, call.lineno)
        if name.endswith("torch.load") or name == "pl_load":
            flags = {k.arg: ast.unparse(k.value) for k in call.keywords}
            assert flags.get("weights_only") == "True", (path, call.lineno, "torch.load without weights_only=True")
        if name.endswith(".fit") and any(k.arg == "ckpt_path" for k in call.keywords):
            flags = {k.arg: ast.unparse(k.value) for k in call.keywords}
            assert flags.get("weights_only") == "True", (path, call.lineno, "Lightning resume without weights_only")


def test_when_a_model_file_carries_pickled_code_then_loading_refuses_it_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"format": "tsloop-bundle/1", "model_config": _Payload(marker)}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="not a readable tsloop model file"):
        Bundle.load(tmp_path / "model.pt")
    assert not marker.exists()


def test_when_a_resume_checkpoint_carries_pickled_code_then_resume_refuses_it_and_nothing_runs(tmp_path):
    from tsloop.train.fit import _resume_state

    marker = tmp_path / "pwned"
    (tmp_path / "checkpoints").mkdir()
    torch.save({"hyper_parameters": {"model_config": _Payload(marker)}}, tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(CheckpointError, match="not a readable training checkpoint"):
        _resume_state(tmp_path, {})
    assert not marker.exists()


def test_when_lightning_resumes_then_it_loads_with_weights_only(tmp_path):
    """What trainer.fit(..., weights_only=True) does in Lightning 2.6: a pickled object is refused."""
    from lightning.fabric.utilities.cloud_io import _load as pl_load

    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "x": _Payload(marker)}, tmp_path / "last.ckpt")
    with pytest.raises(Exception, match="Weights only load failed"):
        pl_load(tmp_path / "last.ckpt", weights_only=True)
    assert not marker.exists()


def test_when_a_task_file_has_a_python_tag_then_it_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "t.yaml").write_text(f"name: !!python/object/apply:pathlib.Path.touch [{str(marker)!r}]\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        TaskSpec.from_yaml(tmp_path / "t.yaml")
    assert not marker.exists()


# -- task paths cannot leave the task file's folder -----------------------------------------------

BASE = {"name": "t", "target": ["y"], "freq": "1h", "context_length": 4, "horizon": 2}


@pytest.fixture
def layout(tmp_path):
    """tmp/secret.csv outside; tmp/tasks/ holds the task files and data.csv."""
    (tmp_path / "secret.csv").write_text("timestamp,y\n")
    tasks = tmp_path / "tasks"
    (tasks / "sub").mkdir(parents=True)
    (tasks / "data.csv").write_text("timestamp,y\n")
    return tmp_path, tasks


def _spec(tasks: Path, data: str, **extra) -> TaskSpec:
    (tasks / "t.yaml").write_text(yaml.safe_dump({**BASE, "data": data, **extra}))
    return TaskSpec.from_yaml(tasks / "t.yaml")


@pytest.mark.parametrize("data", ["../secret.csv", "sub/../../secret.csv", "SECRET_ABSOLUTE", "~/../../etc/passwd"])
def test_when_a_task_path_leaves_its_folder_then_it_is_refused(layout, data):
    root, tasks = layout
    data = str(root / "secret.csv") if data == "SECRET_ABSOLUTE" else data
    with pytest.raises(SpecError, match="outside the task file's folder"):
        _spec(tasks, data).resolve_data()


def test_when_a_symlink_inside_the_folder_points_outside_then_it_is_refused(layout):
    root, tasks = layout
    os.symlink(root / "secret.csv", tasks / "link.csv")
    os.symlink(root, tasks / "sub" / "up")  # a linked folder too
    with pytest.raises(SpecError, match="outside the task file's folder"):
        _spec(tasks, "link.csv").resolve_data()
    with pytest.raises(SpecError, match="outside the task file's folder"):
        _spec(tasks, "sub/up/secret.csv").resolve_data()


def test_when_a_symlink_stays_inside_or_outside_is_allowed_then_it_resolves(layout):
    root, tasks = layout
    os.symlink(tasks / "data.csv", tasks / "sub" / "inner.csv")
    assert _spec(tasks, "sub/inner.csv").resolve_data() == tasks / "data.csv"
    assert _spec(tasks, "../secret.csv", allow_outside=True).resolve_data() == root / "secret.csv"


def test_when_a_shared_path_climbs_out_of_the_data_root_then_it_is_refused(layout, monkeypatch):
    _, tasks = layout
    monkeypatch.setenv("TSLOOP_DATA_DIR", str(tasks))
    with pytest.raises(SpecError, match="leaves the data root"):
        _spec(tasks, "shared:../secret.csv").resolve_data()
    assert _spec(tasks, "shared:data.csv").resolve_data() == tasks / "data.csv"
