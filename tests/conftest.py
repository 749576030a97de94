"""Session-wide fixtures.

- MLflow runs go to a temporary store, never the project's mlruns/.
- A tiny plant task on disk and one model trained on it through the CLI, shared by the
  training, query and CLI tests (training once keeps the suite fast).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tsloop.cli.main import main
from tsloop.sim.plant import PlantConfig, PlantSimulator
from tsloop.sim.plant.frame import plant_frame, plant_task


@pytest.fixture(scope="session", autouse=True)
def isolated_mlflow(tmp_path_factory):
    store = tmp_path_factory.mktemp("mlruns")
    saved = {k: os.environ.get(k) for k in ("TSLOOP_MLRUNS", "MLFLOW_TRACKING_URI")}
    os.environ["TSLOOP_MLRUNS"] = str(store)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield store
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


CONTEXT, HORIZON = 32, 8


@dataclass
class TinyTask:
    path: Path  # the task file
    frame: object  # the pandas frame behind it
    sim: PlantSimulator


@dataclass
class Trained:
    out: Path
    model: Path
    run_id: str
    task: TinyTask


def write_tiny_task(folder: Path) -> TinyTask:
    cfg = PlantConfig(series=2, steps=12 * 96, step_minutes=15, confounding=1.0)
    sim = PlantSimulator(cfg, seed=3)
    _, logged = sim.simulate()
    frame = plant_frame(sim, logged)
    frame.to_parquet(folder / "plant.parquet", index=False)
    spec = plant_task("whatif", cfg, data="plant.parquet")
    spec.update(context_length=CONTEXT, horizon=HORIZON, name="tiny-plant")
    path = folder / "tiny.task.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return TinyTask(path, frame, sim)


TRAIN_FLAGS = ["--preset", "tiny", "--max-epochs", "1", "--limit-train-batches", "3",
               "--limit-val-batches", "2", "--batch-size", "16", "--no-progress", "--train-stride", "4"]


@pytest.fixture(scope="session")
def tiny_task(tmp_path_factory) -> TinyTask:
    return write_tiny_task(tmp_path_factory.mktemp("tiny_task"))


@pytest.fixture(scope="session")
def trained(tiny_task, tmp_path_factory) -> Trained:
    out = tmp_path_factory.mktemp("trained")
    assert main(["train", "--task", str(tiny_task.path), "--out", str(out), *TRAIN_FLAGS]) == 0
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    return Trained(out, out / "model.pt", run_id, tiny_task)


def pytest_collection_modifyitems(config, items):
    """Tests marked slow run only when asked for (``-m slow``), as the marker's description says."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# -- a tiny pretrained model (pipelines/pretrain/train.py on a tiny synthetic corpus) ----------------

PRETRAIN_CONTEXT, PRETRAIN_HORIZON = 32, 8
PRETRAIN_FLAGS = ["--preset", "tiny", "--context", str(PRETRAIN_CONTEXT), "--horizon", str(PRETRAIN_HORIZON),
                  "--val-rows", "16", "--min-length", "20", "--batch-size", "16", "--val-stride", "8",
                  "--accelerator", "cpu", "--no-progress-bar", "--checkpoint-every", "2", "--seed", "0"]
PRETRAIN_STEPS = 4


@dataclass
class Pretrained:
    corpus: Path
    out: Path
    model: Path  # a pretrained model file, with model.pt.sha256 beside it
    run_id: str


def build_tiny_corpus(folder: Path) -> Path:
    """Synthetic and simulated series only (no shared data): seconds to build."""
    from pipelines.pretrain.corpus import CorpusConfig, build

    build(folder, CorpusConfig(real=False, fleets=0, cohorts=1, patients=20, synthetic=3, synthetic_length=160,
                               controlled=2, controlled_steps=128))
    return folder


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory) -> Pretrained:
    from pipelines.pretrain.train import main as pretrain

    corpus = build_tiny_corpus(tmp_path_factory.mktemp("pretrain_corpus"))
    out = tmp_path_factory.mktemp("pretrained")
    argv = ["--corpus", str(corpus), "--out", str(out), "--max-steps", str(PRETRAIN_STEPS), *PRETRAIN_FLAGS]
    assert pretrain(argv) == 0
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    return Pretrained(corpus, out, out / "model.pt", run_id)
