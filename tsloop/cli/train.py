"""``tsloop train``: fit a world model on a task, tracked in MLflow."""

from __future__ import annotations

import argparse

from tsloop.cli.configflags import add_config_flags, config_from_args
from tsloop.cli.taskargs import add_task_arguments, task_from_args
from tsloop.train.config import TrainConfig

EXAMPLES = """examples:
  tsloop train --task tasks/plant_forecast.yaml --preset small --max-epochs 20 --out outputs/plant
  tsloop train --data telemetry.parquet --series-id host --timestamp ts --freq 1min \\
      --target cpu,latency --intervention replicas --context 120 --horizon 30 --out outputs/mine
  tsloop train --task tasks/epf_np.yaml --out outputs/np --checkpoint-every 200   # last.ckpt every 200 steps
  tsloop train --task tasks/epf_np.yaml --out outputs/np --checkpoint-every 200 --resume   # after a crash
  tsloop train --task tasks/epf_np.yaml --accelerator gpu --devices 2 --strategy ddp
  tsloop train --task tasks/plant_forecast.yaml --set d_model=128 --set mean_depth=6
  tsloop train --task big.task.yaml --stream --stream-chunk 64   # a file larger than memory
  tsloop train --task tasks/epf_np.yaml --init pretrained --finetune heads --max-steps 300   # adapt the pretrained model
  tsloop train --task tasks/epf_np.yaml --init outputs/pretrain/model.pt   # a pretrained model file; fine-tune all

Runs are logged to ./mlruns (SQLite store + artifacts) unless MLFLOW_TRACKING_URI is set;
see them with `tsloop compare` or `mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`.
"""


FLAG_ALIASES = {"max_time_s": ("--max-time",)}  # older spellings that scripts use


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a world model on a task",
        description="Train the looped latent world model with Lightning (early stopping, checkpoints, "
        "gradient clipping, seeded) and log config, metrics, diagnostics, plots, the checkpoint and "
        "an MLflow pyfunc model.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_task_arguments(p)
    g = p.add_argument_group("model")
    g.add_argument("--preset", default="small", help="size preset: tiny, small, base (default small); with --init "
                   "the pretrained model's size is used instead")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one model option, e.g. d_model=128, deferred=false (repeatable)")
    g = p.add_argument_group("training (every field of tsloop.train.config.TrainConfig)")
    add_config_flags(g, TrainConfig, aliases=FLAG_ALIASES)
    g.add_argument("--no-progress", dest="progress_bar", action="store_false", help="same as --no-progress-bar")
    g.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                   help="read training windows from the file a chunk of series at a time, so memory follows the "
                        "chunk, not the file (default: only for files above 5,000,000 rows); --no-stream: in memory")
    g.add_argument("--stream-chunk", type=int, default=64, metavar="SERIES",
                   help="series per chunk when streaming (default 64); windows are shuffled within a chunk")
    g = p.add_argument_group("output")
    g.add_argument("--out", default=None, help="output folder (default outputs/<task name>)")
    g.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last.ckpt, same MLflow run")
    g.add_argument("--experiment", default="tsloop", help="MLflow experiment (default tsloop)")
    g.add_argument("--run-name", help="MLflow run name (default: the task name)")
    g.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="MLflow tag (repeatable)")
    p.set_defaults(func=run)


def parse_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` pairs with YAML scalars (numbers, true/false, null, lists)."""
    import yaml

    from tsloop.errors import SpecError

    out = {}
    for item in items:
        if "=" not in item:
            raise SpecError(f"--set {item!r}: expected KEY=VALUE, e.g. --set d_model=128")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def check_override_types(base: dict, overrides: dict) -> None:
    """SpecError for an unknown option or a value of the wrong kind, naming the preset's value."""
    from tsloop.data.spec import did_you_mean
    from tsloop.errors import SpecError

    for key, value in overrides.items():
        if key not in base:
            raise SpecError(f"--set {key}=...: no model option {key!r}.{did_you_mean(key, sorted(base))} "
                            f"Options: {', '.join(sorted(base))}.")
        default = base[key]
        kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}.get(type(default))
        wrong_bool = isinstance(value, bool) and type(default) in (int, float)
        if kinds and (not isinstance(value, kinds) or wrong_bool):
            raise SpecError(
                f"--set {key}={value!r}: {key} takes a value of type {type(default).__name__} (the preset has {default!r}), "
                f"got {type(value).__name__}. E.g. --set {key}={default!r}."
            )


def _task(args: argparse.Namespace):
    """The task in memory, or streamed (``--stream``, or by default above AUTO_STREAM_ROWS rows)."""
    from tsloop.cli.taskargs import spec_from_args
    from tsloop.data.stream_task import AUTO_STREAM_ROWS, count_rows, load_stream_task
    from tsloop.errors import SpecError, TsloopError

    stream = args.stream
    if stream is None and (args.task or args.data):
        spec = spec_from_args(args)
        try:
            stream = spec.data is not None and spec.resolve_data().is_file() and count_rows(spec) > AUTO_STREAM_ROWS
        except TsloopError:  # a broken file: loading it in memory reports what is wrong, as always
            stream = False
    if not stream:
        return task_from_args(args)
    if args.stream_chunk < 1:
        raise SpecError(f"--stream-chunk {args.stream_chunk}: give a number of series, at least 1, e.g. 64")
    print(f"streaming the data {args.stream_chunk} series at a time (--no-stream to load it whole)")
    return load_stream_task(spec_from_args(args), series_per_chunk=args.stream_chunk)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tsloop.errors import CheckpointError, SpecError
    from tsloop.model.config import ModelConfig
    from tsloop.tracking.store import ui_command
    from tsloop.tracking.training import fit_and_record
    from tsloop.train.init import init_config

    task = _task(args)
    spec = task.spec
    train_cfg = config_from_args(args, TrainConfig)
    # with --init the size and method are the pretrained model's (--preset is not used), the shape the task's
    base = init_config(train_cfg.init, spec) if train_cfg.init else ModelConfig.for_task(args.preset, spec)
    overrides = parse_overrides(args.set)
    check_override_types(base.to_dict(), overrides)
    try:
        model_cfg = ModelConfig.from_dict({**base.to_dict(), **overrides})
    except (TypeError, ValueError, CheckpointError) as err:
        raise SpecError(f"--set {overrides}: {err}") from None
    devices = train_cfg.devices
    if getattr(task, "streamed", False) and (train_cfg.num_nodes > 1 or (isinstance(devices, int) and devices > 1)
                                             or "," in str(devices)):
        raise SpecError("streamed training (--stream, or a file above 5,000,000 rows) runs on one process: drop "
                        "--devices/--num-nodes, or train in memory with --no-stream")
    tags = dict(item.split("=", 1) for item in args.tag if "=" in item)
    out = Path(args.out or f"outputs/{spec.name}")
    print(task.describe())
    result = fit_and_record(task, model_cfg, train_cfg, out_dir=out, experiment=args.experiment,
                            run_name=args.run_name, tags=tags, resume=args.resume)
    print(training_report(result, args.experiment, ui_command() if result.run_id else None))
    return 0


def training_report(result, experiment: str, ui: str | None) -> str:
    """A few lines after training: steps done, the validation scores, where the files are."""
    lines = [f"\ntrained {result.steps} optimizer steps in {result.wall_time_s:.1f} s on {result.device} "
             f"({result.threads} CPU thread(s)); model -> {result.bundle_path}"]
    if result.extra.get("init"):
        from tsloop.train.init import InitReport

        lines.append(InitReport(**result.extra["init"]).summary())
    if result.extra.get("prefit"):
        fit = result.extra["prefit"]
        target = "what the pretrained forecast leaves of " if fit.get("residual") else ""
        lines.append(f"direct path: least squares on {target}{fit['windows']} training windows, mean squared error "
                     f"{fit['before']:.4f} -> {fit['after']:.4f} (instance units)"
                     + (f", {fit['seconds']:.1f} s" + (" with both starts fitted and scored" if "start" in fit else "")
                        if "seconds" in fit else ""))
        if "start" in fit:  # adapted from a pretrained model: which start validation preferred
            other = next(s for s in fit["compare_mse"] if s != fit["start"])
            lines.append(f"start: {fit['start']} (mean squared error of the median forecast on the "
                         f"{fit['compare_part']} windows "
                         f"{fit['compare_mse'][fit['start']]:.4f}, against {fit['compare_mse'][other]:.4f} with the "
                         f"{other})")
    if result.extra.get("policy_calibration"):
        cal = result.extra["policy_calibration"]
        below = ", ".join(f"{b:.3f}" for b in cal["raw_below_005"])
        lines.append(f"overlap: the policy head calibrated on {sum(cal['steps'])} logged control steps of the validation "
                     f"part; before calibration, share of them with a tail probability below 0.05 per control: {below} "
                     "(0.05 if the head were calibrated)")
    for key in sorted(k for k in result.metrics if k.startswith("val/")):
        lines.append(f"  {key:<22} {result.metrics[key]:.4f}")
    if "diag/certified_outer" in result.metrics:
        lines.append(f"certified Lipschitz bound of one outer step: {result.metrics['diag/certified_outer']:.4f} "
                     "(< 1: state errors cannot grow over any horizon)")
    if result.warning:
        lines.append(f"WARNING: {result.warning}")
    if result.best_checkpoint:
        lines.append(f"best checkpoint (lowest val/select) -> {result.best_checkpoint}")
    if result.run_id:
        lines.append(f"MLflow run {result.run_id} (experiment {experiment}); view: {ui}")
    return "\n".join(lines)
