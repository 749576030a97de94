"""TaskSpec: parsing task files, type and consistency checks, paths, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tsloop.data.batch import ChannelDims
from tsloop.data.spec import TaskSpec, data_root
from tsloop.errors import SpecError

TASK_FILES = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "tasks").glob("*.yaml"))
BASE = {"name": "t", "data": "d.csv", "target": ["y"], "freq": "1h", "context_length": 24, "horizon": 6}


def write(tmp_path, raw, name="task.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def test_when_a_task_file_is_read_then_roles_and_dims_follow_the_schema(tasks_dir):
    spec = TaskSpec.from_yaml(tasks_dir / "epf_pjm.yaml")
    assert spec.roles["known_future"] == [" System load forecast", " Zonal COMED load foecast"]
    assert spec.dims == ChannelDims(target=1, known_future=2)
    assert spec.split == {"fractions": [0.7, 0.1, 0.2]}
    assert spec.base_dir == tasks_dir


@pytest.mark.parametrize("name", TASK_FILES)
def test_when_any_shipped_task_file_is_parsed_then_it_is_valid(tasks_dir, name):
    assert TaskSpec.from_yaml(tasks_dir / name).target


def test_when_a_key_is_misspelt_then_the_error_suggests_the_valid_key(tmp_path):
    with pytest.raises(SpecError, match=r"unknown key 'horizn'.*Did you mean 'horizon'"):
        TaskSpec.from_yaml(write(tmp_path, {**BASE, "horizn": 3}))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"context_length": "96"}, "context_length must be a whole number"),
        ({"horizon": 0}, "horizon must be at least 1"),
        ({"context_length": -5}, "context_length must be at least 1"),
        ({"target": [0]}, "Quote it in YAML"),
        ({"target": "y", "past_exog": {"a": 1}}, "past_exog must be a list"),
        ({"freq": "1M"}, "not a fixed-size step"),
        ({"split": {"fractions": [0.7, 0.2, 0.2]}}, "must sum to 1"),
        ({"split": {"boundaries": [10, 5, 20]}}, "must increase"),
        ({"split": {"ratio": [1]}}, "split must be"),
        ({"past_exog": ["y"]}, "'y' is listed as both target and past_exog"),
        ({"format": "long"}, "needs 'series_id'"),
        ({"intervention_bounds": {"u": [0, 1]}}, "not an intervention column"),
        ({"source": {"loader": "nab"}}, "either 'data'"),
    ],
)
def test_when_a_value_is_wrong_then_spec_error_names_the_key(tmp_path, change, words):
    with pytest.raises(SpecError) as err:
        TaskSpec.from_yaml(write(tmp_path, {**BASE, **change}))
    assert words in str(err.value)
    assert "task.yaml" in str(err.value)  # the file is named


def test_when_a_required_key_is_missing_then_the_error_names_it():
    with pytest.raises(SpecError, match="needs 'horizon'"):
        TaskSpec.from_dict({k: v for k, v in BASE.items() if k != "horizon"})


def test_when_written_and_read_back_then_the_spec_is_equal(tmp_path):
    spec = TaskSpec.from_dict({**BASE, "intervention": ["u"], "intervention_bounds": {"u": [1, 16]}})
    again = TaskSpec.from_yaml(spec.to_yaml(tmp_path / "out.yaml"))
    assert again == spec
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary file


def test_when_data_escapes_the_task_folder_then_the_error_says_how_to_allow_it(tmp_path):
    (tmp_path / "outside.csv").write_text("timestamp,y\n")
    inner = tmp_path / "tasks"
    inner.mkdir()
    spec = TaskSpec.from_yaml(write(inner, {**BASE, "data": "../outside.csv"}))
    with pytest.raises(SpecError) as err:
        spec.resolve_data()
    assert "allow_outside: true" in str(err.value) and "--data" in str(err.value)
    allowed = TaskSpec.from_yaml(write(inner, {**BASE, "data": "../outside.csv", "allow_outside": True}))
    assert allowed.resolve_data() == tmp_path / "outside.csv"


def test_when_data_uses_the_shared_prefix_then_it_resolves_under_the_data_root(root, tmp_path):
    spec = TaskSpec.from_yaml(write(tmp_path, {**BASE, "data": "shared:epf/NP.csv.gz"}))
    assert spec.resolve_data() == root / "epf" / "NP.csv.gz"


def test_when_the_data_root_is_absent_then_the_error_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TSLOOP_DATA_DIR", str(tmp_path / "nowhere"))
    assert data_root() == tmp_path / "nowhere"
    spec = TaskSpec.from_dict({**BASE, "data": "shared:epf/NP.csv.gz"})
    with pytest.raises(SpecError, match="TSLOOP_DATA_DIR"):
        spec.resolve_data()


def test_when_built_from_flags_then_lists_split_on_commas_and_names_stay_exact(tmp_path):
    spec = TaskSpec.from_flags(
        str(tmp_path / "x.csv"), "OT", "1h", 168, 24, timestamp="date",
        known_future=" Grid load forecast, Wind power forecast", boundaries="10,20,30",
    )
    assert spec.known_future == [" Grid load forecast", " Wind power forecast"]
    assert spec.split == {"boundaries": [10, 20, 30]} and spec.allow_outside
    assert spec.data == str(tmp_path / "x.csv")


# -- transforms ---------------------------------------------------------------------------------

ROLED = {**BASE, "past_exog": ["p"], "intervention": ["u"], "event": ["e"], "static": ["c"]}


def test_when_transforms_are_written_and_read_back_then_the_spec_is_equal(tmp_path):
    spec = TaskSpec.from_dict({**ROLED, "transforms": {"y": "log1p", "p": "asinh", "u": "log"}})
    path = spec.to_yaml(tmp_path / "out.yaml")
    assert yaml.safe_load(path.read_text())["transforms"] == {"y": "log1p", "p": "asinh", "u": "log"}
    again = TaskSpec.from_yaml(path)
    assert again == spec and again.transforms == {"y": "log1p", "p": "asinh", "u": "log"}
    plain = TaskSpec.from_dict(BASE)
    assert plain.transforms == {} and "transforms" not in plain.to_dict()  # same dict (and fingerprint) as before


@pytest.mark.parametrize(
    "transforms, words",
    [
        ({"y": "log1"}, ["transforms.y: unknown transform 'log1'", "Did you mean 'log1p'?",
                         "Valid transforms: identity", "log1p (values >= 0", "log (values > 0)", "asinh (any sign"]),
        ({"y": "Asinh"}, ["Did you mean 'asinh'?"]),
        ({"e": "log1p"}, ["'e' is an event column, which takes no transform", "remove 'e' from transforms"]),
        ({"c": "log"}, ["'c' is a static column", "Only target, past_exog, known_future, intervention columns"]),
        ({"yy": "log"}, ["transforms names 'yy', which is in no role of the task. Did you mean 'y'?"]),
        ({"timestamp": "log"}, ["transforms names 'timestamp', which is in no role"]),
        (["y", "log"], ["transforms must map columns to transform names"]),
        ({"y": 3}, ["give column: name pairs of strings"]),
    ],
)
def test_when_transforms_are_wrong_then_spec_error_says_which_and_how_to_fix(tmp_path, transforms, words):
    with pytest.raises(SpecError) as err:
        TaskSpec.from_yaml(write(tmp_path, {**ROLED, "transforms": transforms}))
    for word in words:
        assert word in str(err.value)
    assert "task.yaml" in str(err.value)


def test_when_transforms_come_from_flags_then_pairs_split_on_commas(tmp_path):
    spec = TaskSpec.from_flags(
        str(tmp_path / "x.csv"), "latency_p95,queue_depth,cpu", "5min", 12, 4,
        transforms="latency_p95=log1p,queue_depth=log1p",
    )
    assert spec.transforms == {"latency_p95": "log1p", "queue_depth": "log1p"}
    assert TaskSpec.from_flags(str(tmp_path / "x.csv"), "y", "5min", 12, 4).transforms == {}
    with pytest.raises(SpecError, match="COLUMN=NAME pairs"):
        TaskSpec.from_flags(str(tmp_path / "x.csv"), "y", "5min", 12, 4, transforms="y:log1p")
    with pytest.raises(SpecError, match="names 'y' twice"):
        TaskSpec.from_flags(str(tmp_path / "x.csv"), "y", "5min", 12, 4, transforms="y=log1p,y=log")


def test_when_the_plant_tasks_are_read_then_heavy_tailed_channels_are_log_scaled(tasks_dir):
    from tsloop.sim.plant import PlantConfig, plant_task

    expected = {"queue_depth": "log1p", "latency_p95": "log1p", "error_rate": "log", "request_rate": "log1p"}
    for kind in ("forecast", "whatif"):
        assert TaskSpec.from_yaml(tasks_dir / f"plant_{kind}.yaml").transforms == expected
        assert TaskSpec.from_dict(plant_task(kind, PlantConfig())).transforms == expected
