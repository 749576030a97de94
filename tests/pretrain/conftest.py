"""A small corpus built once per session (real training parts in full, tiny simulated and synthetic parts)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.pretrain.corpus import MANIFEST, CorpusConfig, build
from tsloop.data.paths import data_root

SMALL = CorpusConfig(fleets=2, clusters=2, plant_days=1, cohorts=2, patients=20, synthetic=3, synthetic_length=128,
                     controlled=3, controlled_steps=256)


@dataclass
class Built:
    out: Path
    manifest: dict
    config: CorpusConfig


@pytest.fixture(scope="session")
def shared_root() -> Path:
    """The shared data root; the corpus tests need the real files and are skipped without them."""
    path = data_root()
    if not (path / "MANIFEST.md").is_file():
        pytest.skip(f"shared data root {path} not found (set TSLOOP_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def corpus(shared_root, tmp_path_factory) -> Built:
    out = tmp_path_factory.mktemp("corpus")
    manifest = build(out, SMALL)
    assert json.loads((out / MANIFEST).read_text()) == json.loads(json.dumps(manifest, default=str))
    return Built(out, manifest, SMALL)
