"""A corpus of malformed inputs, each run through the real CLI entry point.

Every case must end in exit code 2 with one message (no traceback) that names what is wrong
and how to fix it, and must leave no output file behind. The inputs are small files generated
into a temporary folder, one builder per case; the corpus listing is ``CASES`` below.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import CONTEXT, HORIZON
from tsloop.cli.main import main

N_ROWS, CTX, HOR = 120, 24, 6


def _frame(n: int = N_ROWS) -> pd.DataFrame:
    """Two hourly series with one column of every role."""
    rng = np.random.default_rng(0)
    parts = []
    for s in range(2):
        parts.append(pd.DataFrame({
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="1h"),
            "series": f"s{s}",
            "y": rng.normal(size=n).cumsum() + 10,
            "p": rng.normal(size=n),
            "k": rng.normal(size=n),
            "u": rng.integers(1, 5, size=n).astype(float),
            "e": (rng.random(n) < 0.1).astype(float),
            "c": float(s),
        }))
    return pd.concat(parts, ignore_index=True)


def _task(**changes) -> dict:
    task = dict(name="corpus", data="data.csv", format="long", timestamp="timestamp", series_id="series",
                freq="1h", target=["y"], past_exog=["p"], known_future=["k"], intervention=["u"],
                event=["e"], static=["c"], context_length=CTX, horizon=HOR,
                intervention_bounds={"u": [1, 8]})
    task.update(changes)
    return task


@dataclass
class Case:
    argv: list[str]  # CLI arguments; {out} stands for the output path
    expect: tuple[str, ...]  # substrings the message must contain (case-insensitive)
    out: str | None = None  # an output file the command must not leave behind


def _check_data(folder: Path, frame: pd.DataFrame | None = None, *, raw: bytes | None = None,
                name: str = "data.csv", **task_changes) -> list[str]:
    """Write ``frame`` (or raw bytes) and a task file naming it; return the `data check` argv."""
    path = folder / name
    if raw is not None:
        path.write_bytes(raw)
    elif name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    task = folder / "task.yaml"
    task.write_text(yaml.safe_dump(_task(data=name, **task_changes)))
    return ["data", "check", "--task", str(task)]


def _train(folder: Path, frame: pd.DataFrame, *extra: str, **task_changes) -> list[str]:
    argv = _check_data(folder, frame, **task_changes)
    return ["train", "--task", argv[-1], "--out", str(folder / "run"), "--preset", "tiny", "--max-epochs", "1",
            "--limit-train-batches", "2", "--limit-val-batches", "1", "--batch-size", "8", "--no-progress",
            *extra]


# -- data files -----------------------------------------------------------------------------------


def truncated_parquet(f, ctx):
    _frame().to_parquet(f / "full.parquet", index=False)
    raw = (f / "full.parquet").read_bytes()
    return Case(_check_data(f, raw=raw[: len(raw) // 2], name="data.parquet"), ("data.parquet", "parquet"))


def empty_file(f, ctx):
    return Case(_check_data(f, raw=b""), ("data.csv", "empty"))


def header_only_csv(f, ctx):
    return Case(_check_data(f, raw=b"timestamp,series,y,p,k,u,e,c\n"), ("no rows",))


def utf16_encoding(f, ctx):
    return Case(_check_data(f, raw=_frame().to_csv(index=False).encode("utf-16")), ("utf-16", "utf-8", "re-save"))


def latin1_bytes(f, ctx):
    text = _frame().to_csv(index=False).replace("s1", "s\xe91")
    return Case(_check_data(f, raw=text.encode("latin-1")), ("utf-8",))


def not_a_table(f, ctx):
    return Case(_check_data(f, raw=b"\x89PNG\r\n\x1a\n\x00\x00binary", name="data.parquet"), ("data.parquet",))


def gzip_truncated(f, ctx):
    raw = gzip.compress(_frame().to_csv(index=False).encode())
    return Case(_check_data(f, raw=raw[: len(raw) // 2], name="data.csv.gz"), ("data.csv.gz",))


def mixed_types(f, ctx):
    frame = _frame().astype({"y": object})
    frame.loc[7, "y"] = "n/a?"
    return Case(_check_data(f, frame), ("'y'", "non-numeric", "n/a?", "2024-01-01 07:00:00"))


def text_column_in_parquet(f, ctx):
    frame = _frame().astype({"k": str})
    frame.loc[3, "k"] = "high"
    return Case(_check_data(f, frame, name="data.parquet"), ("'k'", "non-numeric", "high"))


def duplicate_timestamps(f, ctx):
    frame = _frame()
    frame.loc[5, "timestamp"] = frame.loc[4, "timestamp"]
    return Case(_check_data(f, frame), ("duplicated timestamp", "2024-01-01 04:00:00", "one row per timestamp"))


def unsorted_timestamps(f, ctx):
    frame = _frame()
    frame.iloc[[10, 11]] = frame.iloc[[11, 10]].to_numpy()
    return Case(_check_data(f, frame), ("not in increasing order", "sort"))


def timezone_mix(f, ctx):
    frame = _frame()
    text = frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    text[text.index % 2 == 0] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S+02:00")
    return Case(_check_data(f, frame.assign(timestamp=text)), ("time zone", "timestamp"))


def gap(f, ctx):
    frame = _frame().drop(index=[30, 31, 32]).reset_index(drop=True)
    return Case(_check_data(f, frame), ("not evenly spaced", "2024-01-02 05:00:00", "resample"))


def wrong_freq(f, ctx):
    return Case(_check_data(f, _frame(), freq="30min"), ("not evenly spaced", "is freq '30min' right"))


def all_nan_target(f, ctx):
    return Case(_check_data(f, _frame().assign(y=np.nan)), ("'y'", "no observed", "target"))


def all_nan_target_one_series(f, ctx):
    frame = _frame()
    frame.loc[frame["series"] == "s1", "y"] = np.nan
    return Case(_check_data(f, frame), ("'y'", "series 's1'", "no observed"))


def infinite_target(f, ctx):
    frame = _frame()
    frame.loc[12, "y"] = np.inf
    return Case(_check_data(f, frame, name="data.parquet"), ("'y'", "infinite", "2024-01-01 12:00:00"))


def infinite_known_future(f, ctx):
    frame = _frame()
    frame.loc[3, "k"] = -np.inf
    return Case(_check_data(f, frame, name="data.parquet"), ("'k'", "2024-01-01 03:00:00"))


def huge_values(f, ctx):
    frame = _frame()
    frame.loc[20, "p"] = 1e300
    return Case(_check_data(f, frame), ("'p'", "1e+300", "2024-01-01 20:00:00"))


def nan_in_known_future(f, ctx):
    frame = _frame()
    frame.loc[frame.index[-1], "k"] = np.nan
    return Case(_check_data(f, frame), ("'k'", "known_future", "2024-01-05 23:00:00"))


def event_not_binary(f, ctx):
    frame = _frame()
    frame.loc[9, "e"] = 2.0
    return Case(_check_data(f, frame), ("event column 'e'", "0 and 1"))


def static_varies(f, ctx):
    frame = _frame()
    frame.loc[9, "c"] = 5.0
    return Case(_check_data(f, frame), ("static column 'c'", "constant"))


def missing_column(f, ctx):
    return Case(_check_data(f, _frame().rename(columns={"k": "K"})), ("'k'", "missing", "did you mean"))


def empty_series_id(f, ctx):
    frame = _frame()
    frame.loc[4, "series"] = None
    return Case(_check_data(f, frame), ("series_id", "row 4"))


def unparseable_timestamp(f, ctx):
    frame = _frame().astype({"timestamp": str})
    frame.loc[6, "timestamp"] = "yesterday"
    return Case(_check_data(f, frame), ("yesterday", "row 6"))


def series_too_short(f, ctx):
    return Case(_check_data(f, _frame(20)), ("20 rows", "context_length + horizon"))


def data_file_missing(f, ctx):
    (f / "task.yaml").write_text(yaml.safe_dump(_task(data="nowhere.csv")))
    return Case(["data", "check", "--task", str(f / "task.yaml")], ("nowhere.csv", "not found"))


def unsupported_suffix(f, ctx):
    return Case(_check_data(f, raw=b"{}", name="data.xlsx"), ("data.xlsx", ".parquet"))


# -- task files and flags ------------------------------------------------------------------------


def _task_file(f, text: str, frame=True) -> list[str]:
    if frame:
        _frame().to_csv(f / "data.csv", index=False)
    (f / "task.yaml").write_text(text)
    return ["data", "check", "--task", str(f / "task.yaml")]


def unknown_key(f, ctx):
    raw = _task()
    raw["horizn"] = raw.pop("horizon")
    return Case(_task_file(f, yaml.safe_dump(raw)), ("unknown key 'horizn'", "horizon"))


def wrong_type(f, ctx):
    return Case(_task_file(f, yaml.safe_dump(_task(context_length="long"))), ("context_length", "whole number"))


def horizon_zero(f, ctx):
    return Case(_task_file(f, yaml.safe_dump(_task(horizon=0))), ("horizon", "at least 1"))


def horizon_beyond_data(f, ctx):
    return Case(_task_file(f, yaml.safe_dump(_task(horizon=500))), ("context_length + horizon",))


def invalid_yaml(f, ctx):
    return Case(_task_file(f, "name: [unclosed\ntarget: y"), ("not valid yaml",))


def yaml_list_not_mapping(f, ctx):
    return Case(_task_file(f, "- y\n- p\n"), ("mapping",))


def yaml_python_tag(f, ctx):
    text = "name: !!python/object/apply:os.system ['echo pwned']\n" + yaml.safe_dump(_task())
    return Case(_task_file(f, text), ("not valid yaml",))


def column_in_two_roles(f, ctx):
    return Case(_task_file(f, yaml.safe_dump(_task(past_exog=["y"]))), ("'y'",))


def bad_fractions(f, ctx):
    return Case(_task_file(f, yaml.safe_dump(_task(split={"fractions": [0.7, 0.2, 0.2]}))), ("sum to 1",))


def bad_freq(f, ctx):
    return Case(_task_file(f, yaml.safe_dump(_task(freq="fortnightly"))), ("freq", "fortnightly"))


def path_escape_dotdot(f, ctx):
    (f.parent / "secret.csv").write_text("x\n1\n")
    return Case(_task_file(f, yaml.safe_dump(_task(data="../secret.csv")), frame=False), ("outside", "allow_outside"))


def path_escape_symlink(f, ctx):
    (f.parent / "secret2.csv").write_text("x\n1\n")
    os.symlink(f.parent / "secret2.csv", f / "link.csv")
    return Case(_task_file(f, yaml.safe_dump(_task(data="link.csv")), frame=False), ("outside", "allow_outside"))


def bad_model_override(f, ctx):
    argv = _train(f, _frame(), "--set", "d_modle=8")
    return Case(argv, ("d_modle",))


def bad_override_type(f, ctx):
    argv = _train(f, _frame(), "--set", "d_model=wide")
    return Case(argv, ("d_model",))


def data_flags_missing(f, ctx):
    _frame().to_csv(f / "data.csv", index=False)
    return Case(["data", "check", "--data", str(f / "data.csv"), "--target", "y"], ("--freq", "--context"))


# -- plans and requests --------------------------------------------------------------------------


def _whatif(f, ctx, bad_plan: pd.DataFrame, *extra: str) -> list[str]:
    bad_plan.to_csv(f / "bad.csv", index=False)
    return ["whatif", "--model", str(ctx.trained.model), "--history", str(ctx.history),
            "--plan", str(ctx.hold), "--plan", str(f / "bad.csv"), "--samples", "8", "--out", "{out}", *extra]


def plan_missing_step(f, ctx):
    return Case(_whatif(f, ctx, ctx.plan.iloc[1:]), ("'bad'", "missing", "one row per future timestamp"), "w.json")


def plan_extra_step(f, ctx):
    extra = ctx.plan.iloc[[-1]].assign(timestamp=pd.Timestamp("2031-01-01"))
    return Case(_whatif(f, ctx, pd.concat([ctx.plan, extra])), ("'bad'", "unexpected", "2031-01-01"), "w.json")


def plan_unknown_channel(f, ctx):
    return Case(_whatif(f, ctx, ctx.plan.assign(replica=3)), ("'bad'", "replica", "replicas"), "w.json")


def plan_missing_intervention(f, ctx):
    return Case(_whatif(f, ctx, ctx.plan.drop(columns=["replicas"])), ("'bad'", "replicas"), "w.json")


def plan_out_of_range(f, ctx):
    return Case(_whatif(f, ctx, ctx.plan.assign(replicas=99)), ("'bad'", "replicas", "bounds"), "w.json")


def plan_nan_control(f, ctx):
    plan = ctx.plan.copy()
    plan.loc[plan.index[2], "replicas"] = np.nan
    return Case(_whatif(f, ctx, plan), ("'bad'", "replicas", "missing"), "w.json")


def plan_unknown_series(f, ctx):
    return Case(_whatif(f, ctx, ctx.plan.assign(series="nope")), ("'bad'", "'nope'"), "w.json")


def plan_unknown_objective(f, ctx):
    return Case(_whatif(f, ctx, ctx.plan, "--objective", "mean:latency"), ("latency",), "w.json")


def single_plan(f, ctx):
    return Case(["whatif", "--model", str(ctx.trained.model), "--history", str(ctx.history),
                 "--plan", str(ctx.hold), "--out", "{out}"], ("at least two plans",), "w.json")


def history_too_short(f, ctx):
    pd.read_csv(ctx.history).groupby("series").tail(CONTEXT - 3).to_csv(f / "short.csv", index=False)
    return Case(["forecast", "--model", str(ctx.trained.model), "--history", str(f / "short.csv"),
                 "--future", str(ctx.hold), "--out", "{out}"], ("context_length",), "fc.parquet")


def bad_output_suffix(f, ctx):
    return Case(["forecast", "--model", str(ctx.trained.model), "--history", str(ctx.history),
                 "--future", str(ctx.hold), "--samples", "8", "--out", "{out}"], ("unsupported suffix",), "fc.xlsx")


# -- checkpoints ---------------------------------------------------------------------------------


def _forecast(ctx, model: Path | str) -> list[str]:
    return ["forecast", "--model", str(model), "--history", str(ctx.history), "--future", str(ctx.hold),
            "--samples", "8", "--out", "{out}"]


def _largest_record_data(path: Path) -> tuple[int, int]:
    """(offset, size) of the largest record's bytes inside a torch zip file: the local header's
    own name and extra lengths place the data (torch pads records to 64-byte alignment there, so
    a fixed offset such as the middle of the file can land in padding and damage nothing)."""
    import struct
    import zipfile

    raw = path.read_bytes()
    info = max(zipfile.ZipFile(path).infolist(), key=lambda i: i.compress_size)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def corrupted_model(f, ctx):
    raw = bytearray(ctx.trained.model.read_bytes())
    offset, size = _largest_record_data(ctx.trained.model)
    start = offset + size // 2 - 32
    raw[start : start + 64] = bytes(255 - b for b in raw[start : start + 64])
    (f / "model.pt").write_bytes(bytes(raw))
    return Case(_forecast(ctx, f / "model.pt"), ("model.pt", "corrupted"), "fc.csv")


def truncated_model(f, ctx):
    raw = ctx.trained.model.read_bytes()
    (f / "model.pt").write_bytes(raw[: len(raw) // 3])
    return Case(_forecast(ctx, f / "model.pt"), ("model.pt", "truncated"), "fc.csv")


def model_from_another_config(f, ctx):
    payload = torch.load(ctx.trained.model, weights_only=True)
    payload["model_config"] = {**payload["model_config"], "d_model": payload["model_config"]["d_model"] * 2}
    torch.save(payload, f / "model.pt")
    return Case(_forecast(ctx, f / "model.pt"), ("do not match",), "fc.csv")


def not_a_tsloop_model(f, ctx):
    torch.save({"weights": torch.zeros(3)}, f / "model.pt")
    return Case(_forecast(ctx, f / "model.pt"), ("not a tsloop model file",), "fc.csv")


def pickled_code_in_model(f, ctx):
    torch.save({"format": "tsloop-bundle/1", "evil": _Evil()}, f / "model.pt")
    return Case(_forecast(ctx, f / "model.pt"), ("not a readable tsloop model file",), "fc.csv")


def model_missing(f, ctx):
    return Case(_forecast(ctx, f / "missing.pt"), ("does not exist",), "fc.csv")


def bad_run_id(f, ctx):
    return Case(_forecast(ctx, "0123456789abcdef0123456789abcdef"), ("0123456789abcdef0123456789abcdef",), "fc.csv")


def resume_corrupted_checkpoint(f, ctx):
    argv = _train(f, _frame(), "--resume")
    (f / "run" / "checkpoints").mkdir(parents=True)
    (f / "run" / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    return Case(argv, ("last.ckpt", "without --resume"))


def resume_checkpoint_of_another_config(f, ctx):
    (f / "run" / "checkpoints").mkdir(parents=True)
    ckpt = ctx.trained.out / "checkpoints" / "last.ckpt"
    (f / "run" / "checkpoints" / "last.ckpt").write_bytes(ckpt.read_bytes())
    return Case(_train(f, _frame(), "--resume"), ("last.ckpt", "another"))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


CASES: dict[str, Callable] = {fn.__name__: fn for fn in [
    truncated_parquet, empty_file, header_only_csv, utf16_encoding, latin1_bytes, not_a_table, gzip_truncated,
    mixed_types, text_column_in_parquet, duplicate_timestamps, unsorted_timestamps, timezone_mix, gap, wrong_freq,
    all_nan_target, all_nan_target_one_series, infinite_target, infinite_known_future, huge_values,
    nan_in_known_future, event_not_binary, static_varies, missing_column, empty_series_id, unparseable_timestamp,
    series_too_short, data_file_missing, unsupported_suffix,
    unknown_key, wrong_type, horizon_zero, horizon_beyond_data, invalid_yaml, yaml_list_not_mapping,
    yaml_python_tag, column_in_two_roles, bad_fractions, bad_freq, path_escape_dotdot, path_escape_symlink,
    bad_model_override, bad_override_type, data_flags_missing,
    plan_missing_step, plan_extra_step, plan_unknown_channel, plan_missing_intervention, plan_out_of_range,
    plan_nan_control, plan_unknown_series, plan_unknown_objective, single_plan, history_too_short,
    bad_output_suffix,
    corrupted_model, truncated_model, model_from_another_config, not_a_tsloop_model, pickled_code_in_model,
    model_missing, bad_run_id, resume_corrupted_checkpoint, resume_checkpoint_of_another_config,
]}


@dataclass
class Requests:
    trained: object
    history: Path
    hold: Path
    plan: pd.DataFrame


@pytest.fixture(scope="module")
def requests(trained, tmp_path_factory) -> Requests:
    folder = tmp_path_factory.mktemp("corpus_requests")
    groups = [g for _, g in trained.task.frame.groupby("series", sort=True)]
    t0 = 800
    history = pd.concat([g.iloc[t0 - CONTEXT : t0] for g in groups])
    keep = ["timestamp", "series", "temp_forecast", "hour_sin", "hour_cos", "dow_sin", "dow_cos",
            "replicas", "cooling_setpoint", "rate_limit"]
    plan = groups[0].iloc[t0 : t0 + HORIZON][keep].reset_index(drop=True)
    history.to_csv(folder / "history.csv", index=False)
    plan.to_csv(folder / "hold.csv", index=False)
    return Requests(trained, folder / "history.csv", folder / "hold.csv", plan)


def test_the_corpus_holds_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", list(CASES))
def test_when_input_is_malformed_then_the_cli_exits_2_with_a_clear_message_and_no_output(
    name, tmp_path, requests, capsys
):
    folder = tmp_path / "case"
    folder.mkdir()
    case = CASES[name](folder, requests)
    out = tmp_path / "out" / case.out if case.out else None
    argv = [a.replace("{out}", str(out)) for a in case.argv]
    before = set(tmp_path.rglob("*"))
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (name, err)
    assert "Traceback" not in err, err
    assert err.count("error:") == 1 and len(err.strip()) > 40, err
    for text in case.expect:
        assert text.lower() in err.lower(), (name, text, err)
    if out is not None:
        assert not out.exists(), name
    created = {p for p in tmp_path.rglob("*") if p not in before and p.is_file()}
    assert not [p for p in created if p.name.endswith(".tmp")], created
