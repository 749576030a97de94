"""The corpus command: a complete manifest, byte-identical rebuilds, and its sources' layout."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from pipelines.pretrain import real
from pipelines.pretrain.corpus import KEYS, MANIFEST, CorpusConfig, build, main
from tsloop.data.spec import ROLES, TaskSpec

ROLE_NAMES = set(ROLES) | {"truth"}
SOURCES = {"epf_np", "epf_pjm", "epf_be", "epf_fr", "ett_etth1", "nab", "smap", "citylearn2022",
           "plant", "tumour", "kernelsynth", "controlled"}


def test_when_the_corpus_is_built_then_the_manifest_lists_every_file_with_its_sizes(corpus):
    m = corpus.manifest
    assert m["seed"] == corpus.config.seed and m["config"]["synthetic"] == corpus.config.synthetic
    assert {s["name"] for s in m["sources"]} == SOURCES
    assert {p.name for p in corpus.out.iterdir()} == {MANIFEST} | {s["file"] for s in m["sources"]}
    for source in m["sources"]:
        path = corpus.out / source["file"]
        frame = pd.read_parquet(path)
        assert source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert source["bytes"] == path.stat().st_size
        assert (source["rows"], source["series"]) == (len(frame), frame["series_id"].nunique())
        assert list(frame.columns) == [*KEYS, *source["columns"]]
        assert set(source["columns"].values()) <= ROLE_NAMES and "target" in source["columns"].values()
        assert not frame.duplicated(["series_id", "step"]).any()
    assert m["totals"]["rows"] == sum(s["rows"] for s in m["sources"])


def test_when_the_corpus_is_built_then_every_shared_series_is_either_in_it_or_held_out(corpus, shared_root):
    m = corpus.manifest
    read = {f["path"] for e in m["real_series"] for f in e["files"]}
    shared = {p.relative_to(shared_root).as_posix() for p in shared_root.rglob("*.csv.gz")}
    assert read | set(m["held_out_files"]) >= shared and not read & set(m["held_out_files"])
    held_nab = [f for f in m["held_out_files"] if f.startswith("nab/data/")]
    held_homes = [f for f in m["held_out_files"] if f.startswith("citylearn2022/Building_")]
    assert len(held_nab) == 51 - 3 and len(held_homes) == 11  # NAB series and homes without a task file
    for entry in m["real_series"]:
        assert entry["tasks"] and all(f["sha256"] for f in entry["files"])
        assert entry["rows_taken"][0] == 0 and entry["rows_taken"][1] == min(entry["train_ends"].values())
    listed = {t for e in m["real_series"] for t in e["tasks"]}
    every = real.benchmark_task_files() + real.benchmark_task_files(folders=real.SPLIT_ONLY_DIRS)
    assert listed == {p.relative_to(real.REPO).as_posix() for p in every}


def test_when_roles_differ_between_task_files_then_target_wins(corpus):
    etth1 = next(s for s in corpus.manifest["sources"] if s["name"] == "ett_etth1")
    ms = TaskSpec.from_yaml(real.REPO / "tasks" / "etth1_MS.yaml")
    assert ms.past_exog and all(etth1["columns"][c] == "target" for c in ms.past_exog)  # etth1_M makes them targets


def test_when_built_twice_with_one_seed_then_files_are_identical_and_another_seed_differs(corpus, tmp_path, capsys):
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(corpus.config).items() if not isinstance(v, bool)]
    assert main(["--out", str(tmp_path / "again"), *flags]) == 0
    assert "built in" in capsys.readouterr().out
    for source in corpus.manifest["sources"]:
        assert (tmp_path / "again" / source["file"]).read_bytes() == (corpus.out / source["file"]).read_bytes()
    assert (tmp_path / "again" / MANIFEST).read_bytes() == (corpus.out / MANIFEST).read_bytes()
    other = build(tmp_path / "other", CorpusConfig(**{**vars(corpus.config), "seed": 1, "real": False}))
    digests = {s["name"]: s["sha256"] for s in corpus.manifest["sources"]}
    assert all(s["sha256"] != digests[s["name"]] for s in other["sources"])


def test_when_a_smaller_corpus_overwrites_a_folder_then_files_it_no_longer_makes_are_removed(tmp_path):
    small = CorpusConfig(real=False, fleets=0, cohorts=0, synthetic=2, synthetic_length=32, controlled=2,
                         controlled_steps=64)
    build(tmp_path, small)
    assert (tmp_path / "controlled.parquet").is_file()
    manifest = build(tmp_path, CorpusConfig(**{**vars(small), "controlled": 0}))
    assert [s["file"] for s in manifest["sources"]] == ["kernelsynth.parquet"]
    assert {p.name for p in tmp_path.iterdir()} == {MANIFEST, "kernelsynth.parquet"}


def test_when_a_size_is_negative_then_the_command_says_which(capsys):
    with pytest.raises(SystemExit):
        main(["--out", "unused", "--fleets", "-1"])
    assert "fleets" in capsys.readouterr().err
