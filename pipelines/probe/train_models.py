"""Train the models the probes compare: DD, DD terminal-only, step-wise, no-loop; several seeds.

Usage::

    python pipelines/probe/train_models.py --task pipelines/probe/tasks/plant_probe.yaml \
        --seeds 0,1,2 --steps 600 --out outputs/probe/plant_steps

Writes ``OUT/<variant>-s<seed>/model.pt`` (skips those that exist) and logs each training run to
the MLflow experiment ``tsloop-probe``. Same preset, data, batch size and number of optimizer
steps for every variant (``--steps``: epochs of ``--epoch-steps`` batches, no early stopping;
the bundle then holds the weights after exactly N steps, ``checkpoints/last.ckpt``, not the
best-validation epoch ``fit`` keeps, whose selection metric differs between variants); only the
decoding/looping options differ (VARIANTS). Rerunning with ``--steps`` converts finished bundles. ``--max-time`` instead caps wall-clock time (unequal steps under load).
Tasks named ``epf_*``/``nab_*`` get their derived event column from ``events.task_frame``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsloop.data.spec import TaskSpec
from tsloop.data.task import load_task
from tsloop.model.config import ModelConfig
from tsloop.train.config import TrainConfig
from tsloop.tracking.training import fit_and_record

# variant -> ModelConfig overrides. k_every=1: the deferred K curriculum reaches K_max = 32 after
# 31 optimizer steps, before the first validation (32 batches), so short runs still train at K_max.
VARIANTS: dict[str, dict] = {
    "dd": dict(deferred=True, k_sample=True, k_every=1),  # default DD: K ~ U{1..cap} per batch
    "dd_terminal": dict(deferred=True, k_sample=False, k_every=1),  # literal terminal-only decoding
    "stepwise": dict(deferred=False),  # decode every outer step
    "noloop": dict(deferred=True, k_sample=True, k_every=1, looped=False),  # T = 1
    "untrained": dict(deferred=True, k_sample=True, k_every=1),  # control: DD architecture at its random init
}


def save_untrained(task, cfg: ModelConfig, seed: int, out: Path) -> None:
    """The model at its seeded random initialisation, as a bundle (the probes' chance-level control)."""
    import torch

    from tsloop.bundle import Bundle
    from tsloop.model.world_model import WorldModel

    torch.manual_seed(seed)
    model = WorldModel(cfg)
    Bundle(model_config=cfg.to_dict(), spec=task.spec.to_dict(), scaler=task.scaler.to_dict(),
           state_dict=model.state_dict(), meta={"untrained": True, "seed": seed}).save(out / "model.pt")


def use_last_weights(out: Path) -> int:
    """Rewrite ``out/model.pt`` with the weights of ``checkpoints/last.ckpt``; its optimizer steps."""
    import torch

    from tsloop.bundle import Bundle

    bundle = Bundle.load(out / "model.pt")
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    if set(state) != set(bundle.state_dict):
        raise RuntimeError(f"{out}: last.ckpt does not hold the bundle's weights")
    bundle.state_dict = state
    bundle.meta.update(weights="last", optimizer_steps=int(ckpt["global_step"]))
    bundle.save(out / "model.pt")
    return int(ckpt["global_step"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--preset", default="tiny")
    p.add_argument("--set", action="append", default=["d_model=32"], metavar="KEY=VALUE")
    p.add_argument("--steps", type=int, help="optimizer steps per model (equal for every variant)")
    p.add_argument("--epoch-steps", type=int, default=50, help="batches per epoch (one validation each)")
    p.add_argument("--train-stride", type=int, default=4, help="rows between training windows")
    p.add_argument("--max-time", type=float, help="seconds of training per model (if no --steps)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--direct-path", default=TrainConfig.direct_path,
                   help="TrainConfig.direct_path (default: the shipped default; 'joint' with "
                        "--set linear_known_poly=0 trains the defaults before 2026-12-07)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    import torch
    import yaml

    torch.set_num_threads(args.threads)  # tiny models on a shared CPU: 2 threads ran ~10x slower than 1

    from events import task_frame  # pipelines/probe/events.py, next to this script

    spec = TaskSpec.from_yaml(args.task)
    task = load_task(spec, task_frame(spec))
    s = task.spec
    extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    for seed in (int(x) for x in args.seeds.split(",")):
        for variant in args.variants.split(","):
            out = Path(args.out) / f"{variant}-s{seed}"
            if (out / "model.pt").is_file():
                if args.steps and variant != "untrained" and (out / "checkpoints" / "last.ckpt").is_file():
                    from tsloop.bundle import Bundle

                    if Bundle.load(out / "model.pt").meta.get("weights") != "last":
                        print(f"{variant} seed {seed}: last weights, {use_last_weights(out)} steps", flush=True)
                continue
            cfg = ModelConfig.preset(args.preset, dims=s.dims, context_length=s.context_length,
                                     horizon=s.horizon, **{**extra, **VARIANTS[variant]})
            if variant == "untrained":  # what probes read from latents nobody trained
                save_untrained(task, cfg, seed, out)
                continue
            if args.steps:  # equal optimizer steps: whole epochs of epoch_steps batches, no early stop
                epochs = -(-args.steps // args.epoch_steps)
                train = TrainConfig(max_epochs=epochs, batch_size=64, seed=seed, train_stride=args.train_stride,
                                    val_stride=32, limit_train_batches=args.epoch_steps, limit_val_batches=4,
                                    patience=epochs + 1, progress_bar=False, direct_path=args.direct_path)
            else:
                train = TrainConfig(max_epochs=50, max_time_s=args.max_time or 100.0, batch_size=64, seed=seed,
                                    train_stride=args.train_stride, val_stride=32, limit_train_batches=32,
                                    limit_val_batches=4, patience=3, progress_bar=False, direct_path=args.direct_path)
            result = fit_and_record(task, cfg, train, out_dir=out, experiment="tsloop-probe",
                         run_name=f"train-{s.name}-{variant}-s{seed}",
                         tags={"probe.role": "model", "probe.variant": variant, "probe.seed": str(seed)})
            steps = use_last_weights(out) if args.steps else "?"
            print(f"{variant} seed {seed}: {steps} optimizer steps in {result.wall_time_s:.0f}s, "
                  f"val/loss {result.metrics.get('val/loss')}", flush=True)


if __name__ == "__main__":
    main()
