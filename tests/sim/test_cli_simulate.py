"""``tsloop simulate``: writes Parquet plus a sidecar task file that the data layer accepts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from tsloop.cli.main import main
from tsloop.data.spec import TaskSpec


def _roles(spec: TaskSpec) -> set[str]:
    return {c for columns in spec.roles.values() for c in columns}


def test_when_plant_is_simulated_then_parquet_and_sidecar_are_written(tmp_path, capsys):
    out = tmp_path / "plant.parquet"
    code = main(["simulate", "plant", "--series", "2", "--steps", "400", "--seed", "0", "--confounding", "1.0", "--out", str(out)])
    assert code == 0
    frame = pd.read_parquet(out)
    assert len(frame) == 800
    sidecar = tmp_path / "plant.task.yaml"
    assert yaml.safe_load(sidecar.read_text())["data"] == "plant.parquet"
    spec = TaskSpec.from_yaml(sidecar)
    assert spec.intervention == ["replicas", "cooling_setpoint", "rate_limit"]
    assert _roles(spec) | {"timestamp", "series"} == set(frame.columns)
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert "wrote" in capsys.readouterr().out


def test_when_tumour_is_simulated_then_each_patient_has_all_days(tmp_path):
    out = tmp_path / "t.parquet"
    assert main(["simulate", "tumour", "--gamma", "2", "--patients", "20", "--cohort", "val", "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert frame.groupby("series").size().eq(60).all()
    spec = TaskSpec.from_yaml(tmp_path / "t.task.yaml")
    assert spec.freq == "step" and _roles(spec) | {"timestamp", "series"} == set(frame.columns)


def test_when_tumour_is_ct_compatible_then_the_frame_follows_the_ct_policy(tmp_path):
    from tsloop.sim.tumour import load_tumour_frame

    args = ["simulate", "tumour", "--gamma", "4", "--patients", "30", "--cohort", "train"]
    assert main(args + ["--ct-compatible", "--out", str(tmp_path / "ct.parquet")]) == 0
    assert main(args + ["--out", str(tmp_path / "d.parquet")]) == 0
    ct, default = pd.read_parquet(tmp_path / "ct.parquet"), pd.read_parquet(tmp_path / "d.parquet")
    day0 = ct[ct.timestamp == 0]
    assert day0.chemo_application.sum() == 0 and day0.radio_application.sum() == 0  # CT: no day-0 treatment
    pd.testing.assert_frame_equal(ct, load_tumour_frame(gamma=4, patients=30, cohort="train", mode="ct"))
    assert not ct.equals(default)


def test_when_options_are_bad_then_exit_code_2_with_a_message(tmp_path, capsys):
    assert main(["simulate", "plant", "--series", "0", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "series" in capsys.readouterr().err
    assert main(["simulate", "plant", "--out", str(tmp_path / "x.csv")]) == 2
    assert main(["simulate", "tumour", "--cohort", "tset", "--out", str(tmp_path / "x.parquet")]) == 2
    assert main(["simulate", "plant", "--out", str(tmp_path / "missing" / "x.parquet")]) == 2
    assert list(tmp_path.iterdir()) == []


def test_when_the_sidecar_task_fails_to_write_then_neither_file_is_left(tmp_path, monkeypatch, capsys):
    real = Path.write_text

    def half_then_full_disk(self, text, *args, **kwargs):
        if self.parent != tmp_path:
            return real(self, text, *args, **kwargs)
        real(self, text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full_disk)
    assert main(["simulate", "plant", "--series", "2", "--steps", "400", "--out", str(tmp_path / "p.parquet")]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
