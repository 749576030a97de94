"""Pretrain a universal tsloop model on the pretraining corpus (issue #16), with one command.

Usage::

    python -m pipelines.pretrain.train --corpus outputs/corpus --out outputs/pretrain --max-steps 10000 --lr-schedule cosine
    python -m pipelines.pretrain.train --corpus outputs/corpus --out outputs/pretrain --max-steps 40000 --resume
    python -m pipelines.pretrain.train --corpus /tmp/corpus --out /tmp/pt --preset tiny --context 64 --horizon 16 \\
        --max-steps 20                                               # a smoke test: seconds on a CPU
    python -m pipelines.pretrain.train --help                        # every flag (all of TrainConfig's too)

What it trains (``datasets/pretrain_corpus/README.md`` describes the corpus):

- **Channel-independent and univariate.** Every target-role column of every corpus series is one
  series of its own (``<source>|<series_id>|<column>``), with no covariates: the corpus mixes
  frequencies and series with no clock (synthetic, SMAP, tumour), and its known-future columns
  differ from source to source, so a fixed covariate vocabulary (calendar included) would be
  absent or meaningless for most series. ``ChannelDims(target=1)``.
- **Window** context 512, horizon 64 rows (64 and 8 patches of 8 rows): a few days of 5-minute
  telemetry, three weeks of hourly data. Longer forecasts are rolled forward (``tsloop.query.zero_shot``).
- **Short series**: fewer than ``--min-length`` rows (or observed values): dropped; otherwise
  shorter than context + horizon: left-padded with missing (masked) rows, so the model learns the
  short, padded histories that zero-shot requests bring.
- **Validation**: the last ``--val-rows`` rows of each *synthetic* series (KernelSynth, controlled
  systems) only; real and simulated series are all training data (the corpus itself holds no
  benchmark validation or test row).

It trains through ``tsloop.tracking.training.fit_and_record`` like ``tsloop train`` (Lightning,
the step budget, ``last.ckpt`` every ``--checkpoint-every`` steps, ``--resume`` from it, MLflow),
on a GPU when torch sees one (``--accelerator auto``; ``--accelerator cpu`` to keep off it). The
output folder holds ``model.pt`` (a pretrained model file: ``meta["pretrained"]`` records the
window, the corpus and the compute), ``model.pt.sha256``, ``compute.json`` (steps, wall time,
device, over every resumed segment) and the checkpoints. To ship it, copy ``model.pt`` and
``model.pt.sha256`` to ``tsloop/pretrained/tsloop-small.pt`` and ``tsloop-small.pt.sha256``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.pretrain.corpus import MANIFEST
from tsloop.bundle import Bundle
from tsloop.cli.configflags import add_config_flags, config_from_args
from tsloop.cli.train import check_override_types, parse_overrides
from tsloop.data import split as splits
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec
from tsloop.data.task import TelemetryTask, load_task
from tsloop.errors import DataError, TsloopError
from tsloop.model.config import ModelConfig
from tsloop.output import write_json
from tsloop.query.pretrained import file_sha256, is_pretrained, write_pretrained
from tsloop.query.pretrained import resolve as resolve_pretrained
from tsloop.tracking.record import log_result
from tsloop.tracking.training import fit_and_record
from tsloop.train.config import TrainConfig
from tsloop.train.init import load_init

SERIES, STEP, VALUE = "series", "step", "value"  # columns of the univariate frame
EXPERIMENT = "tsloop-pretrain"
COMPUTE = "compute.json"
# pretraining's own defaults for TrainConfig fields (the flags still override them)
# direct_path "joint": the shipped model was pretrained so, and a task's direct path is fitted to that task
# anyway when the model is fine-tuned (``tsloop train --init pretrained``)
TRAIN_DEFAULTS = dict(accelerator="auto", batch_size=128, val_stride=16, checkpoint_every=500, max_epochs=1000,
                      direct_path="joint")


@dataclass(frozen=True)
class PretrainConfig:
    """The corpus as univariate series and the model's window; every field is a flag."""

    preset: str = "small"  # model size preset (tiny, small, base)
    context: int = 512  # rows of history the model reads (64 patches of 8 for small)
    horizon: int = 64  # rows forecast in one pass; zero-shot rolls longer horizons forward
    val_rows: int = 128  # rows at the end of each synthetic series held for validation (at least horizon)
    min_length: int = 96  # series with fewer rows or observed values are dropped; longer ones below context + horizon are left-padded with missing values


@dataclass
class PretrainTask(TelemetryTask):
    """A task whose validation part is the last ``val_rows[s]`` rows of series s (0: none): the
    library's windows and scaler, with a split that differs between series."""

    val_rows: list[int] = field(default_factory=list)

    def parts(self, series_index: int) -> dict[str, splits.Part]:
        n, v, L = len(self.series[series_index]), self.val_rows[series_index], self.spec.context_length
        empty = splits.Part(n, n, n)
        val = splits.Part(max(0, n - v - L), n - v, n) if v else empty
        return {"train": splits.Part(0, 0, n - v), "val": val, "test": empty}

    def sizes(self, stride: int = 1) -> dict[str, dict[str, int]]:
        out = {part: {"rows": 0, "windows": 0} for part in splits.PARTS}
        for s in range(len(self.series)):
            for part, bounds in self.parts(s).items():
                out[part]["rows"] += bounds.rows
                out[part]["windows"] += len(splits.window_starts(bounds, self.spec, stride))
        return out


def corpus_frame(corpus: Path, config: PretrainConfig) -> tuple[pd.DataFrame, set[str], dict]:
    """(the univariate long frame, the ids of its synthetic series, counts) of a built corpus.

    Synthetic series come first, so the first series of the task has a validation part (the
    validation fan chart draws the first series).
    """
    manifest = read_manifest(corpus)
    need = config.context + config.horizon
    parts, synthetic = [], set()
    counts = {"columns": 0, "kept": 0, "dropped_short": 0, "padded": 0}
    for entry in sorted(manifest["sources"], key=lambda e: e["kind"] != "synthetic"):
        targets = [c for c, role in entry["columns"].items() if role == "target"]
        frame = pd.read_parquet(corpus / entry["file"], columns=["series_id", "step", *targets])
        for column in targets:
            one = pd.DataFrame({SERIES: entry["name"] + "|" + frame["series_id"].astype(str) + "|" + column,
                                STEP: frame["step"].to_numpy(), VALUE: frame[column].to_numpy(dtype=float)})
            groups = one.groupby(SERIES, sort=False)
            rows, seen = groups[VALUE].transform("size"), groups[VALUE].transform("count")
            keep = (rows >= config.min_length) & (seen >= config.min_length)
            counts["columns"] += 1
            counts["dropped_short"] += one.loc[~keep, SERIES].nunique()
            one = one[keep].sort_values([SERIES, STEP], kind="stable")
            pad = _left_padding(one, need)
            counts["padded"] += pad[SERIES].nunique()
            counts["kept"] += one[SERIES].nunique()
            parts += [pad, one]
            if entry["kind"] == "synthetic":
                synthetic.update(one[SERIES].unique())
    frame = pd.concat(parts, ignore_index=True)  # each series' padding before its rows; series in first-seen order
    counts["rows"] = len(frame)
    return frame, synthetic, counts


def _left_padding(frame: pd.DataFrame, need: int) -> pd.DataFrame:
    """Missing rows before each series shorter than ``need``, so it holds exactly one window."""
    first = frame.groupby(SERIES, sort=False)[STEP].agg(["min", "size"])
    short = first[first["size"] < need]
    if short.empty:
        return frame.iloc[:0]
    lengths = (need - short["size"]).to_numpy()
    ids = np.repeat(short.index.to_numpy(), lengths)
    offsets = np.concatenate([np.arange(n, 0, -1) for n in lengths])
    return pd.DataFrame({SERIES: ids, STEP: np.repeat(short["min"].to_numpy(), lengths) - offsets, VALUE: np.nan})


def read_manifest(corpus: Path) -> dict:
    try:
        return json.loads((corpus / MANIFEST).read_text())
    except (OSError, ValueError) as err:
        raise TsloopError(f"--corpus {corpus}: no readable {MANIFEST} ({err}); build the corpus first with "
                          "`python -m pipelines.pretrain.corpus --out DIR`") from None


def pretrain_task(corpus: Path, config: PretrainConfig) -> tuple[PretrainTask, dict]:
    """The corpus as a task of univariate series with validation at the end of the synthetic ones."""
    if config.val_rows < config.horizon:
        raise TsloopError(f"--val-rows {config.val_rows}: hold at least one horizon ({config.horizon} rows) per "
                          "synthetic series for validation")
    frame, synthetic, counts = corpus_frame(corpus, config)
    if not synthetic:
        raise DataError(f"corpus {corpus} holds no synthetic series of at least --min-length {config.min_length} "
                        "rows, and validation is held there; build it with --synthetic and --controlled above 0")
    spec = TaskSpec(name="pretrain", target=[VALUE], freq="step", context_length=config.context,
                    horizon=config.horizon, timestamp=STEP, series_id=SERIES, split={"fractions": [1.0, 0.0, 0.0]})
    base = load_task(spec, frame=frame)
    val = [config.val_rows if sid in synthetic else 0 for sid in base.series_ids]
    scaler = StandardScaler.fit(spec, base.series, [len(item) - v for item, v in zip(base.series, val)])
    task = PretrainTask(spec, base.report, base.series, scaler, val_rows=val)
    if not task.sizes()["val"]["windows"]:
        raise DataError(f"no validation window: the synthetic series are shorter than --context + --horizon + "
                        f"--val-rows = {config.context + config.horizon + config.val_rows} rows; lower them, or "
                        "build the corpus with longer synthetic series")
    return task, counts


def describe(task: PretrainTask, counts: dict, corpus: Path, train_config: TrainConfig) -> str:
    train, val = (task.sizes(stride)[part]["windows"] for part, stride in
                  (("train", train_config.train_stride), ("val", train_config.val_stride)))
    return (f"corpus {corpus}: {counts['columns']} target columns -> {counts['kept']:,} univariate series "
            f"({counts['padded']:,} left-padded, {counts['dropped_short']:,} too short dropped), {counts['rows']:,} rows\n"
            f"windows: context {task.spec.context_length} -> horizon {task.spec.horizon}; train {train:,} (stride "
            f"{train_config.train_stride}), val {val:,} (stride {train_config.val_stride}; synthetic series' last rows)")


def compute_record(result, previous: dict, train_config: TrainConfig, started_from: dict | None = None) -> dict:
    """Steps, wall time and device of this run, added to those of the segments it resumed and, for a
    run that continued a pretrained model (``--init``), to that model's own pretraining: ``steps``,
    ``windows_seen`` and ``wall_time_s`` count all of it, ``segments`` list every run in order
    (``steps_at_end`` cumulative) and ``started_from`` names the model it continued."""
    started_from = previous.get("started_from", started_from)  # a resumed run keeps its first segment's start
    offset, earlier_windows = (started_from["steps"], started_from["windows_seen"]) if started_from else (0, 0)
    earlier = previous.get("segments") or (started_from or {}).get("segments", [])
    segments = earlier + [{"steps_at_end": offset + result.steps, "wall_time_s": round(result.wall_time_s, 2),
                           "device": result.device, "threads": result.threads, "batch_size": train_config.batch_size}]
    record = {"steps": offset + result.steps, "batch_size": train_config.batch_size,
              "windows_seen": earlier_windows + result.steps * train_config.batch_size,
              "wall_time_s": round(sum(s["wall_time_s"] for s in segments), 2), "device": result.device,
              "segments": segments}
    if started_from:
        record["started_from"] = started_from
    return record


def init_lineage(init: str | None) -> dict | None:
    """What a run started with ``--init`` continues: the model's file, sha256 and pretraining compute
    (None without ``--init``, or when the model is not a pretrained one: a task's model has no
    pretraining to count)."""
    if not init:
        return None
    bundle = load_init(init)  # as training will load it: checked against its .sha256, a clear error when missing
    if not is_pretrained(bundle.meta):
        return None
    compute = bundle.meta["pretrained"].get("compute", {})
    return {"model": str(init), "sha256": file_sha256(resolve_pretrained(init)), "steps": compute.get("steps", 0),
            "windows_seen": compute.get("windows_seen", 0), "segments": compute.get("segments", [])}


def run(corpus: Path, out: Path, config: PretrainConfig, train_config: TrainConfig, *, resume: bool = False,
        overrides: dict | None = None):
    """Pretrain and write the pretrained model file; returns (fit result, compute record)."""
    task, counts = pretrain_task(corpus, config)
    print(describe(task, counts, corpus, train_config), flush=True)
    base = ModelConfig.for_task(config.preset, task.spec)
    check_override_types(base.to_dict(), overrides or {})
    model_config = ModelConfig.from_dict({**base.to_dict(), **(overrides or {})})
    started_from = init_lineage(train_config.init)  # read before training: the file the run starts from
    result = fit_and_record(task, model_config, train_config, out_dir=out, experiment=EXPERIMENT,
                            run_name=f"pretrain-{config.preset}", resume=resume, tags={"tsloop.pretrain": "1"})
    previous = json.loads((out / COMPUTE).read_text()) if resume and (out / COMPUTE).is_file() else {}
    compute = compute_record(result, previous, train_config, started_from)
    manifest = (corpus / MANIFEST).read_bytes()
    record = {"preset": config.preset, "context_length": config.context, "horizon": config.horizon,
              "channel_independent": True, "covariates": "none", "config": asdict(config),
              "corpus": {"path": str(corpus), "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
                         "seed": json.loads(manifest).get("seed"), **counts},
              "compute": compute}
    model = write_pretrained(Bundle.load(result.bundle_path), result.bundle_path, record)
    write_json(compute, out / COMPUTE)
    metrics = {"compute/steps": compute["steps"], "compute/wall_time_s": compute["wall_time_s"],
               "compute/windows_seen": compute["windows_seen"]}
    log_result(EXPERIMENT, f"pretrain-{config.preset}", params={"pretrain": asdict(config)}, metrics=metrics,
               tags={"tsloop.device": compute["device"]}, artifacts=[model, model.with_name(model.name + ".sha256"),
                                                                      out / COMPUTE],
               artifact_dir="pretrained", run_id=result.run_id)
    return result, compute


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="folder of a built corpus (its manifest.json)")
    parser.add_argument("--out", required=True, help="output folder: model.pt, model.pt.sha256, compute.json, checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last.ckpt, same MLflow run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one model option")
    g = parser.add_argument_group("corpus and window")
    add_config_flags(g, PretrainConfig)
    g = parser.add_argument_group(f"training (every field of TrainConfig; pretraining defaults {TRAIN_DEFAULTS})")
    add_config_flags(g, TrainConfig)
    parser.set_defaults(**TRAIN_DEFAULTS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = PretrainConfig(**{key: getattr(args, key) for key in asdict(PretrainConfig())})
        train_config = config_from_args(args, TrainConfig)
        result, compute = run(Path(args.corpus), Path(args.out), config, train_config, resume=args.resume,
                              overrides=parse_overrides(args.set))
    except TsloopError as err:
        print(f"pretrain: error: {err}", file=sys.stderr)
        return 2
    print(f"\npretrained {compute['steps']} optimizer steps ({compute['windows_seen']:,} windows) in "
          f"{compute['wall_time_s']:.1f} s on {compute['device']}; model -> {result.bundle_path} (+ .sha256)")
    for key in sorted(k for k in result.metrics if k.startswith("val/")):
        print(f"  {key:<22} {result.metrics[key]:.4f}")
    if result.run_id:
        print(f"MLflow run {result.run_id} (experiment {EXPERIMENT})")
    print(f"zero-shot: tsloop forecast --model {result.bundle_path} --history my.csv --target COLUMN --out fc.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
